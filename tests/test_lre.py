"""LRE estimation (fast suffix-only path vs the straightforward reference), applying, and the disk cache."""

from __future__ import annotations

import dataclasses
import os
import re
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from factcheck.errors import FactcheckError
from factcheck.knows import lre_cache
from factcheck.model.prefix_attention import UnroutedAttention
from factcheck.knows.lre import (
    DEFAULT_BETA,
    Lre,
    NonFiniteLre,
    SuffixProblem,
    compare_lres,
    estimate_lre,
    prompt_site,
    prompt_states,
    query_sites,
    resolve_layer,
    training_sites,
)
from factcheck.suites.suite import Fact

from lre_reference import reference_estimate, reference_lre_outputs, reference_problem

TEMPLATE = "The capital city of {subject} is"
FACTS = tuple(
    Fact(s, o)
    for s, o in [
        ("France", "Paris"),
        ("Germany", "Berlin"),
        ("Italy", "Rome"),
        ("Japan", "Tokyo"),
        ("Spain", "Madrid"),
        ("the United Kingdom", "London"),
    ]
)
N_TRAIN = 4


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


# ---- the fast estimator reproduces the reference -------------------------------------------


@pytest.mark.parametrize("layer", ["emb", 0, -1])
def test_fast_estimate_matches_reference(tiny_lm, layer):
    fast = estimate_lre(tiny_lm, (TEMPLATE, FACTS), layer, n_train=N_TRAIN)
    weight, bias = reference_estimate(tiny_lm, TEMPLATE, FACTS, resolve_layer(tiny_lm, layer), n_train=N_TRAIN)
    assert fast.weight.shape == (32, 32)
    assert torch.allclose(fast.weight, weight, atol=1e-4 * float(weight.abs().max()) + 1e-6)
    assert _relative(fast.bias, bias) < 1e-4
    if layer != -1:  # the last block's state at the subject cannot reach the last token: J is 0 there
        assert float(weight.abs().max()) > 1e-3


def test_suffix_states_match_the_full_prompt(tiny_lm):
    site = training_sites(tiny_lm, TEMPLATE, FACTS[:N_TRAIN])[2]
    problem = SuffixProblem(tiny_lm, site, 0)
    h, z, _ = reference_problem(tiny_lm, site.text, site.subject, 0)
    assert site.subject_index < len(site.token_ids) - 1  # a real prefix and a real suffix
    assert _relative(problem.h, h) < 1e-5
    assert _relative(problem.z, z) < 1e-5


def test_sliding_window_is_respected_by_the_suffix_pass(tiny_model_factory):
    # A window of 2 makes the prefix almost invisible; a wrong window would change z.
    model = tiny_model_factory("gemma3", sliding_window=2)
    site = training_sites(model, TEMPLATE, FACTS[:N_TRAIN])[0]
    problem = SuffixProblem(model, site, 0)
    _, z, _ = reference_problem(model, site.text, site.subject, 0)
    assert _relative(problem.z, z) < 1e-5


def test_prompt_without_prefix(tiny_llama):
    site = prompt_site(tiny_llama, "The capital city of France is", "The")
    assert site.subject_index == 0
    problem = SuffixProblem(tiny_llama, site, 0)
    h, z, f = reference_problem(tiny_llama, site.text, site.subject, 0)
    assert _relative(problem.z, z) < 1e-5
    assert _relative(problem.jacobian(), torch.autograd.functional.jacobian(f, h)) < 1e-4


def test_blocks_up_to_the_layer_do_not_run_again_on_the_suffix(tiny_model_factory):
    model = tiny_model_factory("gemma3")  # 3 blocks
    site = training_sites(model, TEMPLATE, FACTS[:N_TRAIN])[0]
    problem = SuffixProblem(model, site, 1)
    problem.object_state(problem.h)
    assert problem.prefix.layers_seen == {2}
    _, z, _ = reference_problem(model, site.text, site.subject, 1)
    assert _relative(problem.object_state(problem.h), z) < 1e-5


def test_several_prompts_share_one_full_pass(tiny_llama):
    sites = training_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN])
    together = SuffixProblem.for_sites(tiny_llama, sites, 0)
    for site, problem in zip(sites, together):
        alone = SuffixProblem(tiny_llama, site, 0)
        assert _relative(problem.h, alone.h) < 1e-5
        assert _relative(problem.z, alone.z) < 1e-5
        for layer, keys in alone.prefix.keys.items():
            assert torch.allclose(problem.prefix.keys[layer], keys, atol=1e-5)


