"""Knows vs says: verdict classes, the know-check's ranking, the require modes, the report, the lens and the HTML."""

from __future__ import annotations

import dataclasses
import errno
import json
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

from factcheck.knows.know_rules import BLANK_FIRST_TOKEN, DECODED_TOKEN_SHARED, SHARED_FIRST_TOKEN, Undecided
from factcheck.knows.knowcheck import KnowOutcome, faithfulness, know_check, verdict_class
from factcheck.knows.lens import attribute_lens, png_bytes, render_text
from factcheck.knows.lre import estimate_lre
from factcheck.reports.records import FactRecord
from factcheck.results import ReportError, load, validate_report
from factcheck.says.saycheck import Candidate, FactOutcome
from factcheck.suites.suite import Fact, parse_suite


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

    def token_text(self, token_id):
        return self.tokenizer.decode([token_id])


class IdentityLre:
    layer = 0

    def apply(self, h):
        return h


def fake_model(logits, texts=None):
    """Token i decodes as texts[i] when given, else as '<i>'."""
    tokenizer = SimpleNamespace(decode=lambda ids: (texts or {}).get(ids[0], f"<{ids[0]}>"))
    return FakeModel(logits=torch.tensor([logits]), dtype=torch.float32, device=torch.device("cpu"), tokenizer=tokenizer)


def test_know_check_ranks_the_expected_object_among_candidates_first_tokens():
    vocab = [0.0] * 16
    vocab[10], vocab[11], vocab[3] = 2.0, 5.0, 9.0  # Rome (11) above Paris (10); token 3 is no candidate
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 2 and not know.decodes_object
    assert [t for t, _ in know.top_tokens] == ["<3>", "<11>", "<10>"]
    assert not know.top1_is_answer

    vocab[10] = 10.0
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 1 and know.decodes_object and know.top1_is_answer


def test_first_among_candidates_is_not_knowing_when_another_token_tops_the_vocabulary():
    vocab = [0.0] * 16
    vocab[10], vocab[11], vocab[3] = 5.0, 2.0, 9.0  # Paris above Rome, but token 3 (say " Sydney") on top
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    assert know.object_rank == 1 and not know.top1_is_answer and not know.decodes_object


def test_a_first_token_shared_with_a_wrong_candidate_cannot_decide():
    candidates = [Candidate("New Delhi", -0.1, True, True, 5), Candidate("New York", -2.0, False, True, 5), Candidate("Rome", -3.0, False, True, 6)]
    vocab = [0.0] * 8
    vocab[5], vocab[6] = 3.0, 1.0
    (know,) = know_check(fake_model(vocab, {5: " New"}), IdentityLre(), [outcome(obj="New Delhi", candidates=candidates)])
    assert know.top1_is_answer and know.object_rank == 1
    assert know.decodes_object is None
    assert know.undecided == Undecided(SHARED_FIRST_TOKEN, (" New",), ("New York",))
    # Decoding a token that starts no accepted answer does not make it decidable: the fact is undecided a priori.
    vocab[6] = 9.0
    (know,) = know_check(fake_model(vocab, {5: " New"}), IdentityLre(), [outcome(obj="New Delhi", candidates=candidates)])
    assert know.decodes_object is None and know.undecided.reason == SHARED_FIRST_TOKEN


@pytest.mark.parametrize("blank", [" ", " (", "'", " \u2014"])
def test_a_blank_or_punctuation_first_token_cannot_decide(blank):
    # Atomic numbers in a digit-splitting tokenizer: " 13" is " ", "1", "3", like every other number.
    candidates = [Candidate("13", -0.5, True, True, 4), Candidate("14", -0.9, False, True, 4), Candidate("7", -1.0, False, True, 4)]
    vocab = [0.0] * 8
    vocab[4] = 5.0
    (know,) = know_check(fake_model(vocab, {4: blank}), IdentityLre(), [outcome(obj="13", candidates=candidates)])
    assert know.decodes_object is None and know.undecided.reason == BLANK_FIRST_TOKEN and know.undecided.tokens == (blank,)
    # Blank even when no wrong candidate shares it (a relation with a single number).
    (know,) = know_check(fake_model(vocab, {4: blank}), IdentityLre(), [outcome(obj="13", candidates=candidates[:1])])
    assert know.undecided.reason == BLANK_FIRST_TOKEN


