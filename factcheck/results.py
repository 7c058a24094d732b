"""Load factcheck JSON reports as pandas DataFrames, one row per fact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from factcheck.errors import FactcheckError
from factcheck.schemas import report_schema
from factcheck.suites.suite import SuiteError, json_pointer, read_json_document

# A report holds a few kilobytes per fact: this is far more than 100,000 facts need.
MAX_REPORT_BYTES = 1024 * 1024 * 1024


class ReportError(FactcheckError, ValueError):
    pass


def validate_report(document: Any, path: str | Path = "<report>") -> None:
    """Raise ReportError naming the file and the JSON pointer of the first problem."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(report_schema()).iter_errors(document))
    if error is not None:
        raise ReportError(f"{path}: {json_pointer(error.absolute_path) or '/'}: {error.message[:300]}")


def load(path: str | Path) -> pd.DataFrame:
    """A validated report as a DataFrame: one row per fact, with model and suite columns added. `prompt` is the
    whole prompt asked (the first template's), `outcome` the fact's pytest outcome (passed, failed, xfailed, xpassed)
    and `gate` its class against the baseline gated on (suppressed, forgotten, regressed, fixed, still_right, ...).

    List-valued fields (aliases, tags, top candidates, decoded tokens) stay as
    Python lists in their cells.
    """
    path = Path(path)
    try:
        document = read_json_document(path, max_bytes=MAX_REPORT_BYTES)  # regular files only, size-capped, strict JSON
    except SuiteError as error:
        raise ReportError(f"cannot read the report: {error}") from None
    if isinstance(document, dict) and "factcheck_baseline_version" in document:
        raise ReportError(f"{path} is a factcheck baseline, not a report: load a report written with --factcheck-report "
                          "(a baseline keeps only what the gate compares)")
    validate_report(document, path)
    frame = pd.DataFrame(document["facts"])
    if frame.empty:
        frame = pd.DataFrame(columns=list(report_schema()["$defs"]["fact"]["required"]))
    for optional in ("prompt", "outcome", "gate"):  # absent from reports of older versions, `factcheck diff`, no baseline
        if optional not in frame:
            frame[optional] = None
    frame["model"] = document["model"]["name"]
    frame["fingerprint"] = document["model"]["fingerprint"]
    suites = document["suites"]
    frame["suite_hash"] = frame["relation"].map(lambda r: suites.get(r, {}).get("content_hash"))
    lre = {relation: (info.get("lre") or {}) for relation, info in suites.items()}
    frame["lre_faithfulness"] = frame["relation"].map(lambda r: lre.get(r, {}).get("faithfulness"))
    interval = {relation: info.get("faithfulness_interval") or [None, None] for relation, info in lre.items()}
    frame["lre_faithfulness_low"] = frame["relation"].map(lambda r: interval.get(r, [None, None])[0])
    frame["lre_faithfulness_high"] = frame["relation"].map(lambda r: interval.get(r, [None, None])[1])
    frame["relation_undecided"] = frame["relation"].map(lambda r: suites.get(r, {}).get("undecided"))
    # One flat column per fact for filtering: why its know-verdict is undecided (None when it is decided).
    frame["undecided_reason"] = frame["know_undecided"].map(lambda u: u["reason"] if isinstance(u, dict) else None)
    return frame
