"""JSON Schemas shipped with factcheck."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def report_schema() -> dict[str, Any]:
    """The JSON report's schema (report.schema.json)."""
    return json.loads(resources.files(__name__).joinpath("report.schema.json").read_text(encoding="utf-8"))
