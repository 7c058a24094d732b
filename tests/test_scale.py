"""Scale: loading through accelerate's device map, and running suites on several pytest-xdist workers.

The xdist runs start real pytest processes in a throw-away project (three
small suites, the tiny Llama saved to a folder), once per module: a serial run,
plain `-n 2`, `-n 2 --dist loadgroup`, `-n 2 --dist loadfile` and
`-n 2 --dist worksteal` (which splits relations). Each writes JUnit XML
(per-fact properties come back from the workers), a JSON report and an HTML
report; the controller writes the reports of an xdist run from what the
workers send it, and they must equal the serial run's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import torch

from factcheck.model.language_model import load_model
from factcheck.says.saycheck import SayOptions, run_relation
from factcheck.suites.suite import parse_suite

pytest.importorskip("xdist")

PROMPTS = ["The capital city of France is", "Miles Davis plays the", "0 1 2 3", "The Colosseum is in"]


# ---- device_map="auto" ------------------------------------------------------------------------------------


def test_device_map_auto_loads_through_accelerate_and_gives_the_same_logits(tiny_llama_folder, monkeypatch, tmp_path):
    import transformers.modeling_utils as modeling_utils

    resolved: list[tuple[object, dict]] = []
    original = modeling_utils._get_device_map

    def spy(model, device_map, *args, **kwargs):
        result = original(model, device_map, *args, **kwargs)
        resolved.append((device_map, dict(result)))
        return result

    monkeypatch.setattr(modeling_utils, "_get_device_map", spy)
    mapped = load_model(tiny_llama_folder, device="auto")  # as --factcheck-device auto passes it
    assert resolved and resolved[0][0] == "auto", "device 'auto' did not reach accelerate's device-map planning"
    assert set(map(str, resolved[0][1].values())) == {"cpu"}, resolved  # no accelerator here: all of it on the CPU
    monkeypatch.setattr(modeling_utils, "_get_device_map", original)
    plain = load_model(tiny_llama_folder)

    assert mapped.device == plain.device == torch.device("cpu")
    assert mapped.dtype == plain.dtype == torch.float32
    assert mapped.fingerprint == plain.fingerprint
    assert torch.equal(mapped.next_token_logits(PROMPTS), plain.next_token_logits(PROMPTS))
    # And the say-check, which passes its own caches and position ids, agrees too.
    suite = parse_suite({
        "relation": "country capital city",
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin")]],
    }, tmp_path / "country_capital.json")
    options = SayOptions(shots=2, max_new_tokens=3, batch_size=2)
    for a, b in zip(run_relation(mapped, suite, options), run_relation(plain, suite, options)):
        assert (a.generated, a.ranking_pass) == (b.generated, b.ranking_pass)
        assert a.margin == pytest.approx(b.margin, abs=1e-6)


# ---- several workers ------------------------------------------------------------------------------------------

RELATIONS = {
    "country_capital": ("The capital city of {subject} is", [
        ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Peru", "Lima"), ("Kenya", "Nairobi"),
    ]),
    "musician_instrument": ("{subject} plays the", [
        ("Miles Davis", "trumpet"), ("Jimi Hendrix", "guitar"), ("Yo-Yo Ma", "cello"), ("Ringo Starr", "drums"), ("Lang Lang", "piano"),
    ]),
    "object_color": ("The color of {subject} is", [
        ("the sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"), ("a banana", "yellow"), ("blood", "red"),
    ]),
}
FACT_COUNT = sum(len(facts) for _, facts in RELATIONS.values())
# Lines of `pytest -v` under xdist: "[gw1] [ 38%] FAILED suites/x.json::x[Miles Davis] "
WORKER_LINE = re.compile(r"^\[(gw\d+)\] \[\s*\d+%\] ([A-Z]+) (suites/\S+?\.json::.+?)\s*$")


class Run:
    def __init__(self, project: Path, name: str, args: list[str], env: dict[str, str]):
        self.junit = project / f"{name}.xml"
        self.report = project / f"{name}-report.json"
        self.html = project / f"{name}.html"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rN", "--tb=no", "suites",
                   f"--junitxml={self.junit}", f"--factcheck-report={self.report}", f"--factcheck-html={self.html}", *args]
        self.process = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=420)
        self.output = self.process.stdout + self.process.stderr

    def facts(self) -> dict[str, dict[str, str]]:
        """Test name (without an xdist group suffix) -> its factcheck_* JUnit properties and outcome."""
        assert self.junit.is_file(), self.output[-3000:]
        facts = {}
        for case in ElementTree.parse(self.junit).iter("testcase"):
            name = case.get("name").split("@", 1)[0]
            # A relation's seconds differ from run to run; everything else a fact carries must not.
            properties = {p.get("name"): p.get("value") for p in case.iter("property")
                          if p.get("name").startswith("factcheck_") and p.get("name") != "factcheck_relation_seconds"}
            failure = case.find("failure")
            if failure is not None:
                # A fact the model does not say or know, or a crash (anything else)?
                properties["outcome"] = "failed" if (failure.text or "").startswith("fact ") else "crashed: " + (failure.get("message") or "")[:300]
            else:
                properties["outcome"] = "error" if case.find("error") is not None else "passed"
            facts[name] = properties
        return facts

    def workers(self) -> dict[str, str]:
        """Node id (without an xdist group suffix) -> the worker that ran it."""
        found = {}
        for line in self.process.stdout.splitlines():
            match = WORKER_LINE.match(line)
            if match:
                found[match.group(3).split("@", 1)[0]] = match.group(1)
        return found

    def report_document(self) -> dict:
        assert self.report.is_file(), self.output[-3000:]
        return json.loads(self.report.read_text(encoding="utf-8"))

    def summary_section(self) -> list[str]:
        """The per-relation table of the terminal summary, without the model line (its load time varies) and the
        note that relations were split over workers."""
        lines = self.process.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if "factcheck: what the model says and knows" in line)
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("=") or lines[i].startswith("factcheck: report"))
        return [line for line in lines[start + 1 : end]
                if not line.startswith("factcheck: ") and "ran on more than one worker" not in line]


def runs_env(project: Path, cache: Path | None = None) -> dict[str, str]:
    """The environment of the runs in `project`: one LRE cache for all of them, nothing of an outer xdist run."""
    marker = project / ".cache-folder"
    if cache is not None:
        marker.write_text(str(cache), encoding="utf-8")
    env = {**os.environ, "FACTCHECK_CACHE": marker.read_text(encoding="utf-8"), "PYTHONHASHSEED": "0"}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_llama_folder):
    project = tmp_path_factory.mktemp("xdist-project")
    (project / "pytest.ini").write_text(
        f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 3\nfactcheck_shots = 2\n", encoding="utf-8"
    )
    (project / "suites").mkdir()
    for relation, (template, facts) in RELATIONS.items():
        (project / "suites" / f"{relation}.json").write_text(json.dumps({
            "relation": relation.replace("_", " "),
            "templates": [template],
            "facts": [{"subject": s, "object": o} for s, o in facts],
            # A minimum the tiny model misses: the controller must fail the session for it, as one process does.
            **({"settings": {"min_accuracy": 0.99}} if relation == "object_color" else {}),
        }), encoding="utf-8")
    env = runs_env(project, tmp_path_factory.mktemp("xdist-cache"))
    runs = {"serial": Run(project, "serial", [], env)}
    # The serial run fills the LRE cache; every later run reads it (so their reports agree on cache_hit).
    runs["record_serial"] = Run(project, "record-serial", ["--factcheck-update-baseline", "--factcheck-baseline=serial.json"], env)
    runs["record_xdist"] = Run(project, "record-xdist", ["-n", "2", "--factcheck-update-baseline", "--factcheck-baseline=xdist.json"], env)
    runs["plain"] = Run(project, "plain", ["-n", "2", "--factcheck-baseline=serial.json"], env)
    for mode in ("loadgroup", "loadfile", "worksteal"):
        runs[mode] = Run(project, mode, ["-n", "2", "--dist", mode], env)
    return runs


MODES = ["plain", "loadgroup", "loadfile", "worksteal"]


def _value(text):
    """A JUnit property value back as data: JSON where it parses (lists, numbers), else the text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def assert_close(mine, theirs, where: str) -> None:
    """Equal, except that floats (margins, log-probabilities) may differ by float rounding between processes."""
    if isinstance(theirs, float) or isinstance(mine, float):
        assert isinstance(mine, (int, float)) and mine == pytest.approx(theirs, abs=1e-4), (where, mine, theirs)
    elif isinstance(theirs, dict):
        assert isinstance(mine, dict) and mine.keys() == theirs.keys(), (where, mine, theirs)
        for key in theirs:
            assert_close(mine[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, list):
        assert isinstance(mine, list) and len(mine) == len(theirs), (where, mine, theirs)
        for index, (a, b) in enumerate(zip(mine, theirs)):
            assert_close(a, b, f"{where}/{index}")
    else:
        assert mine == theirs, (where, mine, theirs)


def assert_same_facts(theirs: dict[str, dict[str, str]], serial: dict[str, dict[str, str]]) -> None:
    assert sorted(theirs) == sorted(serial)
    for name, reference in serial.items():
        assert_close({k: _value(v) for k, v in theirs[name].items()}, {k: _value(v) for k, v in reference.items()}, name)


def test_serial_run_checks_every_fact(runs):
    serial = runs["serial"]
    assert serial.process.returncode in (0, 1), serial.output[-3000:]
    facts = serial.facts()
    assert len(facts) == FACT_COUNT
    assert all(f["outcome"] in ("passed", "failed") for f in facts.values()), facts
    assert all("factcheck_generated" in f for f in facts.values())


@pytest.mark.parametrize("mode", MODES)
def test_xdist_run_gives_the_serial_verdicts(runs, mode):
    run = runs[mode]
    assert "2 workers" in run.output
    mine, serial = run.facts(), runs["serial"].facts()
    if mode == "plain":  # it gates on a baseline: facts said wrong there xfail, so only their properties compare
        assert all(p["factcheck_gate"] in ("still_right", "still_wrong") for p in mine.values()), mine
        mine, serial = ({name: {k: v for k, v in p.items() if k not in ("outcome", "factcheck_gate")} for name, p in f.items()}
                        for f in (mine, serial))
    assert_same_facts(mine, serial)


@pytest.mark.parametrize("mode", MODES)
def test_the_controller_writes_the_serial_runs_reports_and_summary(runs, mode):
    """Every fact once in one report, equal to the serial run's; the same terminal table; and one HTML report."""
    run, serial = runs[mode], runs["record_serial"]  # a serial run on the filled LRE cache, as every xdist run is
    if mode != "plain":  # the plain run gates on a baseline recorded from the serial run: all its facts pass or xfail
        assert run.process.returncode == runs["serial"].process.returncode, run.output[-3000:]
    mine, theirs = run.report_document(), serial.report_document()
    key = lambda fact: (fact["relation"], fact["subject"])  # noqa: E731
    assert len({key(f) for f in mine["facts"]}) == len(mine["facts"]) == FACT_COUNT
    # Each fact's pytest outcome (and, gated, its class against the baseline) comes from the workers' reports.
    junit = {(name.split("[", 1)[0], name.split("[", 1)[1][:-1]): p["outcome"] for name, p in run.facts().items()}
    for fact in mine["facts"]:
        said_failed = junit[(fact["relation"], fact["subject"])] == "failed"
        assert (fact["outcome"] == "failed") == said_failed, fact
        assert ("gate" in fact) == (mode == "plain"), fact
    without_outcome = lambda facts: sorted(({k: v for k, v in f.items() if k not in ("outcome", "gate")} for f in facts), key=key)  # noqa: E731
    assert_close(without_outcome(mine["facts"]), without_outcome(theirs["facts"]), "facts")
    assert_close(mine["suites"], theirs["suites"], "suites")
    assert mine["model"] == theirs["model"]
    assert run.summary_section() == serial.summary_section()
    assert "object_color: said right" in run.output and "below its minimum 99%" in run.output
    html = run.html.read_text(encoding="utf-8")
    assert f"{FACT_COUNT} facts" in html and all(relation in html for relation in RELATIONS)


def workers_by_relation(run: Run) -> dict[str, set[str]]:
    workers = run.workers()
    assert len(workers) == FACT_COUNT, run.process.stdout[-3000:]
    by_relation: dict[str, set[str]] = {}
    for node_id, worker in workers.items():
        by_relation.setdefault(node_id.split("::", 1)[0], set()).add(worker)
    return by_relation


def _relations_on_one_worker(run: Run) -> None:
    by_relation = workers_by_relation(run)
    assert all(len(used) == 1 for used in by_relation.values()), by_relation


@pytest.mark.parametrize("mode", ["plain", "loadfile"])
def test_xdist_keeps_each_relation_on_one_worker(runs, mode):
    _relations_on_one_worker(runs[mode])
    assert "ran on more than one worker" not in runs[mode].output


@pytest.mark.xfail(strict=True, reason=(
    "pytest-xdist 3.8 marks loadgroup groups by rewriting item._nodeid, which pytest 9.2 no longer reads "
    "(pytest-dev/pytest-xdist#1386): xdist_group marks are ignored and a relation's facts spread over workers"))
def test_xdist_loadgroup_keeps_each_relation_on_one_worker(runs):
    _relations_on_one_worker(runs["loadgroup"])


def test_a_mode_that_splits_relations_says_so(runs):
    run = runs["worksteal"]
    if all(len(used) == 1 for used in workers_by_relation(run).values()):
        pytest.skip("worksteal happened to keep every relation on one worker this time")
    assert "relation(s) ran on more than one worker" in run.output and "--dist worksteal" in run.output


def test_a_baseline_recorded_under_xdist_equals_the_serial_one_and_the_controller_gates(runs, tmp_path):
    for name in ("record_serial", "record_xdist"):  # recording fails no fact; object_color's minimum still fails the run
        assert runs[name].process.returncode == 1 and "minimum accuracy missed" in runs[name].output, runs[name].output[-3000:]
    project = runs["serial"].report.parent
    serial, xdist = (json.loads((project / name).read_text(encoding="utf-8")) for name in ("serial.json", "xdist.json"))
    assert_close(xdist["facts"], serial["facts"], "facts")
    assert xdist["model"] == serial["model"] and xdist["suites"] == serial["suites"]
    gated = runs["plain"]
    assert "factcheck: against the baseline" in gated.output and "regressions: 0" in gated.output
    # Every fact passes or xfails against its own baseline; only object_color's minimum accuracy fails the run.
    assert gated.process.returncode == 1 and "minimum accuracy missed" in gated.output, gated.output[-3000:]
    assert gated.process.stdout.count(" failed") == 0 and " xfailed" in gated.process.stdout


def test_a_crashed_worker_makes_the_run_incomplete_and_leaves_the_baseline_alone(runs):
    project = runs["serial"].report.parent
    (project / "crash_test.py").write_text("import os\n\n\ndef test_worker_dies():\n    os._exit(3)\n", encoding="utf-8")
    try:
        # No restarts: pytest-xdist would otherwise run the crashing test again on each new worker.
        run = Run(project, "crash", ["crash_test.py", "-n", "2", "--dist", "loadfile", "--max-worker-restart=0",
                                     "--factcheck-update-baseline", "--factcheck-baseline=crash-baseline.json"], runs_env(project))
    finally:
        (project / "crash_test.py").unlink()
    assert run.process.returncode != 0, run.output[-3000:]
    assert "factcheck: results incomplete" in run.output and "crashed" in run.output, run.output[-3000:]
    assert "baseline NOT updated" in run.output and not (project / "crash-baseline.json").exists()


# Steered by environment variables, so that the other runs of the project are left as they are.
STEERING_CONFTEST = """import os
import time


def pytest_runtest_call(item):
    time.sleep(float(os.environ.get("SLOW_FACTS", "0")))


def pytest_runtest_teardown(item):
    if item.name == os.environ.get("CRASH_AFTER"):
        time.sleep(1.0)  # the fact's reports reach the controller first
        os._exit(3)
"""


@pytest.fixture
def steered(runs):
    project = runs["serial"].report.parent
    (project / "conftest.py").write_text(STEERING_CONFTEST, encoding="utf-8")
    yield project
    (project / "conftest.py").unlink()


def reported_facts(path: Path) -> tuple[str | None, set[tuple[str, str]]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return document.get("incomplete"), {(fact["relation"], fact["subject"]) for fact in document["facts"]}


def test_a_crashed_workers_facts_still_reach_the_report_marked_incomplete(runs, steered):
    env = {**runs_env(steered), "CRASH_AFTER": "musician_instrument[Lang Lang]"}
    run = Run(steered, "crash-streamed", ["-n", "2", "--dist", "loadfile", "--max-worker-restart=0"], env)
    incomplete, facts = reported_facts(run.report)
    assert incomplete and "worker" in incomplete, run.output[-3000:]
    assert {("musician_instrument", subject) for subject, _ in RELATIONS["musician_instrument"][1]} <= facts
    assert "marked incomplete" in run.output and "Incomplete run" in run.html.read_text(encoding="utf-8")


def interrupted_run(project: Path, args: list[str], slow_facts: float, interrupt_after) -> tuple[int, str]:
    """`pytest -n 2 suites ARGS` in `project`, each fact taking `slow_facts` seconds more, with Ctrl-C sent to it and
    its workers once a line of its output matches `interrupt_after`. Returns (exit status, output)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "suites", "-n", "2", *args]
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the controller and its workers alike.
    process = subprocess.Popen(command, cwd=project, env={**runs_env(project), "SLOW_FACTS": str(slow_facts)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in process.stdout:
        seen.append(line)
        if interrupt_after.match(line.rstrip("\n")):
            os.killpg(process.pid, signal.SIGINT)
            break
    output = "".join(seen) + process.communicate(timeout=300)[0]
    return process.returncode, output


def test_ctrl_c_under_xdist_writes_the_facts_that_ran_marked_incomplete_and_keeps_the_baseline(runs, steered):
    report, baseline = steered / "interrupted.json", steered / "interrupted-baseline.json"
    # Once a fact's line is printed, its reports have reached the controller.
    status, output = interrupted_run(steered, [f"--factcheck-report={report}", "--factcheck-update-baseline",
                                               f"--factcheck-baseline={baseline}"], 0.5, WORKER_LINE)
    assert status == pytest.ExitCode.INTERRUPTED, output[-3000:]
    incomplete, facts = reported_facts(report)
    assert incomplete == "the run was interrupted" and 1 <= len(facts) < FACT_COUNT, output[-3000:]
    assert "baseline NOT updated" in output and not baseline.exists()


def test_ctrl_c_under_xdist_before_any_fact_ran_removes_an_earlier_report(runs, steered):
    report = steered / "earlier.json"
    report.write_text('{"factcheck_report_version": 2, "facts": []}', encoding="utf-8")  # as a finished run left it
    # Interrupted once the workers have collected, while the first facts take 5 s each.
    status, output = interrupted_run(steered, [f"--factcheck-report={report}"], 5, re.compile(r"^2 workers \[\d+ items\]"))
    assert status == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert not report.exists() and f"removed {report}, an earlier run's report" in output, output[-3000:]


def test_workers_started_by_n_share_the_cores(runs):
    project = runs["serial"].report.parent
    cores = len(os.sched_getaffinity(0))
    (project / "threads_test.py").write_text(
        "import torch\n\n\ndef test_threads(factcheck_model):\n"
        f"    assert torch.get_num_threads() == {max(1, cores // 2)}, torch.get_num_threads()\n", encoding="utf-8")
    try:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "threads_test.py", "-n", "2"]
        process = subprocess.run(command, cwd=project, env=runs_env(project), capture_output=True, text=True, timeout=300)
    finally:
        (project / "threads_test.py").unlink()
    assert process.returncode == 0 and "1 passed" in process.stdout, process.stdout[-3000:] + process.stderr[-2000:]
