"""`factcheck diff`: baselines or reports in, regressions first, exit code by budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from factcheck.gate import diff
from factcheck.gate.baseline import BaselineError, build_baseline, write_baseline
from factcheck.gate.diff import load_results
from factcheck.cli import main
from factcheck.fact_result import FactResult

MODEL = {"name": "tiny", "fingerprint": "f00d"}
SUITES = {
    "country_capital": {"content_hash": "aaaa", "path": "suites/country_capital.json"},
    "mother_tongue": {"content_hash": "bbbb", "path": "suites/mother_tongue.json"},
}


def record(relation, subject, obj, say, know=None):
    return FactResult.from_dict({"relation": relation, "subject": subject, "object": obj, "say_pass": say, "generation_pass": say,
                                 "ranking_pass": say, "margin": 0.25, "training": False, "know_pass": know, "verdict": None})


BASE = [
    record("country_capital", "France", "Paris", True, True),
    record("country_capital", "Italy", "Rome", True, True),
    record("country_capital", "Japan", "Tokyo", True),
    record("country_capital", "Peru", "Lima", False, False),
    record("mother_tongue", "Victor Hugo", "French", True, True),
]
CANDIDATE = [
    record("country_capital", "France", "Paris", False, True),  # suppressed
    record("country_capital", "Italy", "Rome", False, False),  # forgotten
    record("country_capital", "Japan", "Tokyo", True),
    record("country_capital", "Peru", "Lima", True, True),  # fixed
    record("mother_tongue", "Victor Hugo", "French", True, True),
]


def baseline_file(path: Path, records, model=MODEL) -> Path:
    return write_baseline(path, build_baseline(model, SUITES, records))


def report_file(path: Path, records, model=MODEL) -> Path:
    """A JSON report as report_document writes it (extra keys included); `records` are results or fact entries."""
    document = {
        "factcheck_report_version": 2,
        "factcheck_version": "0.0.0",
        "model": {**model, "architecture": "llama", "dtype": "float32", "device": "cpu"},
        "suites": {relation: {**info, "relation": relation.replace("_", " "), "shots": 4} for relation, info in SUITES.items()},
        "facts": [{**r.to_dict(), "generated": "x"} if isinstance(r, FactResult) else r for r in records],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main(["diff", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_version_matches_the_report_module():
    from factcheck.reports.report import REPORT_VERSION

    assert diff.REPORT_VERSION == REPORT_VERSION


def test_regressions_over_budget_exit_1_and_are_listed_first(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    candidate = baseline_file(tmp_path / "candidate.json", CANDIDATE)
    code, out, err = run(capsys, base, candidate)
    assert code == 1 and err == ""
    regressions, fixes, accuracy = out.index("Regressions: 2"), out.index("Fixes: 1"), out.index("Per-relation say-accuracy")
    assert regressions < fixes < accuracy
    table = out[regressions:fixes]
    assert table.index("France") < table.index("Italy")
    assert "suppressed" in table.split("France")[1].splitlines()[0]
    assert "forgotten" in table.split("Italy")[1].splitlines()[0]
    assert "Peru" in out[fixes:accuracy] and "Peru" not in table
    assert "3/4 (75.0%)" in out and "+0.0 pts" in out
    assert out.rstrip().endswith("FAIL: 2 regression(s), budget 0")


def test_within_budget_exits_0(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    candidate = baseline_file(tmp_path / "candidate.json", CANDIDATE)
    code, out, _ = run(capsys, base, candidate, "--budget", "2")
    assert code == 0 and out.rstrip().endswith("PASS: 2 regression(s), budget 2")
    code, out, _ = run(capsys, base, base)
    assert code == 0 and "Regressions: 0" in out and "warning" not in out


def test_reports_and_baselines_mix(tmp_path, capsys):
    base = report_file(tmp_path / "base-report.json", BASE)
    candidate = report_file(tmp_path / "candidate-report.json", CANDIDATE)
    baseline = baseline_file(tmp_path / "base.json", BASE)
    outputs = []
    for pair in [(base, candidate), (baseline, candidate)]:
        code, out, _ = run(capsys, *pair)
        assert code == 1 and "Regressions: 2" in out
        outputs.append(out.split("\n", 1)[1])  # all but the line naming the files
    assert outputs[0] == outputs[1]


def test_an_incomplete_candidate_report_never_passes(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    partial = report_file(tmp_path / "partial.json", BASE[:2])  # the facts it ran are all still right
    document = json.loads(partial.read_text())
    document["incomplete"] = "interrupted (Ctrl-C)"
    partial.write_text(json.dumps(document))
    for flags in ((), ("--markdown",)):
        code, out, _ = run(capsys, base, partial, "--budget", "5", *flags)
        assert code == 1 and ("Regressions: 0" in out or "Regressions (0" in out)
        assert "FAIL: 0 regression(s), budget 5 (the candidate run is incomplete)" in out
        assert "Warning" in out or "warning" in out
        assert "the candidate run is incomplete" in out.split("\n", 1)[1] and "Ctrl" in out
    # As the base, a partial report is named but gates nothing by itself.
    code, out, _ = run(capsys, partial, baseline_file(tmp_path / "whole.json", BASE))
    assert code == 0 and "the base run is incomplete" in out


def test_a_base_report_of_a_selection_names_the_facts_it_did_not_check(tmp_path, capsys):
    # A base recorded with -k: the candidate's other facts count as new, compared with nothing. Said, not silent.
    partial = report_file(tmp_path / "partial.json", BASE[:1])
    document = json.loads(partial.read_text())
    for relation in document["suites"]:
        document["suites"][relation]["subjects"] = [r.subject for r in BASE if r.relation == relation]
    partial.write_text(json.dumps(document))
    code, out, _ = run(capsys, partial, report_file(tmp_path / "whole.json", BASE))
    assert code == 0 and "4 fact(s) the candidate checked were in the base's suites but not checked by the base" in out
    assert "country_capital[Italy]" in out and "diff against a base report of a whole run" in out
    # A base of every fact says nothing of the kind.
    whole = json.loads(partial.read_text())
    whole["facts"] = json.loads((tmp_path / "whole.json").read_text())["facts"]
    (tmp_path / "base.json").write_text(json.dumps(whole))
    code, out, _ = run(capsys, tmp_path / "base.json", tmp_path / "whole.json")
    assert code == 0 and "not checked by the base" not in out


@pytest.mark.parametrize("reason", ["", 0, False, None, [], {}])
def test_a_report_whose_incomplete_field_is_not_a_reason_is_refused_not_read_as_complete(tmp_path, capsys, reason):
    base = baseline_file(tmp_path / "base.json", BASE)
    partial = report_file(tmp_path / "partial.json", BASE[:2])
    document = json.loads(partial.read_text())
    document["incomplete"] = reason
    partial.write_text(json.dumps(document))
    code, out, err = run(capsys, base, partial)
    assert code == 2 and "partial.json" in err and "/incomplete" in err, (out, err)


def test_a_fact_said_right_before_that_the_candidate_did_not_check_fails_the_diff(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    skipped_france = report_file(tmp_path / "skipped.json", BASE[1:])  # France skipped by a mark: same suite
    code, out, _ = run(capsys, base, skipped_france, "--budget", "3")
    assert code == 1 and "FAIL: 0 regression(s), budget 3 (1 fact(s) said right before not checked)" in out
    assert "1 fact(s) the base said right were not checked by the candidate (country_capital[France])" in out
    skipped_peru = report_file(tmp_path / "peru.json", [r for r in BASE if r.subject != "Peru"])  # said wrong before
    assert run(capsys, base, skipped_peru)[0] == 0
    # A relation said right before that the candidate did not run at all fails as well (deselected, removed, moved or
    # unreadable), unless the candidate ran some suites on purpose.
    one = report_file(tmp_path / "one.json", BASE[:4])
    code, out, _ = run(capsys, base, one)
    assert code == 1 and "FAIL: 0 regression(s), budget 0 (1 relation(s) said right before not run)" in out
    assert "1 relation(s) with facts the base said right were not run by the candidate (mother_tongue)" in out
    code, out, _ = run(capsys, base, one, "--only-relations-run")
    assert code == 0 and "relations in the baseline but not run: mother_tongue" in out
    # A relation whose facts were all said wrong before gates nothing.
    wrong_before = baseline_file(tmp_path / "wrong.json", BASE[:4] + [record("mother_tongue", "Victor Hugo", "French", False)])
    assert run(capsys, wrong_before, one)[0] == 0


def test_a_candidate_asked_under_one_template_is_compared_on_it(tmp_path, capsys):
    # The base said Peru under its first template only (wrong as a whole); the candidate, asked under that template
    # alone (`--factcheck-templates first`), no longer says it.
    good, odd = "The capital city of {subject} is", "Zebra {subject}"
    base_document = build_baseline(MODEL, SUITES, BASE)
    base_document["facts"]["country_capital"]["Peru"]["templates"] = {good: {"say_pass": True, "know_pass": None},
                                                                     odd: {"say_pass": False, "know_pass": None}}
    base = write_baseline(tmp_path / "base.json", base_document)
    peru = {**record("country_capital", "Peru", "Lima", False).to_dict(), "generated": "x", "template": good}
    code, out, _ = run(capsys, base, report_file(tmp_path / "first.json", [*BASE[:3], peru, BASE[4]]))
    assert code == 1 and "FAIL: 1 regression(s)" in out and "Peru" in out.split("Regressions:")[1].split("Fixes:")[0]
    # Asked under a template the base has no verdict for: compared as a whole (wrong before, wrong now).
    elsewhere = {**peru, "template": "Capital of {subject}:"}
    assert run(capsys, base, report_file(tmp_path / "other.json", [*BASE[:3], elsewhere, BASE[4]]))[0] == 0


def test_a_fact_left_out_of_a_changed_suite_it_still_holds_fails_the_diff(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    # The candidate's suite gained a fact (another content hash); France, said right before, was deselected.
    subjects = ["France", "Italy", "Japan", "Peru", "Chile"]
    chile = record("country_capital", "Chile", "Santiago", True)
    candidate = report_file(tmp_path / "edited.json", [*BASE[1:], chile])
    document = json.loads(candidate.read_text())
    document["suites"]["country_capital"].update(content_hash="cccc", subjects=subjects)
    candidate.write_text(json.dumps(document))
    code, out, _ = run(capsys, base, candidate)
    assert code == 1 and "1 fact(s) said right before not checked" in out
    # France gone from the suite itself: removed, not unchecked, and named (the 35th pass: deleting a regressed fact
    # passed without a word).
    document["suites"]["country_capital"]["subjects"] = [s for s in subjects if s != "France"]
    candidate.write_text(json.dumps(document))
    code, out, _ = run(capsys, base, candidate)
    assert code == 0 and "1 fact(s) the base said right are no longer in it (France): not compared" in out


@pytest.mark.parametrize("change", [
    lambda d: d["suites"]["country_capital"].update(subjects=None),
    lambda d: d["suites"]["country_capital"].update(subjects="France"),
    lambda d: d["facts"][0].update(templates=[{"template": 5, "say_pass": True}]),
    lambda d: d["facts"][0].update(templates=[{}]),
    lambda d: d["facts"][0].update(template=5),
])
def test_a_report_with_malformed_template_or_subject_keys_is_bad_input(tmp_path, capsys, change):
    report = report_file(tmp_path / "r.json", CANDIDATE)
    document = json.loads(report.read_text())
    change(document)
    report.write_text(json.dumps(document))
    code, _, err = run(capsys, baseline_file(tmp_path / "base.json", BASE), report)
    assert code == 2 and "Traceback" not in err and "r.json" in err and "regenerate the report" in err


def test_reports_without_know_check_keys_give_unsplit_regressions(tmp_path, capsys):
    old = [{k: v for k, v in r.to_dict().items() if k not in ("know_pass", "verdict")} | {"generated": "x"} for r in CANDIDATE]
    candidate = report_file(tmp_path / "old-report.json", old)
    code, out, _ = run(capsys, baseline_file(tmp_path / "base.json", BASE), candidate)
    assert code == 1
    assert "regressed (not split: no trusted, decided know-verdict)" in out
    assert "warning: 2 regression(s) could not be split" in out


def test_markdown_for_a_job_summary(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    odd = CANDIDATE + [record("mother_tongue", "A|B <i>", "x", True)]  # cells must not break the table
    candidate = baseline_file(tmp_path / "candidate.json", odd, model={"name": "other", "fingerprint": "beef"})
    code, out, _ = run(capsys, base, candidate, "--markdown", "--budget", "1")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "## factcheck diff: FAIL: 2 regression(s), budget 1"
    assert any(line.startswith("> **Warning:** the baseline was recorded for another model") for line in lines)
    regressions = lines.index("### Regressions (2, budget 1)")
    fixes = lines.index("### Fixes (1)")
    accuracy = lines.index("### Per-relation say-accuracy")
    assert regressions < fixes < accuracy
    assert lines[regressions + 2 : regressions + 6] == [
        "| relation | subject | object | class |",
        "| --- | --- | --- | --- |",
        "| country\\_capital | France | Paris | suppressed |",
        "| country\\_capital | Italy | Rome | forgotten |",
    ]
    assert "| country\\_capital | Peru | Lima |" in lines[fixes:accuracy]
    assert "| --- | ---: | ---: | ---: |" in lines[accuracy:]
    assert "| mother\\_tongue | 1/1 (100.0%) | 2/2 (100.0%) | +0.0 pts |" in lines[accuracy:]
    assert "A|B" not in out and "<i>" not in out
    assert any(line.startswith("**Totals:** 2 regression(s)") for line in lines)


def test_suite_text_in_markdown_is_literal_text(tmp_path, capsys):
    """Subjects, objects and relation names come from suite files: in a CI job summary they must never become
    links, images, HTML, emphasis or table columns."""
    hostile = "![x](https://evil.example/a.png) [click](http://x.y) <img src=x> **b** `c` a|b $x^2$ @octocat r\u202etl"
    # Said wrong in the base, right in the candidate: a row of the fixes table.
    base = baseline_file(tmp_path / "base.json", BASE + [record("mother_tongue", hostile, hostile, False)])
    candidate = baseline_file(tmp_path / "candidate.json", CANDIDATE + [record("mother_tongue", hostile, hostile, True)])
    code, out, _ = run(capsys, base, candidate, "--markdown")
    assert out.count("evil\\.example") == 2  # subject and object, escaped
    assert "![x](" not in out and "](http" not in out and "**b**" not in out and "`c`" not in out
    assert "<img" not in out.replace("\\<", "")  # only as an escaped, literal "<"
    assert "\\$x^2\\$" in out and "\\@octocat" in out and "\u202e" not in out  # no math, no mention, no reordering
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(out)
    assert "<a " not in html and "<img" not in html and "<strong>b" not in html and "<code>" not in html
    assert "![x](https://evil.example/a.png)" in html.replace("&amp;", "&")  # shown as the text it is


def test_no_regressions_in_markdown_says_none(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    code, out, _ = run(capsys, base, base, "--markdown")
    assert code == 0 and out.startswith("## factcheck diff: PASS: 0 regression(s), budget 0\n")
    assert out.count("None.") == 2


def test_suite_change_and_changed_facts_are_said(tmp_path, capsys):
    base = baseline_file(tmp_path / "base.json", BASE)
    document = build_baseline(MODEL, {**SUITES, "country_capital": {"content_hash": "cccc", "path": "x"}},
                              [*CANDIDATE[:1], record("country_capital", "Italy", "Milan", False), *CANDIDATE[2:]])
    candidate = write_baseline(tmp_path / "candidate.json", document)
    code, out, _ = run(capsys, base, candidate)
    assert code == 1 and "Regressions: 1" in out  # Italy's object changed: not a regression
    assert "warning: suite country_capital changed since the baseline (content hash aaaa -> cccc)" in out
    assert "Changed in the suite, not compared: 1" in out and "object was 'Rome' in the baseline" in out


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"factcheck_baseline_version": 1', ["invalid JSON", "truncated"]),
        ('{"hello": 1}', ["neither a factcheck baseline", "nor a report"]),
        ('{"factcheck_report_version": 7, "facts": []}', ["/factcheck_report_version", "expected report format version 2"]),
        ('{"factcheck_report_version": 2, "model": {"name": "m", "fingerprint": "f"}, "suites": {}, "facts": [{"relation": "r"}]}',
         ["/facts/0: missing required field: 'subject'", "--factcheck-report"]),
        ('{"factcheck_report_version": 2, "model": {"name": "m", "fingerprint": "f"}, "suites": {}, '
         '"facts": [{"relation": "r", "subject": "s", "object": "o", "say_pass": true, "generation_pass": true, "ranking_pass": 1}]}',
         ["/facts/0/ranking_pass: expected boolean"]),
        ('{"factcheck_report_version": 2, "model": {"name": "m", "fingerprint": "f"}, "suites": {}, '
         '"facts": [{"relation": "r", "subject": "s", "object": "o", "say_pass": true, "generation_pass": true, "ranking_pass": true}]}',
         ["/facts/0/relation: relation 'r' has no entry in /suites"]),
        # The 35th pass: a fact its own suite does not hold gave FAIL (exit 1, the regression code).
        ('{"factcheck_report_version": 2, "model": {"name": "m", "fingerprint": "f"}, '
         '"suites": {"r": {"content_hash": "h", "path": "r.json", "subjects": ["t"]}}, '
         '"facts": [{"relation": "r", "subject": "s", "object": "o", "say_pass": true, "generation_pass": true, "ranking_pass": true}]}',
         ["/facts/0/subject: subject 's' is not among its suite's subjects (/suites/r/subjects)"]),
    ],
)
def test_bad_input_exits_2_naming_file_and_pointer(tmp_path, capsys, content, words):
    good = baseline_file(tmp_path / "base.json", BASE)
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    for argv in [(bad, good), (good, bad)]:
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        assert err.startswith(f"factcheck: error: {bad}: ")
        for word in words:
            assert word in err, err
    assert bad.read_text(encoding="utf-8") == content


@pytest.mark.parametrize("field, damaged, words", [
    ("tags", 5, ["/facts/0/tags: expected array"]),
    ("aliases", 7, ["/facts/0/aliases: expected array"]),
    ("know_undecided", {"reason": "shared"}, ["/facts/0/know_undecided"]),
    ("top_candidates", [{"text": "Paris"}], ["/facts/0/top_candidates/0"]),
    ("top_candidates", 3, ["/facts/0/top_candidates: expected array"]),
    ("lre_top_tokens", [["Paris", 0.5]], ["/facts/0/lre_top_tokens/0"]),
    ("distracted", {"generated": 1}, ["/facts/0/distracted"]),
    # An integer past a float's range (JSON has no limit) could not be compared: an OverflowError traceback.
    ("margin", 10 ** 400, ["/facts/0/margin: a number of 401 digits is out of range"]),
    ("model_first_token_probability", -10 ** 400, ["/facts/0/model_first_token_probability: a number of 401 digits"]),
])
def test_a_report_with_a_damaged_detail_field_is_bad_input_not_a_traceback(tmp_path, capsys, field, damaged, words):
    # Hand-edited or badly merged: exit 2 (bad input), never 1 (a gate failure) nor a traceback.
    good = report_file(tmp_path / "good.json", BASE)
    document = json.loads(good.read_text(encoding="utf-8"))
    document["facts"][0][field] = damaged
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code, out, err = run(capsys, good, bad)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"factcheck: error: {bad}: ") and "--factcheck-report" in err
    for word in words:
        assert word in err, err


def test_a_fact_asked_under_one_template_twice_is_named_by_the_reports_pointer(tmp_path, capsys):
    good = report_file(tmp_path / "good.json", BASE)
    document = json.loads(good.read_text(encoding="utf-8"))
    entry = {"template": "A", "say_pass": True}
    document["facts"][0]["templates"] = [entry, entry]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run(capsys, good, bad)
    assert code == 2 and "/facts/0/templates/1: template 'A' appears twice in the fact" in err, err
    # A problem found once the report is read as a baseline names the report's fact, not the baseline's: one template
    # alone was named /facts/<relation>/<subject>/templates, a pointer the report does not have.
    document["facts"][0]["templates"] = [entry]
    bad.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run(capsys, good, bad)
    assert code == 2 and f"{bad}: /facts/0/templates: " in err, err


def test_a_report_whose_suite_settings_are_damaged_names_the_report_fix(tmp_path, capsys):
    good = report_file(tmp_path / "good.json", BASE)
    document = json.loads(good.read_text(encoding="utf-8"))
    document["suites"]["country_capital"]["settings"] = {"shots": "eight"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run(capsys, good, bad)
    assert code == 2 and "regenerate the report with `pytest --factcheck-report PATH`" in err and "update-baseline" not in err


def test_duplicate_fact_in_a_report_is_bad_input(tmp_path, capsys):
    report = report_file(tmp_path / "report.json", BASE + BASE[:1])
    code, _, err = run(capsys, report, report)
    assert code == 2 and "/facts/5: fact country_capital[France] already appears at /facts/0" in err


def test_missing_file_and_bad_budget(tmp_path, capsys):
    good = baseline_file(tmp_path / "base.json", BASE)
    code, _, err = run(capsys, good, tmp_path / "absent.json")
    assert code == 2 and "absent.json" in err and "cannot read the file" in err
    for budget in ("-1", "two"):
        with pytest.raises(SystemExit) as exited:
            main(["diff", str(good), str(good), "--budget", budget])
        assert exited.value.code == 2
        assert "--budget" in capsys.readouterr().err


def test_relation_or_subject_keys_holding_control_characters_are_refused_and_shown_escaped(tmp_path, capsys):
    candidate = report_file(tmp_path / "candidate.json", CANDIDATE)
    for forged in ("country\x1b[2K_capital", "country\nPASS: 0 regression(s)\n"):
        for make in (baseline_file, report_file):
            document = json.loads(make(tmp_path / "base.json", BASE).read_text())
            if make is baseline_file:
                document["suites"][forged] = document["suites"].pop("country_capital")
                document["facts"][forged] = document["facts"].pop("country_capital")
            else:
                document["suites"][forged] = document["suites"].pop("country_capital")
                for fact in document["facts"]:
                    fact["relation"] = forged if fact["relation"] == "country_capital" else fact["relation"]
            (tmp_path / "base.json").write_text(json.dumps(document))
            code, out, err = run(capsys, tmp_path / "base.json", candidate)
            assert code == 2 and "holds control characters" in err, (make, out, err)
            assert "\x1b" not in out + err and "\nPASS" not in out + err and "PASS" not in out


def test_a_terminal_that_cannot_encode_suite_text_gets_it_escaped_not_a_traceback(tmp_path):
    import subprocess
    import sys

    base = baseline_file(tmp_path / "base.json", [record("country_capital", "Côte d'Ivoire", "Yamoussoukro", False)])
    fixed = report_file(tmp_path / "fixed.json", [record("country_capital", "Côte d'Ivoire", "Yamoussoukro", True)])
    for extra in ([], ["--markdown"]):
        done = subprocess.run([sys.executable, "-m", "factcheck.cli", "diff", str(base), str(fixed), *extra], capture_output=True,
                              env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]  # a passing comparison, not "over budget" (1)
        assert b"C\\xf4te" in done.stdout and b"Traceback" not in done.stderr


def test_a_report_of_many_bad_entries_is_refused_without_building_every_error(tmp_path):
    from factcheck.suites.suite import first_schema_errors

    path = tmp_path / "many.json"
    path.write_text('{"factcheck_report_version": 2, "facts": [' + ",".join(["{}"] * 200_000) + "]}", encoding="utf-8")
    with pytest.raises(BaselineError) as refused:
        load_results(path)  # building all of them took 2.3 GB at a quarter of this size
    assert len(refused.value.problems) <= 20 and "/facts/0" in str(refused.value)
    import jsonschema

    validator = jsonschema.Draft202012Validator({"type": "array", "items": {"type": "string"}})
    assert len(first_schema_errors(validator, list(range(100_000)))) == 200


def test_hashes_fingerprints_and_paths_holding_control_characters_are_refused_naming_the_pointer(tmp_path, capsys):
    # Printed as they are by the gate and the diff ("content hash ... -> ..."): a forged line and a hiding escape code.
    candidate = report_file(tmp_path / "candidate.json", CANDIDATE)
    for where, forged in ((("model", "fingerprint"), "a755bbfd\r\x1b[2K"),
                          (("suites", "country_capital", "content_hash"), "b5cf0d12\n===== 12 passed in 9.99s =====\x1b[8m"),
                          (("suites", "country_capital", "path"), "suites/cap\x1b[31m.json")):
        for make in (baseline_file, report_file):
            document = json.loads(make(tmp_path / "base.json", BASE).read_text())
            holder = document
            for key in where[:-1]:
                holder = holder[key]
            holder[where[-1]] = forged
            (tmp_path / "base.json").write_text(json.dumps(document))
            code, out, err = run(capsys, tmp_path / "base.json", candidate)
            assert code == 2 and "/" + "/".join(where) in err and "holds control characters" in err, (where, make, err)
            assert "\x1b" not in out + err and "passed in" not in out, (where, make)
