"""The release gate in the plugin: record a baseline, gate on it, swap the model, thresholds."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from factcheck.gate.baseline import load_baseline

CAPITALS = [
    ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Egypt", "Cairo"),
    ("Chile", "Santiago"), ("Cuba", "Havana"),
]


def write_suite(folder, settings=None, facts=CAPITALS):
    document = {
        "relation": "country capital city",
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in facts],
    }
    if settings:
        document["settings"] = settings
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "country_capital.json").write_text(json.dumps(document))


@pytest.fixture
def project(pytester, tiny_llama_folder):
    pytester.makeini(
        f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 2\n"
        "factcheck_say_check = ranking\nfactcheck_shots = 2\nfactcheck_baseline = baselines/tiny.json\n"
    )
    write_suite(pytester.path / "suites")
    return pytester


@pytest.fixture(scope="module")
def other_model_folder(tmp_path_factory, tiny_model_factory):
    folder = tmp_path_factory.mktemp("tiny-llama-seed-7")
    other = tiny_model_factory("llama", seed=7)
    other.model.save_pretrained(folder)
    other.tokenizer.save_pretrained(folder)
    return folder


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rxXf", *args)


def test_gating_without_a_recorded_baseline_says_how_to_record_it(project):
    result = run(project, "suites")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "tiny.json does not exist; record it with `pytest --factcheck-update-baseline`" in result.stdout.str() + result.stderr.str()


def test_python_tests_run_without_the_baseline_file(project):
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(project, "test_plain.py")
    result.assert_outcomes(passed=1)


def test_record_then_gate_turns_known_wrong_facts_into_xfail(project):
    recorded = run(project, "suites", "--factcheck-update-baseline")
    assert recorded.ret == 0
    baseline = load_baseline(project.path / "baselines" / "tiny.json")
    said = {s: f.say_pass for s, f in baseline.facts["country_capital"].items()}
    assert set(said) == {s for s, _ in CAPITALS}
    # Recording twice gives the same bytes (a readable git diff).
    first = (project.path / "baselines" / "tiny.json").read_bytes()
    run(project, "suites", "--factcheck-update-baseline")
    assert (project.path / "baselines" / "tiny.json").read_bytes() == first

    gated = run(project, "suites")
    outcomes = gated.parseoutcomes()
    assert outcomes.get("passed", 0) == sum(said.values())
    assert outcomes.get("xfailed", 0) == len(said) - sum(said.values())
    assert gated.ret == 0
    gated.stdout.fnmatch_lines(["*against the baseline*", "regressions: 0"])


def mark_said_right(path, subjects):
    """Edit a recorded baseline as if its model had said these facts right (a random tiny model says few)."""
    document = json.loads(path.read_text())
    for subject in subjects:
        document["facts"]["country_capital"][subject].update(say_pass=True, generation_pass=True, ranking_pass=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


QUARANTINE_CONFTEST = (
    "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n    outcome = yield\n"
    "    report = outcome.get_result()\n    if report.failed and call.when == 'call':\n        report.outcome = 'passed'\n")


REPLACING_QUARANTINE_CONFTEST = (
    "import pytest\nfrom _pytest.reports import TestReport\n@pytest.hookimpl(wrapper=True, tryfirst=True)\n"
    "def pytest_runtest_makereport(item, call):\n    report = yield\n    if report.failed and call.when == 'call':\n"
    "        return TestReport(report.nodeid, report.location, report.keywords, 'passed', None, 'call')\n    return report\n")


@pytest.mark.parametrize("conftest, options, said", [
    # The common "quarantine" hook turning failures into passes, and the "no tests is fine" idiom without its check.
    (QUARANTINE_CONFTEST, [], "but the run's outcome was a pass"),
    # (Before or after the gate's own sessionfinish, as pytest orders the two: either line says so.)
    ("def pytest_sessionfinish(session, exitstatus):\n    session.exitstatus = 0\n", [], "regression(s), but "),
    # The 44th pass: with no terminal summary (IDE runners, pytest.main embedders), and a hook after the summary.
    (QUARANTINE_CONFTEST, ["-p", "no:terminal"], "but the run's outcome was a pass"),
    ("import pytest\n@pytest.hookimpl(trylast=True)\ndef pytest_terminal_summary(terminalreporter):\n"
     "    terminalreporter._session.exitstatus = 0\n", [], "set the run's exit status to 0 after the gate's check"),
    # The 45th pass: the session ended with status 0 in a sessionfinish hook before the gate's own ran.
    ("import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n    pytest.exit('done', returncode=0)\n",
     [], "or ended the session before it: the run fails"),
    # The 46th pass: sys.exit(0) there; the same after a quarantine hook; a trylast unconfigure resetting the status.
    ("import pytest, sys\n@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n    sys.exit(0)\n",
     [], "or ended the session before it: the run fails"),
    (QUARANTINE_CONFTEST + "@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n    pytest.exit('done', returncode=0)\n",
     [], "but a conftest or plugin set the run's exit status to 0"),
    ("import pytest\nSESSION = []\ndef pytest_sessionstart(session):\n    SESSION.append(session)\n"
     "@pytest.hookimpl(trylast=True)\ndef pytest_unconfigure(config):\n    SESSION[0].exitstatus = 0\n",
     [], "set the run's exit status to 0 after the gate's check"),
    # The 47th pass: a quarantine hook that replaces the report whole (no fact result on it), with that exit.
    (REPLACING_QUARANTINE_CONFTEST + "@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n"
     "    pytest.exit('done', returncode=0)\n", [], "regression(s) (country_capital[")])
def test_a_regression_fails_the_run_even_where_a_conftest_rewrites_its_outcome(project, conftest, options, said):
    # The 43rd to 46th passes: each conftest made a gated run exit 0 while the gate found "regressions: 1". (In the
    # suites' folder: its hooks register after factcheck's, and its trylast ones run after factcheck's trylast ones.)
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    (project.path / "suites" / "conftest.py").write_text(conftest)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *options, "suites")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and said in output, output[-2000:]
    summary_shown = "-p" not in options and "exit(" not in conftest  # an exit from sessionfinish comes before it
    assert re.search(r"regressions: [1-9]", output) or not summary_shown


def test_a_regression_fails_the_run_where_a_root_conftest_wraps_pytest_main_returning_0(project):
    # The 58th pass: a wrapper of pytest_cmdline_main returning 0 came after every check of the gate's (the last ran as
    # a config cleanup, inside the session): a gated run showed "regressions: 1" and exited 0.
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    # The 59th pass: such a wrapper with a bare `yield` (its result None), raising SystemExit(0), or an old-style one
    # forcing None. Also a cleanup a root conftest registers in its own pytest_configure, before factcheck's: it ran
    # after the last check (cleanups run last-in, first-out), and was a limit the README named.
    wrapper = "import pytest, sys\n@pytest.hookimpl(wrapper=True)\ndef pytest_cmdline_main(config):\n    yield\n"
    for conftest in (wrapper + "    return 0\n", wrapper, wrapper + "    sys.exit(0)\n",
                     "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_cmdline_main(config):\n"
                     "    outcome = yield\n    outcome.force_result(None)\n",
                     "SESSION = []\ndef pytest_sessionstart(session):\n    SESSION.append(session)\n"
                     "def pytest_configure(config):\n    config.add_cleanup(lambda: setattr(SESSION[0], 'exitstatus', 0))\n"):
        (project.path / "conftest.py").write_text(conftest)
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.TESTS_FAILED and re.search(r"regressions: [1-9]", output), output[-2000:]
        assert "set the run's exit status to 0 after the gate's check" in result.stderr.str()


def test_without_a_terminal_summary_the_regressions_are_said_on_stderr(project):
    # The 58th pass: under -p no:terminal a regression failed the run (exit 1) with no output at all: pytest says
    # nothing of a failed test there, and "regressions: 1" was only in the terminal summary.
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:terminal", "suites")
    errors = result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and not result.stdout.str().strip()
    regressed = re.search(r"factcheck: regressions: (\d+)", errors)
    assert regressed and int(regressed.group(1)) >= 1, errors
    assert errors.count("factcheck:   ") == int(regressed.group(1)) and "country_capital[" in errors, errors


def test_a_regressed_fact_a_hook_reports_as_skipped_is_not_counted_as_not_checked(project):
    # The 45th pass: a quarantine hook rewriting a regressed fact's call to "skipped" failed the run rightly, but the
    # summary also counted that fact under "facts skipped, not checked", where the gate had judged it.
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    (project.path / "suites" / "conftest.py").write_text(QUARANTINE_CONFTEST.replace(
        "report.outcome = 'passed'", "report.outcome = 'skipped'\n        report.longrepr = (str(item.path), 1, 'Skipped: quarantined')"))
    result = run(project, "suites")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and re.search(r"regressions: [1-9]", output), output[-2000:]
    assert "facts skipped, not checked" not in output and "quarantined" not in output
    result.stdout.fnmatch_lines(["*facts checked, reported as skipped*",
                                 "*fact(s) ran and were checked, and the gate judged them, but a conftest or plugin reported them as skipped (*"])


def test_a_regression_fails_the_run_under_xdist_where_the_controller_ends_the_session_with_0(project):
    # The 48th pass: the 47th's quarantine that replaces the reports whole, with pytest.exit(0) in the controller's
    # sessionfinish: the controller judges nothing itself, and the replaced reports carried no verdicts.
    pytest.importorskip("xdist")
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    # The 49th pass: the exit in every process, the workers' too, so that they send no summary.
    for where in ("    if not hasattr(session.config, 'workerinput'):\n        ", "    "):
        (project.path / "conftest.py").write_text(
            REPLACING_QUARANTINE_CONFTEST + "@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n"
            + where + "pytest.exit('done', returncode=0)\n")
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "suites")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.TESTS_FAILED and "regression(s) (country_capital[" in output, output[-2000:]


def test_a_gated_run_some_of_whose_facts_the_cache_leaves_out_fails_and_is_incomplete(project):
    # The 51st pass: `--sw` skipped facts as "already passed" before a project test that failed last time (in a
    # shuffled order, or another model's run) and the gate passed with exit 0 on the facts left; `--lf --lfnf none`
    # after a passing run deselected every fact silently.
    report = project.path / "r.json"
    other = project.path / "more"
    write_suite(other, facts=CAPITALS[:3])
    (other / "country_capital.json").rename(project.path / "suites" / "more_capitals.json")
    run(project, "suites", "--factcheck-update-baseline")
    order = ["suites/country_capital.json", "test_smoke.py", "suites/more_capitals.json"]
    project.makepyfile(test_smoke="def test_smoke():\n    assert False\n")
    first = project.runpytest_inprocess("--sw", *order)
    first.stdout.fnmatch_lines(["FAILED test_smoke.py::test_smoke*"])
    project.makepyfile(test_smoke="def test_smoke():\n    assert True\n")
    result = project.runpytest_inprocess("--sw", *order, f"--factcheck-report={report}")
    output = result.stdout.str() + result.stderr.str()
    assert "skipping 10 already passed" in output and result.ret == pytest.ExitCode.TESTS_FAILED, output[-2000:]
    assert "left out 10 fact(s): the gate did not check them" in output
    assert json.loads(report.read_text()).get("incomplete"), "the report is marked incomplete"
    project.runpytest_inprocess(*order)  # a passing run: no last failure
    none = project.runpytest_inprocess("--lf", "--lfnf", "none", *order, f"--factcheck-report={report}")
    assert none.ret == pytest.ExitCode.TESTS_FAILED and "left out every fact" in none.stdout.str() + none.stderr.str()
    assert "run without --lf --lfnf none" in none.stdout.str() and "--cache-clear" not in none.stdout.str()  # (52nd pass)
    assert not report.exists()


def test_facts_a_selection_leaves_out_under_lf_are_not_blamed_on_the_cache(project):
    # The 49th pass: with --lf given, facts -k deselected were counted as left out by pytest's cache, and `-k nomatch`
    # failed the run telling to drop --lf.
    run(project, "suites", "--factcheck-update-baseline")
    result = project.runpytest_inprocess("--lf", "-k", "nomatch", "suites")
    output = result.stdout.str() + result.stderr.str()
    assert "left out every fact" not in output and result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, output[-2000:]
    partial = project.runpytest_inprocess("--lf", "-k", "France or Italy", "suites")
    assert "left out by --lf or --sw" not in partial.stdout.str()


@pytest.mark.parametrize("selection", [["-k", "not Italy"], ["--deselect", "suites/country_capital.json::country_capital[Italy]"]])
def test_a_stepwise_skip_of_project_tests_alone_leaves_the_facts_to_the_selection(project, selection):
    # The 52nd pass: `--sw` that skipped only a project test, beside -k or --deselect leaving facts out, counted those
    # facts as the cache's: a correct run failed, its report marked incomplete, a recording refused; `-k nomatch`
    # failed and removed the earlier report.
    report = project.path / "r.json"
    run(project, "suites", "--factcheck-update-baseline")
    project.makepyfile(test_a="def test_1():\n    assert True\ndef test_2():\n    assert False\n")
    project.runpytest_inprocess("--sw", "test_a.py", "suites").stdout.fnmatch_lines(["FAILED test_a.py::test_2*"])
    project.makepyfile(test_a="def test_1():\n    assert True\ndef test_2():\n    assert True\n")
    result = project.runpytest_inprocess("--sw", *selection, "test_a.py", "suites", f"--factcheck-report={report}")
    output = result.stdout.str() + result.stderr.str()
    assert "skipping 1 already passed" in output and result.ret == pytest.ExitCode.OK, output[-3000:]
    assert "pytest's cache of the last run) left out" not in output and not json.loads(report.read_text()).get("incomplete")
    nothing = project.runpytest_inprocess("--sw", "-k", "nomatch", "test_a.py", "suites", f"--factcheck-report={report}")
    assert nothing.ret == pytest.ExitCode.NO_TESTS_COLLECTED and report.is_file(), nothing.stdout.str()[-3000:]


@pytest.mark.parametrize("selection", [["-k", "test_smoke"], ["-m", "not factcheck"]])
def test_facts_stepwise_skips_that_the_selection_leaves_out_too_are_the_selections(project, selection):
    # The 56th pass: --sw deselects before -k and -m: `--sw -k test_smoke` after the smoke test (collected after the
    # facts) was fixed counted every fact as left out by the cache, and failed a correct run.
    run(project, "suites", "--factcheck-update-baseline")
    project.makepyfile(test_smoke="def test_smoke():\n    assert False\n")
    project.runpytest_inprocess("--sw", "suites", "test_smoke.py").stdout.fnmatch_lines(["FAILED test_smoke.py::test_smoke*"])
    project.makepyfile(test_smoke="def test_smoke():\n    assert True\n")
    result = project.runpytest_inprocess("--sw", *selection, "suites", "test_smoke.py")
    output = result.stdout.str() + result.stderr.str()
    assert f"skipping {len(CAPITALS)} already passed" in output and result.ret == pytest.ExitCode.OK, output[-3000:]
    assert "pytest's cache of the last run) left out" not in output


def test_facts_stepwise_skips_that_minus_m_xfail_asks_for_are_the_caches(project):
    # The 57th pass: the baseline's xfail marks were put on the facts --sw had left, after it: `--sw -m xfail` judged
    # the facts it skipped unmarked, counted none, and passed (1 passed, 10 deselected) having checked no fact.
    run(project, "suites", "--factcheck-update-baseline")
    said_wrong = sum(not fact["say_pass"] for fact in json.loads((project.path / "baselines" / "tiny.json").read_text())["facts"]["country_capital"].values())
    assert said_wrong, "the tiny model says some facts wrong"
    project.makepyfile(test_smoke="import pytest\n@pytest.mark.xfail(strict=True)\ndef test_smoke():\n    assert True\n")
    project.runpytest_inprocess("--sw", "suites", "test_smoke.py").stdout.fnmatch_lines(["FAILED test_smoke.py::test_smoke*"])
    project.makepyfile(test_smoke="import pytest\n@pytest.mark.xfail(strict=True)\ndef test_smoke():\n    assert False\n")
    result = project.runpytest_inprocess("--sw", "-m", "xfail", "suites", "test_smoke.py")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert f"left out every fact ({said_wrong})" in output or f"left out {said_wrong} fact(s)" in output, output[-3000:]


def test_lf_reruns_the_facts_that_failed_last_time_and_counts_each_fact_it_left_out(project):
    # The 52nd pass: under pytest 9.2 a fact's node id never matched the one pytest's cache stored (the whole
    # "name[subject]" taken for a name), so `--lf` never reran a failed fact; a suite file `--lf` skipped counted as one
    # "suite file or fact" whatever its number of facts.
    other = project.path / "more"
    write_suite(other, facts=CAPITALS[:3])
    (other / "country_capital.json").rename(project.path / "suites" / "more_capitals.json")
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(project.path / "baselines" / "tiny.json", [s for s, _ in CAPITALS[:5]])
    first = project.runpytest_inprocess("suites")
    regressed = first.parseoutcomes()["failed"]
    assert first.ret == pytest.ExitCode.TESTS_FAILED and regressed
    report = project.path / "r.json"
    again = project.runpytest_inprocess("--lf", "suites", f"--factcheck-report={report}")
    output = again.stdout.str() + again.stderr.str()
    assert f"rerun previous {regressed} failure" in output and f"regressions: {regressed}" in output, output[-3000:]
    assert again.parseoutcomes()["failed"] == regressed and again.ret == pytest.ExitCode.TESTS_FAILED
    left_out = len(CAPITALS) - regressed + 3  # the other facts of the first file, and every fact of the skipped one
    assert f"{left_out} x facts left out by --lf or --sw" in output
    assert json.loads(report.read_text())["incomplete"] == f"--lf or --sw (pytest's cache of the last run) left out {left_out} fact(s)"
    listed = project.runpytest_inprocess("--lf", "--co", "suites").stdout.str()  # (55th pass: no fact is checked in any case)
    assert "facts left out by --lf or --sw" not in listed and "rerun previous" in listed
    # The 54th pass: the facts --lf drops at collection were counted before -k had its say: `--lf -k SUBJECT` on a
    # folder failed a correct run ("left out 9 fact(s)"), where the same selection on the file named passed.
    subject = re.search(r"FAILED suites/country_capital\.json::country_capital\[(\w+)\]", first.stdout.str()).group(1)
    (project.path / "suites" / "more_capitals.json").unlink()  # (its facts of the same subjects would match -k too)
    run(project, "suites", "--factcheck-update-baseline")  # (without the cache: its last failures are kept)
    selected = project.runpytest_inprocess("--lf", "-k", subject, "suites", f"--factcheck-report={report}")
    output = selected.stdout.str() + selected.stderr.str()
    assert selected.ret == pytest.ExitCode.OK and "rerun previous" in output, output[-3000:]
    assert "pytest's cache of the last run) left out" not in output and not json.loads(report.read_text()).get("incomplete")


def test_a_gated_run_whose_only_suite_the_cache_left_out_unread_fails(project):
    # The 55th pass: after a run whose only failure was a project test, the suite became unreadable (a git-annex link
    # not fetched); `--lf` left it out, blamed "the selection", and the gated run exited 0 having checked no fact; a
    # recording run in which every fact was skipped said "baseline NOT updated" and exited 0.
    run(project, "suites", "--factcheck-update-baseline")
    project.makepyfile(test_smoke="def test_smoke():\n    assert False\n")
    project.runpytest_inprocess("suites", "test_smoke.py").stdout.fnmatch_lines(["FAILED test_smoke.py::test_smoke*"])
    project.makepyfile(test_smoke="def test_smoke():\n    assert True\n")
    (project.path / "suites" / "country_capital.json").write_text('{"relation": ')
    result = project.runpytest_inprocess("--lf", "suites", "test_smoke.py")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "suites/country_capital.json cannot be read, and pytest's cache of the last run (--lf or --sw) left it out" in output
    # The 56th pass: the user's own selection of project tests, or a listing, is not failed for it.
    for listing in ([], ["--co"]):
        own = run(project, "-k", "test_smoke", *listing, "suites", "test_smoke.py")
        assert own.ret == pytest.ExitCode.OK and "the selection left it out" in own.stdout.str(), own.stdout.str()[-2000:]
    write_suite(project.path / "suites", facts=CAPITALS)
    project.makeconftest("import pytest\ndef pytest_runtest_setup(item):\n    pytest.skip('quarantined')\n")
    skipped = run(project, "suites", "--factcheck-update-baseline")
    assert skipped.ret == pytest.ExitCode.TESTS_FAILED and "baseline NOT updated: no fact was checked" in skipped.stdout.str()
    quiet = project.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:terminal", "suites", "--factcheck-update-baseline")
    assert quiet.ret == pytest.ExitCode.TESTS_FAILED and "baseline NOT updated: no fact was checked" in quiet.stderr.str()
    # The 57th pass: the other reasons a recording fails were said in the terminal summary alone.
    project.makeconftest("")
    (project.path / "suites" / "broken.json").write_text('{"relation": ')
    incomplete = project.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:terminal", "-k", "France", "suites",
                                             "--factcheck-update-baseline")
    assert incomplete.ret == pytest.ExitCode.TESTS_FAILED, incomplete.stderr.str()[-2000:]
    assert incomplete.stderr.str().count("baseline NOT updated: the run is incomplete") == 1, incomplete.stderr.str()[-2000:]


def test_a_fact_whose_expected_object_changed_since_the_baseline_is_written_to_the_report(project):
    # The 50th pass: a suite edit of one fact's object made the JSON report impossible to write ("changed" was no gate
    # value its schema allowed): the report was lost and a run of passing facts failed.
    report = project.path / "r.json"
    run(project, "suites", "--factcheck-update-baseline")
    write_suite(project.path / "suites", facts=[("France", "Lutetia"), *CAPITALS[1:]])
    result = run(project, "suites", f"--factcheck-report={report}")
    # (Another object in the demonstrations may change what the random tiny model says of other facts.)
    assert "factcheck: report written to" in result.stdout.str() and "ReportError" not in result.stdout.str(), result.stdout.str()[-2000:]
    gates = {fact["subject"]: fact.get("gate") for fact in json.loads(report.read_text())["facts"]}
    assert gates["France"] == "changed" and gates["Italy"] != "changed"


def test_recording_names_the_facts_it_turns_from_said_right_to_said_wrong(project, monkeypatch):
    # The 48th pass: --factcheck-update-baseline leaked into a gate job (PYTEST_ADDOPTS) recorded the regressions as
    # the new baseline with exit 0 and no word; the next gated run passed.
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    monkeypatch.setenv("PYTEST_ADDOPTS", "--factcheck-update-baseline")
    result = run(project, "suites")
    assert result.ret == pytest.ExitCode.OK
    assert re.search(r"factcheck: 5 fact\(s\) the baseline held as said right are recorded as said wrong now \((country_capital\[\w+\], ){2}"
                     r"country_capital\[\w+\] \.\.\.\): a gate on this baseline will not see them regress \(--factcheck-update-baseline "
                     r"came from PYTEST_ADDOPTS", result.stdout.str()), result.stdout.str()[-2000:]
    monkeypatch.delenv("PYTEST_ADDOPTS")
    again = run(project, "suites", "--factcheck-update-baseline")  # the same verdicts again: nothing turned
    assert "recorded as said wrong now" not in again.stdout.str()


def test_a_gated_run_from_pytest_main_while_its_caller_handles_an_exit_returns_its_status(project):
    # The 47th pass: pytest.main() called inside `except SystemExit:` (a wrapper catching a CLI's sys.exit(0)) raised
    # SystemExit(1) out of pytest.main for an ordinary failing run, and stderr blamed a conftest: the handled exit
    # was taken for one leaving the session.
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    project.makepyfile(driver="import sys, pytest\ntry:\n    sys.exit(0)\nexcept SystemExit:\n"
                              "    code = pytest.main(['-p', 'no:cacheprovider', '-q', 'suites'])\nprint('returned', int(code))\n")
    result = project.runpython(project.path / "driver.py")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 0 and "returned 1" in output and "set the run's exit status to 0" not in output, output[-2000:]


def test_a_fact_a_conftest_xfails_before_it_runs_is_counted_as_not_checked(project):
    # The 47th pass: pytest.xfail() in a conftest's pytest_runtest_call, before the fact ran, read as the baseline's
    # own expected failure; only pytest.skip() there was counted.
    run(project, "suites", "--factcheck-update-baseline")
    (project.path / "suites" / "conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n"
        "    if 'Peru' in item.nodeid:\n        pytest.xfail('known flaky, quarantined')\n")
    result = run(project, "suites")
    result.stdout.fnmatch_lines(["*facts skipped, not checked*", "*1 x xfail, not run: known flaky, quarantined*"])


def test_blocking_a_part_of_factcheck_is_a_usage_error(project):
    # The 47th pass: -p no:factcheck-run turned the gate off silently (exit 5, "no tests ran").
    run(project, "suites", "--factcheck-update-baseline")
    for name in ("factcheck-run", "factcheck-items-as-collected"):
        result = run(project, "-p", f"no:{name}", "suites")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"-p no:{name} turns off a part of factcheck's" in result.stderr.str() + result.stdout.str()


def test_a_baseline_that_is_a_git_lfs_pointer_says_to_fetch_it_not_to_record_it(project):
    # The 47th pass: a checkout without `git lfs pull` was told its baseline was damaged JSON, to be recorded again
    # (which would accept every regression of the run).
    (project.path / "baselines").mkdir()
    (project.path / "baselines" / "tiny.json").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 5120\n")
    for options in ([], ["--factcheck-update-baseline"]):  # the 49th pass: recording said to move it away
        result = run(project, "suites", *options)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "is a Git LFS pointer, not its content" in output and "git lfs pull" in output
        assert "re-record" not in output and "damaged" not in output and "move it away" not in output, output[-2000:]
    # git-lfs's first pointers named another spec
    (project.path / "baselines" / "tiny.json").write_text("version https://hawser.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 5\n")
    assert "is a Git LFS pointer" in run(project, "suites").stdout.str() + run(project, "suites").stderr.str()


@pytest.mark.parametrize("option", ["--lf", "--sw", "--lf -m not_slow", "--sw -k Fr"])
def test_a_gated_run_whose_every_fact_the_last_runs_cache_leaves_out_fails(project, option):
    # The 48th pass: after a run whose only failure was a project test, `--lf` skipped the suite files and `--sw`
    # deselected the facts as "already passed": a regression passed with exit 0, an earlier report left in place.
    report = project.path / "r.json"
    run(project, "suites", "--factcheck-update-baseline")
    project.makepyfile(test_smoke="def test_smoke():\n    assert False\n")
    option = option.replace("not_slow", "not slow").split(" ", 1)
    option = [option[0], *(["-m" if option[1].startswith("-m") else "-k", option[1].split(" ", 1)[1]] if len(option) > 1 else [])]
    # The 50th pass: with -m, -k or --deselect beside them, the 49th's attribution switched the rule off again.
    cached = project.runpytest_inprocess("suites", "test_smoke.py", *(option[:1] if option[0] == "--sw" else []))
    assert cached.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED)  # --sw stops at the failure
    cached.stdout.fnmatch_lines(["FAILED test_smoke.py::test_smoke*"])  # its only one: the facts passed
    mark_said_right(project.path / "baselines" / "tiny.json", [s for s, _ in CAPITALS[:5]])
    run(project, "suites", f"--factcheck-report={report}")
    assert report.is_file()
    project.makepyfile(test_smoke="def test_smoke():\n    assert True\n")
    result = project.runpytest_inprocess(*option, "suites", "test_smoke.py", f"--factcheck-report={report}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "left out every fact" in output, output[-3000:]
    assert not report.exists() and "an earlier run's report" in output


@pytest.mark.parametrize("options", [["-o", "factcheck_suites=nope/*.json"], ["--rootdir=suites"]])
def test_a_gated_run_whose_settings_collect_no_suite_fails_and_leaves_no_earlier_report(project, options):
    # The 44th pass: `--rootdir=suites` (from PYTEST_ADDOPTS) or a factcheck_suites pattern naming no file collected no
    # suite in a gated project: "1 passed", exit 0, an earlier run's report left at --factcheck-report, one yellow line.
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    report = project.path / "r.json"
    run(project, "suites", "--factcheck-update-baseline")
    run(project, "suites", f"--factcheck-report={report}")
    assert report.is_file()
    result = run(project, *options, f"--factcheck-report={report}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "the gate checked no fact" in output, output[-2000:]
    assert not report.exists() and "an earlier run's report" in output
    # A run of the project's Python tests alone collects no suite, and passes over only its own test data (outside a
    # folder named 'suites', as this project's tests/data/bad_suites): it leaves the report.
    run(project, "suites", f"--factcheck-report={report}")
    (project.path / "data").mkdir()
    shutil.copy(project.path / "suites" / "country_capital.json", project.path / "data" / "a_suite_as_test_data.json")
    plain = run(project, "test_plain.py", "data", f"--factcheck-report={report}", *options[:2] if "-o" in options else [])
    assert plain.ret == pytest.ExitCode.OK and report.is_file(), plain.stdout.str()[-2000:]


def test_swapped_model_fails_and_names_each_regression(project, other_model_folder):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    mark_said_right(path, [s for s, _ in CAPITALS[:5]])
    baseline = load_baseline(path)
    right_before = {s for s, f in baseline.facts["country_capital"].items() if f.say_pass}
    report = project.path / "candidate.json"
    result = run(project, "suites", f"--factcheck-model={other_model_folder}", f"--factcheck-report={report}")
    now = {f["subject"]: f["say_pass"] for f in json.loads(report.read_text())["facts"]}
    regressed = {s for s in right_before if not now[s]}
    fixed = {s for s, f in baseline.facts["country_capital"].items() if not f.say_pass and now[s]}
    assert regressed
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == len(regressed) + len(fixed)  # fixes are strict XPASS
    assert outcomes.get("passed", 0) == len(right_before) - len(regressed)
    result.stdout.fnmatch_lines(["*WARNING: the baseline was recorded for another model*", f"regressions: {len(regressed)}"])
    # With the know-check on, each regression is split by what the LRE still decodes.
    report_facts = {f["subject"]: f for f in json.loads(report.read_text())["facts"]}
    for subject in regressed:
        # Training facts carry no know-verdict, so their regressions stay unsplit.
        fact = report_facts[subject]
        kind = {None: "regressed", True: "suppressed", False: "forgotten"}[fact["know_pass"]]
        result.stdout.re_match_lines([rf"\s+{kind}\s+country_capital\[{subject}\]"])
        if fact["lre_trusted"] is False and not fact["training"]:
            # An untrusted LRE (a random tiny model's) shows what it decodes but never splits a regression;
            # the note says why (an undecided first token, when the fact has one, is named first).
            assert kind == "regressed"
            reason = "know-check undecided" if fact["know_undecided"] else "LRE is untrusted"
            result.stdout.re_match_lines([rf"\s+regressed\s+country_capital\[{subject}\].*{reason}"])
    result.stdout.re_match_lines([r".*REGRESSION \((suppressed|forgotten|regressed)\): said right in the baseline, not now.*"])


def test_changed_object_is_not_compared_with_the_baseline(project):
    run(project, "suites", "--factcheck-update-baseline")
    changed = [("France", "Lyon"), *CAPITALS[1:]]
    write_suite(project.path / "suites", facts=changed)
    result = run(project, "suites")
    result.stdout.fnmatch_lines(["*suite*country_capital*changed*", "changed: 1", "*country_capital[[]France[]]*"])


def test_minimum_accuracy_fails_the_session(project):
    write_suite(project.path / "suites", settings={"min_accuracy": 1.0})
    run(project, "suites", "--factcheck-update-baseline")
    result = run(project, "suites")
    baseline = load_baseline(project.path / "baselines" / "tiny.json")
    if all(f.say_pass for f in baseline.facts["country_capital"].values()):
        pytest.skip("the tiny model happens to say every fact")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*minimum accuracy missed*", "country_capital: said right *%, below its minimum 100%"])


def test_broken_baseline_is_a_clear_error_and_stays_untouched(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    truncated = path.read_bytes()[:50]
    path.write_bytes(truncated)
    result = run(project, "suites")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "tiny.json" in result.stdout.str() + result.stderr.str()
    assert path.read_bytes() == truncated


def test_a_baseline_that_cannot_be_read_is_never_replaced_by_an_update(project):
    """One bad value in a baseline holding other relations' facts: updating must refuse, not start a new file."""
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    document = json.loads(path.read_text(encoding="utf-8"))
    relation = next(iter(document["facts"]))
    subject = next(iter(document["facts"][relation]))
    document["facts"][relation][subject]["margin"] = "oops"
    path.write_text(json.dumps(document), encoding="utf-8")
    before = path.read_bytes()
    result = run(project, "suites", "--factcheck-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    output = result.stdout.str() + result.stderr.str()
    assert "margin" in output and "it is not updated" in output
    assert path.read_bytes() == before
    assert "passed" not in result.stdout.str()


def test_an_interrupted_run_updates_no_baseline_and_marks_its_report(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    before = path.read_bytes()
    # Ctrl-C once the facts have run (a test after them raises KeyboardInterrupt, as pytest does on SIGINT).
    (project.path / "test_stop.py").write_text("def test_stop():\n    raise KeyboardInterrupt\n", encoding="utf-8")
    report = project.path / "report.json"
    # In a subprocess: pytester's in-process runs hand a KeyboardInterrupt on to the outer pytest.
    page = project.path / "report.html"
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "test_stop.py", "--factcheck-update-baseline",
                                          f"--factcheck-report={report}", f"--factcheck-html={page}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.stdout.str()
    assert "baseline NOT updated: the run is incomplete (the run was interrupted)" in output
    assert path.read_bytes() == before
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["incomplete"] == "the run was interrupted" and document["facts"]
    assert "Incomplete run: the run was interrupted" in page.read_text(encoding="utf-8")
    assert f"HTML report written to {page} (marked incomplete: the run was interrupted)" in output
    # A complete run's report has no such key.
    run(project, "suites", f"--factcheck-report={report}")
    assert "incomplete" not in json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_run_stopped_by_sigterm_or_sighup_updates_no_baseline_and_marks_its_report(project, name):
    # A CI job's timeout or cancel sends SIGTERM, a closed terminal SIGHUP: the run stops as on Ctrl-C, and an earlier
    # report is not left behind.
    path = project.path / "baselines" / "tiny.json"
    report = project.path / "report.json"
    run(project, "suites", "--factcheck-update-baseline", f"--factcheck-report={report}")
    before = path.read_bytes()
    (project.path / "test_stop.py").write_text(f"import os, signal\n\ndef test_stop():\n    os.kill(os.getpid(), signal.{name})\n",
                                               encoding="utf-8")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "test_stop.py", "--factcheck-update-baseline",
                                          f"--factcheck-report={report}", "--factcheck-shots=1")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert f"baseline NOT updated: the run is incomplete (the run was stopped by {name})" in result.stdout.str()
    assert path.read_bytes() == before
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["incomplete"] == f"the run was stopped by {name}" and document["facts"]



def test_sigterm_while_the_outputs_are_written_lets_them_finish_and_a_forked_child_dies_of_it(project):
    report = project.path / "report.json"
    # A conftest that sends SIGTERM as the session finishes (a CI timeout at the end of the run), and a test whose
    # forked child is terminated as a test would do it: the child must die of SIGTERM, not raise in the test process.
    project.makeconftest("import os, signal\n\ndef pytest_sessionfinish(session):\n    os.kill(os.getpid(), signal.SIGTERM)\n")
    (project.path / "test_fork.py").write_text(
        "import os, signal, time\n\n"
        "def test_fork():\n"
        "    ready, started = os.pipe()\n"
        "    child = os.fork()\n"
        "    if child == 0:\n"
        "        os.write(started, b'1')\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    os.read(ready, 1)\n"
        "    os.kill(child, signal.SIGTERM)\n"
        "    _, status = os.waitpid(child, 0)\n"
        "    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM\n", encoding="utf-8")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "test_fork.py", "--factcheck-update-baseline",
                                          f"--factcheck-report={report}")
    output = result.stdout.str()
    assert "KeyboardInterrupt" not in output and "Traceback" not in output, output[-3000:]
    assert "test_fork.py ." in output  # the child died of SIGTERM, as without factcheck
    assert "incomplete" not in json.loads(report.read_text(encoding="utf-8"))
    assert (project.path / "baselines" / "tiny.json").is_file()