def test_an_alias_with_a_first_token_of_its_own_decides_unless_the_lre_decodes_the_shared_one():
    # "the United States" starts like "the United Kingdom"; its alias "USA" starts apart.
    candidates = [Candidate("the United States", -0.2, True, True, 1), Candidate("USA", -1.0, True, True, 2),
                  Candidate("the United Kingdom", -0.5, False, True, 1), Candidate("France", -2.0, False, True, 3)]
    texts = {1: " the", 2: " USA", 3: " France"}
    fact = outcome(obj="the United States", candidates=candidates)
    for top, expected in ((2, True), (3, False), (1, None)):
        vocab = [0.0] * 6
        vocab[top] = 4.0
        (know,) = know_check(fake_model(vocab, texts), IdentityLre(), [fact])
        assert know.decodes_object is expected
    assert know.undecided == Undecided(DECODED_TOKEN_SHARED, (" the",), ("the United Kingdom",))


def test_the_model_s_wrong_answer_is_named_once_among_the_answers_sharing_the_token():
    # " Norwegian krona" is also a wrong candidate of the relation: it is named as the model's answer, not twice.
    candidates = [Candidate("Norwegian krone", -0.9, True, True, 7), Candidate("Norwegian krona", -1.5, False, True, 7),
                  Candidate("Norwegian kroner", -2.5, False, True, 7)]
    said = FactOutcome(fact=Fact("Norway", "Norwegian krone"), prompt="The currency of Norway is the", is_training=False,
                       generated=" Norwegian krona.", matched_answer=None, candidates=candidates,
                       subject_states={0: torch.zeros(4)}, greedy_first_token=7)
    vocab = [0.0] * 10
    vocab[7] = 6.0
    (know,) = know_check(fake_model(vocab, {7: " Norwegian"}), IdentityLre(), [said])
    assert know.undecided.shared_with == ("Norwegian krona. (the model's answer)", "Norwegian kroner")


def test_a_wrong_answer_that_starts_like_the_object_leaves_the_fact_undecided():
    # The model says " Norwegian krona" for " Norwegian krone": the LRE's " Norwegian" is what the model says too.
    candidates = [Candidate("Norwegian krone", -0.9, True, True, 7), Candidate("euro", -2.0, False, True, 8)]
    said = FactOutcome(fact=Fact("Norway", "Norwegian krone"), prompt="The currency of Norway is the", is_training=False,
                       generated=" Norwegian krona", matched_answer=None, candidates=candidates,
                       subject_states={0: torch.zeros(4)}, greedy_first_token=7)
    vocab = [0.0] * 10
    vocab[7] = 6.0
    model = fake_model(vocab, {7: " Norwegian", 8: " euro"})
    (know,) = know_check(model, IdentityLre(), [said])
    assert know.top1_is_answer and know.decodes_object is None
    assert know.undecided == Undecided(SHARED_FIRST_TOKEN, (" Norwegian",), ("Norwegian krona (the model's answer)",))
    # The ranking check says it right here (the object ranks first), so nothing is said wrong: the fact is decided.
    (know,) = know_check(model, IdentityLre(), [said], say_check="ranking")
    assert know.decodes_object is True
    # A wrong answer that starts elsewhere leaves the fact decided: stored (the LRE's " Norwegian") but not said.
    elsewhere = dataclasses.replace(said, generated=" euro", greedy_first_token=8)
    (know,) = know_check(model, IdentityLre(), [elsewhere])
    assert know.decodes_object is True and know.undecided is None


def test_know_check_gives_the_objects_vocabulary_rank_and_probability():
    vocab = [0.0] * 16
    vocab[10], vocab[11], vocab[3] = 2.0, 5.0, 9.0
    (know,) = know_check(fake_model(vocab), IdentityLre(), [outcome()], top_k=3)
    probabilities = torch.softmax(torch.tensor(vocab), -1)
    assert know.object_vocab_rank == 3
    assert know.object_probability == pytest.approx(float(probabilities[10]), abs=1e-6)


