"""pytest plugin: JSON fact suites become tests of what a language model says.

`pytest suites/` collects every suite file, one test item per fact. The model
loads once per process, on first use, and all facts of a relation are computed
in one batched pass the first time any of them runs; each item then only
asserts on the stored outcome.

Installed, this module is imported by every pytest run in the environment, so
it imports only the standard library, pytest and factcheck's torch-free
modules; torch, transformers and the model load when the first fact runs
(never for --help, --collect-only or a run without suites).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from factcheck.baseline import Baseline, BaselineError, build_baseline, load_baseline, parse_baseline, read_document, write_baseline
from factcheck.comparison import classify, compare, threshold_failures
from factcheck.errors import FactcheckError
from factcheck.settings import DEFAULT_BATCH_SIZE, DEFAULT_DEVICE, DEFAULT_DTYPE, Settings, merge
from factcheck.suite import Suite, SuiteError, load_suite
from factcheck.types import LRE_SWITCH, REQUIRE_MODES, SAY_CHECKS

if TYPE_CHECKING:
    from factcheck.report import FactRecord
    from factcheck.session import FactcheckSession

SETTINGS_KEY = pytest.StashKey[tuple[Settings, Settings]]()  # (command line, ini)
SESSION_KEY = pytest.StashKey["FactcheckSession"]()
BASELINE_KEY = pytest.StashKey["Baseline | None"]()
THRESHOLD_FAILURES_KEY = pytest.StashKey[list]()
DEFAULT_SUITE_PATTERNS = ["*/suites/*.json"]

# (option name, ini name, type, default, help)
_OPTIONS = [
    ("--factcheck-model", "factcheck_model", str, None, "model to check: hub id, local folder, GGUF file or 'smollm2' (default)"),
    ("--factcheck-device", "factcheck_device", str, "cpu", "torch device, e.g. cpu or cuda, or auto to spread a large model over every GPU (default: cpu)"),
    ("--factcheck-dtype", "factcheck_dtype", str, "float32", "float32, bfloat16, float16 or auto (default: float32)"),
    ("--factcheck-shots", "factcheck_shots", int, None, "few-shot demonstrations per prompt (default: 8, or the suite's setting)"),
    ("--factcheck-max-new-tokens", "factcheck_max_new_tokens", int, None, "greedy generation length limit (default: 8)"),
    ("--factcheck-batch-size", "factcheck_batch_size", int, None, f"prompts per forward pass (default: {DEFAULT_BATCH_SIZE})"),
    ("--factcheck-say-check", "factcheck_say_check", str, None, "which check decides a fact's say-verdict: generation (default) or ranking"),
    ("--factcheck-require", "factcheck_require", str, None, "what a fact must do to pass: says (default), knows, both or agree"),
    ("--factcheck-lre", "factcheck_lre", str, None, "on (default): also check what the model knows with each relation's LRE; off: says only"),
    ("--factcheck-report", "factcheck_report", str, None, "write a JSON report of every fact to this path"),
    ("--factcheck-baseline", "factcheck_baseline", str, None, "baseline file to gate on (regressions fail, known-wrong facts xfail)"),
    ("--factcheck-html", "factcheck_html", str, None, "write a self-contained HTML report (tables, knows-vs-says matrix, lens heatmaps)"),
]
_NOT_SESSION_SETTINGS = ("factcheck_report", "factcheck_baseline", "factcheck_html")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("factcheck", "factcheck: fact-regression checks of a language model")
    for flag, ini, kind, default, help_text in _OPTIONS:
        group.addoption(flag, dest=ini, type=kind, default=None, help=f"{help_text} [ini: {ini}]")
        parser.addini(ini, help_text, default=None if default is None else str(default))
    parser.addini(
        "factcheck_suites",
        "glob patterns (matched against absolute paths) of the JSON files that are fact suites",
        type="linelist",
        default=DEFAULT_SUITE_PATTERNS,
    )
    group.addoption(
        "--factcheck-update-baseline",
        action="store_true",
        default=False,
        help="record this run's verdicts into the baseline file instead of gating on it",
    )
    parser.addini(
        "factcheck_trust_remote_code", "run code shipped with the model (never on by default)", type="bool", default=False
    )


def _command_line_value(config: pytest.Config, ini: str):
    return config.getoption(ini)


def _ini_value(config: pytest.Config, ini: str, kind):
    raw = config.getini(ini)
    return kind(raw) if raw not in (None, "") else None


def _setting(config: pytest.Config, ini: str, kind, default):
    """Command line beats ini, ini beats the built-in default."""
    value = _command_line_value(config, ini)
    if value is None:
        value = _ini_value(config, ini, kind)
    return default if value is None else value


def _settings(config: pytest.Config, read) -> Settings:
    return Settings(
        **{ini.removeprefix("factcheck_"): read(ini, kind) for _, ini, kind, _, _ in _OPTIONS if ini not in _NOT_SESSION_SETTINGS}
    )


def baseline_path(config: pytest.Config) -> Path | None:
    """The baseline file: a command-line path is relative to the working directory, an ini path to the ini file."""
    given = config.getoption("factcheck_baseline")
    if given:
        return Path(given).resolve()
    from_ini = config.getini("factcheck_baseline")
    if not from_ini:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / from_ini).resolve()


def _load_gate_baseline(config: pytest.Config) -> Baseline | None:
    """The baseline to gate on, read when fact items are collected (a run of Python tests never needs it)."""
    path = baseline_path(config)
    if path is None or config.getoption("factcheck_update_baseline"):
        return None
    if not path.is_file():
        pytest.exit(
            f"factcheck: baseline file {path} does not exist; record it with `pytest --factcheck-update-baseline`",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    try:
        return load_baseline(path)
    except BaselineError as error:
        pytest.exit(f"factcheck: {error}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "factcheck: a fact from a factcheck suite")
    command_line = _settings(config, lambda ini, kind: _command_line_value(config, ini))
    ini = _settings(config, lambda name, kind: _ini_value(config, name, kind))
    ini = Settings(**{**ini.__dict__, "trust_remote_code": bool(config.getini("factcheck_trust_remote_code"))})
    for source in (command_line, ini):
        if source.say_check not in (None, *SAY_CHECKS):
            raise pytest.UsageError(f"factcheck_say_check must be 'generation' or 'ranking', not {source.say_check!r}")
        if source.require not in (None, *REQUIRE_MODES):
            raise pytest.UsageError(f"factcheck_require must be one of {', '.join(REQUIRE_MODES)}, not {source.require!r}")
        if source.lre not in (None, *LRE_SWITCH):
            raise pytest.UsageError(f"factcheck_lre must be 'on' or 'off', not {source.lre!r}")
    config.stash[SETTINGS_KEY] = (command_line, ini)
    config.stash[BASELINE_KEY] = None
    _refuse_per_worker_outputs(config)
    if config.getoption("factcheck_update_baseline") and baseline_path(config) is None:
        raise pytest.UsageError("--factcheck-update-baseline needs a baseline path: --factcheck-baseline PATH or the factcheck_baseline ini option")


def _refuse_per_worker_outputs(config: pytest.Config) -> None:
    """Under pytest-xdist each worker sees only its own facts: a report or baseline written by one would be partial."""
    if not getattr(config.option, "numprocesses", None):
        return
    wanted = [
        flag
        for flag, given in (
            ("--factcheck-report", _setting(config, "factcheck_report", str, None)),
            ("--factcheck-html", _setting(config, "factcheck_html", str, None)),
            ("--factcheck-update-baseline", config.getoption("factcheck_update_baseline")),
        )
        if given
    ]
    if wanted:
        raise pytest.UsageError(
            f"{', '.join(wanted)} cannot be combined with pytest-xdist (-n) yet: each worker would write only its own "
            "facts. Run without -n to write reports or record a baseline; gating on a baseline works with -n."
        )


def _progress_writer(config: pytest.Config):
    """Progress lines for work that takes seconds, written past pytest's output capture."""

    def write(message: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        terminal = config.pluginmanager.getplugin("terminalreporter")
        if terminal is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                terminal.write(message, flush=True)
        else:
            terminal.write(message, flush=True)

    return write


def _session(config: pytest.Config) -> FactcheckSession:
    """The run's session, made on first use: this is where torch and transformers are imported."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        from factcheck.session import FactcheckSession

        command_line, ini = config.stash[SETTINGS_KEY]
        session = config.stash[SESSION_KEY] = FactcheckSession(command_line, ini, progress=_progress_writer(config))
    return session


def _started_session(config: pytest.Config) -> FactcheckSession | None:
    """The session if a fact or fixture has used it; None otherwise (nothing to report)."""
    return config.stash.get(SESSION_KEY, None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = merge(*config.stash[SETTINGS_KEY])
    lines = [
        f"factcheck: model={settings.model or 'smollm2 (embedded default)'} "
        f"device={settings.device or DEFAULT_DEVICE} dtype={settings.dtype or DEFAULT_DTYPE}"
    ]
    path = baseline_path(config)
    if path is not None:
        mode = "recording into" if config.getoption("factcheck_update_baseline") else "gating on"
        lines.append(f"factcheck: {mode} baseline {path}")
    return lines


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix != ".json":
        return None
    patterns = parent.config.getini("factcheck_suites")
    if any(fnmatch.fnmatch(str(file_path), pattern) for pattern in patterns):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def _register_marker(config: pytest.Config, name: str, description: str) -> None:
    registered = config.stash.setdefault(_MARKERS_KEY, set())
    if name not in registered:
        config.addinivalue_line("markers", f"{name}: {description}")
        registered.add(name)


_MARKERS_KEY = pytest.StashKey[set]()
_RELATION_FILES_KEY = pytest.StashKey[dict]()  # relation id -> the suite file that has it


class SuiteFile(pytest.File):
    """One suite file; its items are the facts."""

    def collect(self):
        try:
            suite = load_suite(self.path)
        except SuiteError as error:
            # One bad file must not stop the other suites: report it as a failing item.
            yield BadSuiteItem.from_parent(self, name=f"{self.path.stem}[invalid suite]", error=error)
            return
        config = self.config
        taken = config.stash.setdefault(_RELATION_FILES_KEY, {}).setdefault(suite.relation_id, self.path)
        if taken != self.path:
            # Only files in no `suites` folder are known by their name alone; two such files cannot share it.
            error = SuiteError(self.path, [("", f"relation id {suite.relation_id!r} is already the suite {taken}; rename one "
                                                "file, or put suites under a folder named 'suites' (they are then known by "
                                                "their path below it)")])
            yield BadSuiteItem.from_parent(self, name=f"{self.path.stem}[invalid suite]", error=error)
            return
        relation_marker = suite.name
        _register_marker(config, relation_marker, f"facts of the relation {suite.relation!r}")
        for index, fact in enumerate(suite.facts):
            item = FactItem.from_parent(self, name=f"{suite.name}[{fact.subject}]", suite=suite, fact_index=index)
            item.add_marker("factcheck")
            item.add_marker(relation_marker)
            for name in (*fact.tags, *suite.settings.markers):
                _register_marker(config, name, "factcheck fact tag")
                item.add_marker(name)
            # With pytest-xdist --dist loadgroup, a relation stays on one worker (one batched pass).
            item.add_marker(pytest.mark.xdist_group(suite.relation_id))
            yield item


class FactFailure(AssertionError):
    pass


class FactItem(pytest.Item):
    def __init__(self, *, suite: Suite, fact_index: int, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite
        self.fact_index = fact_index
        self.record: FactRecord | None = None

    def baseline_entry(self):
        """This fact's baseline entry, or None when there is none or its expected object changed."""
        baseline = self.config.stash.get(BASELINE_KEY, None)
        if baseline is None:
            return None
        entry = baseline.facts.get(self.suite.relation_id, {}).get(self.suite.facts[self.fact_index].subject)
        if entry is None or entry.object != self.suite.facts[self.fact_index].object:
            return None
        return entry

    def runtest(self) -> None:
        session = _session(self.config)
        self.record = session.record_for(self.suite, self.fact_index)
        for key, value in self.record.user_properties():
            self.user_properties.append((key, value))
        if self.config.getoption("factcheck_update_baseline"):
            return
        entry = self.baseline_entry()
        if entry is not None and entry.say_pass and not self.record.say_pass:
            kind, note = classify(entry, self.record.to_dict())
            self.record.regression = f"REGRESSION ({kind}): said right in the baseline, not now; {note}"
            raise FactFailure(self.record.fact.subject)
        if not self.record.passed:
            raise FactFailure(self.record.fact.subject)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, FactFailure) and self.record is not None:
            return self.record.explain()
        if isinstance(excinfo.value, FactcheckError):
            # A setting that cannot work with this suite or model: the message names it; a traceback would not help.
            return f"the relation in {self.path} cannot run:\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, self.name


