"""Baseline files and the comparison against them: deterministic writing, strict reading, fact classes, thresholds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from factcheck.gate.baseline import (
    BASELINE_VERSION,
    Baseline,
    BaselineError,
    build_baseline,
    load_baseline,
    parse_baseline,
    round_margin,
    write_baseline,
)
from factcheck.gate.comparison import KINDS, accuracy_by_relation, compare, threshold_failures
from factcheck.gate.release_gate import ReleaseGate
from factcheck.fact_result import FactResult

MODEL = {"name": "tiny", "fingerprint": "f00d", "architecture": "llama", "dtype": "float32"}
SUITES = {
    "country_capital": {"content_hash": "aaaa", "path": "/repo/suites/geo/country_capital.json", "shots": 4},
    "mother_tongue": {"content_hash": "bbbb", "path": "/repo/suites/mother_tongue.json"},
}


def record(relation, subject, obj, say, know=None, *, margin=0.5, verdict=None, training=False, **extra):
    """A fact's result, from a report entry like FactResult.to_dict() gives."""
    return FactResult.from_dict({
        "relation": relation, "subject": subject, "object": obj, "aliases": [], "tags": [], "training": training,
        "generated": obj if say else "?", "generation_pass": say, "ranking_pass": say, "margin": margin,
        "say_check": "generation", "say_pass": say, "top_candidates": [], "know_pass": know, "verdict": verdict, **extra,
    })


def base_records():
    return [
        record("country_capital", "France", "Paris", True, True, margin=1.23456789, verdict="known"),
        record("country_capital", "Italy", "Rome", True, True, margin=0.7),
        record("country_capital", "Peru", "Lima", False, False, margin=-0.3, verdict="unknown"),
        record("country_capital", "Japan", "Tokyo", True, None, margin=None, training=True),
        record("mother_tongue", "Victor Hugo", "French", True, None, margin=2.0),
    ]


def recorded(tmp_path, records=None, model=MODEL, suites=SUITES) -> Baseline:
    path = write_baseline(tmp_path / "baseline.json", build_baseline(model, suites, records or base_records(), root="/repo"))
    return load_baseline(path)


# --- writing and reading -----------------------------------------------------------------------

def test_round_trip_keeps_every_field(tmp_path):
    baseline = recorded(tmp_path)
    assert baseline.model == {"name": "tiny", "fingerprint": "f00d"}  # extra model keys are not part of the baseline
    assert baseline.suites == {
        "country_capital": {"content_hash": "aaaa", "path": "suites/geo/country_capital.json"},
        "mother_tongue": {"content_hash": "bbbb", "path": "suites/mother_tongue.json"},
    }
    france = baseline.facts["country_capital"]["France"]
    assert (france.object, france.say_pass, france.know_pass, france.verdict, france.margin) == ("Paris", True, True, "known", 1.2346)
    japan = baseline.facts["country_capital"]["Japan"]
    assert japan.training is True and japan.margin is None and japan.know_pass is None
    # records() gives back what build_baseline keeps, so a baseline can stand in for a run.
    again = build_baseline(baseline.model, baseline.suites, baseline.records())
    assert again == json.loads((tmp_path / "baseline.json").read_text(encoding="utf-8"))


def test_rewriting_the_same_records_is_byte_identical_whatever_their_order(tmp_path):
    first = (tmp_path / "a.json")
    second = (tmp_path / "b.json")
    write_baseline(first, build_baseline(MODEL, SUITES, base_records(), root="/repo"))
    # Same results, other order, and margins that differ only below the stored precision.
    shuffled = list(reversed(base_records()))
    france = shuffled[-1]
    shuffled[-1] = dataclasses.replace(france, say=dataclasses.replace(france.say, margin=1.23456001))
    write_baseline(second, build_baseline(MODEL, dict(reversed(list(SUITES.items()))), shuffled, root="/repo"))
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\r" not in text
    assert text.index('"country_capital"') < text.index('"mother_tongue"')
    assert text.index('"France"') < text.index('"Italy"') < text.index('"Japan"') < text.index('"Peru"')
    # Load and write again: still the same bytes.
    baseline = load_baseline(first)
    write_baseline(second, build_baseline(baseline.model, baseline.suites, baseline.records()))
    assert first.read_bytes() == second.read_bytes()