def test_passes_do_not_disturb_each_other(tiny_llama):
    """The transformers cache bug: a pass that mutates shared prefix state corrupts every later pass."""
    site = training_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN])[1]
    problem = SuffixProblem(tiny_llama, site, 0)
    keys_before = {m: k.clone() for m, k in problem.prefix.keys.items()}
    first = problem.object_state(problem.h)
    problem.object_state(problem.h + 3.0)
    problem.jacobian()
    again = problem.object_state(problem.h)
    assert torch.equal(first, again)
    assert torch.allclose(first, problem.z, atol=1e-4)  # full-prompt pass vs suffix pass: float noise only
    assert all(torch.equal(problem.prefix.keys[m], k) for m, k in keys_before.items())


def test_jacobian_chunks_and_products_agree(tiny_llama):
    site = training_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN])[3]
    problem = SuffixProblem(tiny_llama, site, 0)
    jacobian = problem.jacobian()
    assert problem.rows_per_chunk() == 32
    assert torch.allclose(problem.jacobian(chunk_size=5), jacobian, atol=1e-6)
    vectors = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(problem.jvp(vectors), jacobian @ vectors, atol=1e-5)
    assert torch.allclose(problem.vjp(vectors), vectors.T @ jacobian, atol=1e-5)


def test_training_prompts_hold_the_other_facts_only():
    class Stub:
        bos_text = "<s>"

        @staticmethod
        def tokenize(texts):
            return [[0] * len(t) for t in texts], [[(i, i + 1) for i in range(len(t))] for t in texts]

    sites = training_sites(Stub, TEMPLATE, FACTS[:3])
    assert sites[0].text == "<s>The capital city of Germany is Berlin\nThe capital city of Italy is Rome\nThe capital city of France is"
    for site, fact in zip(sites, FACTS[:3]):
        assert f"{fact.subject} is {fact.object}" not in site.text
        assert site.text.endswith(f"of {fact.subject} is")
        assert site.subject_index == site.text.rfind(fact.subject) + len(fact.subject) - 1


def test_bfloat16_model_gives_a_float32_estimate(tiny_model_factory):
    model = tiny_model_factory("llama")
    exact = estimate_lre(model, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    model.model.to(torch.bfloat16)
    for method in ("full", "lowrank"):
        low = estimate_lre(model, (TEMPLATE, FACTS), 0, n_train=N_TRAIN, method=method, sketch_rank=32, oversample=0)
        assert low.weight.dtype == low.bias.dtype == torch.float32
        assert float(torch.linalg.norm(low.weight - exact.weight) / torch.linalg.norm(exact.weight)) < 0.05
    h = prompt_states(model, query_sites(model, TEMPLATE, FACTS[:N_TRAIN], ["Spain"]), 0).h
    assert h.dtype == torch.bfloat16 and low.logits(model, h).shape == (1, model.vocab_size)


def test_attention_setting_is_restored_even_after_an_error(tiny_llama):
    before = tiny_llama.config._attn_implementation
    site = training_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN])[0]
    problem = SuffixProblem(tiny_llama, site, 0)
    with pytest.raises(RuntimeError):
        problem.object_state(torch.zeros(7))  # wrong hidden size: fails inside the pass
    assert tiny_llama.config._attn_implementation == before
    estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=2)
    assert tiny_llama.config._attn_implementation == before


def test_attention_outside_the_interface_is_refused(tiny_model_factory):
    """The suffix-only path needs every layer's attention to go through transformers' AttentionInterface."""

    class PrivateAttention(nn.Module):
        def forward(self, hidden_states, *args, **kwargs):
            return torch.zeros_like(hidden_states), None

    model = tiny_model_factory("llama")
    model.layout.blocks[1].self_attn = PrivateAttention()
    with pytest.raises(UnroutedAttention, match="1 of 2 attention layers"):
        estimate_lre(model, (TEMPLATE, FACTS), 0, n_train=2)


