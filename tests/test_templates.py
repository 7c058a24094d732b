"""Every template of a suite: per-template verdicts, the all/any/first setting, consistency, and the gate per template."""

from __future__ import annotations

import json

import pytest
import torch

from factcheck.fact_result import FactResult, combine_verdicts
from factcheck.gate.baseline import build_baseline, parse_baseline
from factcheck.gate.comparison import FIXED, FORGOTTEN, REGRESSED, STILL_RIGHT, STILL_WRONG, SUPPRESSED, classify, compare
from factcheck.gate.release_gate import ReleaseGate
from factcheck.knows.knowcheck import KnowOutcome
from factcheck.reports.records import FactRecord
from factcheck.reports.report import consistency, report_document
from factcheck.results import validate_report
from factcheck.says.saycheck import Candidate, FactOutcome
from factcheck.session import FactcheckSession
from factcheck.settings import Settings
from factcheck.suites.suite import Fact, parse_suite

GOOD, ODD = "The capital city of {subject} is", "Zebra {subject} purple quantum"
CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid"), ("Peru", "Lima")]


def suite_of(tmp_path, texts, name="capital", **settings):
    document = {"relation": "capital", "templates": list(texts), "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    if settings:
        document["settings"] = settings
    return parse_suite(document, tmp_path / "suites" / f"{name}.json")


def outcome(said: bool, generated: str | None = None) -> FactOutcome:
    return FactOutcome(
        fact=Fact("France", "Paris"), prompt="The capital city of France is", is_training=False,
        generated=generated or (" Paris" if said else " Rome"), matched_answer="Paris" if said else None,
        candidates=sorted([Candidate("Paris", -0.1 if said else -3.0, True, True, 10), Candidate("Rome", -3.0 if said else -0.1, False, True, 11)],
                          key=lambda c: -c.logprob),
        subject_states={0: torch.zeros(4)},
    )


def record_of(suite, says: list[bool], knows: list[bool | None], mode: str, require="says") -> FactRecord:
    """The fact under each of the suite's templates: said / decoded as given (None: no know-verdict there)."""
    records = [
        FactRecord(suite=suite, outcome=outcome(said), say_check="generation", require=require, template=template,
                   template_mode=mode, lre_trusted=None if know is None else True,
                   know=None if know is None else KnowOutcome([("x", 0.5)], 1 if know else 3, know))
        for template, said, know in zip(suite.templates, says, knows)
    ]
    first, *others = records
    return FactRecord(**{**first.__dict__, "other_phrasings": tuple(others)})


# ---- how the templates' verdicts make the fact's ------------------------------------------

@pytest.mark.parametrize("mode, verdicts, expected", [
    ("all", [True, False], False), ("all", [True, True], True), ("any", [False, True], True), ("any", [False, False], False),
    ("all", [True, None], True), ("any", [None, None], None), ("first", [False], False),
])
def test_templates_combine_by_the_mode_and_ignore_templates_without_a_verdict(mode, verdicts, expected):
    assert combine_verdicts(mode, verdicts) is expected


def test_a_fact_said_under_one_template_of_two_fails_under_all_and_passes_under_any(tmp_path):
    suite = suite_of(tmp_path, [GOOD, ODD])
    strict = record_of(suite, [True, False], [True, True], "all")
    assert strict.say_pass is False and strict.passed is False and strict.know_pass is True and strict.verdict == "hidden"
    assert [r.template for r in strict.failing_phrasings] == [ODD]
    lenient = record_of(suite, [True, False], [True, True], "any")
    assert lenient.say_pass is True and lenient.passed is True and lenient.verdict == "known"
    # The failure names every template's verdict and shows the failing one's prompt.
    text = strict.explain()
    assert "passes under 1 of 2 (every template must pass" in text
    assert f"PASS {GOOD!r} -> ' Paris', know PASS" in text and f"FAIL {ODD!r} -> ' Rome', know PASS" in text


def test_the_result_keeps_each_template_and_combines_the_passes(tmp_path):
    suite = suite_of(tmp_path, [GOOD, ODD])
    result = record_of(suite, [True, False], [False, None], "all").result
    assert (result.say.generation_pass, result.say.ranking_pass, result.know_pass) == (False, False, False)
    assert [(t.template, t.say_pass, t.know_pass, t.verdict) for t in result.templates] == [
        (GOOD, True, False, "unfaithful"), (ODD, False, None, None)]
    assert result.consistent is False and result.template_mode == "all"
    assert FactResult.from_dict(result.to_dict()) == result
    # One template: the result has no per-template part, as before templates were checked.
    single = record_of(suite_of(tmp_path, [GOOD]), [True], [True], "all").result
    assert single.templates == () and "templates" not in single.to_dict() and single.consistent is None


def test_the_know_result_comes_from_the_templates_that_have_a_trusted_lre(tmp_path):
    suite = suite_of(tmp_path, [GOOD, ODD])
    record = record_of(suite, [True, False], [None, True], "all")  # no LRE under the first template, one under the second
    result = record.result
    assert result.know is not None and result.know_pass is True and result.know.trusted is True
    assert result.verdict == "hidden" and record.hidden_phrasing().template == ODD


def test_consistency_counts_facts_said_alike_under_every_template(tmp_path):
    suite = suite_of(tmp_path, [GOOD, ODD])
    results = [record_of(suite, says, [None, None], "all").result for says in ([True, True], [False, False], [True, False], [False, True])]
    assert consistency(results) == 0.5
    assert consistency([record_of(suite_of(tmp_path, [GOOD]), [True], [None], "all").result]) is None


# ---- the gate per template --------------------------------------------------------------

def baseline_of(result: FactResult):
    document = build_baseline({"name": "m", "fingerprint": "f"}, {"capital": {"content_hash": "h", "path": "capital.json"}}, [result])
    return parse_baseline(document)


def test_a_regression_under_one_template_is_a_regression_named_with_it(tmp_path):
    suite = suite_of(tmp_path, [GOOD, ODD])
    before = baseline_of(record_of(suite, [True, True], [True, True], "any").result).facts["capital"]["France"]
    assert before.templates == {template: {"say_pass": True, "generation_pass": True, "ranking_pass": True, "know_pass": True}
                                for template in (GOOD, ODD)}
    # Still said under `any`, but no longer under the odd template: a regression, split by that template's know-verdict.
    kind, note = classify(before, record_of(suite, [True, False], [True, True], "any").result)
    assert (kind, note) == (SUPPRESSED, f"said under {ODD!r} in the baseline, not now; the LRE still decodes the object")
    assert classify(before, record_of(suite, [True, False], [True, False], "any").result)[0] == FORGOTTEN
    assert classify(before, record_of(suite, [False, False], [None, None], "any").result)[0] == REGRESSED
    # A fact said wrong in the baseline (under `all`) that now fails under a template it passed: still a regression.
    was_half = baseline_of(record_of(suite, [True, False], [None, None], "all").result).facts["capital"]["France"]
    assert was_half.say_pass is False
    assert classify(was_half, record_of(suite, [False, True], [None, None], "all").result)[0] == REGRESSED
    assert classify(was_half, record_of(suite, [True, False], [None, None], "all").result)[0] == STILL_WRONG
    assert classify(was_half, record_of(suite, [True, True], [None, None], "all").result)[0] == FIXED


def test_a_changed_mode_or_template_set_is_not_taken_for_a_change_of_the_model(tmp_path):
    two = suite_of(tmp_path, [GOOD, ODD])
    # Recorded under `any` (said under one template: said); the same verdicts under `all` are still wrong, not a regression.
    before = baseline_of(record_of(two, [True, False], [None, None], "any").result).facts["capital"]["France"]
    assert before.say_pass is True
    assert classify(before, record_of(two, [True, False], [None, None], "all").result)[0] == STILL_WRONG
    # A third template, new since the baseline and failing, is not compared either.
    three = suite_of(tmp_path, [GOOD, ODD, "Capital of {subject}:"])
    was_right = baseline_of(record_of(two, [True, True], [None, None], "all").result).facts["capital"]["France"]
    assert classify(was_right, record_of(three, [True, True, False], [None, None, None], "all").result)[0] == STILL_RIGHT


def test_a_run_that_asks_one_template_is_compared_on_it_with_a_baseline_of_several(tmp_path):
    two = suite_of(tmp_path, [GOOD, ODD])
    # Said under the first template only: wrong as a whole under `all`, but right under the template `first` asks.
    was_half = baseline_of(record_of(two, [True, False], [None, None], "all").result).facts["capital"]["France"]
    assert was_half.say_pass is False
    for asked in (two, suite_of(tmp_path, [GOOD])):  # --factcheck-templates first, or the odd template removed
        first = record_of(asked, [False], [None], "first").result
        assert first.template == GOOD and first.templates == ()
        assert classify(was_half, first)[0] == REGRESSED
        assert classify(was_half, record_of(asked, [True], [None], "first").result)[0] == STILL_RIGHT
    # The strict xfail follows the templates the run asks.
    gate = ReleaseGate(baseline_of(record_of(two, [True, False], [None, None], "all").result))
    assert gate.expected_wrong("capital", "France", "Paris", "generation", [GOOD, ODD], "all")
    assert not gate.expected_wrong("capital", "France", "Paris", "generation", [GOOD], "first")
    assert gate.expected_wrong("capital", "France", "Paris", "generation", [ODD], "all")
    # Asked under a template the baseline never asked: compared as a whole.
    other = suite_of(tmp_path, ["Capital of {subject}:"])
    assert classify(was_half, record_of(other, [True], [None], "first").result)[0] == FIXED


def test_a_baseline_of_one_template_is_compared_on_it_with_a_run_of_several(tmp_path):
    one, two = suite_of(tmp_path, [GOOD]), suite_of(tmp_path, [GOOD, ODD])
    recorded = baseline_of(record_of(one, [True], [None], "first").result).facts["capital"]["France"]
    assert recorded.template == GOOD and recorded.templates is None
    # Said under the template the baseline asked, not under the new one: wrong as a whole under `all`, but no regression.
    assert classify(recorded, record_of(two, [True, False], [None, None], "all").result)[0] == STILL_RIGHT
    # Said under the new template only: right as a whole under `any`, but a regression under the template both asked.
    kind, note = classify(recorded, record_of(two, [False, True], [True, None], "any").result)
    assert (kind, note) == (SUPPRESSED, f"said under {GOOD!r} in the baseline, not now; the LRE still decodes the object")
    gate = ReleaseGate(baseline_of(record_of(one, [True], [None], "first").result))
    assert not gate.expected_wrong("capital", "France", "Paris", "generation", [GOOD, ODD], "all")
    was_wrong = ReleaseGate(baseline_of(record_of(one, [False], [None], "first").result))
    assert was_wrong.expected_wrong("capital", "France", "Paris", "generation", [GOOD, ODD], "any")
    # One template on both sides: compared as a whole, with the plain note.
    assert classify(recorded, record_of(one, [False], [True], "first").result) == (SUPPRESSED, "the LRE still decodes the object")


def report_entry(templates: dict[str, tuple[bool, bool]], check: str, mode: str = "all") -> FactResult:
    """A fact asked under `templates` (template -> (generation_pass, ranking_pass)), decided by `check`."""
    rows = [{"template": t, "generation_pass": g, "ranking_pass": r, "say_pass": g if check == "generation" else r,
             "know_pass": None} for t, (g, r) in templates.items()]
    said = combine_verdicts(mode, [row["say_pass"] for row in rows])
    return FactResult.from_dict({
        "relation": "capital", "subject": "France", "object": "Paris", "say_check": check, "say_pass": said,
        "generation_pass": combine_verdicts(mode, [row["generation_pass"] for row in rows]),
        "ranking_pass": combine_verdicts(mode, [row["ranking_pass"] for row in rows]),
        **({"templates": rows, "template_mode": mode} if len(rows) > 1 else {"template": rows[0]["template"]}),
    })


def test_each_templates_verdict_is_compared_by_the_say_check_of_the_run(tmp_path):
    # Recorded by generation: said under neither template by generation, under both by ranking.
    recorded = baseline_of(report_entry({GOOD: (False, True), ODD: (False, True)}, "generation"))
    entry = recorded.facts["capital"]["France"]
    assert entry.templates[GOOD] == {"say_pass": False, "generation_pass": False, "ranking_pass": True, "know_pass": None}
    # A run by ranking that no longer ranks the object first under ODD regressed there (by ranking, said before).
    kind, note = classify(entry, report_entry({GOOD: (False, True), ODD: (False, False)}, "ranking"))
    assert kind == REGRESSED and note.startswith(f"said under {ODD!r} in the baseline, not now")
    # The same verdicts by generation, the recording's check, are still wrong: nothing changed there.
    assert classify(entry, report_entry({GOOD: (False, True), ODD: (False, False)}, "generation"))[0] == STILL_WRONG
    # And a run by ranking that says it under both is still right, not fixed.
    assert classify(entry, report_entry({GOOD: (False, True), ODD: (False, True)}, "ranking"))[0] == STILL_RIGHT
    gate = ReleaseGate(recorded)
    assert not gate.expected_wrong("capital", "France", "Paris", "ranking", [GOOD, ODD], "all")
    assert gate.expected_wrong("capital", "France", "Paris", "generation", [GOOD, ODD], "all")


def test_a_run_that_asks_fewer_templates_than_the_baseline_says_which_it_did_not_compare():
    # The 60th pass: `--factcheck-templates first` (one ini line "to speed CI up") hid a regression under a suite's
    # second template without a word: the baseline's verdicts under it are not compared, as designed, but unsaid.
    baseline = baseline_of(report_entry({GOOD: (True, True), ODD: (True, True)}, "generation"))
    first_only = compare(baseline, {"name": "m", "fingerprint": "f"}, {}, [report_entry({GOOD: (True, True)}, "generation")])
    assert [change.kind for change in first_only.changes] == [STILL_RIGHT]
    assert (f"suite capital: 1 fact(s) said right in the baseline under template(s) this run did not ask ({ODD!r}): "
            "regressions under them are not compared; run every template (--factcheck-templates all) to gate them"
            ) in first_only.warnings()
    both = compare(baseline, {"name": "m", "fingerprint": "f"}, {}, [report_entry({GOOD: (True, True), ODD: (False, True)}, "generation")])
    assert both.templates_not_asked == {} and [change.kind for change in both.changes] == [REGRESSED]


def test_a_baseline_from_before_the_checks_were_kept_per_template_reads_its_say_pass(tmp_path):
    document = build_baseline({"name": "m", "fingerprint": "f"}, {"capital": {"content_hash": "h", "path": "capital.json"}},
                              [report_entry({GOOD: (True, True), ODD: (False, True)}, "generation")])
    for verdicts in document["facts"]["capital"]["France"]["templates"].values():
        del verdicts["generation_pass"], verdicts["ranking_pass"]
    entry = parse_baseline(document).facts["capital"]["France"]
    # Each template's say_pass is the recording check's (generation) verdict: read by it, and by ranking not at all.
    assert entry.said_under("generation") == {GOOD: True, ODD: False} and entry.said_under("ranking") == {}
    # A run by ranking is then compared on the whole fact, by its ranking verdict: said before (ranked right under
    # both templates), not now, is a regression; the template verdicts by generation would have hidden it.
    assert classify(entry, report_entry({GOOD: (True, False), ODD: (False, False)}, "ranking"))[0] == REGRESSED
    ranked_only = build_baseline({"name": "m", "fingerprint": "f"}, {"capital": {"content_hash": "h", "path": "capital.json"}},
                                 [report_entry({GOOD: (False, True), ODD: (False, True)}, "generation")])
    for verdicts in ranked_only["facts"]["capital"]["France"]["templates"].values():
        del verdicts["generation_pass"], verdicts["ranking_pass"]
    old_entry = parse_baseline(ranked_only).facts["capital"]["France"]
    assert classify(old_entry, report_entry({GOOD: (False, False), ODD: (False, False)}, "ranking"))[0] == REGRESSED
    del document["facts"]["capital"]["France"]["say_check"]  # older still: the check is told by the verdicts
    assert parse_baseline(document).facts["capital"]["France"].said_under("generation") == {GOOD: True, ODD: False}


def test_a_fact_read_from_a_baseline_that_does_not_name_its_check_is_compared_with_the_bases_own_verdict():
    # Both baselines recorded by ranking before say_check was kept: the candidate fails by both checks, so its check
    # cannot be told; the base said it by ranking (generation failed), which is a regression.
    def entry(generation: bool, ranking: bool, said: bool) -> dict:
        return {"relation": "capital", "subject": "Kenya", "object": "Nairobi", "say_pass": said,
                "generation_pass": generation, "ranking_pass": ranking}
    base = parse_baseline(build_baseline({"name": "m", "fingerprint": "f"}, {"capital": {"content_hash": "h", "path": "c.json"}},
                                         [FactResult.from_dict(entry(False, True, True))]))
    fact = base.facts["capital"]["Kenya"]
    document_fact = dict(fact.to_entry())
    document_fact.pop("say_check")
    old_base = parse_baseline({**build_baseline({"name": "m", "fingerprint": "f"}, {"capital": {"content_hash": "h", "path": "c.json"}}, []),
                               "facts": {"capital": {"Kenya": document_fact}}, "suites": {"capital": {"content_hash": "h", "path": "c.json"}}})
    candidate = FactResult.from_dict(entry(False, False, False))
    assert not candidate.say.check_known
    assert classify(old_base.facts["capital"]["Kenya"], candidate)[0] == REGRESSED


def test_a_template_only_one_side_asked_is_not_compared(tmp_path):
    two = suite_of(tmp_path, [GOOD, ODD])
    before = baseline_of(record_of(two, [True, True], [None, None], "all").result).facts["capital"]["France"]
    renamed = suite_of(tmp_path, [GOOD, "Capital of {subject}:"])
    assert classify(before, record_of(renamed, [True, False], [None, None], "any").result)[0] != REGRESSED


# ---- on a model -------------------------------------------------------------------------

def quiet_session(model, command_line=Settings()) -> FactcheckSession:
    session = FactcheckSession(command_line, progress=lambda message: None)
    session.use_model(model)
    return session


def verdicts(run):
    return [(r.fact.subject, r.outcome.generated, r.phrasing_say_pass, r.phrasing_know_pass, [c.logprob for c in r.outcome.candidates])
            for r in run.records]


def test_each_template_is_asked_as_a_suite_with_that_template_alone_would_be(tiny_llama, tmp_path, monkeypatch):
    from factcheck import session as session_module

    estimated_on = []
    original = session_module.lre_for_suite
    monkeypatch.setattr(session_module, "lre_for_suite", lambda model, suite, *a, **k: estimated_on.append(suite.templates[0]) or original(model, suite, *a, **k))
    both = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path, [GOOD, ODD]))
    good = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path, [GOOD], name="good"))
    odd = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path, [ODD], name="odd"))
    assert [p.template for p in both.phrasings] == [GOOD, ODD]
    first = [(r.fact.subject, r.outcome.generated, r.phrasing_say_pass) for r in both.records]
    second = [(o.fact.subject, o.generated, o.generation_pass) for o in both.phrasings[1].outcomes]
    assert first == [(r.fact.subject, r.outcome.generated, r.phrasing_say_pass) for r in good.records]
    assert second == [(o.fact.subject, o.generated, o.generation_pass) for o in odd.outcomes]
    # Each template has its own LRE, estimated on that template's prompts; only the first template's is kept (the lens).
    assert estimated_on[:2] == [GOOD, ODD] and both.phrasings[1].lre is not None
    assert both.phrasings[0].lre.lre.template == GOOD and both.phrasings[1].lre.lre is None
    assert all(len(r.phrasings) == 2 for r in both.records)


