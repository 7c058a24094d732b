"""Determinism: the same suite, the same model, the same verdicts, whatever the run or the batch size.

Every project suite in `suites/` runs through `run_relation` on the tiny
Llama four times: batch sizes 1, 8 and 32, and batch size 8 again. The
verdicts (generation and ranking), the generated text and the matched answer
must be identical; margins and candidate scores may differ by float rounding
only (1e-4). The slow variant does the same on SmolLM2 for two small suites.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factcheck.says.saycheck import FactOutcome, SayOptions, run_relation
from factcheck.suites.suite import load_suite

SUITES = sorted((Path(__file__).resolve().parents[1] / "suites").rglob("*.json"))
TOLERANCE = 1e-4
SHOTS = 4
MAX_NEW_TOKENS = 3
BATCH_SIZES = (1, 8, 32)


def test_the_project_has_its_suites():
    assert len(SUITES) == 17


def runs(model, suite) -> dict[str, list[FactOutcome]]:
    results = {
        f"batch {size}": run_relation(model, suite, SayOptions(shots=SHOTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=size))
        for size in BATCH_SIZES
    }
    results["batch 8, again"] = run_relation(model, suite, SayOptions(shots=SHOTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=8))
    return results


def summary(outcome: FactOutcome) -> tuple:
    return (outcome.fact.subject, outcome.is_training, outcome.generated, outcome.matched_answer, outcome.generation_pass, outcome.ranking_pass)


def assert_same(suite, results: dict[str, list[FactOutcome]]) -> None:
    (reference_name, reference), *others = results.items()
    assert [o.fact for o in reference] == list(suite.facts)
    for name, outcomes in others:
        assert len(outcomes) == len(reference)
        for mine, theirs in zip(outcomes, reference):
            where = f"{suite.relation_id}[{mine.fact.subject}]: {name} vs {reference_name}"
            assert summary(mine) == summary(theirs), where
            if theirs.margin is None:
                assert mine.margin is None, where
            else:
                assert mine.margin == pytest.approx(theirs.margin, abs=TOLERANCE), where
            mine_scores = {c.text: (c.logprob, c.correct, c.exact) for c in mine.candidates}
            their_scores = {c.text: (c.logprob, c.correct, c.exact) for c in theirs.candidates}
            assert mine_scores.keys() == their_scores.keys(), where
            for text, (logprob, correct, exact) in their_scores.items():
                assert mine_scores[text][1:] == (correct, exact), (where, text)
                assert mine_scores[text][0] == pytest.approx(logprob, abs=TOLERANCE), (where, text)


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_verdicts_do_not_depend_on_the_run_or_the_batch_size(tiny_llama, tiny_chat_llama, path):
    suite = load_suite(path)
    assert_same(suite, runs(tiny_chat_llama if suite.settings.prompt == "chat" else tiny_llama, suite))


SMALL_SUITES = ["commonsense/object_color.json", "science/animal_class.json"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL_SUITES)
def test_smollm2_verdicts_do_not_depend_on_the_run_or_the_batch_size(smollm2, name):
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / name)
    results = runs(smollm2, suite)
    assert_same(suite, results)
    # Not vacuous: the real model gets some facts right.
    assert any(o.ranking_pass for o in results["batch 8"])