def test_bad_arguments_are_rejected(tiny_llama):
    with pytest.raises(ValueError, match="n_train"):
        estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=len(FACTS) + 1)
    with pytest.raises(ValueError, match="method"):
        estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=2, method="exact")
    with pytest.raises(ValueError, match="out of range"):
        estimate_lre(tiny_llama, (TEMPLATE, FACTS), 2, n_train=2)
    assert resolve_layer(tiny_llama, "-1") == 1
    assert resolve_layer(tiny_llama, None) == 1


# ---- randomized low rank -------------------------------------------------------------------------


def test_lowrank_with_a_full_sketch_equals_the_full_estimate(tiny_llama):
    full = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    sketched = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN, method="lowrank", sketch_rank=32, oversample=0)
    states = prompt_states(tiny_llama, query_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN], ["Spain", "France"]), 0).h
    agreement = compare_lres(tiny_llama, sketched, full, states)
    assert agreement.weight_relative_error < 1e-4
    assert agreement.bias_relative_error < 1e-5
    assert agreement.top1_agreement == 1.0 and agreement.compared_states == 2


def test_lowrank_sketch_has_the_requested_rank(tiny_llama):
    full = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    sketched = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN, method="lowrank", sketch_rank=4, oversample=4)
    assert torch.linalg.matrix_rank(sketched.weight) == 4
    best = full.with_rank(4).effective_weight  # the optimal rank-4 approximation
    error = compare_lres(tiny_llama, sketched, full).weight_relative_error
    optimal = float(torch.linalg.norm(best - full.weight) / torch.linalg.norm(full.weight))
    assert optimal <= error + 1e-6
    assert error < 1.0
    assert torch.allclose(sketched.bias, full.bias, atol=1e-5)  # the bias uses exact J_i h_i


# ---- applying ----------------------------------------------------------------------------


def _toy_lre(weight: torch.Tensor, **changes) -> Lre:
    return Lre(weight=weight, bias=torch.arange(4.0), layer=0, beta=2.0, **changes)


def test_apply_scales_only_the_linear_term():
    torch.manual_seed(0)
    weight = torch.randn(4, 4)
    lre = _toy_lre(weight)
    h = torch.randn(3, 4)
    assert torch.allclose(lre.apply(h), 2.0 * h @ weight.T + torch.arange(4.0))
    assert torch.allclose(lre.apply(torch.zeros(4)), torch.arange(4.0))
    assert torch.allclose(lre.with_beta(1.0).apply(h), h @ weight.T + torch.arange(4.0))


def test_rank_truncation_and_pseudo_inverse():
    torch.manual_seed(1)
    weight = torch.randn(4, 4)
    lre = _toy_lre(weight, rank=2)
    assert torch.linalg.matrix_rank(lre.effective_weight) == 2
    u, s, vh = torch.linalg.svd(weight)
    assert torch.allclose(lre.effective_weight, (u[:, :2] * s[:2]) @ vh[:2], atol=1e-5)
    assert torch.allclose(lre.with_rank(None).effective_weight, weight)
    assert torch.allclose(lre.pseudo_inverse(4), torch.linalg.pinv(weight), atol=1e-4)
    assert torch.allclose(lre.pseudo_inverse(), torch.linalg.pinv(lre.effective_weight), atol=1e-4)


@pytest.mark.parametrize("layer", ["emb", 0])
def test_prompt_states_match_single_prompt_passes(tiny_lm, layer):
    subjects = ["France", "the United Kingdom", "Spain"]
    sites = query_sites(tiny_lm, TEMPLATE, FACTS[:N_TRAIN], subjects)
    batched = prompt_states(tiny_lm, sites, layer, batch_size=3)
    for row, site in enumerate(sites):
        h, z, _ = reference_problem(tiny_lm, site.text, site.subject, layer)
        assert _relative(batched.h[row], h) < 1e-4
        assert _relative(batched.z[row], z) < 1e-4
    one_by_one = prompt_states(tiny_lm, sites, layer, batch_size=1)
    assert torch.allclose(batched.h, one_by_one.h, atol=1e-4)
    assert torch.allclose(batched.logits, one_by_one.logits, atol=1e-3)


