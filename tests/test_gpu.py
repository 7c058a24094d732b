"""On a CUDA GPU: the say-check, the know-check on both LRE paths and a whole session, against the CPU.

Skipped where no GPU is (CI here has none); `bench/gpu_check.sh` runs them on a
machine that has one. FACTCHECK_GPU_TEST_DEVICE=cpu runs them on the CPU, to
check the tests themselves.
"""

from __future__ import annotations

import os

import pytest
import torch

from factcheck.knows.implicit_lre import ImplicitLre
from factcheck.knows.lre import estimate_lre
from factcheck.model.language_model import LanguageModel
from factcheck.says.saycheck import SayOptions, run_relation
from factcheck.session import FactcheckSession, Settings
from factcheck.suites.suite import Fact, parse_suite

from conftest import build_tiny_model

DEVICE = os.environ.get("FACTCHECK_GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.sh)"),
]
CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid"),
            ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago")]


def tiny(tokenizer, device: str, dtype: torch.dtype = torch.float32) -> LanguageModel:
    model = build_tiny_model("llama", tokenizer).to(device=device, dtype=dtype)
    return LanguageModel(model, tokenizer, name=f"tiny-llama-{device}")


@pytest.fixture
def suite(tmp_path):
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    return parse_suite(document, tmp_path / "suites" / "country_capital.json")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "cache"))


def test_the_say_check_on_the_device_says_what_it_says_on_the_cpu(tiny_tokenizer, suite):
    options = SayOptions(shots=3)
    on_cpu = run_relation(tiny(tiny_tokenizer, "cpu"), suite, options, capture_layers=[1])
    on_device = run_relation(tiny(tiny_tokenizer, DEVICE), suite, options, capture_layers=[1])
    for cpu, device in zip(on_cpu, on_device):
        assert device.generated == cpu.generated and device.ranking_pass == cpu.ranking_pass
        assert device.margin == pytest.approx(cpu.margin, abs=1e-3)
        assert torch.allclose(device.subject_states[1].cpu(), cpu.subject_states[1], rtol=1e-3, atol=1e-4)


def test_both_lre_paths_agree_on_the_device(tiny_tokenizer):
    model = tiny(tiny_tokenizer, DEVICE)
    facts = tuple(Fact(s, o) for s, o in CAPITALS[:4])
    explicit = estimate_lre(model, ("The capital city of {subject} is", facts), 0, n_train=3)
    implicit = ImplicitLre(model, "The capital city of {subject} is", facts[:3], 0, explicit.beta)
    states = torch.randn(5, model.hidden_size, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    assert torch.allclose(implicit.apply(states), explicit.apply(states), rtol=1e-3, atol=1e-4)
    on_cpu = estimate_lre(tiny(tiny_tokenizer, "cpu"), ("The capital city of {subject} is", facts), 0, n_train=3)
    assert torch.allclose(explicit.weight.cpu(), on_cpu.weight, rtol=1e-3, atol=1e-4)


def test_a_bfloat16_session_runs_a_relation_on_the_device(tiny_tokenizer, suite):
    session = FactcheckSession(Settings(shots=3), progress=lambda message: None)
    session.use_model(tiny(tiny_tokenizer, DEVICE, torch.bfloat16))
    run = session.run(suite)
    run.asked.update(range(len(suite.facts)))
    assert run.lre is not None and run.lre.decode == "implicit"
    results = [record.result for record in run.records]
    assert len(results) == len(CAPITALS) and all(r.know is not None for r in results)
    assert all(r.say.generated is not None for r in results)