def test_faithfulness_counts_only_decided_test_facts_the_model_says():
    undecided = Undecided(BLANK_FIRST_TOKEN, (" ",))
    outcomes = [outcome(training=True), outcome(said=True), outcome(said=True), outcome(said=False), outcome(said=True)]
    knows = [KnowOutcome([], 1, True), KnowOutcome([], 1, True), KnowOutcome([], 2, False), KnowOutcome([], 1, True),
             KnowOutcome([], 1, True, undecided)]
    faith = faithfulness(outcomes, knows)
    assert (faith.faithful, faith.tested, faith.undecided, faith.value) == (1, 2, 1, 0.5)
    assert faithfulness(outcomes[:1], knows[:1]).value is None


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
    record = FactRecord(suite=suite, outcome=outcome(said=says), say_check="generation", know=know, require=require, lre_trusted=True)
    assert record.passed is passes
    assert record.verdict == verdict_class(says, knows)
    # An untrusted LRE shows what it decodes but classes nothing, and the fact is judged by what it says.
    untrusted = FactRecord(suite=suite, outcome=outcome(said=says), say_check="generation", know=know, require=require, lre_trusted=False)
    assert untrusted.lre_decodes_object is knows and untrusted.know_pass is None and untrusted.verdict is None
    assert untrusted.passed is says


def test_training_facts_get_no_know_verdict_and_are_judged_by_what_they_say(tmp_path):
    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    record = FactRecord(suite=suite, outcome=outcome(said=False, training=True), say_check="generation",
                        know=KnowOutcome([], 1, True), require="knows", lre_trusted=True)
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
    # An earlier heatmap is replaced; the suite itself, or any file that is no PNG, never is.
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--png", str(image), "Peru is"]) == 0
    # A full disk names the file and the fix; the earlier heatmap is kept.
    earlier = image.read_bytes()
    with mock.patch("factcheck.knows.lens.write_bytes_atomic", side_effect=OSError(errno.ENOSPC, "No space left on device")):
        assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--png", str(image), "Peru is"]) == 2
    assert f"--png {image} cannot be written (No space left on device); free space there" in capsys.readouterr().err
    assert image.read_bytes() == earlier
    before = suite.read_bytes()
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--png", str(suite), "Peru is"]) == 2
    assert "is a file that is not a PNG image" in capsys.readouterr().err and suite.read_bytes() == before
    # Nor is a PNG image of the user's own (a logo): only a heatmap factcheck wrote is replaced.
    logo = tmp_path / "logo.png"
    import matplotlib.pyplot as plt

    plt.imsave(logo, [[0.0, 1.0], [1.0, 0.0]])
    before = logo.read_bytes()
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--png", str(logo), "Peru is"]) == 2
    assert "is a PNG image that factcheck lens did not write" in capsys.readouterr().err and logo.read_bytes() == before
    # A prompt past the model's positions is one message, not a traceback.
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "Peru " * 300]) == 2
    assert "more than the model's 256 positions" in capsys.readouterr().err
    # An empty target (an unset shell variable) would colour nothing; it is refused.
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "--target", " ", "Peru is"]) == 2
    assert "--target is empty" in capsys.readouterr().err


def test_report_schema_rejects_a_record_without_its_verdict():
    document = {"factcheck_report_version": 2, "factcheck_version": "0", "suites": {},
                "model": {"name": "m", "fingerprint": "f", "architecture": "a", "dtype": "float32", "device": "cpu"},
                "facts": [{"relation": "r", "subject": "s"}]}
    with pytest.raises(ReportError, match="/facts/0"):
        validate_report(document)


def test_loading_a_baseline_as_a_report_says_what_it_is(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"factcheck_baseline_version": 2, "model": {"name": "m", "fingerprint": "f"}, "suites": {},
                                "facts": {}}), encoding="utf-8")
    with pytest.raises(ReportError, match="is a factcheck baseline, not a report"):
        load(path)


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
        # Each fact's final outcome and its whole prompt are columns.
        assert (frame["outcome"] == "passed").sum() == by_mode[mode] and set(frame["outcome"]) <= {"passed", "failed"}
        assert frame["gate"].isna().all()  # no baseline gated on
        assert all(prompt.endswith(f"The capital city of {subject} is") for prompt, subject in zip(frame["prompt"], frame["subject"]))
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
    assert "Knows vs says" in html.read_text() and html.read_text().count("<tr data-relation='capital'") == len(facts)