def test_top_tokens_decode_through_the_models_head(tiny_llama):
    lre = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    h = prompt_states(tiny_llama, query_sites(tiny_llama, TEMPLATE, FACTS[:N_TRAIN], ["Spain"]), 0).h
    logits = tiny_llama.decode_state(lre.apply(h))
    (top,) = lre.top_tokens(tiny_llama, h, k=3)
    assert [t for t, _, _ in top] == logits[0].topk(3).indices.tolist()
    assert top[0][1] == tiny_llama.tokenizer.decode([top[0][0]])
    assert abs(sum(p for *_, p in top) - float(torch.softmax(logits[0], -1).topk(3).values.sum())) < 1e-5


# ---- disk cache ----------------------------------------------------------------------------------


@pytest.fixture
def lre_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path))
    return tmp_path / "lre"


def _settings(lre: Lre) -> dict:
    return {f.name: getattr(lre, f.name) for f in dataclasses.fields(lre) if f.name not in ("weight", "bias")}


def _count_estimates(monkeypatch) -> list[int]:
    calls = []
    real = lre_cache.estimate_lre

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lre_cache, "estimate_lre", counting)
    return calls


def test_cache_miss_then_hit(tiny_llama, lre_cache_dir, monkeypatch):
    calls = _count_estimates(monkeypatch)
    first, hit = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    assert not hit and len(calls) == 1
    second, hit = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    assert hit and len(calls) == 1
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)
    assert _settings(second) == _settings(first)
    assert [p.suffix for p in lre_cache_dir.iterdir()] == [".safetensors"]  # no temporary files left behind


def test_cache_disabled_neither_reads_nor_writes(tiny_llama, lre_cache_dir):
    _, hit = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=2, cache=False)
    assert not hit and not lre_cache_dir.exists()


def _corrupt_truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_garbage(path):
    path.write_bytes(b"\x00garbage" * 50)


def _corrupt_flip_a_weight(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40  # inside the tensor bytes: only the checksum can tell
    path.write_bytes(bytes(data))


def _corrupt_into_a_folder(path):
    path.unlink()
    (path / "inside").mkdir(parents=True)  # never removed, it was read as damaged on every run


def _corrupt_into_a_fifo(path):
    path.unlink()
    os.mkfifo(path)  # opening it to read would wait forever for a writer


def _edit_the_header(path, pattern, replacement):
    # In place, at the same length: the header stays readable and the tensors' checksum holds.
    data, count = re.subn(pattern, lambda found: replacement.ljust(len(found.group())), path.read_bytes(), count=1)
    assert count == 1, data[:400]
    path.write_bytes(data)


def _corrupt_beta_into_nan(path):
    _edit_the_header(path, rb'\\"beta\\": [0-9.]+', b'\\"beta\\": NaN')


def _corrupt_the_layer(path):
    _edit_the_header(path, rb'\\"layer\\": 0', b'\\"layer\\": 1')


def _corrupt_a_training_object(path):
    _edit_the_header(path, rb'\\"Paris\\"', b'\\"Lyons\\"')


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_garbage, _corrupt_flip_a_weight, _corrupt_into_a_fifo, _corrupt_into_a_folder,
                                     _corrupt_beta_into_nan, _corrupt_the_layer, _corrupt_a_training_object])