class BadSuiteItem(pytest.Item):
    def __init__(self, *, error: SuiteError, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SuiteError):
            return f"invalid fact suite:\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, self.name


@pytest.fixture(scope="session")
def factcheck_model(pytestconfig: pytest.Config):
    """The session's model (a factcheck.model.LanguageModel), loaded once, on first use."""
    return _session(pytestconfig).model


def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    """Facts said wrong in the baseline run as strict xfail: a fix shows as XPASS until the baseline is re-recorded."""
    if not any(isinstance(item, FactItem) for item in items):
        return
    config.stash[BASELINE_KEY] = _load_gate_baseline(config)
    if config.stash[BASELINE_KEY] is None:
        return
    for item in items:
        if isinstance(item, FactItem):
            entry = item.baseline_entry()
            if entry is not None and not entry.say_pass:
                item.add_marker(
                    pytest.mark.xfail(strict=True, reason="said wrong in the baseline; if it passes, it is fixed: re-record the baseline")
                )


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    session = _started_session(config)
    records = [] if session is None else session.all_records()
    if not records:
        return
    from factcheck.report import distracted_lines, summary_lines, write_report

    terminalreporter.section("factcheck: what the model says and knows, per relation")
    terminalreporter.write_line(session.model_line())
    for line in summary_lines(session.runs()):
        terminalreporter.write_line(line, yellow=line.startswith("!"))
    distracted = distracted_lines(session.runs())
    if distracted:
        terminalreporter.section("factcheck: distracted prompts (a false statement before the question)")
        for line in distracted:
            terminalreporter.write_line(line)
    report_path = _setting(config, "factcheck_report", str, None)
    if report_path:
        path = write_report(Path(report_path), session)
        terminalreporter.write_line(f"factcheck: report written to {path}")
    html_path = _setting(config, "factcheck_html", str, None)
    if html_path:
        from factcheck.html_report import write_html_report

        terminalreporter.write_line("factcheck: drawing the HTML report (lens heatmaps of hidden facts) ...")
        path = write_html_report(Path(html_path), session)
        terminalreporter.write_line(f"factcheck: HTML report written to {path}")
    dicts = [record.to_dict() for record in records]
    failures = config.stash.get(THRESHOLD_FAILURES_KEY, [])
    if failures:
        terminalreporter.section("factcheck: minimum accuracy missed", red=True)
        for relation, accuracy, threshold in failures:
            terminalreporter.write_line(f"{relation}: said right {accuracy:.0%}, below its minimum {threshold:.0%}", red=True)
    if config.getoption("factcheck_update_baseline"):
        path = _update_baseline(config, session, dicts)
        terminalreporter.write_line(f"factcheck: baseline of {len(dicts)} facts written to {path}")
        return
    baseline = config.stash.get(BASELINE_KEY, None)
    if baseline is not None:
        _write_comparison(terminalreporter, baseline, session, dicts)