def test_first_asks_the_first_template_only_and_reproduces_a_one_template_suite(tiny_llama, tmp_path):
    first = quiet_session(tiny_llama, Settings(shots=2, templates="first")).run(suite_of(tmp_path, [GOOD, ODD]))
    alone = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path, [GOOD], name="alone"))
    assert len(first.phrasings) == 1
    assert [r.result.to_dict() | {"relation": None} for r in first.records] == [r.result.to_dict() | {"relation": None} for r in alone.records]


def test_the_suite_setting_chooses_the_mode_and_the_report_holds_each_template(tiny_llama, tmp_path):
    session = quiet_session(tiny_llama, Settings(shots=2))
    suites = {mode: suite_of(tmp_path, [GOOD, ODD], name=mode, templates=mode) for mode in ("all", "any")}
    runs = {mode: session.run(suite) for mode, suite in suites.items()}
    for mode, run in runs.items():
        run.asked.update(range(len(CAPITALS)))
        for record in run.records:
            said = [r.phrasing_say_pass for r in record.phrasings]
            assert record.say_pass == (all(said) if mode == "all" else any(said))
    document = report_document(session.summary())
    validate_report(document)
    assert {entry["template_mode"] for entry in document["facts"]} == {"all", "any"}
    assert all([t["template"] for t in entry["templates"]] == [GOOD, ODD] for entry in document["facts"])
    suite_entry = document["suites"]["any"]
    assert [t["template"] for t in suite_entry["templates"]] == [GOOD, ODD] and 0 <= suite_entry["consistency"] <= 1
    json.dumps(document)


