"""The package's layout holds: each part touches only what it is for, and the model is touched in one place."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from factcheck.errors import FactcheckError
from factcheck.model import hooks
from factcheck.model.packing import PackedSequence, Token

PACKAGE = Path(__file__).resolve().parents[1] / "factcheck"
# Modules the plugin, the gate and `factcheck diff` import: they must load without torch (seconds of start-up).
TORCH_FREE = [
    "factcheck.types", "factcheck.errors", "factcheck.settings", "factcheck.cache", "factcheck.results", "factcheck.fact_result",
    "factcheck.display",
    "factcheck.suites.suite", "factcheck.suites.importer",
    "factcheck.gate.baseline", "factcheck.gate.comparison", "factcheck.gate.diff", "factcheck.gate.release_gate",
    "factcheck.reports.run_summary", "factcheck.reports.report", "factcheck.reports.html_report",  # an xdist controller
    "factcheck.reports.streamed",
]
# What reaches inside a model's forward pass; only factcheck/model/ may do it.
MODEL_INTERNALS = ("register_forward_hook", "register_forward_pre_hook", "_attn_implementation", "AttentionInterface")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", TORCH_FREE)
def test_the_torch_free_core_imports_no_torch(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_only_the_model_package_imports_transformers_or_hooks_into_a_model():
    offenders = []
    for path in _modules():
        inside_model = path.parent.name == "model"
        if inside_model:
            continue
        text = path.read_text(encoding="utf-8")
        if any(name.split(".")[0] == "transformers" for name in _imported(path)):
            offenders.append(f"{path.relative_to(PACKAGE)} imports transformers")
        offenders += [f"{path.relative_to(PACKAGE)} uses {word}" for word in MODEL_INTERNALS if word in text]
    assert offenders == []


def test_the_library_never_imports_pytest():
    # pytest is wired in plugins/ alone; the library runs as well from a script or the CLI.
    assert [p.relative_to(PACKAGE) for p in _modules() if any(n.split(".")[0] == "pytest" for n in _imported(p))] == []


def test_each_part_is_a_package_of_its_own():
    parts = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"suites", "model", "says", "knows", "gate", "reports"} <= parts
    # The gate and the suites are read without a model: they import nothing from the parts that run one.
    for part in ("gate", "suites"):
        for path in (PACKAGE / part).glob("*.py"):
            running = [n for n in _imported(path) if n.startswith(("factcheck.model", "factcheck.says", "factcheck.knows"))]
            assert running == [], f"{path.relative_to(PACKAGE)} imports {running}"


# ---- the hooks layer ----------------------------------------------------------------------

def _answer(marker: float):
    def route(module, query, key, value, attention_mask, **kwargs):
        return torch.full((query.shape[0], query.shape[2], query.shape[1], query.shape[3]), marker), None

    return route


def test_routes_nest_and_each_with_restores_the_one_before(tiny_llama):
    model = tiny_llama
    configs = hooks.attention_configs(model.model)
    before = [c._attn_implementation for c in configs]
    ids = torch.tensor([[1, 2, 3]])

    def first_block_output() -> torch.Tensor:
        with model.capture_blocks([0]) as captured, torch.no_grad():
            model.model(input_ids=ids, use_cache=False)
        return captured[0]

    plain = first_block_output()
    with hooks.route_attention(model.model, _answer(1.0)):
        outer = first_block_output()
        with hooks.route_attention(model.model, _answer(2.0)):
            inner = first_block_output()
        assert torch.equal(first_block_output(), outer)
    assert not torch.equal(outer, inner) and not torch.equal(outer, plain)
    assert [c._attn_implementation for c in configs] == before
    assert torch.equal(first_block_output(), plain)


def test_factcheck_attention_outside_a_route_is_a_clear_error(tiny_llama):
    with pytest.raises(FactcheckError, match="outside a factcheck pass"):
        hooks._routed_attention(None, torch.zeros(1, 1, 1, 1), None, None, None)


def test_hooks_are_removed_when_a_pass_fails(tiny_llama):
    model = tiny_llama
    block = model.layout.blocks[0]
    with pytest.raises(RuntimeError, match="boom"):
        with model.capture_blocks([0]), hooks.edit_residual(model, 1, lambda states: None):
            raise RuntimeError("boom")
    assert not block._forward_hooks and not model.layout.blocks[1]._forward_hooks
    with pytest.raises(RuntimeError, match="boom"):
        with hooks.blocks_replaced(model, 2, torch.zeros(1)):
            raise RuntimeError("boom")
    assert "forward" not in block.__dict__


def test_packed_passes_leave_no_route_behind(tiny_llama):
    # Tiled attention is routed for one pass only; afterwards the model runs its own attention again.
    model = tiny_llama
    sequence = PackedSequence(model)
    tokens = [Token(sequence.new_context([]), token_id, position) for position, token_id in enumerate([5, 6, 7, 8])]
    sequence.run(tokens)
    assert hooks._active_route.get() is None
    assert all(c._attn_implementation != hooks.ATTENTION_NAME for c in hooks.attention_configs(model.model))