def test_ctrl_c_after_the_last_fact_lets_the_outputs_finish_and_a_second_one_leaves_no_earlier_report(project):
    report, page = project.path / "report.json", project.path / "report.html"
    baseline = project.path / "baselines" / "tiny.json"
    outputs = ("suites", "--factcheck-update-baseline", f"--factcheck-report={report}", f"--factcheck-html={page}")
    # A first Ctrl-C as the session finishes (a CI cancel sends SIGINT first): pytest would raise it inside the
    # finish, a traceback that left an earlier run's reports as this run's. The outputs are finished whole instead.
    project.makeconftest("import os, signal, pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n"
                         "    os.kill(os.getpid(), signal.SIGINT)\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *outputs)
    output = result.stdout.str()
    assert "KeyboardInterrupt" not in output and "Traceback" not in output, output[-3000:]
    assert "Ctrl-C came after the last fact: the outputs above were finished whole" in output
    assert "incomplete" not in json.loads(report.read_text(encoding="utf-8")) and baseline.is_file() and page.is_file()
    recorded = baseline.read_bytes()
    # A second Ctrl-C while the reports are made (here: as the JSON report is written): the earlier run's reports
    # are removed rather than left to pass for this run's, and the baseline stays as it was.
    project.makeconftest("import factcheck.reports.report as report\n\n"
                         "def stopped(*args, **kwargs):\n    raise KeyboardInterrupt\n\n"
                         "report.write_report = stopped\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *outputs, "--factcheck-shots=1")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED and "Traceback" not in output, output[-3000:]
    assert f"report not written (the run was stopped while its outputs were written): removed {report}, an earlier run's report" in output
    assert f"removed {page}, an earlier run's report" in output and "came after the last fact" not in output
    assert not report.exists() and not page.exists()
    assert "baseline NOT updated: the run was stopped while its outputs were written" in output
    assert baseline.read_bytes() == recorded


def test_a_report_that_cannot_be_written_leaves_no_earlier_report_behind(project, monkeypatch):
    import factcheck.reports.report as report_module

    report = project.path / "report.json"
    run(project, "suites", f"--factcheck-report={report}", "--factcheck-update-baseline")
    assert report.is_file()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # A full disk at the end of the run: the earlier run's complete report would be read by a later CI step as this one's.
    monkeypatch.setattr(report_module, "write_report", full_disk)
    result = run(project, "suites", f"--factcheck-report={report}")
    output = result.stdout.str()
    assert f"report NOT written to {report}: OSError" in output
    assert f"report not written (OSError): removed {report}, an earlier run's report" in output
    assert not report.exists() and result.ret == pytest.ExitCode.TESTS_FAILED


def test_recording_a_selection_without_the_know_check_over_entries_that_have_it_is_refused(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    before = path.read_bytes()
    # --factcheck-lre off records no know-verdicts: stamped on some facts of a relation recorded with them, it
    # would silently take those facts out of a later --factcheck-require knows gate.
    result = run(project, "suites", "-k", "France", "--factcheck-lre=off", "--factcheck-update-baseline")
    output = result.stdout.str()
    assert "baseline NOT updated" in output and "know_check on -> off" in output, output[-2000:]
    assert result.ret == pytest.ExitCode.TESTS_FAILED and path.read_bytes() == before
    # A whole run records it so, says what that means, and the next run with the know-check names the change.
    again = run(project, "suites", "--factcheck-lre=off", "--factcheck-update-baseline")
    assert "they hold no know-verdicts, so --factcheck-require knows cannot gate them" in again.stdout.str()
    [settings] = [suite["settings"] for suite in json.loads(path.read_bytes())["suites"].values()]
    assert settings["know_check"] == "off"
    gated = run(project, "suites")
    assert "know_check off -> on" in gated.stdout.str(), gated.stdout.str()[-2000:]


def test_under_xdist_the_summary_compares_with_the_baseline_the_workers_gated_on(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    # Another job records a baseline in which every fact was said right, as this run's facts finish: read again at the
    # end, the summary named regressions while the run passed.
    swapped = json.loads(path.read_text(encoding="utf-8"))
    for facts in swapped["facts"].values():
        for fact in facts.values():
            fact["say_pass"] = fact["generation_pass"] = fact["ranking_pass"] = True
    (project.path / "swapped.json").write_text(json.dumps(swapped), encoding="utf-8")
    project.makeconftest("import os, shutil\n\ndef pytest_sessionfinish(session):\n"
                         "    if not hasattr(session.config, 'workerinput'):\n"
                         "        shutil.copy('swapped.json', 'baselines/tiny.json')\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "-n", "2")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, output[-3000:]
    assert "regressions: 0" in output and "REGRESSION" not in output, output[-3000:]


def test_a_selection_recorded_into_a_new_baseline_names_the_facts_it_leaves_out(project):
    result = run(project, "suites", "-k", "France or Italy", "--factcheck-update-baseline")
    output = result.stdout.str()
    assert "baseline of 2 facts written" in output, output[-2000:]
    assert (f"the baseline holds no entry for {len(CAPITALS) - 2} fact(s) of the suites this run selected from "
            "(country_capital[Japan]") in output and "record every fact" in output
    # Recorded whole, nothing is left out.
    again = run(project, "suites", "--factcheck-update-baseline")
    assert "holds no entry" not in again.stdout.str()


def test_updating_from_a_selection_keeps_every_unselected_facts_entry(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    full = json.loads(path.read_text(encoding="utf-8"))["facts"]
    [relation] = full
    subjects = sorted(full[relation])
    chosen = subjects[-1]
    # The chosen fact's entry is re-recorded (made visibly different first); every other entry is kept as it was.
    edited = json.loads(path.read_text(encoding="utf-8"))
    edited["facts"][relation][chosen]["margin"] = 123.0
    path.write_text(json.dumps(edited), encoding="utf-8")
    result = run(project, "suites", "-k", chosen, "--factcheck-update-baseline")
    assert "kept as recorded before" in result.stdout.str(), result.stdout.str()[-2000:]
    after = json.loads(path.read_text(encoding="utf-8"))["facts"][relation]
    assert sorted(after) == subjects
    assert after[chosen]["margin"] != 123.0
    assert {s: after[s] for s in subjects if s != chosen} == {s: full[relation][s] for s in subjects if s != chosen}


def test_a_selection_after_a_suite_edit_does_not_mix_the_suites_versions(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    before = path.read_bytes()
    # The template changes: every recorded verdict was taken under the old one.
    suite = project.path / "suites" / "country_capital.json"
    document = json.loads(suite.read_text(encoding="utf-8"))
    document["templates"] = ["{subject}'s capital is the city of"]
    suite.write_text(json.dumps(document), encoding="utf-8")
    result = run(project, "suites", "-k", "France", "--factcheck-update-baseline")
    output = result.stdout.str()
    assert "baseline NOT updated" in output and "changed since its facts were recorded" in output, output[-2000:]
    assert f"this run did not check {len(CAPITALS) - 1} of its facts" in output
    assert "run every fact of country_capital" in output and result.ret == pytest.ExitCode.TESTS_FAILED
    assert path.read_bytes() == before
    # The whole suite re-records it, under the new hash.
    again = run(project, "suites", "--factcheck-update-baseline")
    assert again.ret == pytest.ExitCode.OK, again.stdout.str()[-2000:]
    assert json.loads(path.read_bytes())["suites"] != json.loads(before)["suites"]


def test_a_selection_on_another_model_never_drops_the_baselines_other_facts(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    before = path.read_bytes()
    [relation] = json.loads(before)["facts"]
    # bfloat16 weights: another fingerprint, so the file would be replaced whole by the one selected fact.
    result = run(project, "suites", "-k", "France", "--factcheck-dtype=bfloat16", "--factcheck-update-baseline")
    output = result.stdout.str()
    assert "baseline NOT updated" in output and "that this run did not check" in output, output[-2000:]
    assert "run every suite with no selection" in output and result.ret == pytest.ExitCode.TESTS_FAILED
    assert path.read_bytes() == before
    # Every fact checked: the baseline is re-recorded for the new model.
    again = run(project, "suites", "--factcheck-dtype=bfloat16", "--factcheck-update-baseline")
    assert "baseline of" in again.stdout.str() and path.read_bytes() != before
    assert len(json.loads(path.read_bytes())["facts"][relation]) == len(CAPITALS)


def test_a_baseline_that_cannot_be_written_fails_the_run_with_a_message(project, monkeypatch):
    import factcheck.gate.release_gate as release_gate

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(release_gate, "write_baseline", full_disk)
    result = run(project, "suites", "--factcheck-update-baseline")
    assert ("baselines/tiny.json could not be written (No space left on device); it is unchanged: free space on its "
            "disk" in result.stdout.str())
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # recording fails no fact: only the baseline can fail it
    assert not (project.path / "baselines" / "tiny.json").exists()


def test_a_projects_own_xfail_mark_never_hides_a_regression(pytester, tiny_llama_folder):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 3\nfactcheck_lre = off\n")
    suite = pytester.path / "suites" / "country_capital.json"
    suite.parent.mkdir()
    suite.write_text(json.dumps({"relation": "country capital", "templates": ["The capital city of {subject} is"],
                                  "facts": [{"subject": "France", "object": "Paris"}, {"subject": "Italy", "object": "Rome"}]}))
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-update-baseline", "--factcheck-baseline=b.json")
    baseline = json.loads((pytester.path / "b.json").read_text())
    for facts in baseline["facts"].values():  # as if the baseline model had said every fact right
        for fact in facts.values():
            fact["say_pass"] = fact["generation_pass"] = fact["ranking_pass"] = True
    (pytester.path / "b.json").write_text(json.dumps(baseline))
    pytester.makeconftest("import pytest\n\n\ndef pytest_collection_modifyitems(items):\n    for item in items:\n"
                          "        item.add_marker(pytest.mark.xfail(reason='known flaky'))\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-baseline=b.json")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 2 and not outcomes.get("xfailed"), result.stdout.str()[-3000:]
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "REGRESSION" in result.stdout.str()


def test_the_baseline_keeps_the_prompt_settings_and_the_gate_names_a_run_with_others(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    [(relation, info)] = json.loads(path.read_text(encoding="utf-8"))["suites"].items()
    assert info["settings"] == {"shots": 2, "prompt": "text", "max_new_tokens": 2}  # from the ini file
    result = run(project, "suites", "--factcheck-shots=3")
    assert f"suite {relation} ran with other settings than the baseline's (shots 2 -> 3)" in result.stdout.str()
    assert "ran with other settings" not in run(project, "suites").stdout.str()
    # Recording a selection under other settings would mix them in one relation: refused, the file kept.
    before = path.read_bytes()
    refused = run(project, "suites", "-k", "France", "--factcheck-shots=3", "--factcheck-update-baseline")
    out = refused.stdout.str()
    assert "baseline NOT updated" in out and "runs with other settings than its facts were recorded with (shots 2 -> 3)" in out
    assert path.read_bytes() == before


def test_a_suite_that_cannot_be_read_marks_the_run_incomplete_and_records_nothing(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    before = path.read_bytes()
    (project.path / "suites" / "broken.json").write_text('{"relation": "x", "templates": ["{subject} is"], "facts": 5}',
                                                         encoding="utf-8")
    report = project.path / "r.json"
    result = run(project, "suites", "--factcheck-update-baseline", f"--factcheck-report={report}")
    out = result.stdout.str()
    assert "baseline NOT updated: the run is incomplete (1 suite(s) could not be read:" in out and "broken.json" in out
    assert path.read_bytes() == before
    assert "1 suite(s) could not be read" in json.loads(report.read_text(encoding="utf-8"))["incomplete"]


def test_a_know_requirement_needs_the_know_check(project):
    result = run(project, "suites", "--factcheck-require=knows", "--factcheck-lre=off")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "factcheck_require 'knows' judges facts by their know-check" in result.stderr.str()


def test_a_fact_failing_by_its_know_verdict_in_the_baseline_is_not_fixed_by_having_none_now(project):
    path, report = project.path / "baselines" / "tiny.json", project.path / "r.json"
    run(project, "suites", f"--factcheck-report={report}", "--factcheck-baseline=none.json", "--factcheck-update-baseline")
    facts = {entry["subject"]: entry for entry in json.loads(report.read_text(encoding="utf-8"))["facts"]}
    # A fact said right by ranking: its top-ranked candidate (another fact's object) given as its alias.
    subject = next(s for s, e in facts.items() if not e["training"])
    suite_path = project.path / "suites" / "country_capital.json"
    suite = json.loads(suite_path.read_text(encoding="utf-8"))
    fact = next(f for f in suite["facts"] if f["subject"] == subject)
    fact["aliases"] = [facts[subject]["top_candidates"][0]["text"]]
    suite_path.write_text(json.dumps(suite), encoding="utf-8")
    run(project, "suites", "--factcheck-update-baseline", f"--factcheck-report={report}")
    entry = next(e for e in json.loads(report.read_text(encoding="utf-8"))["facts"] if e["subject"] == subject)
    assert entry["say_pass"] and entry["know_pass"] is None  # the tiny model's LRE is untrusted: no know-verdict
    # The baseline had a know-verdict that failed the fact under `knows`; this run has none to judge it by.
    baseline = json.loads(path.read_text(encoding="utf-8"))
    [relation] = baseline["facts"]
    baseline["facts"][relation][subject].update(know_pass=False, verdict="unfaithful")
    path.write_text(json.dumps(baseline), encoding="utf-8")
    result = run(project, "suites", "-k", subject, "--factcheck-require=knows")
    result.assert_outcomes(xfailed=1)
    assert "1 fact(s) failing under --factcheck-require knows in the baseline have no know-verdict now" in result.stdout.str()
    # The 60th pass: a fact the baseline held as known passed by what it says alone, with no word (a candidate model
    # whose LRE is untrusted passed a `knows` gate having judged no knowledge).
    baseline["facts"][relation][subject].update(know_pass=True, verdict="known")
    path.write_text(json.dumps(baseline), encoding="utf-8")
    result = run(project, "suites", "-k", subject, "--factcheck-require=knows")
    result.assert_outcomes(passed=1)
    assert (f"WARNING: 1 fact(s) the baseline judged by a know-verdict under --factcheck-require knows have none now (no "
            f"LRE, undecided or untrusted): they passed by what they say alone, and a loss of their knowledge is not seen "
            f"(country_capital[{subject}])") in result.stdout.str()


def test_a_suite_moved_or_removed_is_dropped_from_the_baseline_when_every_suite_is_recorded(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    (project.path / "suites" / "world").mkdir()
    (project.path / "suites" / "country_capital.json").rename(project.path / "suites" / "world" / "country_capital.json")
    # Gated before it is recorded again (the 38th pass): its facts are new, and the line says why.
    output = run(project, "suites").stdout.str()
    assert ("the suite of country_capital ran, unchanged, as world/country_capital (moved or renamed): its facts count "
            "as new, compared with nothing; record the baseline again (--factcheck-update-baseline)") in output, output[-2000:]
    result = run(project, "suites", "--factcheck-update-baseline", "--factcheck-report=r.json")
    assert "dropped from the baseline, their suite file gone" in result.stdout.str() and "country_capital" in result.stdout.str()
    assert list(json.loads(path.read_text(encoding="utf-8"))["facts"]) == ["world/country_capital"]
    # The baseline and the run that recorded it agree: nothing is missing.
    from factcheck.cli import main
    assert main(["diff", str(path), str(project.path / "r.json")]) == 0
    # The 37th pass: a suite that is a link leading nowhere for now (git-annex or DVC content not fetched), or in a
    # folder that is, may come back: its entries are kept.
    write_suite(project.path / "suites" / "other")
    run(project, "suites", "--factcheck-update-baseline")
    (project.path / "suites" / "other" / "country_capital.json").rename(project.path / "stored.json")
    (project.path / "suites" / "other" / "country_capital.json").symlink_to(project.path / "annex" / "absent.json")
    result = run(project, "suites", "--factcheck-update-baseline")
    assert "dropped from the baseline" not in result.stdout.str(), result.stdout.str()[-2000:]
    assert set(json.loads(path.read_text(encoding="utf-8"))["facts"]) == {"world/country_capital", "other/country_capital"}
    # ... and when gating it is a suite that cannot be read, naming the link (pytest passed over it without a word,
    # and the run passed checking fewer facts); so is a folder link leading nowhere (the run passed, the 39th pass),
    # also named after collection.
    result = run(project, "suites")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "country_capital[invalid suite]" in output, output[-2000:]
    assert f"is a link to {project.path / 'annex' / 'absent.json'}, which is not there: fetch its content" in output
    (project.path / "suites" / "other" / "country_capital.json").unlink()
    (project.path / "suites" / "other").rmdir()
    (project.path / "suites" / "other").symlink_to(project.path / "annex" / "folder")
    result = run(project, "suites")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "other[invalid suite]" in output, output[-2000:]
    assert f"is a link to {project.path / 'annex' / 'folder'}, which is not there: fetch its content" in output
    assert ("1 folder link(s) where suites are collected lead nowhere (git-annex or DVC content not fetched, a share not "
            "mounted), so their suites were not collected: suites/other") in output, output[-2000:]


def test_recording_one_suite_under_another_root_folder_keeps_the_other_suites(project, other_model_folder):
    # pytest's root folder depends on where it runs and on --rootdir: a suite recorded from the project folder is
    # still there when one suite is re-recorded with the root at the suites' folder.
    path = project.path / "baselines" / "tiny.json"
    write_suite(project.path / "suites" / "other")
    run(project, "suites", "--factcheck-update-baseline")
    result = run(project, "suites/country_capital.json", "--rootdir=suites", "--factcheck-update-baseline")
    assert "dropped from the baseline" not in result.stdout.str()
    assert set(json.loads(path.read_text(encoding="utf-8"))["facts"]) == {"country_capital", "other/country_capital"}
    # Recording another model from there is refused as from the project folder: the other suite's facts would be lost.
    result = run(project, "suites/country_capital.json", "--rootdir=suites", "--factcheck-update-baseline",
                 f"--factcheck-model={other_model_folder}")
    assert "baseline NOT updated" in result.stdout.str() and "of another model" in result.stdout.str()
    assert set(json.loads(path.read_text(encoding="utf-8"))["facts"]) == {"country_capital", "other/country_capital"}


def test_a_selection_recorded_into_entries_of_unknown_settings_names_no_settings(project):
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-update-baseline")
    baseline = json.loads(path.read_text(encoding="utf-8"))
    [relation] = baseline["suites"]
    del baseline["suites"][relation]["settings"]  # written before settings were kept
    path.write_text(json.dumps(baseline), encoding="utf-8")
    result = run(project, "suites", "-k", "France", "--factcheck-shots=3", "--factcheck-update-baseline")
    assert "kept as recorded before" in result.stdout.str()
    assert "settings" not in json.loads(path.read_text(encoding="utf-8"))["suites"][relation]


def test_a_minimum_accuracy_is_judged_on_the_whole_relation_not_on_a_selection(project):
    write_suite(project.path / "suites", settings={"min_accuracy": 1.0})
    whole = run(project, "suites", "--factcheck-lre=off", "--factcheck-report=whole.json", "--factcheck-update-baseline")
    said = [fact["say_pass"] for fact in json.loads((project.path / "whole.json").read_text(encoding="utf-8"))["facts"]]
    if all(said):
        pytest.skip("the tiny model happens to say every fact")
    assert "minimum accuracy missed" in whole.stdout.str()
    # A selection judges the minimum only where the facts it left out could not change the verdict: under a minimum of
    # 100%, a fact said wrong misses it whatever the others say; one said right leaves it to them.
    by_subject = {fact["subject"]: fact["say_pass"] for fact in json.loads((project.path / "whole.json").read_text(encoding="utf-8"))["facts"]}
    wrong = next(subject for subject, passed in by_subject.items() if not passed)
    missed = run(project, "suites", "--factcheck-lre=off", "-k", wrong).stdout.str()
    assert "country_capital: said right at most 90% (9 fact(s) not checked, counted right), below its minimum 100%" in missed
    right = next((subject for subject, passed in by_subject.items() if passed), None)
    if right is not None:
        part = run(project, "suites", "--factcheck-lre=off", "-k", right).stdout.str()
        assert "minimum accuracy missed" not in part
        assert ("factcheck: country_capital: its minimum accuracy (100%) was not judged: this run checked 1 of its 10 "
                "facts, and the others decide it (run them all to judge it)") in part


def test_a_selection_recorded_under_other_templates_than_its_kept_entries_is_refused(project):
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is", "{subject}'s capital is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    (project.path / "suites" / "country_capital.json").write_text(json.dumps(document))
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-lre=off", "--factcheck-templates=all", "--factcheck-update-baseline")
    before = path.read_bytes()
    refused = run(project, "suites", "--factcheck-lre=off", "-k", "France", "--factcheck-templates=first", "--factcheck-update-baseline")
    out = refused.stdout.str()
    assert "baseline NOT updated" in out and "asked under other templates than they were recorded with (2 template(s) then, 1 now" in out
    assert path.read_bytes() == before
    # Under the same templates a selection is recorded, the other facts kept.
    kept = run(project, "suites", "--factcheck-lre=off", "-k", "France", "--factcheck-templates=all", "--factcheck-update-baseline")
    assert "kept as recorded before" in kept.stdout.str() and len(load_baseline(path).facts["country_capital"]) == len(CAPITALS)


def test_an_earlier_report_is_removed_when_the_only_suite_selected_cannot_be_read(project):
    run(project, "suites", "--factcheck-lre=off", "--factcheck-report=r.json", "--factcheck-update-baseline")
    assert (project.path / "r.json").is_file()
    (project.path / "suites" / "broken.json").write_text('{"relation": "x", "templates": [')
    result = run(project, "suites", "-k", "broken", "--factcheck-report=r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED and not (project.path / "r.json").exists()
    assert "factcheck: no fact ran" in result.stdout.str() and "removed" in result.stdout.str()


def test_a_test_that_changes_the_sessions_model_in_place_fails_the_facts_after_it_and_records_nothing(project):
    project.makepyfile(test_own="""
import torch

def test_restores(factcheck_model):
    layer = factcheck_model.model.model.layers[0].mlp.down_proj
    kept = layer.weight.clone()
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight.copy_(kept)

def test_zeroes(factcheck_model):
    with torch.no_grad():
        factcheck_model.model.model.layers[0].mlp.down_proj.weight.zero_()
""")
    path = project.path / "baselines" / "tiny.json"
    run(project, "suites", "--factcheck-lre=off", "--factcheck-update-baseline")
    before = path.read_bytes()
    restored = run(project, "test_own.py::test_restores", "suites", "--factcheck-lre=off")
    assert restored.ret == pytest.ExitCode.OK, restored.stdout.str()[-2000:]
    changed = run(project, "test_own.py", "suites", "--factcheck-lre=off", "--factcheck-update-baseline")
    out = changed.stdout.str()
    assert changed.ret == pytest.ExitCode.TESTS_FAILED
    assert "was changed in place after a test took it through the factcheck_model fixture" in out
    assert path.read_bytes() == before, out[-3000:]


def test_a_suite_that_cannot_be_read_is_named_and_marks_the_run_incomplete_though_a_selection_leaves_it_out(project):
    run(project, "suites", "--factcheck-lre=off", "--factcheck-update-baseline")
    path = project.path / "baselines" / "tiny.json"
    before = path.read_bytes()
    (project.path / "suites" / "broken.json").write_text('{"relation": "x", "templates": [')
    # -k names facts of the readable suite only: the broken one has none it could match.
    result = run(project, "suites", "--factcheck-lre=off", "-k", "France", "--factcheck-report=r.json", "--factcheck-update-baseline")
    out = result.stdout.str()
    assert "factcheck: suites/broken.json cannot be read, and the selection left it out" in out
    report = json.loads((project.path / "r.json").read_text(encoding="utf-8"))
    assert "could not be read: suites/broken.json" in report["incomplete"] and path.read_bytes() == before
    # -m of a relation the broken suite may hold: nothing else is selected, and an earlier report is removed.
    result = run(project, "suites", "-m", "x", "--factcheck-report=r.json")
    assert "suites/broken.json cannot be read, and the selection left it out" in result.stdout.str()
    assert not (project.path / "r.json").exists()
    # Under xdist the workers collect and deselect: the controller is told, and says it once.
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2", "-k", "France",
                                          "--factcheck-report=r.json")
    assert result.stdout.str().count("suites/broken.json cannot be read, and the selection left it out") == 1, result.stdout.str()[-3000:]
    assert "could not be read: suites/broken.json" in json.loads((project.path / "r.json").read_text(encoding="utf-8"))["incomplete"]
    # The 33rd pass: a conftest that keeps only the items marked `factcheck` keeps it (it is marked), and one that
    # drops it without deselecting it has it named: the run passed, its report complete.
    project.makeconftest("def pytest_collection_modifyitems(config, items):\n"
                         "    items[:] = [item for item in items if item.get_closest_marker('factcheck')]\n")
    result = run(project, "suites", "--factcheck-lre=off", "-k", "France or broken")
    assert "invalid fact suite" in result.stdout.str() and result.ret == pytest.ExitCode.TESTS_FAILED
    # A conftest that skips it: named as unread, not counted as a fact skipped (the review of the 33rd pass).
    project.makeconftest("import pytest\n"
                         "def pytest_collection_modifyitems(config, items):\n"
                         "    for item in items:\n"
                         "        if 'broken' in item.nodeid:\n"
                         "            item.add_marker(pytest.mark.skip(reason='work in progress'))\n")
    run(project, "suites", "--factcheck-lre=off", "--factcheck-report=r.json")
    assert "could not be read: suites/broken.json" in json.loads((project.path / "r.json").read_text(encoding="utf-8"))["incomplete"]
    project.makeconftest("def pytest_collection_modifyitems(config, items):\n"
                         "    items[:] = [item for item in items if 'invalid suite' not in item.name]\n")
    for xdist in ([], ["-n", "2"]):
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off",
                                              "--factcheck-report=r.json", *xdist)
        said = "suites/broken.json cannot be read, and a conftest or plugin removed it from the run"
        assert result.stdout.str().count(said) == 1 and result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
        assert "could not be read: suites/broken.json" in json.loads((project.path / "r.json").read_text(encoding="utf-8"))["incomplete"]
