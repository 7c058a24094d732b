"""A run's settings and their defaults, importable without torch (the pytest plugin reads them at start-up).

Each setting may come from the command line, the suite file or the ini file; None means 'not given here' so
that the next source decides, and DEFAULTS decides last.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

DEFAULT_SHOTS = 8  # few-shot demonstrations per prompt = LRE training facts
DEFAULT_MAX_NEW_TOKENS = 8
# Facts per packed pass at most. On a CPU each pass reads every weight whatever its size, so fewer,
# fuller passes win; 64 holds most suites in one pack.
DEFAULT_BATCH_SIZE = 64
DEFAULT_SAY_CHECK = "generation"
DEFAULT_REQUIRE = "says"
DEFAULT_DEVICE = "cpu"
DEFAULT_DTYPE = "float32"


@dataclass(frozen=True)
class Settings:
    """Session settings; None means 'not given here' so that the next source decides."""

    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    shots: int | None = None
    max_new_tokens: int | None = None
    batch_size: int | None = None
    say_check: str | None = None
    require: str | None = None
    lre: str | None = None  # "on" or "off"
    trust_remote_code: bool = False


def merge(first: Settings, second: Settings) -> Settings:
    """Field by field: `first` where given, else `second`."""
    values = {}
    for f in fields(Settings):
        mine = getattr(first, f.name)
        values[f.name] = mine if mine not in (None, False) else getattr(second, f.name)
    return Settings(**values)
