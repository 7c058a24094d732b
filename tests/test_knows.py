"""Knows vs says: verdict classes, the know-check's ranking, the require modes, the report, the lens and the HTML."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from factcheck.knowcheck import KnowOutcome, faithfulness, know_check, verdict_class
from factcheck.lens import attribute_lens, png_bytes, render_text
from factcheck.lre import estimate_lre
from factcheck.report import FactRecord
from factcheck.results import ReportError, load, validate_report
from factcheck.saycheck import Candidate, FactOutcome
from factcheck.suite import Fact, parse_suite


@pytest.mark.parametrize(
    "says, knows, expected",
    [(True, True, "known"), (False, True, "hidden"), (True, False, "unfaithful"), (False, False, "unknown")],
)
def test_verdict_classes(says, knows, expected):
    assert verdict_class(says, knows) == expected


def outcome(subject="France", obj="Paris", *, said=True, training=False, candidates=None):
    fact = Fact(subject, obj)
    candidates = candidates or [Candidate("Paris", -0.1, True, True, 10), Candidate("Rome", -3.0, False, True, 11)]
    return FactOutcome(
        fact=fact, prompt=f"The capital of {subject} is", is_training=training,
        generated=" Paris" if said else " Rome", matched_answer="Paris" if said else None, candidates=candidates,
        subject_states={0: torch.zeros(4)},
    )


class FakeModel(SimpleNamespace):
    """Decodes a state to fixed logits: enough to test the know-check's bookkeeping exactly."""

    def decode_state(self, state):
        return self.logits.expand(state.shape[0], -1)


class IdentityLre:
    layer = 0

    def apply(self, h):
        return h


def fake_model(logits):
    tokenizer = SimpleNamespace(decode=lambda ids: f"<{ids[0]}>")
    return FakeModel(logits=torch.tensor([logits]), dtype=torch.float32, device=torch.device("cpu"), tokenizer=tokenizer)


def test_know_check_ranks_the_expected_object_among_candidates_first_tokens():
    vocab = [0.0] * 16
    vocab[10], vocab[11], vocab[3] = 2.0, 5.0, 9.0  # Rome (11) above Paris (10); token 3 is no candidate
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 2 and not know.know_pass
    assert [t for t, _ in know.top_tokens] == ["<3>", "<11>", "<10>"]
    assert not know.top1_is_answer

    vocab[10] = 10.0
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 1 and know.know_pass and know.top1_is_answer


def test_first_among_candidates_is_not_knowing_when_another_token_tops_the_vocabulary():
    vocab = [0.0] * 16
    vocab[10], vocab[11], vocab[3] = 5.0, 2.0, 9.0  # Paris above Rome, but token 3 (say " Sydney") on top
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 1 and not know.top1_is_answer and not know.know_pass


def test_a_wrong_candidate_sharing_the_first_token_does_not_outrank_the_answer():
    candidates = [Candidate("New Delhi", -0.1, True, True, 5), Candidate("New York", -2.0, False, True, 5), Candidate("Rome", -3.0, False, True, 6)]
    vocab = [0.0] * 8
    vocab[5], vocab[6] = 3.0, 1.0
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome(obj="New Delhi", candidates=candidates)])
    assert know.know_pass


def test_faithfulness_counts_only_test_facts_the_model_says():
    outcomes = [outcome(training=True), outcome(said=True), outcome(said=True), outcome(said=False)]
    knows = [KnowOutcome([], 1, True), KnowOutcome([], 1, True), KnowOutcome([], 2, False), KnowOutcome([], 1, True)]
    assert faithfulness(outcomes, knows) == (0.5, 2)
    assert faithfulness(outcomes[:1], knows[:1]) == (None, 0)


@pytest.mark.parametrize(
    "require, says, knows, passes",
    [
        ("says", True, False, True), ("says", False, True, False),
        ("knows", False, True, True), ("knows", True, False, False),
        ("both", True, True, True), ("both", True, False, False),
        ("agree", False, False, True), ("agree", True, False, False), ("agree", False, True, False),
    ],
)
def test_require_modes(tmp_path, require, says, knows, passes):
    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    know = KnowOutcome([("x", 0.5)], 1 if knows else 3, knows)
    record = FactRecord(suite=suite, outcome=outcome(said=says), say_check="generation", know=know, require=require)
    assert record.passed is passes
    assert record.verdict == verdict_class(says, knows)


def test_training_facts_get_no_know_verdict_and_are_judged_by_what_they_say(tmp_path):
    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    record = FactRecord(suite=suite, outcome=outcome(said=False, training=True), say_check="generation",
                        know=KnowOutcome([], 1, True), require="knows")
    assert record.know_pass is None and record.verdict is None and record.passed is False
    assert record.to_dict()["lre_object_rank"] == 1


CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid")]


@pytest.fixture(scope="module")
def tiny_lre(tiny_model_factory, tmp_path_factory):
    model = tiny_model_factory("llama")
    suite = parse_suite(
        {"relation": "capital", "templates": ["The capital city of {subject} is"], "facts": [{"subject": s, "object": o} for s, o in CAPITALS]},
        tmp_path_factory.mktemp("suite") / "capital.json",
    )
    return model, estimate_lre(model, suite, layer=0, n_train=3)


def test_lens_grid_has_a_row_per_layer_and_a_column_per_token(tiny_lre):
    model, lre = tiny_lre
    prompt = model.bos_text + "The capital city of France is"
    grid = attribute_lens(model, lre, prompt, target="Paris")
    ids = model.tokenize([prompt])[0][0]
    assert grid.layers == list(range(model.num_layers))
    assert grid.tokens == [model.tokenizer.decode([t]) for t in ids]
    assert len(grid.decoded) == model.num_layers and all(len(row) == len(ids) for row in grid.decoded)
    assert all(0.0 <= p <= 1.0 for row in grid.probability for p in row)
    assert grid.target_probability is not None and len(grid.target_probability[0]) == len(ids)
    # The cell at (layer, position) is the LRE applied to that block output, decoded.
    states = model.forward(model.encode([prompt]), layers=[1]).block_outputs[1][0]
    expected = model.decode_state(lre.apply(states)).argmax(-1).tolist()
    assert grid.decoded[1] == [model.tokenizer.decode([t]) for t in expected]

    last = attribute_lens(model, lre, prompt, last_positions=3)
    assert last.tokens == grid.tokens[-3:] and last.decoded[0] == grid.decoded[0][-3:]

    text = render_text(grid, last_positions=4).splitlines()
    assert text[0].startswith("layer |") and len(text) == 2 + model.num_layers
    assert text[2].lstrip().startswith(str(model.num_layers - 1))
    assert png_bytes(grid).startswith(b"\x89PNG\r\n\x1a\n")


def test_lens_command_prints_the_grid_and_writes_a_png(tmp_path, tiny_llama_folder, capsys):
    from factcheck.cli import main

    suite = tmp_path / "capital.json"
    suite.write_text(json.dumps({"relation": "capital", "templates": ["The capital city of {subject} is"],
                                 "facts": [{"subject": s, "object": o} for s, o in CAPITALS],
                                 "settings": {"shots": 3, "lre": {"layer": 0}}}))
    image = tmp_path / "lens.png"
    code = main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--png", str(image), "The capital city of Peru is"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("layer |") and len(out) == 2 + 2
    assert image.read_bytes().startswith(b"\x89PNG")


def test_report_schema_rejects_a_record_without_its_verdict():
    document = {"factcheck_report_version": 1, "factcheck_version": "0", "suites": {},
                "model": {"name": "m", "fingerprint": "f", "architecture": "a", "dtype": "float32", "device": "cpu"},
                "facts": [{"relation": "r", "subject": "s"}]}
    with pytest.raises(ReportError, match="/facts/0"):
        validate_report(document)


def test_plugin_report_validates_loads_as_a_dataframe_and_require_changes_outcomes(pytester, tiny_llama_folder):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 2\nfactcheck_shots = 3\n")
    facts = CAPITALS + [("Peru", "Lima"), ("Kenya", "Nairobi"), ("Egypt", "Cairo"), ("Chile", "Santiago")]
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "capital.json").write_text(json.dumps(
        {"relation": "capital", "templates": ["The capital city of {subject} is"],
         "facts": [{"subject": s, "object": o} for s, o in facts], "settings": {"lre": {"layer": 0}}}))
    path, html = pytester.path / "report.json", pytester.path / "report.html"
    by_mode = {}
    for mode in ("says", "knows", "both", "agree"):
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", f"--factcheck-report={path}",
                                              f"--factcheck-require={mode}", f"--factcheck-html={html}")
        frame = load(path)
        by_mode[mode] = result.parseoutcomes().get("passed", 0)
        scored = frame[frame["know_pass"].notna()]
        unscored = frame[frame["know_pass"].isna()]
        rule = {
            "says": scored["say_pass"],
            "knows": scored["know_pass"].astype(bool),
            "both": scored["say_pass"] & scored["know_pass"].astype(bool),
            "agree": scored["say_pass"] == scored["know_pass"].astype(bool),
        }[mode]
        assert by_mode[mode] == int(rule.sum()) + int(unscored["say_pass"].sum())
    assert set(frame["verdict"].dropna()) <= {"known", "hidden", "unfaithful", "unknown"}
    assert frame["training"].sum() == 3 and frame.loc[frame["training"], "verdict"].isna().all()
    assert "Knows vs says" in html.read_text()