def test_a_regression_is_split_only_by_a_decided_know_verdict_of_a_trusted_relation(tmp_path):
    from factcheck.gate.baseline import BaselineFact
    from factcheck.gate.comparison import FORGOTTEN, REGRESSED, SUPPRESSED, classify

    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    said_before = BaselineFact("Paris", True, True, True, True, "known", 1.0, False)

    def regression(know, trusted):
        record = FactRecord(suite=suite, outcome=outcome(said=False), say_check="generation", know=know, lre_trusted=trusted)
        return classify(said_before, record.result)

    decodes, misses = KnowOutcome([(" Paris", 0.9)], 1, True), KnowOutcome([(" Rome", 0.9)], 2, False)
    assert regression(decodes, True)[0] == SUPPRESSED and regression(misses, True)[0] == FORGOTTEN
    kind, note = regression(decodes, False)
    assert kind == REGRESSED and "untrusted" in note
    blank = KnowOutcome([(" ", 0.9)], 1, True, Undecided(BLANK_FIRST_TOKEN, (" ",)))
    kind, note = regression(blank, True)
    assert kind == REGRESSED and "undecided (blank first token ' ')" in note


def test_failure_text_shows_the_evidence_beside_a_hidden_fact_and_the_reason_beside_an_undecided_one(tmp_path):
    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    said_wrong = outcome(said=False)
    said_wrong.answer_first_token_probabilities = {10: 0.125}
    hidden = FactRecord(suite=suite, outcome=said_wrong, say_check="generation", lre_trusted=True,
                        know=KnowOutcome([(" Paris", 0.61)], 1, True, None, object_vocab_rank=1, object_probability=0.61,
                                         object_token_id=10, object_token=" Paris"))
    assert hidden.verdict == "hidden"
    text = hidden.explain()
    assert "evidence for 'stored but not said'" in text
    assert "the answer's first token ' Paris' in the LRE's decoding: rank 1 of the vocabulary, probability 0.61" in text
    assert "the model's own probability of that token: 0.125" in text
    assert "the ranking check ranks the object first" in text
    record = hidden.to_dict()
    assert (record["lre_object_vocab_rank"], record["lre_object_probability"], record["model_first_token_probability"]) == (1, 0.61, 0.125)

    undecided = FactRecord(suite=suite, outcome=said_wrong, say_check="generation", lre_trusted=True,
                           know=KnowOutcome([(" J", 0.5)], 1, True, Undecided(SHARED_FIRST_TOKEN, (" J",), ("J. K. Rowling",))))
    assert undecided.verdict is None and undecided.know_pass is None
    assert "UNDECIDED: the answer's first token ' J' also starts wrong answers (J. K. Rowling)" in undecided.explain()
    assert "verdict: undecided (shared first token)" in undecided.explain()

    # An untrusted relation's decoding is shown, as no verdict: the report's know_pass is null too.
    untrusted = FactRecord(suite=suite, outcome=said_wrong, say_check="generation", lre_trusted=False,
                           know=KnowOutcome([(" Rome", 0.4)], 2, False))
    assert untrusted.know_pass is None and untrusted.to_dict()["know_pass"] is None
    assert "-> know none (it does not decode the object, but the relation's LRE is untrusted" in untrusted.explain()

    from factcheck.reports.html_report import _class_matrix, _hidden_table, _undecided_table
    from factcheck.reports.run_summary import RelationSummary

    results = (hidden.result, undecided.result)
    relation = RelationSummary("r", "r", "r.json", "h", 1, results, (0, 1), evidence={"France": tuple(hidden.evidence())})
    table = _hidden_table([relation])
    assert table.count("<tr class=hidden>") == 1 and "the answer&#x27;s first token &#x27; Paris&#x27;" in table
    assert "shared_first_token" in _undecided_table(results)
    assert "1 facts classed. Not classed: 1 undecided" in _class_matrix(results)
    assert undecided.to_dict()["know_undecided"] == {"reason": "shared_first_token", "tokens": [" J"], "shared_with": ["J. K. Rowling"]}