def test_corrupted_entry_is_reported_deleted_and_recomputed(tiny_llama, lre_cache_dir, monkeypatch, corrupt):
    good, _ = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    (path,) = lre_cache_dir.iterdir()
    corrupt(path)
    calls = _count_estimates(monkeypatch)
    with pytest.warns(UserWarning, match=str(path.name)) as record:
        again, hit = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    assert "corrupted" in str(record[0].message)
    assert not hit and len(calls) == 1
    assert torch.allclose(again.weight, good.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry loads cleanly
        _, hit = lre_cache.load_or_estimate(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
    assert hit


def test_entry_under_the_wrong_key_is_rejected(tiny_llama, lre_cache_dir):
    lre = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=2)
    path = lre_cache.save_lre(lre, "a" * 32)
    assert lre_cache.load_lre(path, "a" * 32).training == lre.training
    with pytest.raises(lre_cache.CorruptEntry, match="key"):
        lre_cache.load_lre(path, "b" * 32)
    with pytest.raises(lre_cache.CorruptEntry, match="hidden size"):
        lre_cache.load_lre(path, "a" * 32, hidden_size=64)


def _key(**changes):
    settings = dict(
        model_fingerprint="m1", template=TEMPLATE, training=FACTS[:N_TRAIN], layer=3,
        n_train=N_TRAIN, beta=2.5, rank=None, method="full", method_options={},
    )
    settings.update(changes)
    fingerprint, template, training, layer = (settings.pop(k) for k in ("model_fingerprint", "template", "training", "layer"))
    return lre_cache.cache_key(fingerprint, template, training, layer, **settings)


@pytest.mark.parametrize(
    "change",
    [
        {"model_fingerprint": "m2"},
        {"template": "The capital of {subject} is"},
        {"training": FACTS[1 : N_TRAIN + 1]},
        {"training": (Fact("France", "Lyon"),) + FACTS[1:N_TRAIN]},
        {"layer": 4},
        {"layer": "emb"},
        {"n_train": N_TRAIN + 1},
        {"beta": 2.25},
        {"rank": 16},
        {"method": "lowrank", "method_options": {"sketch_rank": 64, "oversample": 16, "seed": 0}},
        {"method_options": {"seed": 1}},
    ],
)
def test_every_input_of_the_estimate_changes_the_key(change):
    assert _key() == _key()
    assert _key(**change) != _key()


def test_other_versions_of_torch_or_transformers_change_the_key(monkeypatch):
    # The 58th pass: the key covered the model but not the libraries that compute it (the faithfulness cache's did).
    before = _key()
    monkeypatch.setattr(lre_cache, "library_versions", lambda: "torch 2.13.0, transformers 5.99.0")
    assert _key() != before


def test_changed_model_or_relation_never_reuses_an_entry(tiny_model_factory, lre_cache_dir):
    model_a = tiny_model_factory("llama", seed=0)
    model_b = tiny_model_factory("llama", seed=1)
    lre_cache.load_or_estimate(model_a, (TEMPLATE, FACTS), 0, n_train=2)
    _, hit = lre_cache.load_or_estimate(model_b, (TEMPLATE, FACTS), 0, n_train=2)
    assert not hit
    edited = (Fact("France", "Lyon"),) + FACTS[1:]
    _, hit = lre_cache.load_or_estimate(model_a, (TEMPLATE, edited), 0, n_train=2)
    assert not hit
    _, hit = lre_cache.load_or_estimate(model_a, (TEMPLATE, FACTS), 0, n_train=2)
    assert hit
    assert len(list(lre_cache_dir.iterdir())) == 3


# ---- SmolLM2 ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_fast_estimate_decodes_like_the_reference(smollm2):
    """n = 5 at block 15: the fast LRE's outputs match the reference's (built from autograd JVPs) and decode
    to the same top tokens on held-out subjects."""
    facts = (
        *FACTS[:5],
        Fact("Egypt", "Cairo"),
        Fact("Norway", "Oslo"),
    )
    n_train, layer, beta = 5, 15, DEFAULT_BETA
    lre = estimate_lre(smollm2, (TEMPLATE, facts), layer, n_train=n_train, beta=beta)
    sites = query_sites(smollm2, TEMPLATE, facts[:n_train], ["Egypt", "Norway"])
    states = prompt_states(smollm2, sites, layer).h
    expected = reference_lre_outputs(smollm2, TEMPLATE, facts, layer, n_train, beta, states)
    got = lre.apply(states)
    assert _relative(got, expected) < 1e-3
    fast_top = torch.topk(smollm2.decode_state(got), 5).indices
    reference_top = torch.topk(smollm2.decode_state(expected), 5).indices
    assert torch.equal(fast_top, reference_top)
    assert [smollm2.tokenizer.decode([int(t)]) for t in fast_top[:, 0]] == [" Cairo", " Oslo"]


def test_an_lre_with_infinite_or_nan_values_is_never_cached_nor_read_back(tiny_llama, lre_cache_dir):
    lre = estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=2)
    broken = dataclasses.replace(lre, weight=lre.weight.clone().fill_(float("inf")))
    with pytest.raises(NonFiniteLre, match=r"infinite or NaN.*a huge settings.lre.beta scales them past any number"):
        lre_cache.save_lre(broken, "c" * 32)
    assert not lre_cache.entry_path("c" * 32).exists()
    # An entry that holds NaN but checks out otherwise (written by another tool, or an older factcheck).
    path = lre_cache.save_lre(lre, "d" * 32)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    weight, bias = lre.weight.clone(), lre.bias.clone()
    weight[0, 0] = float("nan")
    metadata["checksum"] = lre_cache._checksum(weight, bias)
    path.write_bytes(safetensors_bytes({"weight": weight.contiguous(), "bias": bias.contiguous()}, metadata=metadata))
    with pytest.raises(lre_cache.CorruptEntry, match="infinite or NaN"):
        lre_cache.load_lre(path, "d" * 32)
    # The 38th pass: an entry of another dtype with a checksum made to fit was trusted (int32 truncated the states it
    # multiplied; bool failed in the product with a raw traceback).
    for dtype in (torch.float16, torch.int32, torch.bool):
        weight, bias = lre.weight.to(dtype), lre.bias.to(dtype)
        metadata["checksum"] = lre_cache._checksum(weight, bias)
        path.write_bytes(safetensors_bytes({"weight": weight.contiguous(), "bias": bias.contiguous()}, metadata=metadata))
        with pytest.raises(lre_cache.CorruptEntry, match="written as float32"):
            lre_cache.load_lre(path, "d" * 32)


