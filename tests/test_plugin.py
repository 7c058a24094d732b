"""The pytest plugin, driven with pytester on a tiny model saved to a folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

CAPITALS = [
    ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Egypt", "Cairo"),
]


def write_suite(folder, name, facts=CAPITALS, **extra):
    document = {
        "relation": name.replace("_", " "),
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in facts],
        **extra,
    }
    path = folder / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def project(pytester, tiny_llama_folder):
    """A test project with one suite and the tiny model configured in its ini file."""
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 3\n")
    facts = [{"subject": s, "object": o} for s, o in CAPITALS]
    facts[6]["tags"] = ["hard"]
    write_suite(pytester.path / "suites" / "geo", "country_capital", facts=CAPITALS)
    document = json.loads((pytester.path / "suites" / "geo" / "country_capital.json").read_text())
    document["facts"] = facts
    (pytester.path / "suites" / "geo" / "country_capital.json").write_text(json.dumps(document))
    return pytester


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def test_one_item_per_fact_with_relation_ids(project):
    result = run(project, "suites", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [f"suites/geo/country_capital.json::country_capital[{s}]" for s, _ in CAPITALS]


def test_other_json_files_are_not_collected(project):
    (project.path / "data").mkdir()
    (project.path / "data" / "config.json").write_text('{"not": "a suite"}')
    result = run(project, "--collect-only", "-q")
    assert not any("config.json" in line for line in result.outlines)
    assert sum("::" in line for line in result.outlines) == len(CAPITALS)


def test_keyword_and_marker_selection(project):
    result = run(project, "suites", "-k", "France or Japan")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2
    result = run(project, "suites", "-m", "hard", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == ["suites/geo/country_capital.json::country_capital[Kenya]"]
    result = run(project, "suites", "-m", "country_capital and not hard", "--collect-only", "-q", "--strict-markers")
    assert sum("::" in line for line in result.outlines) == len(CAPITALS) - 1
    # The 37th pass: without pytest-xdist (a dev extra) the xdist_group mark is unregistered, and under
    # --strict-markers every suite was a collection error.
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--collect-only", "-q", "--strict-markers",
                                          "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK and sum("::" in line for line in result.outlines) == len(CAPITALS), result.outlines[-5:]


@pytest.mark.parametrize("autoload, how", [
    (True, ["-p", "factcheck_pytest.plugin"]), (True, ["-p", "factcheck_pytest"]), (True, "conftest"), (True, "PYTEST_PLUGINS"),
    (True, "star import"), (False, ["-p", "factcheck_pytest"]), (False, ["-p", "factcheck"]), (False, "conftest"),
    (False, "star import"), (False, "star import, then plugins of its own")])
def test_the_plugin_named_in_any_of_the_usual_ways_loads_once(project, monkeypatch, autoload, how):
    # The 38th pass: `pytest_plugins = ["factcheck_pytest.plugin"]` in a conftest (or PYTEST_PLUGINS, or -p) with the
    # plugin already loaded by its entry point ended every run in pluggy's raw traceback; `-p factcheck_pytest`
    # without autoload loaded a package of no hook: no suite collected, the run passed.
    args = how if isinstance(how, list) else []
    if how == "conftest":
        project.makeconftest('pytest_plugins = ["factcheck_pytest.plugin"]')
    if how == "star import":  # the 39th pass: every hook registered twice, a raw traceback
        project.makeconftest("from factcheck_pytest.plugin import *")
    if how == "star import, then plugins of its own":  # the 40th pass: its own pytest_plugins replaced the import's
        project.makeconftest('from factcheck_pytest.plugin import *\npytest_plugins = ["pytester"]')
    if how == "PYTEST_PLUGINS":
        monkeypatch.setenv("PYTEST_PLUGINS", "factcheck_pytest.plugin")
    if not autoload:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--collect-only", "-q", *args)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK and "Traceback" not in output, output[-2000:]
    assert sum("::" in line for line in result.outlines) == len(CAPITALS), output[-2000:]


def report(pytester, *args):
    path = pytester.path / "report.json"
    run(pytester, "suites", f"--factcheck-report={path}", *args)
    return json.loads(path.read_text())


def test_command_line_beats_ini_beats_default(project, tiny_llama_folder):
    project.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_shots = 2\nfactcheck_max_new_tokens = 1\n")
    from_ini = report(project)
    assert from_ini["suites"]["geo/country_capital"]["shots"] == 2
    assert all(len(f["generated"]) <= 12 for f in from_ini["facts"])
    from_command_line = report(project, "--factcheck-shots=5")
    assert from_command_line["suites"]["geo/country_capital"]["shots"] == 5
    # Facts among the first `shots` are training facts.
    assert sum(f["training"] for f in from_command_line["facts"]) == 5


def test_suite_setting_is_used_unless_the_command_line_says_otherwise(project, tiny_llama_folder):
    write_suite(project.path / "suites" / "geo", "country_capital", settings={"shots": 3})
    assert report(project)["suites"]["geo/country_capital"]["shots"] == 3
    assert report(project, "--factcheck-shots=4")["suites"]["geo/country_capital"]["shots"] == 4


def test_malformed_suite_is_reported_and_the_others_still_run(project):
    bad = project.path / "suites" / "broken.json"
    bad.write_text(json.dumps({"relation": "x", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b", "colour": 1}]}))
    result = run(project, "suites")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(CAPITALS) + 1
    result.stdout.fnmatch_lines(["*invalid fact suite*", "*broken.json: /facts/0/colour: unknown key 'colour'*"])


def test_failure_report_shows_prompt_expectation_and_candidates(project):
    write_suite(project.path / "suites" / "geo", "country_capital", facts=CAPITALS + [("Atlantis", "Zzyzx")])
    result = run(project, "suites", "-k", "Atlantis")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*country_capital[[]Atlantis[]] is not said (generation check; verdict: *)*",
        "*prompt     : 'The capital city of Atlantis is'*",
        "*expected   : 'Zzyzx'*",
        "*generated  :*generation FAIL*",
        "*ranking    :*margin*",
        "*top candidates*",
    ])


def test_per_relation_table_and_junit_properties(project):
    junit = project.path / "junit.xml"
    result = run(project, "suites", f"--junitxml={junit}")
    result.stdout.fnmatch_lines(["*factcheck: what the model says and knows, per relation*", "*country_capital*8*"])
    tree = ElementTree.parse(junit)
    properties = {p.get("name"): p.get("value") for p in tree.iter("property")}
    assert {"factcheck_subject", "factcheck_generated", "factcheck_ranking_pass", "factcheck_margin"} <= set(properties)
    assert "None" not in properties.values()  # a value a fact does not have (no LRE here) is left out
    assert "factcheck_know_pass" not in properties


def test_header_names_the_model_and_the_run_its_fingerprint_dtype_device(project):
    result = run(project, "suites")
    result.stdout.fnmatch_lines(["factcheck: model=*", "*factcheck: *LlamaForCausalLM fingerprint=* dtype=float32 device=cpu*"])


def test_collect_only_does_not_load_the_model(project):
    # A model path that does not exist: loading it would fail the run.
    result = run(project, "suites", "--collect-only", "--factcheck-model=/nonexistent/model")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["factcheck: model=/nonexistent/model*", "*country_capital*"])
    assert "fingerprint=" not in result.stdout.str()


@pytest.mark.parametrize("option", ["--setup-only", "--setup-plan"])
def test_setup_only_and_setup_plan_load_no_model_and_leave_the_reports(project, option):
    # They run no test: the relations' work in a fact's setup had loaded the model and computed every relation for
    # nothing, and the earlier run's report was removed as if every fact had been skipped.
    run(project, "suites", "--factcheck-lre=off", "--factcheck-report=report.json")
    earlier = (project.path / "report.json").read_text()
    result = run(project, "suites", option, "--factcheck-model=/nonexistent/model", "--factcheck-report=report.json")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert "fingerprint=" not in result.stdout.str() and "cannot load model" not in result.stdout.str()
    assert (project.path / "report.json").read_text() == earlier
    # The 53rd pass: with --factcheck-update-baseline the header announced recording, and nothing said it did not.
    listed = run(project, "suites", option, "--factcheck-update-baseline", "--factcheck-baseline=b.json").stdout.str()
    assert "b.json (not: this run lists what would run, and checks no fact)" in listed and "factcheck: recording into" in listed
    assert not (project.path / "b.json").exists()


def test_session_fixture_exposes_the_model_to_python_tests(project):
    project.makepyfile(
        test_uses_model="""
        def test_model(factcheck_model):
            assert factcheck_model.architecture == "LlamaForCausalLM"
            assert factcheck_model.num_layers == 2
        """
    )
    result = run(project, "test_uses_model.py")
    result.assert_outcomes(passed=1)


def test_ranking_say_check_decides_when_asked(project):
    facts = report(project, "--factcheck-say-check=ranking")["facts"]
    assert all(f["say_pass"] == f["ranking_pass"] for f in facts)
    facts = report(project)["facts"]
    assert all(f["say_pass"] == f["generation_pass"] for f in facts)


@pytest.mark.parametrize("module", ["factcheck_pytest.plugin", "factcheck.gate.diff", "factcheck.gate.comparison", "factcheck.settings"])
def test_importing_the_plugin_and_the_gate_does_not_import_torch(module):
    # The plugin is imported by every pytest run in the environment: torch and transformers take seconds.
    import subprocess
    import sys

    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_more_demonstrations_than_facts_skips_the_lre_with_one_message(project):
    # The suite has 8 facts; 12 shots leave no room for an LRE's training set.
    result = run(project, "suites", "--factcheck-shots=12")
    assert "Traceback" not in result.stdout.str() and "ValueError" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*! geo/country_capital: no LRE: it would train on 12 facts*the suite has 8*"])
    assert result.parseoutcomes().get("failed", 0) + result.parseoutcomes().get("passed", 0) == 8


def test_two_suites_with_one_file_name_are_two_relations_everywhere(project):
    # geo/country_capital.json is the fixture's; history/country_capital.json is another relation of the same name.
    write_suite(project.path / "suites" / "history", "country_capital", facts=[("Prussia", "Berlin"), ("Gaul", "Lutetia"),
                                                                               ("Castile", "Toledo")])
    path = project.path / "report.json"
    baseline = project.path / "baseline.json"
    result = run(project, "suites", f"--factcheck-report={path}", f"--factcheck-baseline={baseline}", "--factcheck-update-baseline")
    assert result.ret == pytest.ExitCode.OK
    document = json.loads(path.read_text())
    assert set(document["suites"]) == {"geo/country_capital", "history/country_capital"}
    keys = [(f["relation"], f["subject"]) for f in document["facts"]]
    assert len(keys) == len(set(keys)) == len(CAPITALS) + 3
    recorded = json.loads(baseline.read_text())
    assert set(recorded["facts"]) == {"geo/country_capital", "history/country_capital"}
    assert len(recorded["facts"]["history/country_capital"]) == 3
    result.stdout.re_match_lines([r"^geo/country_capital\s+8 ", r"^history/country_capital\s+3 "])


def test_suite_patterns_are_matched_below_the_root_folder(pytester, tiny_llama_folder):
    # A project checked out inside a folder named "suites" (a repository of that name): every JSON file of it matched
    # "*/suites/*.json" by its absolute path and failed as an invalid suite, and a relative pattern matched nothing,
    # so the gate ran no fact at all.
    project = pytester.path / "suites" / "project"
    write_suite(project / "suites", "country_capital", facts=CAPITALS[:3])
    (project / "data").mkdir()
    (project / "data" / "config.json").write_text(json.dumps({"name": "app", "version": 1}))
    (project / "pytest.ini").write_text(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q", f"--rootdir={project}", str(project))
    output = result.stdout.str()
    assert "country_capital.json::country_capital[France]" in output and "config.json" not in output, output[-2000:]
    (project / "pytest.ini").write_text(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_suites = facts/*.json\n")
    write_suite(project / "facts", "river", facts=CAPITALS[:2])
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q", f"--rootdir={project}", str(project))
    output = result.stdout.str()
    assert "facts/river.json::river[France]" in output and "country_capital.json::" not in output, output[-2000:]
    # The relation's id is read below the root: the folder named "suites" above the project is no part of it (a copy
    # of the project elsewhere had other ids, and its baseline matched none of its facts).
    report = project / "r.json"
    pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--rootdir={project}", str(project), "--factcheck-lre=off",
                                 f"--factcheck-report={report}")
    assert {fact["relation"] for fact in json.loads(report.read_text())["facts"]} == {"river"}


def test_two_same_named_suites_outside_a_suites_folder_are_refused_with_one_clear_error(pytester, tiny_llama_folder):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_suites = */facts/*.json\n")
    write_suite(pytester.path / "facts" / "a", "capital", facts=CAPITALS[:3])
    write_suite(pytester.path / "facts" / "b", "capital", facts=CAPITALS[3:6])
    result = run(pytester, "facts", "--factcheck-lre=off")
    out = result.stdout.str()
    assert out.count("::capital[invalid suite]") == 1 and "facts/a/capital.json::capital[France]" in out
    result.stdout.fnmatch_lines(["*relation id 'capital' (its path below its 'suites' folder, or its file name in none) is "
                                 "already the suite*capital.json; rename one of the files*"])


def test_a_suite_sharing_the_relation_id_of_another_suite_in_the_baseline_is_refused(pytester, tiny_llama_folder):
    # Two packages' suites/capital.json are both the relation 'capital'. Run one at a time (a CI job per package) on
    # one baseline, the second was gated on the first's facts, and recording it dropped the first's facts.
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_baseline = baselines/baseline.json\n"
                     "factcheck_max_new_tokens = 3\n")
    write_suite(pytester.path / "pkga" / "suites", "capital", facts=CAPITALS[:3])
    write_suite(pytester.path / "pkgb" / "suites", "capital", facts=CAPITALS[3:6])
    assert run(pytester, "pkga", "--factcheck-update-baseline", "--factcheck-lre=off").ret == 0
    recorded = (pytester.path / "baselines" / "baseline.json").read_text()
    for args in (["pkgb"], ["pkgb", "--factcheck-update-baseline"]):
        result = run(pytester, *args, "--factcheck-lre=off")
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*relation id 'capital'*is recorded in the baseline*baseline.json from the suite "
                                     "*pkga*suites*capital.json, which is still there*rename one of the files*"])
        assert "capital[Germany] PASSED" not in result.stdout.str() and "capital[Germany] FAILED" not in result.stdout.str()
        assert (pytester.path / "baselines" / "baseline.json").read_text() == recorded  # pkga's facts are kept
    # A copy of the baseline in another folder (a CI job's) reaches pkga's suite by another path: refused alike.
    (pytester.path / "ci" / "job").mkdir(parents=True)
    (pytester.path / "ci" / "job" / "baseline.json").write_text(recorded)
    result = run(pytester, "pkgb", "--factcheck-lre=off", f"--factcheck-baseline={pytester.path / 'ci' / 'job' / 'baseline.json'}")
    assert result.ret == 1 and "which is still there" in result.stdout.str()
    # A draft copy named on the command line is refused alike; the suite itself, and a moved one, run.
    draft = write_suite(pytester.path / "drafts", "capital", facts=CAPITALS[:2])
    result = run(pytester, str(draft), "--factcheck-update-baseline", "--factcheck-lre=off")
    assert result.ret == 1 and (pytester.path / "baselines" / "baseline.json").read_text() == recorded
    assert run(pytester, "pkga", "--factcheck-lre=off").ret == 0
    # The 53rd pass: a copy collected before the recorded suite kept its claim on the id once refused, and the recorded
    # suite was refused too, blamed on the copy: only the copy is.
    both = run(pytester, "-v", "pkgb", "pkga", "--factcheck-lre=off").stdout.str()
    assert "pkgb/suites/capital.json::capital[invalid suite]" in both and "pkga/suites/capital.json::capital[invalid suite]" not in both
    assert "pkga/suites/capital.json::capital[France]" in both, both[-3000:]
    (pytester.path / "pkga" / "suites" / "capital.json").rename(pytester.path / "pkgb" / "suites" / "moved.json")
    assert "is recorded in the baseline" not in run(pytester, str(draft), "--factcheck-lre=off").stdout.str()


def test_a_layer_beyond_the_models_depth_is_one_clear_message_per_fact_and_runs_once(project, monkeypatch):
    # The tiny model has 2 blocks; the suite pins the LRE at block 40.
    write_suite(project.path / "suites" / "geo", "country_capital", settings={"lre": {"layer": 40}})
    result = run(project, "suites")
    out = result.stdout.str()
    assert result.parseoutcomes().get("failed") == len(CAPITALS)
    # Only the failure reports: the short summary repeats the message in full where $CI is set.
    failure_reports = out.split("short test summary info")[0]
    assert failure_reports.count("layer 40 is out of range for a model with 2 blocks: give one from 0 to 1 (a suite's /settings/lre/layer") == len(CAPITALS)
    assert "Traceback" not in out and "raise " not in out
    assert out.count("[factcheck] country_capital:") + out.count("[factcheck] geo/country_capital:") == 1


def test_a_gate_with_pytests_skipping_plugin_turned_off_is_a_usage_error(project, tiny_llama_folder):
    baseline = project.path / "bl.json"
    assert run(project, "suites", "--factcheck-lre=off", f"--factcheck-baseline={baseline}", "--factcheck-update-baseline").ret in (0, 1)
    for extra in (["--strict-markers"], ["-W", "error::pytest.PytestUnknownMarkWarning"]):
        result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-baseline={baseline}", "-p", "no:skipping", *extra)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in output, output[-2000:]
        assert "turned it off (-p no:skipping)" in output
    # --runxfail runs the known-wrong facts as plain tests: the run would fail with no regression.
    result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-baseline={baseline}", "--runxfail")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "Drop --runxfail" in result.stdout.str() + result.stderr.str()


def test_two_outputs_that_are_one_file_are_refused_before_any_fact_runs(project, monkeypatch):
    monkeypatch.setenv("FACTCHECK_TEST_OUT", "x.json")
    baseline = project.path / "bl.json"
    baseline.write_text("keep me", encoding="utf-8")
    for args, names in (
        (["--factcheck-report=x.json", "--factcheck-html=./x.json"], "--factcheck-report and --factcheck-html"),
        ([f"--factcheck-baseline={baseline}", "--factcheck-report=bl.json"], "--factcheck-report and the baseline"),
        ([f"--factcheck-baseline={baseline}", "--factcheck-html=bl.json", "--factcheck-update-baseline"], "--factcheck-html and the baseline"),
        (["--factcheck-report=x.json", "--junitxml=x.json"], "--factcheck-report and --junitxml"),
        # pytest expands a variable in the JUnit path: the check reads the path pytest will write.
        (["--factcheck-report=x.json", "--junitxml=$FACTCHECK_TEST_OUT"], "--factcheck-report and --junitxml"),
        ([f"--factcheck-baseline={baseline}", "--junitxml=bl.json"], "the baseline (--factcheck-baseline) and --junitxml"),
    ):
        result = run(project, "suites", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
        assert names in result.stderr.str() and "are the same file" in result.stderr.str()
    assert baseline.read_text(encoding="utf-8") == "keep me" and not (project.path / "x.json").exists()


def test_an_output_that_cannot_be_written_is_refused_before_any_fact_runs(project):
    (project.path / "a_file").write_text("", encoding="utf-8")
    (project.path / "a_folder").mkdir()
    os.mkfifo(project.path / "a_fifo")
    (project.path / "null").symlink_to("/dev/null")  # as root, renaming a report over /dev/null would replace it
    for args, reason in (
        (["--factcheck-report=a_file/report.json"], "is not a directory"),
        (["--factcheck-html=a_folder"], "it is a directory"),
        (["--factcheck-baseline=a_folder", "--factcheck-update-baseline"], "it is a directory"),
        (["--factcheck-report=a_fifo"], "it is a FIFO (named pipe), not a regular file"),
        (["--factcheck-html=null"], "it is a character device, not a regular file"),
        # pytest writes its JUnit XML in place: into a FIFO nobody reads, it would wait forever after the last fact.
        (["--junitxml=a_fifo"], "it is a FIFO (named pipe), not a regular file: pytest would wait for a reader forever"),
        # /proc passes root's access checks but takes no file: found by making one, not at the end of the run.
        (["--factcheck-report=/proc/version"], "the folder /proc takes no new file"),
    ):
        result = run(project, "suites", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
        assert "cannot be written to" in result.stderr.str() and reason in result.stderr.str()
        assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    assert (project.path / "a_fifo").is_fifo() and Path("/dev/null").is_char_device()
    assert run(project, "suites", "--collect-only", "--junitxml=null").ret == pytest.ExitCode.OK  # /dev/null takes it
    gated = run(project, "suites", "--factcheck-baseline=null")
    assert gated.ret == pytest.ExitCode.USAGE_ERROR and "not a regular file" in gated.stdout.str() + gated.stderr.str()


@pytest.mark.parametrize("where", ["tag", "file", "marker"])
@pytest.mark.parametrize("mark", ["skip", "xfail", "skipif", "usefixtures", "timeout", "hypothesis"])
def test_a_suite_mark_that_is_a_pytest_mark_is_refused_not_obeyed(project, mark, where):
    """A fact tagged "xfail" would turn its failure into XFAIL (the gate silently off); "skip" crashed pytest."""
    suites = project.path / "suites" / "geo"
    if where == "file":
        write_suite(suites, mark)
    else:
        document = json.loads((suites / "country_capital.json").read_text())
        if where == "tag":
            document["facts"][1]["tags"] = [mark]
        else:
            document["settings"] = {"markers": [mark]}
        (suites / "country_capital.json").write_text(json.dumps(document))
    result = run(project, "suites", "--factcheck-lre=off")
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "invalid fact suite" in output
    assert (f"the file name {mark!r} is also the pytest mark" if where == "file" else f"{mark!r} is also a pytest mark") in output
    outcomes = result.parseoutcomes()
    assert "xfailed" not in outcomes and "skipped" not in outcomes, outcomes


def test_tags_the_project_registers_in_its_ini_are_its_own(project, tiny_llama_folder):
    project.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 3\nmarkers =\n    hard: hard facts\n")
    result = run(project, "suites", "-m", "hard", "--strict-markers", "--factcheck-lre=off")
    assert "invalid fact suite" not in result.stdout.str()
    assert sum(result.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 1


@pytest.mark.parametrize("option", ["--factcheck-dtype=int8", "--factcheck-device=garbage", "--factcheck-shots=-1",
                                    "--factcheck-max-new-tokens=0", "--factcheck-batch-size=0", "--factcheck-threads=0",
                                    "--factcheck-threads=99999999999999999999"])
def test_an_option_that_cannot_work_is_a_usage_error_naming_it(project, option):
    result = run(project, "suites", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    name = option.split("=")[0].removeprefix("--").replace("-", "_")
    assert name in result.stderr.str() and option.split("=")[1] in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("option", ["--factcheck-model=", "--factcheck-report= ", "--factcheck-html=", "--factcheck-baseline="])
def test_an_option_given_an_empty_value_is_a_usage_error_naming_it(project, option):
    result = run(project, "suites", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    assert f"{option.split('=')[0]} was given an empty value" in result.stderr.str()


def test_the_threads_option_sets_torchs_threads_when_the_model_loads(project):
    import torch

    before = torch.get_num_threads()
    project.makepyfile(threads_test="import torch\n\ndef test_threads(factcheck_model):\n    assert torch.get_num_threads() == 3\n")
    try:
        result = run(project, "threads_test.py", "--factcheck-threads=3")
    finally:
        torch.set_num_threads(before)  # the run was in this process
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]


def test_the_options_a_user_means_are_accepted(project):
    result = run(project, "suites", "--collect-only", "-q", "--factcheck-dtype=bf16", "--factcheck-device=cuda:1",
                 "--factcheck-shots=0")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()[-2000:]


@pytest.mark.parametrize("where", ["tag", "marker"])
@pytest.mark.parametrize("name, said", [("not", "a word of pytest's -m expressions"), ("_slow", "starts with '_'")])
def test_a_tag_that_is_a_word_of_m_expressions_or_no_mark_name_is_refused(project, where, name, said):
    suites = project.path / "suites" / "geo"
    document = json.loads((suites / "country_capital.json").read_text())
    if where == "tag":
        document["facts"][1]["tags"] = [name]
    else:
        document["settings"] = {"markers": [name]}
    (suites / "country_capital.json").write_text(json.dumps(document))
    write_suite(project.path / "suites", "other", facts=CAPITALS[:2])  # one bad file never stops the others
    result = run(project, "suites", "--factcheck-lre=off")
    assert "INTERNALERROR" not in result.stdout.str() and said in result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3, result.stdout.str()[-2000:]  # 2 facts + the bad file


@pytest.mark.parametrize("stem", ["a:b", "1st-relation", "two words", "and", "not", "_private"])
def test_a_file_name_that_cannot_be_a_mark_still_runs_under_strict_markers(project, stem):
    write_suite(project.path / "suites" / "odd", stem)
    result = run(project, "suites/odd", "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning",
                 "--factcheck-lre=off")
    outcomes = result.parseoutcomes()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-2000:]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(CAPITALS) and "error" not in outcomes


def test_a_report_that_fails_to_write_is_said_and_the_run_fails_but_the_summary_stays(project, monkeypatch):
    import factcheck.reports.html_report as html_report

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    # Gated on its own baseline every fact passes or xfails: only the failed output can fail the run.
    run(project, "suites", "--factcheck-lre=off", "--factcheck-baseline=bl.json", "--factcheck-update-baseline")
    assert run(project, "suites", "--factcheck-lre=off", "--factcheck-baseline=bl.json").ret == pytest.ExitCode.OK
    monkeypatch.setattr(html_report, "write_html_report", broken)
    result = run(project, "suites", "--factcheck-html=out.html", "--factcheck-report=out.json", "--factcheck-lre=off",
                 "--factcheck-baseline=bl.json")
    output = result.stdout.str()
    assert f"factcheck: HTML report NOT written to {project.path / 'out.html'}: RuntimeError: the disk is full" in output
    assert "factcheck: report written to" in output and (project.path / "out.json").is_file()
    assert "what the model says and knows" in output and "against the baseline" in output  # the gate still ran
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_suite_with_distracted_prompts_runs_every_fact_and_shows_the_distracted_table(project):
    suites = project.path / "suites" / "geo"
    (suites / "country_capital.json").unlink()
    write_suite(suites, "distracted", settings={"shots": 3, "distractor": {"statement": "{subject}'s capital is {wrong}.", "repeat": 2}})
    result = run(project, "suites", "--factcheck-report=r.json")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(CAPITALS), result.stdout.str()[-3000:]
    assert "error" not in outcomes and "TypeError" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*factcheck: distracted prompts*"])
    facts = json.loads((project.path / "r.json").read_text())["facts"]
    assert all("distracted" in fact for fact in facts)


@pytest.mark.parametrize("ini", ["[pytest]\nfactcheck_shots = abc\n", "[pytest]\nfactcheck_shots = 2.5\n",
                                 "[tool.pytest.ini_options]\nfactcheck_shots = [1, 2]\n",
                                 "[tool.pytest.ini_options]\nfactcheck_shots = true\n",
                                 "[tool.pytest.ini_options]\nfactcheck_baseline = [\"a.json\"]\n",
                                 "[tool.pytest]\nfactcheck_suites = \"*/suites/*.json\"\n",
                                 "[tool.pytest.ini_options]\nfactcheck_suites = [1, 2]\n",
                                 "[pytest]\nfactcheck_trust_remote_code = maybe\n",
                                 # The 33rd pass: a NUL character in a path was INTERNALERROR (ValueError: embedded null byte).
                                 *(f"[tool.pytest.ini_options]\n{name} = \"b\\u0000.json\"\n"
                                   for name in ("factcheck_baseline", "factcheck_report", "factcheck_html"))])
def test_an_ini_value_of_the_wrong_kind_is_a_usage_error_naming_it(project, ini):
    (project.path / "tox.ini").unlink(missing_ok=True)
    (project.path / ("pytest.ini" if ini.startswith("[pytest]") else "pyproject.toml")).write_text(ini, encoding="utf-8")
    # pytest itself warns of a TOML list given to a text option (a deprecation of its own); the run must still refuse it.
    result = run(project, "suites", "--collect-only", "-W", "ignore::pytest.PytestRemovedIn10Warning")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in output, output[-2000:]
    name = re.search(r"(factcheck_\w+)", ini).group(1)
    assert f"{name} in the ini file {'holds a NUL character' if 'u0000' in ini else 'must be'}" in result.stderr.str()


def test_a_link_loop_as_an_output_path_is_a_usage_error(project):
    (project.path / "loop").symlink_to("loop")
    for option in ("--factcheck-report=loop", "--factcheck-html=loop/x.html", "--factcheck-baseline=loop"):
        result = run(project, "suites", "--collect-only", option)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in output, (option, output[-2000:])
        assert "cannot be used" in result.stderr.str() and "loop" in result.stderr.str()


def test_a_report_path_that_holds_another_file_is_refused_before_any_fact_runs(project, monkeypatch):
    suite = project.path / "suites" / "geo" / "country_capital.json"
    before = suite.read_bytes()
    elsewhere = project.path / "notes.json"
    elsewhere.write_text('{"mine": true}', encoding="utf-8")
    for option, said in ((f"--factcheck-report={elsewhere}", "is a file that is not a factcheck report"),
                         (f"--factcheck-html={elsewhere}", "is a file that is not a factcheck report"),
                         # Where suites are collected, a JSON output is refused as such first.
                         (f"--factcheck-html={suite}", "lies where suites are collected"),
                         (f"--factcheck-report={suite}", "lies where suites are collected")):
        result = run(project, "suites", "--factcheck-lre=off", option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
        assert said in result.stderr.str()
        assert suite.read_bytes() == before and elsewhere.read_text(encoding="utf-8") == '{"mine": true}'
    # pytest's own JUnit XML would replace it too; a JUnit report written before is replaced as usual.
    for junit in (f"--junitxml={suite}", "--junitxml=$FACTCHECK_TEST_SUITE"):
        monkeypatch.setenv("FACTCHECK_TEST_SUITE", str(suite))
        result = run(project, "suites", "--factcheck-lre=off", junit)
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "is a file that is not a JUnit XML report" in result.stderr.str()
        assert suite.read_bytes() == before
    for _ in range(2):
        assert run(project, "suites", "--collect-only", "--junitxml=junit.xml").ret == pytest.ExitCode.OK
    # A report written before is replaced, as every run replaces its report.
    first = run(project, "suites", "--factcheck-lre=off", "--factcheck-report=r.json", "--factcheck-html=r.html")
    again = run(project, "suites", "--factcheck-lre=off", "--factcheck-report=r.json", "--factcheck-html=r.html")
    assert first.ret == again.ret == pytest.ExitCode.TESTS_FAILED or first.ret == again.ret == pytest.ExitCode.OK
    assert "written to" in again.stdout.str() and "not a factcheck report" not in again.stderr.str()


def test_an_accuracy_and_its_minimum_are_shown_with_the_digits_that_tell_them_apart():
    from plugins.plugin import _percent

    assert [_percent(x) for x in (0.0, 0.99, 0.995, 1.0, 0.001)] == ["0%", "99%", "99.5%", "100%", "0.1%"]
    assert _percent(5e-324) != "0%"


def test_a_suite_in_a_folder_pytest_does_not_enter_is_explained(project):
    # pytest's norecursedirs passes over "build", "dist", ".*" and the like: a suite there would never run.
    write_suite(project.path / "suites" / "build", "capitals")
    write_suite(project.path / "suites" / ".drafts", "rivers")
    (project.path / "suites" / "dist").mkdir()
    (project.path / "suites" / "dist" / "config.json").write_text('{"not": "a suite"}')
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "2 suite file(s) lie in folders pytest does not enter (its norecursedirs ini option:" in output, output[-2000:]
    assert "suites/.drafts/rivers.json, suites/build/capitals.json" in output and "config.json" not in output
    named = run(project, "suites", "suites/build/capitals.json", "--collect-only", "-q").stdout.str()
    assert "1 suite file(s) lie in folders pytest does not enter" in named and "suites/.drafts/rivers.json" in named


@pytest.mark.parametrize("setting", ['collect_ignore = ["suites/geo"]', 'collect_ignore_glob = ["*/geo/*.json"]'])
def test_a_suite_a_conftest_keeps_out_of_collection_is_named_and_one_the_command_line_leaves_out_is_not(project, setting):
    # The 36th pass: a conftest's collect_ignore kept a suite out without a word (exit 0, no factcheck line).
    write_suite(project.path / "suites" / "rivers", "rivers")
    project.makeconftest(setting)
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert ("1 suite file(s) are kept out of collection by a conftest.py's collect_ignore or collect_ignore_glob (or another "
            "plugin), so they were not collected: suites/geo/country_capital.json. Take them off that list") in output, output[-2000:]
    assert "rivers.json" not in next(line for line in output.splitlines() if "kept out of collection" in line)
    assert "suites/rivers/rivers.json::rivers[France]" in output and "country_capital.json::" not in output
    # The 37th pass: a suite written with sorted keys puts "relation" and "templates" after every fact, past the
    # first bytes that are read.
    path = project.path / "suites" / "geo" / "country_capital.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["facts"] *= 20
    path.write_text(json.dumps(document, sort_keys=True, indent=1), encoding="utf-8")
    assert path.read_text(encoding="utf-8").index('"relation"') > 4096
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "suites/geo/country_capital.json. Take them off that list" in output, output[-2000:]
    # The 38th pass: in the usual key order, a suite of many templates holds its "facts" key in neither its first nor
    # its last 4 KB.
    document = json.loads(path.read_text(encoding="utf-8"))
    document["templates"] = [f"Paraphrase {index}: the capital city of {{subject}} is" for index in range(100)]
    path.write_text(json.dumps({key: document[key] for key in ("relation", "templates", "facts")}, indent=1), encoding="utf-8")
    written = path.read_bytes()
    assert written.index(b'"facts"') > 4096 and b'"facts"' not in written[-4096:]
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "suites/geo/country_capital.json. Take them off that list" in output, output[-2000:]
    # The 39th pass: the same past 1 MiB (read there by its first and last 64 KiB).
    document["facts"] = [{"subject": f"country {index}", "object": f"city {index}", "aliases": [f"town {index}"]} for index in range(20_000)]
    path.write_text(json.dumps({key: document[key] for key in ("relation", "templates", "facts")}, indent=1), encoding="utf-8")
    assert path.stat().st_size > 2**20
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "suites/geo/country_capital.json. Take them off that list" in output, output[-2000:]
    # Suites where a pattern of the project's own reaches (the 37th pass: only a folder named suites was seen).
    (project.path / "facts" / "rivers").mkdir(parents=True)
    (project.path / "suites" / "rivers" / "rivers.json").rename(project.path / "facts" / "rivers" / "rivers.json")
    project.makeconftest('collect_ignore = ["facts/rivers"]')
    ini = project.path / "tox.ini"
    settings = ini.read_text(encoding="utf-8")
    ini.write_text(settings.rstrip("\n") + "\nfactcheck_suites =\n    facts/*.json\n    */suites/*.json\n", encoding="utf-8")
    result = run(project, "facts", "suites", "--collect-only", "-q")
    output = result.stdout.str() + result.stderr.str()
    ini.write_text(settings, encoding="utf-8")
    assert "1 suite file(s) are kept out of collection by a conftest.py's collect_ignore" in output and "facts/rivers/rivers.json" in output, output[-2000:]
    # A folder above a suites folder kept out (the 40th pass: `collect_ignore = ["gpu"]` for gpu/suites/...).
    (project.path / "gpu" / "suites").mkdir(parents=True)
    (project.path / "facts" / "rivers" / "rivers.json").rename(project.path / "gpu" / "suites" / "rivers.json")
    project.makeconftest('collect_ignore = ["gpu"]')
    output = run(project, ".", "--collect-only", "-q").stdout.str()
    assert "1 suite file(s) are kept out of collection by a conftest.py's collect_ignore" in output and "gpu/suites/rivers.json" in output, output[-2000:]
    project.makeconftest("")
    for leaving_out in ("--ignore=suites/geo", "--ignore-glob=*/geo/*.json"):
        output = run(project, "suites", "--collect-only", "-q", leaving_out).stdout.str()
        assert "kept out of collection" not in output and "country_capital" not in output, output[-2000:]


def test_suites_in_a_folder_whose_conftest_skips_at_import_are_named_also_under_xdist(project):
    # The 37th pass: a conftest.py that skips as it is imported (pytest.importorskip of a module not installed) left
    # only pytest's SKIPPED line for its folder: its suites silently never ran. Under xdist the controller collects
    # nothing, and the workers' collection lines were lost.
    write_suite(project.path / "suites" / "rivers", "rivers")
    (project.path / "suites" / "geo" / "conftest.py").write_text('import pytest\npytest.importorskip("no_such_module_here")\n',
                                                                 encoding="utf-8")
    said = ("1 suite file(s) were not collected, since their folder was skipped (suites/geo/conftest.py: could not import "
            "'no_such_module_here'")
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert said in output and "so their facts are not checked: suites/geo/country_capital.json. Install what it needs" in output, output[-2000:]
    assert "rivers.json" not in next(line for line in output.splitlines() if said in line)
    assert "suites/rivers/rivers.json::rivers[France]" in output
    # The 39th pass: suites outside the root folder (pytest names the node by the argument's path, not the root's),
    # and a suite reached through a folder link inside the skipped folder.
    shared = project.path / "shared" / "lakes"
    write_suite(shared, "lakes")
    (project.path / "suites" / "geo" / "linked").symlink_to(shared, target_is_directory=True)
    (project.path / "ci").mkdir()
    (project.path / "ci" / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = project.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q", "--rootdir", str(project.path / "ci"),
                                         "-c", str(project.path / "ci" / "pytest.ini"), str(project.path / "suites"))
    output = result.stdout.str()
    assert "2 suite file(s) were not collected, since their folder was skipped" in output, output[-2000:]
    assert "suites/geo/country_capital.json" in output and "suites/geo/linked/lakes.json" in output
    (project.path / "suites" / "geo" / "linked").unlink()
    # A thousand JSON files of other kinds in the skipped folder (the 40th pass: only the first thousand of any kind
    # were read, so the suites past them went unnamed).
    checks = project.path / "checks"
    (checks / "cassettes").mkdir(parents=True)
    for index in range(1001):
        (checks / "cassettes" / f"a{index:04d}.json").write_text("{}", encoding="utf-8")
    write_suite(checks / "suites" / "x", "lakes")
    (checks / "conftest.py").write_text('import pytest\npytest.importorskip("no_such_module_here")\n', encoding="utf-8")
    output = run(project, "checks", "--collect-only", "-q").stdout.str()
    assert "checks/suites/x/lakes.json. Install what it needs" in output, output[-2000:]
    shutil.rmtree(checks)
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2")
    output = result.stdout.str()
    assert "factcheck: suites not collected" in output and said in output and "INTERNALERROR" not in output, output[-3000:]


def test_a_relation_the_know_check_cannot_read_says_so(project):
    # Under --factcheck-require knows its facts are judged by what they say: that must not go unsaid.
    result = run(project, "suites", "--factcheck-shots=1", "--factcheck-require=knows")
    assert "no LRE: it trains on the demonstrations, and the prompts have 1" in result.stdout.str(), result.stdout.str()[-2000:]
    write_suite(project.path / "suites" / "geo", "country_capital", settings={"lre": {"layer": "emb"}})
    result = run(project, "suites", "--factcheck-require=knows")
    assert "no LRE: its layer is 'emb'" in result.stdout.str(), result.stdout.str()[-2000:]


def test_a_suite_named_with_an_upper_case_suffix_is_named_not_silently_left_out(project):
    write_suite(project.path / "suites", "capitals")
    (project.path / "suites" / "capitals.json").rename(project.path / "suites" / "Capitals.JSON")
    output = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "1 file(s) look like fact suites but their names do not end in '.json'" in output, output[-2000:]
    assert "suites/Capitals.JSON; rename them" in output


def test_a_suite_outside_a_suites_folder_is_explained_and_collected_when_named(project):
    write_suite(project.path / "facts", "capitals")
    (project.path / "facts" / "settings.json").write_text('{"not": "a suite"}')
    # A report names its suites' relations and templates and holds facts, but is no suite.
    (project.path / "facts" / "report.json").write_text(json.dumps(
        {"factcheck_report_version": 2, "suites": {"capitals": {"relation": "capital", "templates": ["{subject}"]}}, "facts": []}))
    result = run(project, "facts", "--collect-only", "-q")
    output = result.stdout.str()
    assert "1 JSON file(s) look like fact suites but match no factcheck_suites pattern" in output, output[-2000:]
    assert "facts/capitals.json" in output and "settings.json" not in output and "name the file on the command line" in output
    assert "report.json" not in output
    named = run(project, "facts/capitals.json", "--collect-only", "-q")
    assert sum("::" in line for line in named.outlines) == len(CAPITALS), named.stdout.str()[-2000:]
    assert "look like fact suites" not in named.stdout.str()
    # A JSON file named on the command line that is not a suite says why, as any invalid suite does.
    broken = run(project, "facts/settings.json")
    assert "invalid fact suite" in broken.stdout.str() and broken.ret == pytest.ExitCode.TESTS_FAILED
    # Named through a folder link, the file is collected under the name given.
    (project.path / "linked").symlink_to(project.path / "facts")
    linked = run(project, "linked/capitals.json", "--collect-only", "-q")
    assert sum("linked/capitals.json::" in line for line in linked.outlines) == len(CAPITALS), linked.stdout.str()[-2000:]


def test_a_folder_link_back_up_the_tree_is_not_collected_again_and_is_named(project):
    write_suite(project.path / "suites", "capitals")
    (project.path / "suites" / "self").symlink_to(".")
    (project.path / "suites" / "deeper" / "down").mkdir(parents=True)
    (project.path / "suites" / "deeper" / "down" / "up").symlink_to("../..")
    # A link to another folder, or to a file, is collected as usual.
    (project.path / "elsewhere").mkdir()
    write_suite(project.path / "elsewhere", "more_capitals")
    (project.path / "suites" / "other").symlink_to("../elsewhere")
    result = run(project, "suites", "--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    files = {"suites/geo/country_capital.json", "suites/capitals.json", "suites/other/more_capitals.json"}
    assert len(collected) == len(files) * len(CAPITALS), result.stdout.str()[-2000:]
    assert {line.split("::")[0] for line in collected} == files
    assert "2 folder link(s) lead back to a folder above them" in result.stdout.str()
    assert "suites/self, suites/deeper/down/up" in result.stdout.str()
    assert "collected again by another path" not in result.stdout.str()
    # The 53rd pass: a link to a folder of suites that are collected anyway ran each of its files twice, as two
    # relations, without a word.
    (project.path / "suites" / "geo_alias").symlink_to("geo")
    again = run(project, "suites", "--collect-only", "-q").stdout.str()
    assert "1 suite file(s) are collected again by another path, through a folder link, so their facts run twice, as two " \
           "relations: suites/geo_alias/country_capital.json (the file suites/geo/country_capital.json)" in again, again[-2000:]


def test_a_relations_shared_work_is_charged_once_to_a_setup_and_each_fact_to_its_own_call(project):
    junit = project.path / "junit.xml"
    result = run(project, "suites", "--factcheck-lre=off", f"--junitxml={junit}", "-o", "junit_duration_report=call",
                 "--durations=0", "--durations-min=0")
    cases = list(ElementTree.parse(junit).iter("testcase"))
    relation_seconds = [float(p.get("value")) for case in cases for p in case.iter("property")
                        if p.get("name") == "factcheck_relation_seconds"]
    assert len(cases) == len(CAPITALS) and len(relation_seconds) == 1 and relation_seconds[0] > 0
    calls = [float(case.get("time")) for case in cases]
    assert max(calls) < relation_seconds[0], (calls, relation_seconds)  # no fact's own check carries the relation
    setups = [line for line in result.outlines if " setup " in line and "country_capital" in line]
    assert setups, result.stdout.str()[-3000:]


def test_a_keyword_selection_computes_only_its_facts_once_the_relation_ran_whole(project, tmp_path, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "cache"))  # no faithfulness stored by another test
    whole_report = project.path / "whole.json"
    first = run(project, "suites", "-k", "Kenya", "--factcheck-shots=4", f"--factcheck-report={project.path / 'first.json'}")
    assert "1 of 8 facts selected; all run this once" in first.stdout.str() and "say (8 prompts)" in first.stdout.str()
    run(project, "suites", "--factcheck-shots=4", f"--factcheck-report={whole_report}")
    second = run(project, "suites", "-k", "Kenya", "--factcheck-shots=4", f"--factcheck-report={project.path / 'second.json'}")
    text = second.stdout.str()
    assert "1 of 8 facts selected; the LRE's trust from an earlier whole run" in text and "say (1 prompt)" in text
    assert second.parseoutcomes().get("deselected") == 7
    whole = {f["subject"]: f for f in json.loads(whole_report.read_text())["facts"]}
    for name in ("first.json", "second.json"):
        (fact,) = json.loads((project.path / name).read_text())["facts"]
        assert fact["subject"] == "Kenya" and fact["lre_top_tokens"]
        for key in ("verdict", "say_pass", "know_pass", "generated", "lre_trusted", "lre_decodes_object"):
            assert fact.get(key) == whole["Kenya"].get(key), (name, key)


def test_a_suite_path_pytest_cannot_take_as_a_node_id_still_runs_and_says_how_to_select_it(project):
    for name in ("a[b]", "c::d"):
        write_suite(project.path / "suites", name, facts=CAPITALS[:3])
    result = run(project, "suites", "-k", "France", "--factcheck-lre=off")
    text = result.stdout.str()
    assert "2 suite path(s) hold '[', ']' or '::'" in text and "suites/a[b].json, suites/c::d.json" in text
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3 and outcomes.get("deselected") == len(CAPITALS) - 1 + 4
    assert "2 suite path(s)" not in run(project, "suites/geo", "--collect-only").stdout.str()



@pytest.mark.parametrize("mark, outcome, reason", [
    # The --runslow recipe of pytest's documentation: items marked "slow" are skipped unless asked for.
    ("skip(reason='need --runslow option to run')", "skipped", "need --runslow option to run"),
    ("xfail(run=False, reason='flaky')", "xfailed", "xfail, not run: flaky"),
])
def test_facts_a_projects_own_mark_keeps_from_running_are_said_not_silently_dropped(project, tiny_llama_folder, mark,
                                                                                      outcome, reason):
    project.makeconftest("import pytest\n\n\ndef pytest_collection_modifyitems(config, items):\n"
                         "    for item in items:\n        if 'slow' in item.keywords:\n"
                         f"            item.add_marker(pytest.mark.{mark})\n")
    project.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 3\nmarkers =\n    slow: slow tests\n")
    write_suite(project.path / "suites", "slow", facts=CAPITALS[:3])
    result = run(project, "suites", "--factcheck-lre=off")
    assert result.parseoutcomes().get(outcome) == 3
    result.stdout.fnmatch_lines(["*factcheck: facts skipped, not checked*",
                                 "3 fact(s) were skipped by pytest marks or plugins and not checked*", f"  3 x {reason}"])
    assert "facts skipped" not in run(project, "suites/geo", "--factcheck-lre=off").stdout.str()


def test_a_run_where_no_selected_fact_ran_removes_an_earlier_report_and_other_runs_leave_it(project):
    report, html = project.path / "r.json", project.path / "r.html"
    outputs = [f"--factcheck-report={report}", f"--factcheck-html={html}", "--factcheck-lre=off"]
    run(project, "suites", *outputs)
    assert report.is_file() and html.is_file()
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    for args in (["test_plain.py"], ["suites", "test_plain.py", "-k", "plain"], ["suites", "--collect-only"]):
        run(project, *args, *outputs)
        assert report.is_file() and html.is_file(), args  # no fact was to run: the reports are not this run's business
    # Every selected fact skipped (a conftest of the project's own): nothing checked, so no report may stand for it.
    project.makeconftest("import pytest\n\n\ndef pytest_collection_modifyitems(items):\n    for item in items:\n"
                         "        item.add_marker(pytest.mark.skip(reason='not today'))\n")
    nothing = run(project, "suites", *outputs)
    assert not report.exists() and not html.exists()
    assert f"factcheck: no fact ran (every fact was skipped or could not run): removed {report}" in nothing.stdout.str()
    (project.path / "mine.json").write_text('{"mine": 1}', encoding="utf-8")
    kept = run(project, "suites", f"--factcheck-report={project.path / 'mine.json'}")
    assert kept.ret == pytest.ExitCode.USAGE_ERROR and (project.path / "mine.json").read_text() == '{"mine": 1}'


def test_a_run_stopped_early_by_x_marks_its_report_incomplete(project):
    report = project.path / "r.json"
    result = run(project, "suites", "-x", "--factcheck-lre=off", f"--factcheck-report={report}")
    document = json.loads(report.read_text(encoding="utf-8"))
    assert result.parseoutcomes().get("failed") == 1 and len(document["facts"]) == 1  # the tiny model says no capital
    assert document["incomplete"].startswith("the run stopped early (")


def test_a_suite_file_name_holding_control_characters_stops_the_run_shown_escaped(project):
    suite = project.path / "suites" / "geo" / "country_capital.json"
    # The 33rd pass: a name that a CI runner reads as a workflow command where it starts a line (a relation id does).
    for name in ("cap\x1b[2K\x1b[1A.json", "geo\nPASS: 0 regression(s)\n.json", "cap\u202enosj.json",
                 "::error title=factcheck gate passed::0 regressions.json", "cap ##[error]x.json",
                 "cap ##vso[task.setvariable variable=x]y.json"):
        forged = suite.parent / name
        forged.write_bytes(suite.read_bytes())
        result = run(project, "suites", "--factcheck-lre=off", "--junitxml=junit.xml")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in output, output[-2000:]
        assert "control characters or a CI workflow command" in result.stderr.str() and "rename" in result.stderr.str()
        assert "\x1b" not in output and "\nPASS" not in output and "\u202e" not in output and "\n::error" not in output
        forged.unlink()


@pytest.mark.slow
def test_under_xdist_a_baseline_or_file_name_the_run_cannot_use_is_said_not_an_internal_error(project):
    pytest.importorskip("xdist")
    baseline = project.path / "bl.json"
    assert run(project, "suites", "--factcheck-lre=off", f"--factcheck-baseline={baseline}", "--factcheck-update-baseline").ret in (0, 1)
    broken = json.loads(baseline.read_text(encoding="utf-8"))
    relation = next(iter(broken["facts"]))
    broken["facts"][relation][CAPITALS[0][0]]["margin"] = "oops"
    (project.path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    for args, said in (
        (["--factcheck-baseline=missing.json"], "baseline file"),
        (["--factcheck-baseline=broken.json"], "/margin: expected"),
        ([f"--factcheck-baseline={baseline}", "-p", "no:skipping"], "turned it off (-p no:skipping)"),
        ([f"--factcheck-baseline={baseline}", "--runxfail"], "Drop --runxfail"),
    ):
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2", *args)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in output, output[-3000:]
        assert said in output and "passed" not in output and "failed" not in output, output[-3000:]
    suite = project.path / "suites" / "geo" / "country_capital.json"
    (suite.parent / "cap\x1b[31m.json").write_bytes(suite.read_bytes())
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2")
    output = result.stdout.str() + result.stderr.str()
    # A collection error under the escaped name: the run fails (xdist runs the other suites on).
    assert result.ret != pytest.ExitCode.OK and "INTERNALERROR" not in output and "\x1b" not in output, output[-3000:]
    assert "ERROR suites/geo/cap\\x1b[31m.json" in output and "control characters" in output and "rename it" in output


def test_output_paths_with_a_tilde_or_a_long_name_are_written_where_they_were_checked(project, monkeypatch):
    home = project.path / "home"
    (home / "out").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    earlier = home / "out" / "r.json"
    earlier.write_text('{"factcheck_report_version": 2, "note": "an earlier run"}', encoding="utf-8")
    long_name = "r" * 245 + ".json"  # a hidden temporary beside it would pass the file system's 255-byte limit
    result = run(project, "suites", "--factcheck-lre=off", "--factcheck-report=~/out/r.json", "--factcheck-html=~/out/r.html")
    assert f"report written to {earlier}" in result.stdout.str(), result.stdout.str()[-2000:]
    assert "an earlier run" not in earlier.read_text(encoding="utf-8") and not (project.path / "~").exists()
    result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={long_name}")
    assert "NOT written" not in result.stdout.str() and (project.path / long_name).is_file()


def test_a_report_or_a_baseline_written_where_suites_are_collected_is_refused(project):
    for args in (["--factcheck-report=suites/report.json"], ["--factcheck-baseline=suites/bl.json", "--factcheck-update-baseline"]):
        result = run(project, "suites", "--factcheck-lre=off", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "lies where suites are collected" in result.stderr.str()
        assert not list((project.path / "suites").glob("*.json"))


def test_output_paths_set_in_the_ini_file_are_relative_to_it_from_any_working_folder(project, tiny_llama_folder, monkeypatch):
    project.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 1\nfactcheck_shots = 1\n"
                    "factcheck_report = out/report.json\nfactcheck_html = out/report.html\n")
    monkeypatch.chdir(project.path / "suites" / "geo")
    result = run(project, "country_capital.json")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-2000:]
    assert json.loads((project.path / "out" / "report.json").read_text(encoding="utf-8"))["facts"]
    assert (project.path / "out" / "report.html").is_file()
    assert not (project.path / "suites" / "geo" / "out").exists()
    # `-o` is given on the command line: relative to the working folder.
    result = run(project, "country_capital.json", "-o", "factcheck_report=../../given.json")
    assert (project.path / "given.json").is_file(), result.stdout.str()[-2000:]


@pytest.mark.parametrize("override", ["factcheck_baseline=", "factcheck_model= "])
def test_an_ini_option_overridden_with_an_empty_value_is_a_usage_error_naming_it(project, override):
    # `-o factcheck_baseline=$BASELINE` with the variable unset ran with no baseline at all: the gate was off.
    result = run(project, "suites", "-o", override)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    assert f"-o {override.split('=')[0]}= was given an empty value" in result.stderr.str()


def test_a_project_test_recording_factchecks_property_names_neither_crashes_nor_stands_in_for_a_fact(project):
    # A test of the project's own that tags its JUnit entry as facts are tagged: with only the relation, the run ended
    # in INTERNALERROR; with both, its outcome replaced the fact's in the JSON report.
    tests = project.path / "tests" / "factcheck"  # in a folder named like the plugin's mark, a keyword then
    tests.mkdir(parents=True)
    (tests / "test_mine.py").write_text(
        "def test_half(record_property):\n    record_property('factcheck_relation', 'geo/country_capital')\n\n"
        "def test_whole(record_property):\n    record_property('factcheck_relation', 'geo/country_capital')\n"
        "    record_property('factcheck_subject', 'France')\n\ndef test_plain():\n    assert False\n")
    path = project.path / "report.json"
    result = run(project, "suites", "tests", "-rA", f"--factcheck-report={path}", "--factcheck-lre=off")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    said = re.search(r"^(PASSED|FAILED|XFAIL|XPASS) suites/geo/country_capital.json::country_capital\[France\]",
                     result.stdout.str(), re.MULTILINE).group(1)
    document = json.loads(path.read_text())
    france = next(fact for fact in document["facts"] if fact["relation"] == "geo/country_capital" and fact["subject"] == "France")
    assert france["outcome"] == {"PASSED": "passed", "FAILED": "failed", "XFAIL": "xfailed", "XPASS": "xpassed"}[said]
    assert not document.get("incomplete"), document.get("incomplete")  # the project's failing test is no fact


def test_a_baseline_name_past_the_file_systems_limit_is_said_when_gating(project):
    # Path.exists raises for such a name: the gate ended in INTERNALERROR (recording said it already).
    result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-baseline={'b' * 300}.json")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot be looked up (File name too long); give it a shorter name" in output


def test_a_run_whose_root_is_the_suites_folder_itself_says_so(pytester):
    # No ini file: run inside suites/, the root is that folder, and no 'suites' folder lies below it. The hint had
    # said to put the files under a folder named 'suites', where they are.
    write_suite(pytester.path / "suites" / "geo", "capital", facts=CAPITALS[:2])
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q",
                                          f"--rootdir={pytester.path / 'suites'}", str(pytester.path / "suites"))
    output = result.stdout.str()
    assert "look like fact suites but match no factcheck_suites pattern" in output, output[-2000:]
    assert "lies in a folder named 'suites': run pytest from the project's folder" in output
    assert "Put them under a folder named 'suites'" not in output


@pytest.mark.parametrize("by_scope", [False, True])
def test_xdist_scheduling_keeps_a_suite_on_one_worker_whatever_its_subjects_hold(by_scope):
    from types import SimpleNamespace

    from plugins.plugin import relation_scheduling

    pytest.importorskip("xdist")
    config = SimpleNamespace(getvalue=lambda name: ["popen"] * 2 if name == "tx" else None)
    scheduling = relation_scheduling(config, None, by_scope=by_scope)
    # loadscope's own scope cut a fact's id at its last '::': "std::vector" split the relation over workers.
    assert {scheduling._split_scope(f"suites/code.json::code[{subject}]") for subject in ("numpy", "std::vector")} == {"suites/code.json"}
    other = "tests/test_a.py::TestB::test_c"
    assert scheduling._split_scope(other) == ("tests/test_a.py::TestB" if by_scope else other)


def test_pytests_own_log_files_never_empty_a_baseline_a_report_or_a_suite(project, monkeypatch):
    # pytest empties its log file (--log-file, log_file) when it configures logging, and its --debug file as soon as
    # the command line is parsed: both came after factcheck's output checks, and a baseline named there was lost.
    baseline = project.path / "bl.json"
    baseline.write_text('{"factcheck_baseline_version": 2, "facts": {}}', encoding="utf-8")
    for args, said in (([f"--factcheck-baseline={baseline}", "--log-file=bl.json"], "are the same file"),
                       ([f"--factcheck-baseline={baseline}", "-o", "log_file=bl.json"], "are the same file"),
                       ([f"--factcheck-baseline={baseline}", "--factcheck-update-baseline", "--log-file=bl.json"], "are the same file"),
                       (["--log-file=suites/geo/country_capital.json"], "is a baseline, a report, a suite or JUnit XML, no log"),
                       (["--debug=bl.json"], "--debug bl.json is a baseline, a report, a suite or JUnit XML, no debug log")):
        result = run(project, "suites", *args)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and said in output and "INTERNALERROR" not in output, output[-2000:]
    assert baseline.read_text(encoding="utf-8") == '{"factcheck_baseline_version": 2, "facts": {}}'
    assert json.loads((project.path / "suites" / "geo" / "country_capital.json").read_text(encoding="utf-8"))["facts"]
    # The 33rd pass: a suite written with sorted keys ("facts" first) or with a byte-order mark, a baseline with one
    # that is not the one gated on, and a new log file where suites are collected.
    suite = json.loads((project.path / "suites" / "geo" / "country_capital.json").read_text(encoding="utf-8"))
    (project.path / "sorted.json").write_text(json.dumps(suite, sort_keys=True, indent=2), encoding="utf-8")
    (project.path / "marked.json").write_text(json.dumps(suite), encoding="utf-8-sig")
    (project.path / "other_bl.json").write_text('{"factcheck_baseline_version": 2, "facts": {}}', encoding="utf-8-sig")
    for name in ("sorted.json", "marked.json", "other_bl.json"):
        before = (project.path / name).read_bytes()
        for flag in ("--log-file", "--debug"):
            result = run(project, "suites", "--collect-only", f"{flag}={name}")
            output = result.stdout.str() + result.stderr.str()
            assert result.ret == pytest.ExitCode.USAGE_ERROR and "a baseline, a report, a suite or JUnit XML" in output, output[-2000:]
            assert (project.path / name).read_bytes() == before
    # The 39th pass: with the plugin loaded by a conftest (no autoload), its own early hook came too late, and pytest
    # wrote its debug log over the suite.
    project.makeconftest('pytest_plugins = ["factcheck_pytest.plugin"]')
    suite_path = project.path / "suites" / "geo" / "country_capital.json"
    before = suite_path.read_bytes()
    with monkeypatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        result = project.runpytest_subprocess("-p", "no:cacheprovider", f"--debug={suite_path}", "suites", "--collect-only", "-q")
    project.makeconftest("")
    assert suite_path.read_bytes() == before
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "no debug log" in result.stderr.str(), result.stderr.str()[-2000:]
    # A new log where suites are collected: the next run would take it for a bad suite (--debug: the 37th pass).
    for flag in ("--log-file", "--debug"):
        result = run(project, "suites", "--collect-only", f"{flag}=suites/geo/run.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "lies where suites are collected" in result.stderr.str(), flag
    # A log file of its own is written as before, also one whose lines start with "[" or are JSON, run after run.
    for log in ("run.log", "run.jsonl"):
        (project.path / log).write_text('[2026-12-04 03:00:00] INFO x\n' if log == "run.log" else '{"level": "INFO"}\n',
                                        encoding="utf-8")
        assert run(project, "suites", "--collect-only", f"--log-file={log}").ret == pytest.ExitCode.OK
        assert (project.path / log).is_file()
    # The 36th pass: with pytest's logging plugin off (`-p no:logging`) there is no log_file setting to read; asking
    # for it was INTERNALERROR in every run.
    result = run(project, "suites", "--collect-only", "-p", "no:logging")
    assert result.ret == pytest.ExitCode.OK and "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_other_plugins_reports_never_replace_a_baseline_a_report_or_a_suite(project):
    # The 35th pass: pytest-reportlog's --report-log, pytest-json-report's --json-report-file and pytest-html's --html
    # replaced the baseline (or a suite) named there. Their options, as those plugins add them:
    project.makeconftest("def pytest_addoption(parser):\n"
                         "    parser.addoption('--report-log', dest='report_log')\n"
                         "    parser.addoption('--json-report', dest='json_report', action='store_true')\n"
                         "    parser.addoption('--json-report-file', dest='json_report_file', default='.report.json')\n"
                         "    parser.addoption('--html', dest='htmlpath')\n"
                         # pytest-cov's (the 36th pass): a report only with --cov; --cov-report=KIND[:PATH] into a dict.
                         "    import argparse\n"
                         "    class StoreReport(argparse.Action):\n"
                         "        def __call__(self, parser, namespace, values, option_string=None):\n"
                         "            kind, _, path = values.partition(':')\n"
                         "            namespace.cov_report[kind] = path or None\n"
                         "    parser.addoption('--cov', dest='cov_source', action='append', nargs='?', const=True, default=[])\n"
                         "    parser.addoption('--cov-report', dest='cov_report', action=StoreReport, default={})\n")
    baseline = project.path / "bl.json"
    baseline.write_text('{"factcheck_baseline_version": 2, "facts": {}}', encoding="utf-8")
    for args, said in ((["--report-log=bl.json"], "the baseline (--factcheck-baseline) and --report-log (pytest-reportlog) are the same file"),
                       (["--json-report", "--json-report-file=other.json", "--factcheck-report=other.json"], "are the same file"),
                       (["--html=r.html", "--factcheck-html=r.html"], "are the same file"),
                       (["--report-log=suites/geo/country_capital.json"], "which that plugin's report would replace"),
                       (["--report-log=suites/geo/log.json"], "lies where suites are collected"),
                       (["--cov=factcheck", "--cov-report=json:bl.json"], "and --cov-report=json (pytest-cov) are the same file"),
                       (["--cov", "--cov-report=xml:suites/geo/country_capital.json"], "which that plugin's report would replace"),
                       (["--cov", "--cov-report=json", "--factcheck-report=coverage.json"], "are the same file"),
                       # The 37th pass: pytest-cov's HTML folder, or JUnit XML named .json, where suites are collected.
                       (["--cov", "--cov-report=html:suites/geo"], "--cov-report=html (pytest-cov)"),
                       (["--junitxml=suites/geo/results.json"], "lies where suites are collected")):
        result = run(project, "suites", "--collect-only", f"--factcheck-baseline={baseline}", *args)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and said in output and "INTERNALERROR" not in output, (args, output[-2000:])
    assert baseline.read_text(encoding="utf-8") == '{"factcheck_baseline_version": 2, "facts": {}}'
    # Named elsewhere, or turned off (--json-report-file without --json-report writes nothing), they run.
    for args in (["--report-log=log.jsonl"], ["--json-report-file=bl.json"], ["--cov-report=json:bl.json"],
                 ["--cov", "--cov-report=html:baselines", "--cov-report=json:cov.json"]):
        assert run(project, "suites", "--collect-only", *args).ret == pytest.ExitCode.OK


def test_a_session_a_conftest_ends_before_its_facts_ran_is_incomplete_fails_and_records_nothing(project):
    # pytest.exit(returncode=0) after the first fact (a time budget): "1 passed" with exit 0 passed the gate, wrote a
    # complete report and recorded a baseline of one fact.
    project.makeconftest("import pytest\n"
                         "def pytest_runtest_logfinish(nodeid, location):\n"
                         "    pytest.exit('time budget reached', returncode=0)\n")
    report_path, baseline = project.path / "r.json", project.path / "bl.json"
    result = run(project, "suites", f"--factcheck-report={report_path}", f"--factcheck-baseline={baseline}",
                 "--factcheck-update-baseline")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-2000:]
    assert f"7 of the {len(CAPITALS)} selected fact(s) gave no test report" in output and "baseline NOT updated" in output
    assert not baseline.exists()
    written = json.loads(report_path.read_text(encoding="utf-8"))
    assert len(written["facts"]) == 1 and "the session ended before them" in written["incomplete"]


def test_a_session_ended_with_exit_status_0_after_a_fact_failed_fails(project):
    # The 33rd pass: a test of the project's own ended the session with pytest.exit(returncode=0) after the facts ran
    # and one regressed: the run exited 0.
    (project.path / "zz_tests").mkdir()
    (project.path / "zz_tests" / "test_budget.py").write_text(
        "import pytest\n"
        "def test_time_budget():\n"
        "    pytest.exit('time budget reached', returncode=0)\n", encoding="utf-8")
    result = run(project, "suites", "zz_tests")  # the tiny model says none right: the facts fail
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-2000:]
    assert f"{len(CAPITALS)} fact(s) failed, but the session was ended with exit status 0 (pytest.exit)" in output


def test_facts_a_conftest_removes_without_deselecting_them_are_named_as_not_checked(project):
    # The "--runslow" idiom: items dropped in pytest_collection_modifyitems, with no pytest_deselected call.
    project.makeconftest("def pytest_collection_modifyitems(config, items):\n"
                         "    items[:] = [item for item in items if 'hard' not in item.keywords]\n")
    result = run(project, "suites")  # the tiny model says none right: the facts fail, none is skipped by a mark
    lines = result.stdout.lines
    assert any("facts skipped, not checked" in line for line in lines)
    assert any("1 x removed from the run at collection by a conftest or plugin" in line for line in lines)
    # The 35th pass: a suite named by node ids hid the named facts a conftest removed, also beside the whole folder.
    kenya = "suites/geo/country_capital.json::country_capital[Kenya]"  # the fact tagged "hard"
    for args in ([kenya, kenya.replace("[Kenya]", f"[{CAPITALS[0][0]}]")], ["suites", kenya]):
        result = run(project, *args)
        assert any("1 x removed from the run at collection by a conftest or plugin" in line for line in result.stdout.lines), args
    # Deselected facts (-k) are said by pytest and are not counted again, nor are facts node ids do not name.
    project.makeconftest("")
    result = run(project, "suites", "-k", "not Kenya")
    assert not any("facts skipped, not checked" in line for line in result.stdout.lines)
    result = run(project, kenya)
    assert not any("facts skipped, not checked" in line for line in result.stdout.lines)


def test_an_earlier_report_is_gone_once_the_facts_start_so_a_killed_run_leaves_none(project):
    # SIGKILL (the OOM killer, a CI job's hard timeout) cannot be caught: the earlier run's report, left in place, was
    # taken by `factcheck diff` for this run's.
    report_path = project.path / "r.json"
    run(project, "suites", f"--factcheck-report={report_path}")  # the tiny model says none right: the facts fail
    assert report_path.is_file()
    project.makeconftest("import os\n"
                         "def pytest_runtest_call(item):\n"
                         "    os.kill(os.getpid(), 9)\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", f"--factcheck-report={report_path}")
    assert result.ret == -9 and not report_path.exists()
    # A run that ends normally writes its own report, and one with no fact selected leaves the earlier one.
    project.makeconftest("")
    run(project, "suites", f"--factcheck-report={report_path}")
    assert report_path.is_file()
    assert run(project, "suites", "-k", "Atlantis", f"--factcheck-report={report_path}").ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert report_path.is_file()


def test_an_unforeseen_error_shows_its_traceback_once_not_for_every_fact(project):
    # A model whose stop tokens broke the fingerprint printed an 800-line traceback for each of 50 facts.
    project.makeconftest("import factcheck.session\n"
                         "def boom(*args, **kwargs):\n"
                         "    raise TypeError(\"'<' not supported between instances of 'str' and 'int'\")\n"
                         "def pytest_configure(config):\n"
                         "    config._kept_load_model = factcheck.session.load_model\n"
                         "    factcheck.session.load_model = boom\n"
                         "def pytest_unconfigure(config):\n"
                         "    factcheck.session.load_model = config._kept_load_model\n")
    result = run(project, "suites")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "INTERNALERROR" not in output
    assert len(re.findall(r"^E\s+TypeError: '<' not supported", output, re.MULTILINE)) == 1  # the traceback, once
    assert "conftest.py:3: TypeError" in output  # and down to where the error arose, not only where it was raised again
    failures = output.split("short test summary info")[0]  # under CI=true the summary repeats each message whole
    assert failures.count("(the same error as for suites/geo/country_capital.json::country_capital[France], whose traceback "
                          "is shown there)") == len(CAPITALS) - 1
    # The 55th pass: --tb=native (and line, short) was ignored for a fact's error: the long form was shown.
    native = run(project, "suites", "--tb=native").stdout.str()
    assert "Traceback (most recent call last):" in native and "conftest.py\", line 3, in boom" in native, native[-3000:]


def test_an_error_a_conftest_hook_raises_in_a_fact_shows_its_frames_not_pytests(project):
    # The 55th pass: a hook's error (raised outside the fact's own code) showed some 215 lines of pytest's and pluggy's
    # frames before the conftest's.
    project.makeconftest("def pytest_runtest_call(item):\n    raise RuntimeError('the hook broke')\n")
    output = run(project, "suites", "--factcheck-lre=off", "-x").stdout.str()
    assert "conftest.py:2: RuntimeError" in output and "_pytest/runner.py" not in output and "pluggy/_callers.py" not in output, output[-3000:]


def test_facts_that_never_ran_or_were_removed_are_found_under_xdist_and_by_a_protocol_hook_too(project):
    # The 30th pass: under -n 2 the controller collects nothing, so the 29th pass's checks saw no selected fact.
    report_path = project.path / "r.json"
    project.makeconftest("import pytest\n"
                         "def pytest_runtest_logfinish(nodeid, location):\n"
                         "    pytest.exit('time budget reached', returncode=0)\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2",
                                          f"--factcheck-report={report_path}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK and "gave no test report" in output, output[-3000:]
    assert "the session ended before them" in json.loads(report_path.read_text(encoding="utf-8"))["incomplete"]
    # A conftest that drops facts without deselecting them: counted by the workers, said by the controller.
    project.makeconftest("def pytest_collection_modifyitems(config, items):\n"
                         "    items[:] = [item for item in items if 'hard' not in item.keywords]\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", "-n", "2")
    assert "1 x removed from the run at collection by a conftest or plugin" in result.stdout.str(), result.stdout.str()[-3000:]
    # A project's own JSON test items (pytest's "non-python tests") are no facts: they give reports of their own.
    (project.path / "cases").mkdir()
    (project.path / "cases" / "one.json").write_text("{}", encoding="utf-8")
    project.makeconftest("import pytest\n"
                         "class Case(pytest.Item):\n"
                         "    def runtest(self):\n"
                         "        pass\n"
                         "class CaseFile(pytest.File):\n"
                         "    def collect(self):\n"
                         "        yield Case.from_parent(self, name='case')\n"
                         "def pytest_collect_file(file_path, parent):\n"
                         "    if file_path.parent.name == 'cases' and file_path.suffix == '.json':\n"
                         "        return CaseFile.from_parent(parent, path=file_path)\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "cases", "--factcheck-lre=off", "-n", "2")
    assert "gave no test report" not in result.stdout.str(), result.stdout.str()[-3000:]
    # A protocol hook that says it ran a fact it kept from running ("handled"): the fact is named.
    project.makeconftest("def pytest_runtest_protocol(item, nextitem):\n"
                         "    return True if 'Kenya' in item.nodeid else None\n")
    result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "1 of the 8 selected fact(s) gave no test report (country_capital[Kenya])" in output


def test_a_basetemp_that_holds_the_baseline_a_suite_or_the_project_is_refused(project):
    # pytest empties --basetemp when a test first asks for tmp_path: a baseline or the suites there were deleted.
    (project.path / "baselines").mkdir()
    baseline = project.path / "baselines" / "bl.json"
    baseline.write_text('{"keep": "me"}', encoding="utf-8")
    for args, said in (([f"--factcheck-baseline={baseline}", "--basetemp=baselines"], "holds the baseline (--factcheck-baseline)"),
                       (["--basetemp=suites"], "holds the suite"),
                       (["--factcheck-report=out/r.json", "--basetemp=out"], "holds --factcheck-report")):
        result = run(project, "suites", *args)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and said in output and "give pytest a folder of its own" in output, output[-2000:]
    assert baseline.read_text(encoding="utf-8") == '{"keep": "me"}' and (project.path / "suites" / "geo" / "country_capital.json").is_file()
    assert run(project, "suites", "--collect-only", "--basetemp=tmp").ret == pytest.ExitCode.OK
    # A basetemp outside the project that holds a test's own draft suite from an earlier run is no suite of this run.
    elsewhere = project.path.parent / f"{project.path.name}-basetemp"
    (elsewhere / "test_draft0" / "suites").mkdir(parents=True)
    (elsewhere / "test_draft0" / "suites" / "draft.json").write_text("{}", encoding="utf-8")
    assert run(project, "suites", "--collect-only", f"--basetemp={elsewhere}").ret == pytest.ExitCode.OK


def test_a_usage_error_at_collection_leaves_the_earlier_report_and_blames_no_conftest(project):
    # A baseline that cannot be read, or --runxfail with a gate: refused before any fact runs, nothing is removed, and
    # no line says the facts "gave no test report" (pytest calls pytest_collection_finish after the refusal too).
    report_path = project.path / "r.json"
    run(project, "suites", f"--factcheck-report={report_path}")
    earlier = report_path.read_text(encoding="utf-8")
    for args in (["--factcheck-baseline=missing.json"], ["--factcheck-baseline=missing.json", "-n", "2"]):
        result = (project.runpytest_subprocess if "-n" in args else project.runpytest_inprocess)(
            "-p", "no:cacheprovider", "suites", f"--factcheck-report={report_path}", *args)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and "missing.json" in output, output[-2000:]
        assert "gave no test report" not in output and "removed" not in output, output[-2000:]
        assert report_path.read_text(encoding="utf-8") == earlier


@pytest.mark.parametrize("hook, body, ret", [
    ("pytest_sessionstart(session)", "raise RuntimeError('boom')", pytest.ExitCode.INTERNAL_ERROR),
    ("pytest_collection(session)", "raise RuntimeError('boom')", pytest.ExitCode.INTERNAL_ERROR),
    ("pytest_collection_finish(session)", "raise RuntimeError('boom')", pytest.ExitCode.INTERNAL_ERROR),
    # The 43rd pass: pytest.exit or Ctrl-C from a conftest at collection left the earlier report too (exit 0 for one).
    ("pytest_collection_finish(session)", "pytest.exit('stop', returncode=0)", pytest.ExitCode.OK),
    ("pytest_collection(session)", "raise KeyboardInterrupt", pytest.ExitCode.INTERRUPTED)])
def test_a_run_that_stops_before_its_facts_are_selected_leaves_no_earlier_report(project, hook, body, ret):
    # The 42nd pass: a conftest hook raising before the facts were selected (INTERNALERROR), or a broken pipe
    # (`pytest ... | head -1`), left an earlier run's report at the output path, unmarked, for a later CI step to read.
    report_path = project.path / "r.json"
    run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    assert report_path.is_file()
    project.makeconftest(f"import pytest\n@pytest.hookimpl(tryfirst=True)\ndef {hook}:\n    {body}\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    assert result.ret == ret and not report_path.exists(), result.stdout.str()[-2000:]
    assert "an earlier run's report" in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("body", ["os.kill(os.getpid(), signal.SIGTERM)", "raise KeyboardInterrupt", "pytest.exit('stop', returncode=0)"])
def test_a_run_whose_workers_stop_at_collection_leaves_no_earlier_report(project, body):
    # The 44th pass: under xdist, a CI cancel reaching the workers, or a conftest's pytest.exit, while they collected
    # left an earlier run's report byte for byte (exit 5, 2 or 3): the controller's selection stayed unknown.
    report_path = project.path / "r.json"
    run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    assert report_path.is_file()
    project.makeconftest("import os, signal, pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_collection_finish(session):\n"
                         f"    if hasattr(session.config, 'workerinput'):\n        {body}\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "-n", "2", "--factcheck-lre=off",
                                          f"--factcheck-report={report_path}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK and not report_path.exists(), output[-2000:]
    assert "an earlier run's report" in output, output[-2000:]


def test_a_run_whose_output_pipe_breaks_leaves_no_earlier_report(project):
    report_path = project.path / "r.json"
    run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}"]
    with project.popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.readline()
        process.stdout.close()  # as `| head -1` does
        process.wait(timeout=600)
    assert process.returncode != 0 and not report_path.exists()


def test_the_checks_of_the_29th_to_31st_passes_leave_legitimate_runs_alone(project):
    # The 32nd pass: a suite in a folder named with "::", a fact chosen by its node id, --fixtures, and a -k typo
    # under xdist were taken for facts that never ran, facts a conftest removed, or a start of the facts.
    report_path = project.path / "r.json"
    cpp = project.path / "suites" / "cpp::std"
    write_suite(cpp, "capitals")
    result = run(project, "suites", "--factcheck-lre=off", f"--factcheck-report={report_path}")
    output = result.stdout.str()
    assert "gave no test report" not in output and not json.loads(report_path.read_text(encoding="utf-8")).get("incomplete"), output[-2000:]
    shutil.rmtree(cpp)
    result = run(project, "suites/geo/country_capital.json::country_capital[Japan]", "--factcheck-lre=off")
    assert "facts skipped, not checked" not in result.stdout.str() and "removed from the run" not in result.stdout.str()
    earlier = report_path.read_text(encoding="utf-8")
    for args in (["--fixtures"], ["--fixtures-per-test"]):
        result = run(project, "suites", f"--factcheck-report={report_path}", *args)
        assert "gave no test report" not in result.stdout.str() and report_path.read_text(encoding="utf-8") == earlier
    project.runpytest_subprocess("-p", "no:cacheprovider", "suites", "-n", "2", "-k", "cat or", f"--factcheck-report={report_path}")
    assert report_path.read_text(encoding="utf-8") == earlier  # a usage error under xdist: no fact started


def test_a_large_json_log_is_searched_for_a_documents_keys_not_parsed_whole(tmp_path):
    # The 35th pass: a 63 MB log of "{}" entries was parsed whole to see whether it was a suite: 1.6 GB.
    import resource

    from plugins.plugin import _holds_a_document

    log = tmp_path / "big.json"
    log.write_bytes(b'{"rows": [' + b"{}," * 3_500_000 + b"{}]}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert not _holds_a_document(log)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: not the parse's gigabyte
    log.write_bytes(b'{"rows": [' + b"{}," * 3_500_000 + b'{}], "relation": "x"}')  # its keys past the first 8 MiB
    suite = tmp_path / "suite.json"
    suite.write_bytes(b'{"facts": [' + b'{"subject": "a", "object": "b"},' * 10 + b'{}], "relation": "x", "templates": []}')
    assert _holds_a_document(suite) and not _holds_a_document(log)