# ---- through pytest -----------------------------------------------------------------------

@pytest.fixture
def project(pytester, tiny_llama_folder):
    pytester.makeini(
        f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 2\nfactcheck_shots = 2\n"
        "factcheck_say_check = ranking\nfactcheck_baseline = baseline.json\n"
    )
    folder = pytester.path / "suites"
    folder.mkdir()
    document = {"relation": "capital", "templates": [GOOD, ODD], "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    (folder / "capital.json").write_text(json.dumps(document))
    return pytester


def test_an_unknown_templates_mode_is_a_usage_error(project):
    result = project.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-templates=most")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "factcheck_templates must be one of all, any, first, not 'most'" in result.stderr.str()


def test_a_fact_expected_wrong_that_regresses_under_one_template_fails_not_xfails(project):
    recorded = project.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-update-baseline",
                                           "--factcheck-report=r.json")
    assert recorded.ret == 0
    report = json.loads((project.path / "r.json").read_text())
    entries = {entry["subject"]: entry for entry in report["facts"]}
    baseline = json.loads((project.path / "baseline.json").read_text())
    facts = baseline["facts"]["capital"]
    assert all(set(facts[s]["templates"]) == {GOOD, ODD} for s, _ in CAPITALS)
    # A fact said wrong under the odd template now: pretend the baseline said it right there, and wrong under the
    # first template, so that the fact as a whole was said wrong (strict xfail) but regressed under one phrasing.
    subject = next((s for s, e in entries.items() if not e["templates"][1]["say_pass"]), None)
    if subject is None:
        pytest.skip("this tiny model ranks every fact right under the odd template")
    facts[subject].update(say_pass=False, generation_pass=False, ranking_pass=False, verdict=None)
    facts[subject]["templates"][ODD].update(say_pass=True, generation_pass=True, ranking_pass=True)
    facts[subject]["templates"][GOOD].update(say_pass=False, generation_pass=False, ranking_pass=False)
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    gated = project.runpytest_inprocess("-p", "no:cacheprovider", "-rfx", "suites", f"-k {subject}")
    gated.assert_outcomes(failed=1)
    out = gated.stdout.str()
    assert f"REGRESSION (regressed): said under {ODD!r} in the baseline, not now" in out


def test_a_distractors_wrong_object_is_never_an_accepted_answer_in_another_case():
    from factcheck.says.saycheck import wrong_object
    from factcheck.suites.suite import Fact

    facts = [Fact("India", "New Delhi", ("Delhi",)), Fact("Delhi state", "delhi"), Fact("France", "Paris"), Fact("X", "PARIS")]
    assert wrong_object(facts, facts[0]) == "Paris"  # not "delhi"
    assert wrong_object(facts, facts[2]) == "New Delhi"  # not "PARIS"