def _model_info(session: FactcheckSession) -> dict[str, str]:
    return {"name": session.model.name, "fingerprint": session.model.fingerprint}


def _suites_info(session: FactcheckSession) -> dict[str, dict[str, str]]:
    return {run.suite.relation_id: {"content_hash": run.suite.content_hash, "path": str(run.suite.path)} for run in session.runs()}


def _update_baseline(config: pytest.Config, session: FactcheckSession, dicts: list[dict]) -> Path:
    path = baseline_path(config)
    document = build_baseline(_model_info(session), _suites_info(session), dicts, root=config.rootpath)
    if path.is_file():
        # Relations not run this time keep their recorded facts.
        try:
            previous = parse_baseline(read_document(path), path)
        except BaselineError:
            previous = None  # a broken file is replaced whole
        if previous is not None and previous.model.get("fingerprint") == document["model"]["fingerprint"]:
            for relation, facts in previous.facts.items():
                if relation not in document["facts"]:
                    document["facts"][relation] = {s: _fact_dict(f) for s, f in facts.items()}
                    document["suites"][relation] = previous.suites[relation]
    return write_baseline(path, document)


def _fact_dict(fact) -> dict:
    from dataclasses import asdict

    return asdict(fact)


def _write_comparison(terminalreporter, baseline: Baseline, session: FactcheckSession, dicts: list[dict]) -> None:
    comparison = compare(baseline, _model_info(session), _suites_info(session), dicts)
    regressions = comparison.regressions
    terminalreporter.section("factcheck: against the baseline", red=bool(regressions))
    for warning in comparison.warnings():
        terminalreporter.write_line(f"WARNING: {warning}", yellow=True)
    terminalreporter.write_line(f"regressions: {len(regressions)}", red=bool(regressions), bold=True)
    for change in regressions:
        terminalreporter.write_line(f"  {change.kind:<10} {change.relation}[{change.subject}] (expected {change.object!r}) {change.note}", red=True)
    for kind in ("fixed", "new", "changed"):
        changes = comparison.of(kind)
        if changes:
            terminalreporter.write_line(f"{kind}: {len(changes)}")
            for change in changes:
                terminalreporter.write_line(f"  {change.relation}[{change.subject}] {change.note}")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """Per-suite minimum accuracies: a missed one fails the session even when every fact passed or xfailed."""
    factcheck = _started_session(session.config)
    if factcheck is None or not factcheck.runs():
        return
    thresholds = {run.suite.relation_id: run.suite.settings.min_accuracy for run in factcheck.runs() if run.suite.settings.min_accuracy is not None}
    failures = threshold_failures([r.to_dict() for r in factcheck.all_records()], thresholds)
    session.config.stash[THRESHOLD_FAILURES_KEY] = failures
    if failures and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

