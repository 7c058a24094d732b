"""The LRE applied without W equals the LRE applied with W, on every tiny architecture; its decodes are cached."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from factcheck.knows.implicit_lre import ImplicitLre, implicit_is_cheaper
from factcheck.knows.lre import estimate_lre
from factcheck.knows.lre_cache import APPLIED_FORMAT, AppliedCache, _checksum, cache_key, load_or_estimate
from factcheck.session import FactcheckSession, Settings
from factcheck.suites.suite import Fact, parse_suite

from lre_reference import reference_estimate

TEMPLATE = "The capital city of {subject} is"
FACTS = tuple(Fact(s, o) for s, o in [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Japan", "Tokyo")])


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "cache"))


def random_states(model, count: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, model.hidden_size, generator=torch.Generator().manual_seed(seed)).to(model.dtype)


def test_products_decode_what_w_decodes(tiny_lm):
    model = tiny_lm
    explicit = estimate_lre(model, (TEMPLATE, FACTS), 0, n_train=3)
    implicit = ImplicitLre(model, TEMPLATE, FACTS[:3], 0, explicit.beta)
    states = random_states(model, 5)
    assert torch.allclose(implicit.apply(states), explicit.apply(states), rtol=1e-4, atol=1e-5)
    # 3 prompts x (5 states + 1 for the bias); a second call needs no bias product.
    assert implicit.products == 3 * 6
    assert torch.allclose(implicit.apply(states[:2]), explicit.apply(states[:2]), rtol=1e-4, atol=1e-5)
    assert implicit.products == 3 * 6 + 3 * 2 and implicit.formed is None


def test_products_match_the_reference_estimator(tiny_llama):
    # The slow reference of tests/lre_reference.py judges both paths.
    weight, bias = reference_estimate(tiny_llama, TEMPLATE, FACTS, 1, n_train=3)
    implicit = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 1, 1.0)
    states = random_states(tiny_llama, 4, seed=1)
    expected = states.float() @ weight.float().T + bias.float()
    assert torch.allclose(implicit.apply(states), expected, rtol=1e-4, atol=1e-5)


def test_many_states_form_w_once_and_hand_it_over(tiny_llama):
    handed = []
    implicit = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, on_weight=handed.append)
    many = tiny_llama.hidden_size
    assert not implicit_is_cheaper(many, tiny_llama.hidden_size)
    states = random_states(tiny_llama, many)
    decoded = implicit.apply(states)
    assert implicit.formed is not None and handed == [implicit.formed]
    explicit = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=3, beta=1.5)
    assert torch.allclose(decoded, explicit.apply(states), rtol=1e-4, atol=1e-5)
    # From then on W serves every call, few states or many.
    products = implicit.products
    implicit.apply(states[:2])
    assert implicit.products == products


def test_decodes_are_cached_by_states_and_a_corrupt_entry_is_recomputed(tiny_llama):
    key = cache_key(tiny_llama.fingerprint, TEMPLATE, FACTS[:3], 0, n_train=3, beta=1.5, rank=None, method="full")
    store = AppliedCache(key, tiny_llama.hidden_size)
    states = random_states(tiny_llama, 3)
    first = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, store=store)
    decoded = first.apply(states)
    second = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, store=store)
    assert torch.equal(second.apply(states), decoded) and second.products == 0
    assert second.apply(states + 1).shape == decoded.shape and second.products > 0  # other states, other entry
    store.path(states).write_bytes(b"not safetensors")
    third = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, store=store)
    with pytest.warns(UserWarning, match="discarding corrupted LRE cache entry"):
        again = third.apply(states)
    assert torch.allclose(again, decoded) and third.products > 0
    # The 38th pass: decoded states of another dtype, with a checksum made to fit.
    integers = decoded.to(torch.int32)
    store.path(states).write_bytes(safetensors_bytes({"decoded": integers}, metadata={
        "format": APPLIED_FORMAT, "key": key, "checksum": _checksum(integers)}))
    with pytest.warns(UserWarning, match="discarding corrupted LRE cache entry"):
        assert ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, store=store).apply(states).dtype == torch.float32
    store.path(states).unlink()
    os.mkfifo(store.path(states))  # a FIFO where an entry belongs: never opened (it would wait forever)
    fourth = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5, store=store)
    with pytest.warns(UserWarning, match="discarding corrupted LRE cache entry"):
        assert torch.allclose(fourth.apply(states), decoded)


def test_load_or_estimate_goes_implicit_only_without_a_cached_w_and_for_few_states(tiny_llama):
    relation = (TEMPLATE, FACTS)
    few, many = 4, tiny_llama.hidden_size
    lre, hit = load_or_estimate(tiny_llama, relation, 0, n_train=3, implicit_states=few)
    assert isinstance(lre, ImplicitLre) and not hit
    lre, hit = load_or_estimate(tiny_llama, relation, 0, n_train=3, implicit_states=many)
    assert not isinstance(lre, ImplicitLre) and not hit  # estimated, and now cached
    lre, hit = load_or_estimate(tiny_llama, relation, 0, n_train=3, implicit_states=few)
    assert not isinstance(lre, ImplicitLre) and hit  # a cached W beats any product
    lre, _ = load_or_estimate(tiny_llama, relation, 1, n_train=3, rank=2, implicit_states=few)
    assert not isinstance(lre, ImplicitLre)  # a truncated W needs W


def test_a_session_without_cached_w_gives_the_verdicts_of_one_with_it(tiny_llama, tmp_path, monkeypatch):
    document = {"relation": "country capital city", "templates": [TEMPLATE],
                "facts": [{"subject": s, "object": o} for s, o in [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"),
                                                                   ("Japan", "Tokyo"), ("Spain", "Madrid"), ("Peru", "Lima")]]}
    suite = parse_suite(document, tmp_path / "suites" / "country_capital.json")

    def run(cache: str):
        monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / cache))
        session = FactcheckSession(Settings(shots=3), progress=lambda message: None)
        session.use_model(tiny_llama)
        relation = session.run(suite)
        relation.asked.update(range(len(suite.facts)))
        return relation

    implicit = run("empty")
    assert implicit.lre.decode == "implicit" and implicit.lre.products == 3 * (len(suite.facts) + 1)
    cached = run("empty")
    assert cached.lre.decode == "implicit" and cached.lre.products == 0 and cached.lre.cache_hit
    # The same relation with W: estimated into another cache first, so that the session finds it there.
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "with_w"))
    from factcheck.session import lre_for_suite

    lre_for_suite(tiny_llama, suite, 3)
    explicit = run("with_w")
    assert explicit.lre.decode == "weight" and explicit.lre.cache_hit
    for a, b, c in zip(implicit.records, cached.records, explicit.records):
        assert a.result == b.result
        assert a.result.know.passed == c.result.know.passed and a.result.verdict == c.result.verdict
        assert [t for t, _ in a.know.top_tokens] == [t for t, _ in c.know.top_tokens]
        assert [p for _, p in a.know.top_tokens] == pytest.approx([p for _, p in c.know.top_tokens], abs=1e-5)


def test_a_batch_of_suffixes_of_different_lengths_gives_each_prompts_own_products(tiny_lm):
    # Two templates put the subject at different distances from the end: rows are padded, and must not notice.
    from factcheck.knows.lre import SuffixBatch, SuffixProblem, prompt_site

    model = tiny_lm
    texts = [("The capital city of France is", "France"), ("Rome is the capital of Italy, and its river is the", "Italy"),
             ("Tokyo is in Japan", "Japan")]
    problems = SuffixProblem.for_sites(model, [prompt_site(model, text, subject) for text, subject in texts], 0)
    assert len({p.suffix_ids.shape[1] for p in problems}) == 3 and len({p.prefix.keys[0].shape[2] for p in problems}) > 1
    batch = SuffixBatch(problems)
    tangents = random_states(model, 2 * len(problems), seed=3).reshape(2, len(problems), -1)
    together = batch.jvp(tangents)
    for row, problem in enumerate(problems):
        alone = problem.jvp(tangents[:, row].T).T  # (2, d)
        assert torch.allclose(together[:, row], alone, rtol=1e-4, atol=1e-5)
    assert torch.allclose(batch.object_states(batch.h), batch.z, rtol=1e-4, atol=1e-5)


def test_a_released_lre_drops_its_passes_and_makes_them_again_when_asked(tiny_llama):
    implicit = ImplicitLre(tiny_llama, TEMPLATE, FACTS[:3], 0, 1.5)
    states = random_states(tiny_llama, 3)
    first = implicit.apply(states)
    implicit.release()
    assert implicit._problems is None and implicit._batch is None
    assert torch.allclose(implicit.apply(states), first, rtol=1e-5, atol=1e-6)


def test_experts_on_fused_kernels_get_their_lre_both_ways(tiny_model_factory):
    # The 55th pass: Qwen3-MoE's and Mixtral's experts run on transformers' fused kernel (torch._grouped_mm), which has
    # no forward-mode derivative: every fact's know-check failed, and `tune` crashed. Inside the LRE's transforms
    # they run transformers' eager loop, and the fused kernel is theirs again after.
    model = tiny_model_factory("mixtral", num_hidden_layers=3)
    fused = model.model.config._experts_implementation
    assert fused not in (None, "eager")
    weight, bias = reference_estimate(model, TEMPLATE, FACTS, 0, n_train=3)  # (the experts of blocks 1 and 2 run)
    implicit = ImplicitLre(model, TEMPLATE, FACTS[:3], 0, 1.0)
    states = random_states(model, 4, seed=2)
    assert torch.allclose(implicit.apply(states), states.float() @ weight.float().T + bias.float(), rtol=1e-3, atol=1e-4)
    explicit = estimate_lre(model, (TEMPLATE, FACTS), 0, n_train=3)
    assert torch.allclose(explicit.weight.float(), weight.float(), atol=1e-3 * float(weight.abs().max()) + 1e-6)
    assert model.model.config._experts_implementation == fused