def test_margins_are_rounded_and_never_negative_zero_or_non_finite():
    assert round_margin(0.123456) == 0.1235
    assert json.dumps(round_margin(-0.00001)) == "0.0"
    assert round_margin(float("inf")) is None and round_margin(float("nan")) is None and round_margin(None) is None


def test_build_rejects_duplicate_facts_and_relations_without_suite_info():
    with pytest.raises(ValueError, match=r"country_capital\[France\] appears twice"):
        build_baseline(MODEL, SUITES, base_records() + [record("country_capital", "France", "Paris", False)])
    with pytest.raises(ValueError, match="'other' has facts but no suite information"):
        build_baseline(MODEL, SUITES, [record("other", "x", "y", True)])


def test_paths_outside_the_root_go_up_to_it_with_forward_slashes():
    document = build_baseline(MODEL, {"country_capital": {"content_hash": "a", "path": "/elsewhere/x.json"}},
                              [record("country_capital", "France", "Paris", True)], root="/repo/baselines")
    assert document["suites"]["country_capital"]["path"] == "../../elsewhere/x.json"


def write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(text, encoding="utf-8")
    return path


def valid_document() -> dict:
    return build_baseline(MODEL, SUITES, base_records(), root="/repo")


def assert_rejected(path: Path, pointer: str, *words: str) -> BaselineError:
    before = path.read_bytes()
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    error = caught.value
    message = str(error)
    assert error.path == str(path) and message.startswith(f"{path}: {pointer}: ")
    for word in words:
        assert word in message, message
    assert "--factcheck-update-baseline" in message  # says how to fix it
    assert path.read_bytes() == before  # reading never touches the file
    return error