def test_a_relation_whose_lre_is_not_finite_is_still_say_checked(tiny_llama, lre_cache_dir, monkeypatch, tmp_path):
    from factcheck.session import FactcheckSession
    from factcheck.settings import Settings
    from factcheck.suites.suite import parse_suite

    real = lre_cache.estimate_lre

    def overflowing(*args, **kwargs):
        lre = real(*args, **kwargs)
        return dataclasses.replace(lre, bias=lre.bias.clone().fill_(float("nan")))

    monkeypatch.setattr(lre_cache, "estimate_lre", overflowing)
    monkeypatch.setattr(lre_cache, "implicit_is_cheaper", lambda states, hidden: False)  # estimate W, not products
    suite = parse_suite({"relation": "r", "templates": [TEMPLATE], "facts": [{"subject": f.subject, "object": f.object} for f in FACTS]},
                        tmp_path / "suites" / "r.json")
    session = FactcheckSession(Settings(shots=2, max_new_tokens=2, lre="on"), progress=lambda message: None)
    session.use_model(tiny_llama)
    run = session.run(suite)
    assert run.lre is None and run.knows is None and "no know-check" in run.lre_skipped and "infinite or NaN" in run.lre_skipped
    assert len(run.outcomes) == len(FACTS)
    assert not any(lre_cache_dir.rglob("*.safetensors"))


