"""Scale: loading through accelerate's device map, and running suites on several pytest-xdist workers.

The xdist runs start real pytest processes in a throw-away project (three
small suites, the tiny Llama saved to a folder), once per module: a serial run,
`-n 2 --dist loadgroup` (what the README recommends) and `-n 2 --dist loadfile`.
Each run writes JUnit XML (per-fact properties come back from the workers) and
a JSON report.
"""

from __future__ import annotations

import json
import os
import re
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
    def __init__(self, project: Path, name: str, args: list[str], env: dict[str, str], report: bool = True):
        self.junit = project / f"{name}.xml"
        self.report = project / f"{name}-report.json"
        # Under xdist the plugin refuses a report (each worker would write only its own facts).
        report_args = [f"--factcheck-report={self.report}"] if report else []
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rN", "--tb=no", "suites",
                   f"--junitxml={self.junit}", *report_args, *args]
        self.process = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=420)
        self.output = self.process.stdout + self.process.stderr

    def facts(self) -> dict[str, dict[str, str]]:
        """Test name (without an xdist group suffix) -> its factcheck_* JUnit properties and outcome."""
        assert self.junit.is_file(), self.output[-3000:]
        facts = {}
        for case in ElementTree.parse(self.junit).iter("testcase"):
            name = case.get("name").split("@", 1)[0]
            properties = {p.get("name"): p.get("value") for p in case.iter("property") if p.get("name").startswith("factcheck_")}
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

    def report_facts(self) -> dict[tuple[str, str], dict]:
        assert self.report.is_file(), self.output[-3000:]
        return {(f["relation"], f["subject"]): f for f in json.loads(self.report.read_text(encoding="utf-8"))["facts"]}


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
        }), encoding="utf-8")
    env = {**os.environ, "FACTCHECK_CACHE": str(tmp_path_factory.mktemp("xdist-cache")), "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return {
        "serial": Run(project, "serial", [], env),
        "loadgroup": Run(project, "loadgroup", ["-n", "2", "--dist", "loadgroup"], env, report=False),
        "loadfile": Run(project, "loadfile", ["-n", "2", "--dist", "loadfile"], env, report=False),
        "report_under_xdist": Run(project, "refused", ["-n", "2", "--dist", "loadfile"], env),
    }


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


@pytest.mark.parametrize("mode", ["loadgroup", "loadfile"])
def test_xdist_run_gives_the_serial_verdicts(runs, mode):
    run = runs[mode]
    assert run.process.returncode == runs["serial"].process.returncode, run.output[-3000:]
    assert "2 workers" in run.output
    assert_same_facts(run.facts(), runs["serial"].facts())


def _relations_on_one_worker(run: Run) -> None:
    workers = run.workers()
    assert len(workers) == FACT_COUNT, run.process.stdout[-3000:]
    by_relation: dict[str, set[str]] = {}
    for node_id, worker in workers.items():
        by_relation.setdefault(node_id.split("::", 1)[0], set()).add(worker)
    assert all(len(used) == 1 for used in by_relation.values()), by_relation


def test_xdist_loadfile_keeps_each_relation_on_one_worker(runs):
    _relations_on_one_worker(runs["loadfile"])


@pytest.mark.xfail(strict=True, reason=(
    "pytest-xdist 3.8 marks loadgroup groups by rewriting item._nodeid, which pytest 9.2 no longer reads "
    "(pytest-dev/pytest-xdist#1386): xdist_group marks are ignored and a relation's facts spread over workers"))
def test_xdist_loadgroup_keeps_each_relation_on_one_worker(runs):
    _relations_on_one_worker(runs["loadgroup"])


def test_a_report_under_xdist_is_refused_rather_than_written_partially(runs):
    run = runs["report_under_xdist"]
    assert run.process.returncode == 4, run.output[-3000:]  # pytest's usage error
    assert "--factcheck-report cannot be combined with pytest-xdist (-n) yet" in run.output
    assert not run.report.exists()