def test_report_with_an_undecided_fact_and_an_interval_validates_and_loads_as_columns(tmp_path):
    from factcheck.knows.know_rules import Faithfulness
    from factcheck.reports.run_summary import LreInfo
    from factcheck.types import REPORT_VERSION

    suite = parse_suite({"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "France", "object": "Paris"}]}, tmp_path / "r.json")
    decided = FactRecord(suite=suite, outcome=outcome(said=True), say_check="generation", lre_trusted=True,
                         know=KnowOutcome([(" Paris", 0.9)], 1, True, None, 1, 0.9))
    undecided = FactRecord(suite=suite, outcome=outcome("Chad", "13", said=False), say_check="generation", lre_trusted=True,
                           know=KnowOutcome([(" ", 0.9)], 1, True, Undecided(BLANK_FIRST_TOKEN, (" ",)), 1, 0.9))
    info = LreInfo(layer=3, beta=1.5, rank=None, n_train=8, faithfulness=Faithfulness(12, 20, 3), cache_hit=True)
    document = {
        "factcheck_report_version": REPORT_VERSION, "factcheck_version": "0",
        "model": {"name": "m", "fingerprint": "f", "architecture": "a", "dtype": "float32", "device": "cpu"},
        "suites": {"r": {"path": "r.json", "content_hash": "h", "relation": "r", "shots": 8, "lre": info.to_dict(), "undecided": 1}},
        "facts": [decided.to_dict(), undecided.to_dict()],
    }
    validate_report(document)
    assert document["suites"]["r"]["lre"]["trusted"] is False and "lower end" in document["suites"]["r"]["lre"]["untrusted_reason"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document))
    frame = load(path)
    assert frame["undecided_reason"].isna().tolist() == [True, False] and frame["undecided_reason"].iloc[1] == "blank_first_token"
    assert frame["know_pass"].isna().tolist() == [False, True] and frame["verdict"].iloc[0] == "known" and frame["verdict"].isna().iloc[1]
    assert frame["lre_faithfulness_low"].iloc[0] == pytest.approx(0.3866, abs=1e-4)
    assert frame["lre_faithfulness_high"].iloc[0] == pytest.approx(0.7812, abs=1e-4)
    assert frame["relation_undecided"].tolist() == [1, 1]
    # The report's entries read back as the very results they were written from.
    from factcheck.fact_result import FactResult

    assert [FactResult.from_dict(entry) for entry in json.loads(path.read_text())["facts"]] == [decided.result, undecided.result]


def test_a_failure_shows_the_whole_question_of_a_multi_line_template(tmp_path):
    suite = parse_suite({"relation": "r", "templates": ["Q: What is the capital of {subject}?\nA:"],
                         "facts": [{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}]}, tmp_path / "r.json")
    said_wrong = outcome("Peru", "Lima", said=False)
    said_wrong.prompt = "Q: What is the capital of France?\nA: Paris\nQ: What is the capital of Peru?\nA:"
    text = FactRecord(suite=suite, outcome=said_wrong, say_check="generation").explain()
    assert "prompt     : 'Q: What is the capital of Peru?\\nA:'  (after 1 demonstration)" in text


def test_the_lens_draws_tokens_of_any_script_without_a_warning():
    """A decoded Devanagari or CJK token has no glyph in the default font: matplotlib warned (an error under
    CI's filterwarnings = error), and the HTML report was lost. Such characters are drawn as escapes."""
    import warnings

    from factcheck.knows.lens import LensGrid, drawable, png_bytes

    grid = LensGrid(prompt="Delhi is in", tokens=["Delhi", " is", " र"], layers=[0, 1],
                    decoded=[["र", "東京", " Paris"], ["é", "ok", "र"]], probability=[[0.5] * 3, [0.25] * 3],
                    target="भारत", target_probability=[[0.1] * 3, [0.9] * 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert png_bytes(grid, title="r[दिल्ली]").startswith(b"\x89PNG")
    assert drawable("र é") == "\\u0930 é"
    # Suite text with dollar signs is text, not matplotlib's math markup (which failed on an unbalanced one).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert png_bytes(grid, title="Cost $\\frac{x$ is $x^2$").startswith(b"\x89PNG")
    assert drawable("$5 and $x^2$") == "\\$5 and \\$x^2\\$"