def test_truncated_file_is_rejected_with_line_and_fix(tmp_path):
    text = json.dumps(valid_document(), indent=2)
    path = write_text(tmp_path, text[: len(text) // 2])
    assert_rejected(path, "/", "invalid JSON at line", "truncated")


@pytest.mark.parametrize(
    "text, pointer, words",
    [
        ("", "/", ["invalid JSON"]),
        ("[1, 2]", "/", ["expected a JSON object", "list"]),
        ('{"model": {}}', "/", ["missing 'factcheck_baseline_version'"]),
        ('{"factcheck_report_version": 1, "facts": []}', "/", ["this is a factcheck report, not a baseline"]),
        ('{"factcheck_baseline_version": 3}', "/factcheck_baseline_version", ["version 3", "newer factcheck", "upgrade"]),
        ('{"factcheck_baseline_version": 0}', "/factcheck_baseline_version", ["unsupported", "version 0"]),
        ('{"factcheck_baseline_version": true}', "/factcheck_baseline_version", ["expected the integer 2"]),
        ('{"factcheck_baseline_version": "1"}', "/factcheck_baseline_version", ["expected the integer 2"]),
        ('{"factcheck_baseline_version": 1, "factcheck_baseline_version": 1}', "/", ["appears twice"]),
        ('{"factcheck_baseline_version": 1, "margin": NaN}', "/", ["NaN is not valid JSON"]),
    ],
)
def test_malformed_and_wrong_version_files_are_rejected(tmp_path, text, pointer, words):
    assert_rejected(write_text(tmp_path, text), pointer, *words)


def edit(change) -> dict:
    document = valid_document()
    change(document)
    return document


@pytest.mark.parametrize(
    "change, pointer, words",
    [
        (lambda d: d["facts"]["country_capital"]["France"].update(say_pass="yes"),
         "/facts/country_capital/France/say_pass", ["expected boolean", "str"]),
        (lambda d: d["facts"]["country_capital"]["France"].pop("know_pass"),
         "/facts/country_capital/France", ["missing required field", "know_pass"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(colour="red"),
         "/facts/country_capital/France/colour", ["unknown key 'colour'"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(verdict="maybe"),
         "/facts/country_capital/France/verdict", ["'maybe' is not one of"]),
        (lambda d: d["facts"]["mother_tongue"]["Victor Hugo"].update(margin="big"),
         "/facts/mother_tongue/Victor Hugo/margin", ["expected", "number"]),
        (lambda d: d["suites"].pop("mother_tongue"),
         "/facts/mother_tongue", ["has facts but no entry in /suites"]),
        (lambda d: d["model"].pop("fingerprint"), "/model", ["missing required field", "fingerprint"]),
        # A verdict no check gives, or that contradicts every template's: edited by hand.
        (lambda d: d["facts"]["country_capital"]["Peru"].update(say_pass=True),
         "/facts/country_capital/Peru/say_pass", ["generation_pass, the say_check it is the verdict of, is false"]),
        (lambda d: (d["facts"]["country_capital"]["Peru"].update(say_pass=True), d["facts"]["country_capital"]["Peru"].pop("say_check")),
         "/facts/country_capital/Peru/say_pass", ["generation_pass and ranking_pass are both false"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(templates={"A {subject}": {"say_pass": False, "know_pass": None},
                                                                              "B {subject}": {"say_pass": False, "know_pass": True}}),
         "/facts/country_capital/France/say_pass", ["every template's say_pass is false"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(templates={
            "A {subject}": {"say_pass": True, "generation_pass": False, "ranking_pass": True, "know_pass": None},
            "B {subject}": {"say_pass": True, "generation_pass": True, "ranking_pass": True, "know_pass": True}}),
         "/facts/country_capital/France/templates/A {subject}/say_pass", ["generation_pass, the say_check it is the verdict of"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(template="A {subject}", templates={
            "A {subject}": {"say_pass": True, "know_pass": None}, "B {subject}": {"say_pass": True, "know_pass": None}}),
         "/facts/country_capital/France/template", ["several templates keeps them under 'templates'"]),
        (lambda d: d["facts"]["country_capital"]["France"].update(template=""),
         "/facts/country_capital/France/template", ["should be non-empty"]),
        (lambda d: d.pop("facts"), "/", ["missing required field", "facts"]),
    ],
)
def test_schema_violations_name_the_pointer(tmp_path, change, pointer, words):
    assert_rejected(write_text(tmp_path, json.dumps(edit(change))), pointer, *words)


def test_pointer_escapes_slashes_in_keys(tmp_path):
    document = build_baseline(MODEL, {"r": {"content_hash": "h", "path": "r.json"}}, [record("r", "AC/DC", "rock", True)])
    document["facts"]["r"]["AC/DC"]["ranking_pass"] = None
    assert_rejected(write_text(tmp_path, json.dumps(document)), "/facts/r/AC~1DC/ranking_pass", "expected boolean")


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(BaselineError, match="cannot read the file"):
        load_baseline(tmp_path / "absent.json")


def test_invalid_document_is_never_written_and_the_old_file_survives(tmp_path):
    path = write_baseline(tmp_path / "baseline.json", valid_document())
    before = path.read_bytes()
    bad = valid_document()
    bad["facts"]["country_capital"]["France"]["say_pass"] = 1
    with pytest.raises(BaselineError, match="/facts/country_capital/France/say_pass"):
        write_baseline(path, bad)
    nan = valid_document()
    nan["facts"]["country_capital"]["France"]["margin"] = float("nan")
    with pytest.raises(BaselineError, match="finite number"):
        write_baseline(path, nan)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]  # no temporary files left behind


def test_parse_baseline_accepts_a_document_in_memory():
    baseline = parse_baseline(valid_document())
    assert baseline.path is None and set(baseline.facts) == {"country_capital", "mother_tongue"}
    with pytest.raises(BaselineError, match="<baseline>"):
        parse_baseline({"factcheck_baseline_version": BASELINE_VERSION})


# --- comparison ------------------------------------------------------------------------------

def test_regressions_are_split_by_the_know_check(tmp_path):
    baseline = recorded(tmp_path)
    current = [
        record("country_capital", "France", "Paris", False, True),  # LRE still decodes it
        record("country_capital", "Italy", "Rome", False, False),  # gone from both
        record("country_capital", "Japan", "Tokyo", False, None, training=True),  # no know-check result
        record("country_capital", "Peru", "Lima", False, False),
        record("mother_tongue", "Victor Hugo", "French", True, None),
    ]
    comparison = compare(baseline, MODEL, SUITES, current)
    kinds = {(c.relation, c.subject): c.kind for c in comparison.changes}
    assert kinds == {
        ("country_capital", "France"): "suppressed",
        ("country_capital", "Italy"): "forgotten",
        ("country_capital", "Japan"): "regressed",
        ("country_capital", "Peru"): "still_wrong",
        ("mother_tongue", "Victor Hugo"): "still_right",
    }
    assert [c.subject for c in comparison.regressions] == ["France", "Italy", "Japan"]
    assert all(c.is_regression for c in comparison.regressions)
    assert not comparison.model_mismatch and comparison.suite_changes == []
    # The unknown split is said, not hidden.
    assert any("1 regression(s) could not be split" in w for w in comparison.warnings())
    assert comparison.within_budget(3) and not comparison.within_budget(2)
    assert comparison.lookup("country_capital", "France").note == "the LRE still decodes the object"
    assert comparison.lookup("country_capital", "Nowhere") is None


def test_a_run_is_compared_with_the_baseline_by_the_say_check_it_decides_by(tmp_path):
    # Recorded by ranking: France ranked right but generated wrong, Peru generated right but ranked wrong.
    baseline = recorded(tmp_path, [
        record("country_capital", "France", "Paris", True, say_check="ranking", generation_pass=False),
        record("country_capital", "Peru", "Lima", False, say_check="ranking", generation_pass=True),
    ])
    gate = ReleaseGate(baseline)
    for check, france, peru in (("generation", "still_wrong", "still_right"), ("ranking", "still_right", "still_wrong")):
        current = [record("country_capital", subject, obj, said, say_check=check, generation_pass=said, ranking_pass=said)
                   for subject, obj, said in (("France", "Paris", check == "ranking"), ("Peru", "Lima", check == "generation"))]
        kinds = {c.subject: c.kind for c in compare(baseline, MODEL, SUITES, current).changes}
        assert kinds == {"France": france, "Peru": peru}, check
        # The facts expected wrong (run as xfail) are those the baseline said wrong by the run's check.
        assert gate.expected_wrong("country_capital", "France", "Paris", check, ["{subject}"], "all") == (check == "generation")
        assert gate.expected_wrong("country_capital", "Peru", "Lima", check, ["{subject}"], "all") == (check == "ranking")
    # Under --factcheck-require, the facts expected to fail are those the baseline's verdicts fail by that mode.
    known = ReleaseGate(recorded(tmp_path, [record("country_capital", "France", "Paris", True, True, verdict="known"),
                                            record("country_capital", "Peru", "Lima", False, True, verdict="hidden"),
                                            record("country_capital", "Chile", "Santiago", True, False, verdict="unfaithful"),
                                            record("country_capital", "Japan", "Tokyo", False, None)]))
    expected = {"says": {"Peru", "Japan"}, "knows": {"Chile", "Japan"}, "both": {"Peru", "Chile", "Japan"}, "agree": {"Peru", "Chile", "Japan"}}
    for require, failing in expected.items():
        assert {s for s, o in (("France", "Paris"), ("Peru", "Lima"), ("Chile", "Santiago"), ("Japan", "Tokyo"))
                if known.expected_wrong("country_capital", s, o, "generation", ["{subject}"], "all", require)} == failing, require
    # Two baselines compared: the candidate's facts are read by the check that decided them, kept in each entry
    # (a fact whose checks agree could otherwise be either).
    ranked = build_baseline(MODEL, SUITES, [record("country_capital", "France", "Paris", True, say_check="ranking")])
    assert parse_baseline(ranked).records()[0].say.check == "ranking"
    # Generated wrong now, where the baseline generated it right: a regression whatever check decided say_pass then.
    current = [record("country_capital", "Peru", "Lima", False, say_check="generation")]
    assert compare(baseline, MODEL, SUITES, current).lookup("country_capital", "Peru").is_regression


def test_fixed_new_removed_and_counts(tmp_path):
    baseline = recorded(tmp_path)
    current = [
        record("country_capital", "France", "Paris", True, True),
        record("country_capital", "Peru", "Lima", True, True),  # was wrong
        record("country_capital", "Chile", "Santiago", False),  # not in the baseline
        # Italy and Japan not run; mother_tongue not run at all
    ]
    comparison = compare(baseline, MODEL, SUITES, current)
    kinds = {(c.relation, c.subject): c.kind for c in comparison.changes}
    assert kinds == {
        ("country_capital", "France"): "still_right",
        ("country_capital", "Peru"): "fixed",
        ("country_capital", "Chile"): "new",
        ("country_capital", "Italy"): "removed",
        ("country_capital", "Japan"): "removed",
    }  # mother_tongue's facts are not "removed": the relation did not run
    assert comparison.not_run == ["mother_tongue"]
    assert [c.subject for c in comparison.fixes] == ["Peru"]
    assert comparison.lookup("country_capital", "Italy").current is None
    assert "not run" in comparison.lookup("country_capital", "Italy").note
    counts = comparison.counts()
    assert set(counts) == set(KINDS) and sum(counts.values()) == 5 and counts["removed"] == 2
    assert comparison.regressions == [] and comparison.within_budget(0)
    # A run's own gate of a selection passes, and says which facts the baseline said right it did not judge (the 42nd
    # pass: a deselected regression read "regressions: 0" and nothing else).
    unchecked = [c.subject for c in comparison.unchecked_said_right]
    assert unchecked and any(f"{len(unchecked)} fact(s) the baseline holds as said right were not checked by this run "
                             f"(country_capital[{unchecked[0]}]" in warning for warning in comparison.warnings())


def test_changed_suite_compares_unchanged_facts_and_sets_aside_changed_objects(tmp_path):
    baseline = recorded(tmp_path)
    suites = {**SUITES, "country_capital": {"content_hash": "cccc", "path": "suites/geo/country_capital.json"}}
    current = [
        record("country_capital", "France", "Paris", False, False),  # same object: still compared
        record("country_capital", "Italy", "Milan", False, False),  # object changed: not compared
        record("mother_tongue", "Victor Hugo", "French", True),
    ]
    comparison = compare(baseline, MODEL, suites, current)
    assert comparison.lookup("country_capital", "France").kind == "forgotten"
    italy = comparison.lookup("country_capital", "Italy")
    assert italy.kind == "changed" and "'Rome'" in italy.note and italy.object == "Milan"
    assert comparison.lookup("country_capital", "Peru").note == "no longer in the suite"
    assert [(s.relation, s.baseline_hash, s.candidate_hash) for s in comparison.suite_changes] == [("country_capital", "aaaa", "cccc")]
    warning = next(w for w in comparison.warnings() if w.startswith("suite country_capital changed"))
    assert "aaaa -> cccc" in warning and "1 fact(s) with a changed object are not compared" in warning


def test_another_model_fingerprint_is_flagged_but_compared(tmp_path):
    baseline = recorded(tmp_path)
    comparison = compare(baseline, {"name": "other", "fingerprint": "beef"}, SUITES,
                         [record("country_capital", "France", "Paris", False, False)])
    assert comparison.model_mismatch
    assert comparison.warnings()[0].startswith("the baseline was recorded for another model: 'tiny' (fingerprint f00d)")
    assert "'other' (fingerprint beef)" in comparison.warnings()[0]
    assert [c.kind for c in comparison.regressions] == ["forgotten"]
    # Same fingerprint under another name is the same model.
    same = compare(baseline, {"name": "renamed", "fingerprint": "f00d"}, SUITES, [])
    assert not same.model_mismatch


def test_per_relation_accuracy_and_delta(tmp_path):
    baseline = recorded(tmp_path)
    current = [
        record("country_capital", "France", "Paris", True),
        record("country_capital", "Italy", "Rome", False),
        record("country_capital", "Peru", "Lima", False),
        record("country_capital", "Japan", "Tokyo", False),
    ]
    rows = {r.relation: r for r in compare(baseline, MODEL, SUITES, current).relations}
    capital = rows["country_capital"]
    assert (capital.baseline_right, capital.baseline_total, capital.candidate_right, capital.candidate_total) == (3, 4, 1, 4)
    assert capital.baseline_accuracy == 0.75 and capital.candidate_accuracy == 0.25 and capital.delta == -0.5
    tongue = rows["mother_tongue"]  # in the baseline, not run
    assert tongue.baseline_accuracy == 1.0 and tongue.candidate_accuracy is None and tongue.delta is None


def test_duplicate_records_are_refused(tmp_path):
    baseline = recorded(tmp_path)
    twice = [record("country_capital", "France", "Paris", True)] * 2
    with pytest.raises(ValueError, match="appears twice"):
        compare(baseline, MODEL, SUITES, twice)


def test_thresholds():
    records = [
        record("a", "1", "x", True), record("a", "2", "x", True), record("a", "3", "x", False), record("a", "4", "x", False),
        record("b", "1", "x", True), record("b", "2", "x", False), record("b", "3", "x", False),
        record("c", "1", "x", False),
    ]
    assert accuracy_by_relation(records) == {"a": (2, 4), "b": (1, 3), "c": (0, 1)}
    failures = threshold_failures(records, {"a": 0.5, "b": 0.5, "c": 0.0, "not_run": 0.9})
    assert failures == [("b", 1 / 3, 0.5)]  # exactly at the threshold passes; unrun relations are not failures
    assert threshold_failures(records, {}) == []
    assert threshold_failures(records, {"a": 0.51, "c": 0.01}) == [("a", 0.5, 0.51), ("c", 0.0, 0.01)]


def test_a_version_1_baseline_is_read_with_its_relations_keyed_by_path(tmp_path):
    document = {
        "factcheck_baseline_version": 1,
        "model": {"name": "m", "fingerprint": "f"},
        "suites": {"country_capital": {"content_hash": "h", "path": "suites/geography/country_capital.json"},
                   "capital": {"content_hash": "g", "path": "elsewhere/capital.json"}},
        "facts": {
            "country_capital": {"France": {"object": "Paris", "say_pass": True, "generation_pass": True, "ranking_pass": True,
                                           "know_pass": None, "verdict": None, "margin": 1.0, "training": False}},
            "capital": {},
        },
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    baseline = load_baseline(path)
    assert set(baseline.suites) == {"geography/country_capital", "capital"}
    assert baseline.facts["geography/country_capital"]["France"].object == "Paris"
    # Re-recorded, it is version 2.
    assert build_baseline(baseline.model, baseline.suites, baseline.records())["factcheck_baseline_version"] == 2


def test_two_runs_recording_other_suites_into_one_baseline_at_once_keep_both(tmp_path, monkeypatch):
    import threading
    import time

    import factcheck.gate.release_gate as release_gate

    path = tmp_path / "baseline.json"
    suites = {}  # each relation's suite file exists: a relation whose suite is gone would be dropped
    for relation in ("mother_tongue", "country_capital", "other"):
        (tmp_path / f"{relation}.json").write_text("{}")
        suites[relation] = {"content_hash": SUITES.get(relation, {}).get("content_hash", "cccc"), "path": str(tmp_path / f"{relation}.json")}
    write_baseline(path, build_baseline(MODEL, {"mother_tongue": suites["mother_tongue"]}, [base_records()[-1]]))
    read = release_gate.readable_for_update

    def slow_read(file):  # widen the window between reading the file and replacing it
        baseline = read(file)
        time.sleep(0.3)
        return baseline

    monkeypatch.setattr(release_gate, "readable_for_update", slow_read)
    runs = [
        ({"country_capital": suites["country_capital"]}, base_records()[:4]),
        ({"other": suites["other"]}, [record("other", "x", "y", True)]),
    ]
    threads = [threading.Thread(target=release_gate.record, args=(path, MODEL, suites, results)) for suites, results in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(load_baseline(path).facts) == {"country_capital", "mother_tongue", "other"}


def test_a_run_recording_while_another_holds_the_folder_says_it_waits_and_gives_up_leaving_the_baseline(tmp_path, monkeypatch, capsys):
    import fcntl
    import os

    import factcheck.gate.release_gate as release_gate

    # The 45th pass: a recording run waited for ever, without a word, on a lock another run held (a run stopped or hung
    # while it recorded); SIGTERM is held back while the outputs are written, so only a second one ended it.
    path = tmp_path / "baseline.json"
    suites = {}
    for relation in ("mother_tongue", "country_capital"):
        (tmp_path / f"{relation}.json").write_text("{}")
        suites[relation] = {**SUITES[relation], "path": str(tmp_path / f"{relation}.json")}
    write_baseline(path, build_baseline(MODEL, {"mother_tongue": suites["mother_tongue"]}, [base_records()[-1]]))
    before = path.read_bytes()
    monkeypatch.setattr(release_gate, "LOCK_WAIT_SECONDS", 0.5)
    holder = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(BaselineError, match=r"another run held its folder's lock for 0 s .*\n.*record again once that run has ended"):
            release_gate.record(path, MODEL, suites, base_records())
    finally:
        os.close(holder)
    assert "waiting for another run that records into" in capsys.readouterr().err
    assert path.read_bytes() == before
    release_gate.record(path, MODEL, suites, base_records())  # the lock released: recorded at once
    assert path.read_bytes() != before


def test_recording_from_another_root_keeps_relations_whose_suite_is_still_there(tmp_path, monkeypatch):
    # Recorded from the project folder (paths relative to it, as baselines written before kept them), then
    # re-recorded by a run whose root is a suite's own folder: the other relation's suite is still there.
    from factcheck.gate.release_gate import record as record_baseline

    for name in ("geo/capital.json", "hist/color.json"):
        (tmp_path / "suites" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "suites" / name).write_text("{}")
    suites = {"geo/capital": {"content_hash": "a", "path": "suites/geo/capital.json"},
              "hist/color": {"content_hash": "b", "path": "suites/hist/color.json"},
              "gone": {"content_hash": "c", "path": "suites/gone.json"}}
    path = tmp_path / "baselines" / "baseline.json"
    path.parent.mkdir()
    write_baseline(path, build_baseline(MODEL, suites, [record("geo/capital", "France", "Paris", True),
                                                        record("hist/color", "grass", "green", True), record("gone", "x", "y", True)]))
    monkeypatch.chdir(tmp_path / "suites" / "geo")
    now = {"geo/capital": {"content_hash": "a", "path": str(tmp_path / "suites" / "geo" / "capital.json")}}
    _, _, dropped = record_baseline(path, MODEL, now, [record("geo/capital", "France", "Paris", False)],
                                    root=tmp_path / "suites" / "geo")
    assert dropped == ["gone"]
    written = load_baseline(path)
    assert set(written.facts) == {"geo/capital", "hist/color"}
    # The relation that ran is written from the baseline's folder: the next run finds it from wherever it runs.
    assert written.suites["geo/capital"]["path"] == "../suites/geo/capital.json"
    monkeypatch.chdir(tmp_path)
    _, _, dropped = record_baseline(path, MODEL, {}, [], root=tmp_path)
    assert dropped == [] and set(load_baseline(path).facts) == {"geo/capital", "hist/color"}


def test_a_copy_of_the_baseline_updated_elsewhere_keeps_the_relations_whose_suites_are_in_the_project(tmp_path, monkeypatch):
    from factcheck.gate.release_gate import record as record_baseline

    # Recorded in project/baselines/, so its paths lead from there ("../suites/..."); then copied to a CI folder and
    # updated by a run of another suite from the project.
    project = tmp_path / "project"
    (project / "suites" / "geo").mkdir(parents=True)
    (project / "suites" / "geo" / "capital.json").write_text("{}")
    suites = {"geo/capital": {"content_hash": "a", "path": "../suites/geo/capital.json"},
              "gone": {"content_hash": "b", "path": "../suites/gone.json"}}
    copy = tmp_path / "ci" / "artifacts" / "baseline.json"
    copy.parent.mkdir(parents=True)
    write_baseline(copy, build_baseline(MODEL, suites, [record("geo/capital", "France", "Paris", True), record("gone", "x", "y", True)]))
    monkeypatch.chdir(project)
    _, _, dropped = record_baseline(copy, MODEL, {}, [], root=project)
    assert dropped == ["gone"] and set(load_baseline(copy).facts) == {"geo/capital"}


def test_an_absolute_suite_path_of_another_checkout_is_kept_and_one_gone_here_dropped(tmp_path):
    from factcheck.gate.release_gate import record as record_baseline

    suites = {"elsewhere": {"content_hash": "a", "path": "/no/such/checkout/suites/capital.json"},
              "gone": {"content_hash": "b", "path": str(tmp_path / "removed.json")}}
    path = tmp_path / "baseline.json"
    write_baseline(path, build_baseline(MODEL, suites, [record("elsewhere", "France", "Paris", True), record("gone", "x", "y", True)]))
    _, _, dropped = record_baseline(path, MODEL, {}, [], root=tmp_path)
    assert dropped == ["gone"] and set(load_baseline(path).facts) == {"elsewhere"}


def test_a_suite_path_the_file_system_cannot_look_up_is_kept(tmp_path):
    from factcheck.gate.release_gate import record as record_baseline

    too_long = "x" * 5000 + ".json"  # over the file system's name limit: looking it up raises ENAMETOOLONG
    suites = {"long": {"content_hash": "a", "path": too_long}, "long_absolute": {"content_hash": "b", "path": f"/{too_long}"}}
    path = tmp_path / "baseline.json"
    write_baseline(path, build_baseline(MODEL, suites, [record("long", "France", "Paris", True),
                                                        record("long_absolute", "Peru", "Lima", True)]))
    _, _, dropped = record_baseline(path, MODEL, {}, [], root=tmp_path)
    assert dropped == [] and set(load_baseline(path).facts) == {"long", "long_absolute"}


def test_recording_drops_a_relation_whose_suite_file_is_gone_and_keeps_one_that_named_none(tmp_path):
    from factcheck.gate.release_gate import record as record_baseline

    (tmp_path / "capital.json").write_text("{}")
    suites = {"here": {"content_hash": "a", "path": "capital.json"}, "gone": {"content_hash": "b", "path": "moved.json"},
              "unnamed": {"content_hash": "c", "path": ""}}
    path = tmp_path / "baseline.json"
    write_baseline(path, build_baseline(MODEL, suites, [record("here", "France", "Paris", True), record("gone", "Italy", "Rome", True),
                                                        record("unnamed", "Peru", "Lima", True)]))
    other = {"other": {"content_hash": "d", "path": "capital.json"}}
    _, kept, dropped = record_baseline(path, MODEL, other, [record("other", "Japan", "Tokyo", True)], root=tmp_path)
    assert dropped == ["gone"] and kept == 0
    assert set(load_baseline(path).facts) == {"here", "unnamed", "other"}


def test_a_minimum_with_facts_left_unchecked_is_missed_only_whatever_they_say():
    from factcheck.gate.comparison import thresholds_undecided

    records = [record("a", str(i), "x", i < 1) for i in range(4)]  # 1 of 4 checked facts said right
    # Two more facts unchecked: at best 3 of 6 (50%).
    assert threshold_failures(records, {"a": 0.6}, {"a": 2}) == [("a", 0.5, 0.6)]
    assert threshold_failures(records, {"a": 0.5}, {"a": 2}) == [] and thresholds_undecided(records, {"a": 0.5}, {"a": 2}) == ["a"]
    # At worst 1 of 6: a minimum of 15% is met however the others fail.
    assert thresholds_undecided(records, {"a": 0.15}, {"a": 2}) == [] and threshold_failures(records, {"a": 0.15}, {"a": 2}) == []
