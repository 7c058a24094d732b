"""Names every part of factcheck shares, importable without torch: verdict classes, require modes, say checks
and file format versions. The pytest plugin, the gate and the reports read these from here."""

from __future__ import annotations

VERDICTS = ("known", "hidden", "unfaithful", "unknown")  # knows x says; see README "Knows vs says"
REQUIRE_MODES = ("says", "knows", "both", "agree")  # what a fact must do to pass
SAY_CHECKS = ("generation", "ranking")  # which check decides a fact's say-verdict
LRE_SWITCH = ("on", "off")
# How a fact's verdicts under a suite's several templates make its verdict: said (known) under every template, under
# at least one, or asked under the first template only.
TEMPLATE_MODES = ("all", "any", "first")
PROMPT_STYLES = ("text", "chat")  # few-shot plain text, or the model's chat template

REPORT_VERSION = 2  # factcheck/schemas/report.schema.json
BASELINE_VERSION = 2  # factcheck/schemas/baseline.schema.json; version 1 (relations keyed by file name) is migrated on reading
# Marks that change how pytest runs a test: pytest's own, and those of widely used plugins that act on any marked
# item (timeouts, reruns, ordering, xdist groups, async runners, dependencies, repeats, forking). A suite file name,
# fact tag or suite marker of one of these names would skip, xfail, rerun or reorder facts, so the plugin refuses
# them and the importer never writes them. A fixed list, not every registered mark: a project registers its own tag
# names (in its ini file or conftest.py) to run under --strict-markers, and those must stay usable.
RESERVED_MARKS = frozenset({
    "skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "tryfirst", "trylast",  # pytest
    "factcheck", "xdist_group", "flaky", "timeout", "asyncio", "anyio", "trio", "django_db", "order", "run", "first",
    "last", "dependency", "repeat", "forked", "no_cover", "hypothesis", "benchmark", "httpx_mock", "vcr", "freeze_time",
    "pytester_example_path",
})
DTYPE_NAMES = ("float32", "fp32", "float16", "fp16", "bfloat16", "bf16", "auto")  # factcheck.model.language_model.DTYPES
# torch device types a model can run on ("auto": accelerate spreads it), with an optional index: cuda:1
DEVICE_PATTERN = r"(cpu|auto|mps|cuda|xpu|hpu|npu|mlu)(:\d+)?"
