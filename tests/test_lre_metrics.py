"""Faithfulness and causality of LREs, on a tiny GPT-2 whose own answers define the facts."""

from __future__ import annotations

import pytest
import torch

from factcheck.knows.lre import Lre, estimate_lre, prompt_states, query_sites
from factcheck.knows.lre_metrics import causality, faithfulness, first_token_ids, lenient_match
from factcheck.suites.suite import Fact, load_suite

# The query ends with the subject, so at the last block the subject state is the object state.
TEMPLATE = "Capital: {subject}"
TRAINING = (Fact("France", "Paris"), Fact("Italy", "Rome"), Fact("Japan", "Tokyo"))
CANDIDATE_SUBJECTS = ("Germany", "Spain", "Berlin", "Miles Davis", "Victor Hugo", "apples", "bananas", "Rome", "Paris")


def test_lenient_rule_is_a_case_insensitive_prefix():
    assert lenient_match("B", ["Buenos Aires"])
    assert lenient_match(" paris", ["Paris"])
    assert lenient_match(" Dub", ["Eire", "Dublin"])  # any accepted answer
    assert not lenient_match(" ", ["Paris"])  # empty after stripping
    assert not lenient_match(" Parisian", ["Paris"])  # longer than the object
    assert not lenient_match(" Rome", ["Paris"])


def _model_says(model, subjects):
    """Facts whose object is the tiny model's own next word (kept when its first token round-trips)."""
    sites = query_sites(model, TEMPLATE, TRAINING, subjects)
    tops = prompt_states(model, sites, 0).logits.argmax(-1).tolist()
    facts = []
    for site, top in zip(sites, tops):
        word = model.tokenizer.decode([top]).strip()
        if word and first_token_ids(model, site, [word]) == {top}:
            facts.append((Fact(site.subject, word), top, site))
    return facts


@pytest.fixture(scope="module")
def said(tiny_gpt2):
    facts = _model_says(tiny_gpt2, CANDIDATE_SUBJECTS)
    assert len(facts) >= 3 and len({top for _, top, _ in facts}) >= 3  # the seed-0 model gives enough
    return facts


def test_faithfulness_counts_facts_the_model_gets_right(tiny_gpt2, said):
    # A constant LRE (W = 0, b = the object state of the first said fact) always decodes that fact's token.
    (first_fact, first_top, first_site), *_ = said
    z = prompt_states(tiny_gpt2, [first_site], 1).z[0]
    constant = Lre(weight=torch.zeros(32, 32), bias=z, layer=1, beta=1.0, template=TEMPLATE,
                   training=tuple((f.subject, f.object) for f in TRAINING))
    wrong = Fact("Norway", "Nowhere")
    relation = [*TRAINING, *(f for f, _, _ in said), wrong]
    report = faithfulness(tiny_gpt2, constant, relation)
    assert [r.fact for r in report.facts] == relation[len(TRAINING):]  # training facts are never tested
    assert report.tested_strict == len(said)  # the wrong fact is not among the tested
    expected = sum(top == first_top for _, top, _ in said) / len(said)
    assert report.strict == pytest.approx(expected)
    assert report.lenient == pytest.approx(expected)
    assert report.facts[0].lre_strict and report.facts[0].object_rank == 1
    assert all(r.object_rank > 1 for r, (_, top, _) in zip(report.facts, said) if top != first_top)


def test_identity_edit_at_the_last_block_moves_every_answer(tiny_gpt2, said):
    # With W = I at the last block, the edit z' - z turns the subject (= last) state into the target's state.
    identity = Lre(weight=torch.eye(32), bias=torch.zeros(32), layer=1, beta=1.0, template=TEMPLATE,
                   training=tuple((f.subject, f.object) for f in TRAINING))
    relation = [*TRAINING, *(f for f, _, _ in said)]
    report = causality(tiny_gpt2, identity, relation)
    assert report.rank == 32
    assert len(report.edits) >= 2
    assert all(e.target.object != e.source.object for e in report.edits)
    assert report.causality == 1.0
    # Rank 0 edits nothing: every answer stays put.
    unchanged = causality(tiny_gpt2, identity, relation, rank=0)
    assert unchanged.causality == 0.0


def test_estimated_lre_scores_are_in_range(tiny_gpt2, said):
    relation = [*TRAINING, *(f for f, _, _ in said)]
    lre = estimate_lre(tiny_gpt2, (TEMPLATE, relation), 0, n_train=len(TRAINING))
    report = faithfulness(tiny_gpt2, lre, relation)
    assert 0.0 <= report.strict <= 1.0 and report.tested_strict == len(said)
    assert 0.0 <= causality(tiny_gpt2, lre, relation).causality <= 1.0


@pytest.mark.slow
def test_smollm2_country_capital_lre_is_faithful_and_causal(smollm2):
    suite = load_suite("suites/geography/country_capital.json")
    lre = estimate_lre(smollm2, suite, 15, method="lowrank")
    report = faithfulness(smollm2, lre, suite)
    assert report.tested_strict >= 20
    assert report.strict >= 0.5 and report.lenient >= report.strict - 0.05
    assert causality(smollm2, lre, suite, rank=64).causality >= 0.5
