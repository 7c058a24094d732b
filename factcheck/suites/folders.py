"""The JSON files below a folder, its folder links followed as pytest's collection follows them."""

from __future__ import annotations

import os
from pathlib import Path


def json_files_below(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the *.json files below `folder`, sorted, hidden ones left out; the folder links that lead back to a folder
    above them, a loop, which are not entered). Path.rglob does not enter folder links, so a linked folder of suites
    (`suites/geo -> ../shared/geo`) that pytest collects was silently left out. A folder reached twice (a link to a
    folder also below `folder`) is walked once."""
    files: list[Path] = []
    loops: list[Path] = []
    walked: set[str] = set()
    for top, folders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in walked:
            above = os.path.realpath(os.path.dirname(top))
            if above == real or above.startswith(real.rstrip(os.sep) + os.sep):
                loops.append(Path(top))
            folders[:] = []
            continue
        walked.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        files += [Path(top, name) for name in names if name.endswith(".json") and not name.startswith(".")]
    return sorted(files), loops
