"""A run's settings, where each comes from, and their defaults; importable without torch (the pytest plugin reads
them at start-up).

A setting may come from the command line, the suite file or the ini file; None means 'not given here' so that
the next source decides, and DEFAULTS decides last. `resolve` is the one place that order is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factcheck.suites.suite import Suite

DEFAULT_SHOTS = 8  # few-shot demonstrations per prompt = LRE training facts
DEFAULT_MAX_NEW_TOKENS = 8
# Facts per packed pass at most. On a CPU each pass reads every weight whatever its size, so fewer,
# fuller passes win; 64 holds most suites in one pack.
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Settings:
    """Session settings; None means 'not given here' so that the next source decides."""

    model: str | None = None  # None after resolving: the embedded default model
    device: str | None = None
    dtype: str | None = None
    shots: int | None = None
    max_new_tokens: int | None = None
    batch_size: int | None = None
    say_check: str | None = None
    require: str | None = None
    lre: str | None = None  # "on" or "off"
    templates: str | None = None  # all, any or first (factcheck.types.TEMPLATE_MODES)
    prompt: str | None = None  # text or chat (factcheck.types.PROMPT_STYLES)
    report: str | None = None  # JSON report path
    html: str | None = None  # HTML report path
    threads: int | None = None  # torch's CPU threads; None: torch's default (an xdist worker: its share of the cores)
    trust_remote_code: bool = False


# The one table of defaults.
DEFAULTS = Settings(
    device="cpu",
    dtype="float32",
    shots=DEFAULT_SHOTS,
    max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
    batch_size=DEFAULT_BATCH_SIZE,
    say_check="generation",
    require="says",
    lre="on",
    templates="all",
    prompt="text",
)


def resolve(*sources: Settings) -> Settings:
    """Field by field, the first source that gives a value (highest precedence first), else DEFAULTS.

    The order factcheck uses: command line, then the suite file, then the ini file. A value of 0 is a value
    (zero-shot prompts); trust_remote_code is on when any source turns it on."""
    values = {}
    for f in fields(Settings):
        given = [getattr(source, f.name) for source in (*sources, DEFAULTS)]
        if f.name == "trust_remote_code":
            values[f.name] = any(given)
        else:
            values[f.name] = next((value for value in given if value is not None), None)
    return Settings(**values)


def settings_for_suite(command_line: Settings, suite: Suite, ini: Settings) -> Settings:
    """The settings a suite's facts run with: the command line, then the suite file, then the ini file."""
    return resolve(command_line, suite_settings(suite), ini)


def suite_settings(suite: Suite) -> Settings:
    """The session settings a suite file may set."""
    return Settings(shots=suite_shots(suite), max_new_tokens=suite.settings.max_new_tokens, say_check=suite.settings.say_check,
                    templates=suite.settings.templates, prompt=suite.settings.prompt)


def suite_shots(suite: Suite) -> int | None:
    """The suite's own number of demonstrations (= LRE training facts), or None when it sets none."""
    return suite.settings.lre.n_train if suite.settings.lre.n_train is not None else suite.settings.shots


def templates_asked(suite: Suite, mode: str) -> list[str]:
    """The templates a suite's facts are asked under in a templates mode: the first only under `first`."""
    return list(suite.templates[:1] if mode == "first" else suite.templates)