@pytest.mark.parametrize("original_positions", [4, 200])
def test_longrope_frequencies_updated_in_place_work_under_the_jacobians_transforms(tiny_model_factory, original_positions):
    # LongRoPE (Phi-3.5-mini, Phi-4-mini) writes its frequencies in place as it runs, which torch.func refuses: every
    # fact of such a model failed. Past `original_positions` it takes its long factors, which the Jacobian must see.
    rope = {"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": original_positions,
            "short_factor": [1.0, 1.1, 1.2, 1.3], "long_factor": [1.0, 4.0, 16.0, 40.0]}
    model = tiny_model_factory("llama", max_position_embeddings=256, rope_parameters=rope)
    site = training_sites(model, TEMPLATE, FACTS[:N_TRAIN])[3]
    problem = SuffixProblem(model, site, 0)
    by_autograd = torch.autograd.functional.jacobian(problem.object_state, problem.h)  # plain autograd allows the write
    assert torch.allclose(problem.jacobian(), by_autograd, atol=1e-5)
    vectors = torch.randn(by_autograd.shape[0], 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(problem.jvp(vectors), by_autograd @ vectors, atol=1e-5)
    assert torch.allclose(problem.vjp(vectors), vectors.T @ by_autograd, atol=1e-5)
    rotary = model.model.model.rotary_emb
    assert "forward" not in vars(rotary)  # the class's updating forward is back


@pytest.mark.parametrize("kind", ["falcon", "gpt_neo"])
def test_models_whose_blocks_return_tuples_get_their_lre(kind, tiny_tokenizer):
    # The 52nd pass: Falcon's and GPT-Neo's loops take the first item of a block's output, and the replaced blocks
    # returned a bare state: every LRE failed with a shape error (a traceback of 2,000 lines). (GPT-Neo's last
    # attention layer is not routed through transformers' interface: the fast estimator says so by name.)
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    ids = dict(vocab_size=len(tiny_tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if kind == "falcon":
        model = tf.FalconForCausalLM(tf.FalconConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, **ids))
    else:
        model = tf.GPTNeoForCausalLM(tf.GPTNeoConfig(hidden_size=32, num_layers=3, num_heads=4, max_position_embeddings=256,
                                                     attention_types=[[["global"], 3]], **ids))
    torch.manual_seed(0)
    lm = LanguageModel(model.eval(), tiny_tokenizer, name=kind)
    assert lm.blocks_return_tuples
    if kind == "gpt_neo":
        from factcheck.model.prefix_attention import UnroutedAttention

        with pytest.raises(UnroutedAttention, match="attention layers went through"):
            estimate_lre(lm, (TEMPLATE, FACTS), 1, n_train=N_TRAIN)
        return
    fast = estimate_lre(lm, (TEMPLATE, FACTS), 1, n_train=N_TRAIN)
    weight, bias = reference_estimate(lm, TEMPLATE, FACTS, resolve_layer(lm, 1), n_train=N_TRAIN)
    assert torch.allclose(fast.weight, weight, atol=1e-4 * float(weight.abs().max()) + 1e-6)


@pytest.mark.parametrize("kind", ["deepseek", "gpt_oss"])
def test_a_model_whose_suffix_passes_are_not_its_own_is_refused_by_name(kind, tiny_tokenizer):
    # The 56th pass: DeepSeek-V2/V3 keep compressed latents in their attention cache, not each head's keys and values:
    # every LRE failed with a shape-error traceback; gpt-oss's attention sinks are not in the prefix route, and its
    # LRE was estimated on a function 4% off the model's own, without a word.
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    ids = dict(vocab_size=len(tiny_tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    if kind == "deepseek":
        model = tf.DeepseekV3ForCausalLM(tf.DeepseekV3Config(
            hidden_size=32, intermediate_size=64, moe_intermediate_size=16, num_hidden_layers=3, first_k_dense_replace=1,
            num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, kv_lora_rank=8,
            q_lora_rank=8, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, n_group=1, topk_group=1, **ids))
        why = r"they fail \(RuntimeError"
    else:  # (the 57th pass: in bfloat16, 3.6-12% off, it passed the check's tolerance: sinks are refused by name)
        model = tf.GptOssForCausalLM(tf.GptOssConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            head_dim=8, num_local_experts=2, num_experts_per_tok=1, layer_types=["full_attention"] * 3, **ids))
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.sinks.normal_(0, 2)  # (sinks start at zero: one more softmax column all the same)
    lm = LanguageModel(model.eval(), tiny_tokenizer, name=kind)
    if kind == "deepseek":
        with pytest.raises(FactcheckError, match=rf"the LRE estimator runs each training prompt's suffix over its prefix held "
                                                 rf"from the model's attention cache, and {why}.*--factcheck-lre=off"):
            estimate_lre(lm, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
        return
    for dtype in (torch.float32, torch.bfloat16):
        lm.model.to(dtype)
        with pytest.raises(FactcheckError, match=r"GptOssAttention takes attention sinks .* the suffix-only LRE estimator "
                                                 r"does not apply; run with --factcheck-lre=off"):
            estimate_lre(lm, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)


def test_every_training_prompts_suffix_pass_is_checked_against_its_full_pass(tiny_llama, monkeypatch):
    # The 57th pass: only the first training prompt was checked; a window only the mask applies (Qwen2-MoE, Llama 4's
    # chunks) left the later, longer prompts 21-43% off, and the LRE was estimated on them.
    from factcheck.knows import lre as lre_module

    full_passes = lre_module._full_passes

    def third_off(model, sites, layer):
        passes = full_passes(model, sites, layer)
        prefix, output, z = passes[2]
        passes[2] = (prefix, output, z * 1.3)  # as if its suffix pass missed something of the model's attention
        return passes

    monkeypatch.setattr(lre_module, "_full_passes", third_off)
    with pytest.raises(FactcheckError, match=r"they give the prompt's object state 23.1% off its full pass"):
        estimate_lre(tiny_llama, (TEMPLATE, FACTS), 0, n_train=N_TRAIN)
