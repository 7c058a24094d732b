"""The errors factcheck raises on purpose, under one root: the CLI and the plugin catch FactcheckError (and
OSError for files) and print its message; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path

from factcheck.display import visible_controls


class FactcheckError(Exception):
    """Bad input, a setting that cannot work, or a model or file factcheck cannot use: the message says which."""


class SettingError(FactcheckError, ValueError):
    """A setting (option, ini value, suite setting or function argument) that cannot work."""


class ModelChangedError(FactcheckError, RuntimeError):
    """The session's model was changed in place (by a test of the project's own) after factcheck loaded it."""


class JsonFileError(FactcheckError, ValueError):
    """A JSON file (suite, baseline, report) that cannot be used: each problem as (JSON pointer, message), and the fix."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]], fix: str = ""):
        self.path = str(path)
        self.problems = problems
        self.fix = fix
        # A file name, a pointer or quoted text is shown, never acted on by the terminal.
        lines = [visible_controls(f"{self.path}: {pointer or '/'}: {message}") for pointer, message in problems]
        if fix:
            lines.append(f"  to fix: {fix}")
        super().__init__("\n".join(lines))
