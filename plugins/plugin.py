"""pytest plugin: JSON fact suites become tests of what a language model says and knows.

`pytest suites/` collects every suite file, one test item per fact. The model
loads once per process, on first use, and all facts of a relation are computed
in one batched pass the first time any of them runs; each item then only
asserts on the stored result.

The module-level hooks add the options and register one `FactcheckRun` per
pytest run (`config.pluginmanager.register`); it holds the settings, the
session and the release gate, and its methods are the hooks that need them.

Installed, this module is imported by every pytest run in the environment, so
it imports only the standard library, pytest and factcheck's torch-free
modules; torch, transformers and the model load when the first fact runs
(never for --help, --collect-only, --setup-only or a run without suites).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fnmatch
import json
import os
import re
import signal
import stat
import sys
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import pytest

from factcheck.display import visible_controls
from factcheck.errors import FactcheckError
from factcheck.gate.baseline import Baseline, BaselineError, load_baseline
from factcheck.gate.comparison import REGRESSION_KINDS, threshold_failures, thresholds_undecided
from factcheck.gate.release_gate import ReleaseGate, comparison_lines, folders_at_and_above, record
from factcheck.reports.run_summary import RelationSummary, RunSummary
from factcheck.reports.streamed import FACT_ATTRIBUTE, RELATION_ATTRIBUTE, StreamedRun, fact_message, relation_message
from factcheck.settings import DEFAULTS, Settings, resolve, settings_for_suite, templates_asked
from factcheck.signals import stop_as_ctrl_c
from factcheck.suites.suite import SUITES_FOLDER, Suite, SuiteError, load_suite
from factcheck.types import DEVICE_PATTERN, DTYPE_NAMES, LRE_SWITCH, PROMPT_STYLES, REQUIRE_MODES, RESERVED_MARKS, SAY_CHECKS, TEMPLATE_MODES

if TYPE_CHECKING:
    from factcheck.reports.records import FactRecord
    from factcheck.session import FactcheckSession

RUN_KEY = pytest.StashKey["FactcheckRun"]()
DEFAULT_SUITE_PATTERNS = ["*/suites/*.json"]

# (option name, ini name, type, help); the defaults are factcheck.settings.DEFAULTS
_OPTIONS = [
    ("--factcheck-model", "factcheck_model", str, "model to check: hub id, local folder, GGUF file or 'smollm2' (default)"),
    ("--factcheck-device", "factcheck_device", str, f"torch device, e.g. cpu or cuda, or auto to spread a large model over every GPU (default: {DEFAULTS.device})"),
    ("--factcheck-dtype", "factcheck_dtype", str, f"float32, bfloat16, float16 or auto (default: {DEFAULTS.dtype})"),
    ("--factcheck-shots", "factcheck_shots", int, f"few-shot demonstrations per prompt (default: {DEFAULTS.shots}, or the suite's setting)"),
    ("--factcheck-max-new-tokens", "factcheck_max_new_tokens", int, f"greedy generation length limit (default: {DEFAULTS.max_new_tokens})"),
    ("--factcheck-batch-size", "factcheck_batch_size", int, f"prompts per forward pass (default: {DEFAULTS.batch_size})"),
    ("--factcheck-threads", "factcheck_threads", int, "CPU threads torch uses (default: torch's choice, the machine's cores; "
                                                      "each xdist -n worker: its share of them)"),
    ("--factcheck-say-check", "factcheck_say_check", str, f"which check decides a fact's say-verdict: generation or ranking (default: {DEFAULTS.say_check})"),
    ("--factcheck-templates", "factcheck_templates", str, f"a suite's several templates: all (a fact passes when said under every one), any (under one) or first (ask the first only) (default: {DEFAULTS.templates}, or the suite's setting)"),
    ("--factcheck-prompt", "factcheck_prompt", str, f"how facts are asked: text (few-shot lines) or chat (the model's chat template, demonstrations as earlier turns) (default: {DEFAULTS.prompt}, or the suite's setting)"),
    ("--factcheck-require", "factcheck_require", str, f"what a fact must do to pass: says, knows, both or agree (default: {DEFAULTS.require})"),
    ("--factcheck-lre", "factcheck_lre", str, f"on: also check what the model knows with each relation's LRE; off: says only (default: {DEFAULTS.lre})"),
    ("--factcheck-report", "factcheck_report", str, "write a JSON report of every fact to this path"),
    ("--factcheck-baseline", "factcheck_baseline", str, "baseline file to gate on (regressions fail, known-wrong facts xfail)"),
    ("--factcheck-html", "factcheck_html", str, "write a self-contained HTML report (tables, knows-vs-says matrix, lens heatmaps)"),
]
_NOT_SETTINGS = ("factcheck_baseline",)  # a path relative to the ini file: see baseline_path


# The names this module can be loaded under: the entry point's (`-p factcheck`, autoload) and its own (a conftest's
# pytest_plugins, PYTEST_PLUGINS, `-p factcheck_pytest`). pytest skips a name already registered, but registering this
# module under a second name is an error (a raw pluggy traceback ending the run before collection).
_PLUGIN_NAMES = ("factcheck", "factcheck_pytest.plugin")


# A conftest's `from factcheck_pytest.plugin import *` would copy every hook into the conftest, registering them a
# second time (option names already added: a raw traceback): it imports `pytest_addhooks` alone, which loads the plugin
# once, whatever the conftest's own pytest_plugins say.
__all__ = ["pytest_addhooks"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if not any(pluginmanager.get_plugin(name) for name in _PLUGIN_NAMES):
        pluginmanager.import_plugin("factcheck_pytest.plugin")


class _LoadedUnderAnotherName:
    """Holds one of `_PLUGIN_NAMES` once the plugin is loaded under the other: naming it again is a no-op."""


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Loaded by a conftest (no autoload), this plugin comes in during pytest_load_initial_conftests, too late for its
    # own hook of that name, and before pytest writes its --debug log: the check runs here then. pytest makes its parser
    # with a method of the config it parses for.
    config = getattr(getattr(parser, "_processopt", None), "__self__", None)
    if isinstance(config, pytest.Config):
        _refuse_a_debug_log_over_a_document(config)
    for name in _PLUGIN_NAMES:
        if pluginmanager.get_plugin(name) is None and not pluginmanager.is_blocked(name):
            pluginmanager.register(_LoadedUnderAnotherName(), name)
    group = parser.getgroup("factcheck", "factcheck: fact-regression checks of a language model")
    for flag, ini, kind, help_text in _OPTIONS:
        group.addoption(flag, dest=ini, type=kind, default=None, help=f"{help_text} [ini: {ini}]")
        parser.addini(ini, help_text, default=None)
    parser.addini(
        "factcheck_suites",
        "glob patterns of the JSON files that are fact suites, matched against their path below the root folder "
        "('./suites/geo/capital.json'; a pattern starting with '/' against the absolute path)",
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


def _settings(config: pytest.Config, read) -> Settings:
    return Settings(**{ini.removeprefix("factcheck_"): read(ini, kind) for _, ini, kind, _ in _OPTIONS if ini not in _NOT_SETTINGS})


def _ini_value(config: pytest.Config, ini: str, kind):
    raw = config.getini(ini)
    if raw in (None, ""):
        return None
    expected = "a whole number" if kind is int else "text"
    # A TOML ini file gives typed values: a list or a boolean where a number or a name belongs is refused, as is text
    # that is not a number.
    usable = (isinstance(raw, (int, str)) and not isinstance(raw, bool)) if kind is int else isinstance(raw, str)
    if usable and kind is str and "\x00" in raw:  # a path with it cannot be opened: Python raises ValueError
        raise pytest.UsageError(f"{ini} in the ini file holds a NUL character (\\u0000), which no file name can: {raw!r}")
    try:
        if usable:
            return kind(raw)
    except ValueError:
        pass
    raise pytest.UsageError(f"{ini} in the ini file must be {expected}, not {raw!r}")


def resolved(path: str | Path, what: str) -> Path:
    """`path` made absolute with its links followed; a usage error naming `what` where it cannot be (a link loop)."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
        raise pytest.UsageError(f"factcheck: {what} {path} cannot be used: {error}") from None


def _from_the_ini_file(config: pytest.Config, name: str, given: str | None) -> str | None:
    """A path set in the ini file, relative to the ini file's folder (the root folder without one): a run from a
    subfolder writes and reads where the project keeps it. A path given on the command line, also as `-o name=path`,
    is relative to the working folder."""
    overridden = any(option.split("=", 1)[0].strip() == name for option in config.getoption("override_ini", None) or ())
    if not given or overridden or given.startswith("~") or os.path.isabs(given):
        return given
    return os.path.join(config.inipath.parent if config.inipath else config.rootpath, given)


def _output_path(given: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(given)) if given else given


def baseline_path(config: pytest.Config) -> Path | None:
    """The baseline file: a command-line path is relative to the working directory, an ini path to the ini file."""
    given = config.getoption("factcheck_baseline")
    if given:
        return resolved(given, "the baseline (--factcheck-baseline)")
    from_ini = _from_the_ini_file(config, "factcheck_baseline", _ini_value(config, "factcheck_baseline", str))
    if not from_ini:
        return None
    return resolved(from_ini, "the baseline (factcheck_baseline)")


def _places_a_recorded_suite_may_be(recorded: str, folders: Sequence[Path]) -> list[Path]:
    """Where the suite a baseline recorded at `recorded` may be: an absolute path as it is; a relative one (written
    from the baseline's folder, or by older versions from the root) from each of `folders` and every folder above
    them, also without its leading '..' (a copy of the baseline in a CI job's folder reaches '../pkga/suites/x.json'
    from nowhere, and the project's root holds 'pkga/suites/x.json')."""
    path = Path(recorded)
    if path.is_absolute():
        return [path]
    tails = dict.fromkeys([path, Path(*[part for part in path.parts if part != ".."] or ["."])])
    return [folder / tail for folder in folders_at_and_above(folders) for tail in tails]


def _suite_patterns(config: pytest.Config) -> list[str]:
    """The factcheck_suites patterns, read once at start-up: a value of the wrong kind is a usage error there, not a
    collection error with a traceback."""
    try:
        patterns = config.getini("factcheck_suites")
    except (pytest.UsageError, TypeError, ValueError) as error:
        raise pytest.UsageError(f"factcheck_suites in the ini file must be a list of glob patterns: {error}") from None
    if not all(isinstance(pattern, str) for pattern in patterns):
        raise pytest.UsageError(f"factcheck_suites in the ini file must be a list of glob patterns, not {patterns!r}")
    return list(patterns)


def _refuse_empty_options(config: pytest.Config) -> None:
    """`--factcheck-model=` or `--factcheck-report=` with nothing after it (an unset shell variable) would load the
    working directory as a model or write no report without a word; it is a usage error instead."""
    for flag, ini, kind, _ in _OPTIONS:
        value = config.getoption(ini)
        if kind is str and value is not None and not value.strip():
            raise pytest.UsageError(f"{flag} was given an empty value: give it one (is a shell variable unset?), or "
                                    "leave the option out")
    # `-o factcheck_baseline=$BASELINE` with the variable unset read as no baseline at all: the gate was off.
    for override in getattr(config.option, "override_ini", None) or ():
        name, _, value = override.partition("=")
        if name.strip().startswith("factcheck_") and not value.strip():
            raise pytest.UsageError(f"-o {name.strip()}= was given an empty value: give it one (is a shell variable "
                                    "unset?), or leave the option out")


def _trust_remote_code(config: pytest.Config) -> bool:
    try:
        return bool(config.getini("factcheck_trust_remote_code"))
    except (ValueError, pytest.UsageError) as error:  # pytest's own message names the value, not the option
        raise pytest.UsageError(f"factcheck_trust_remote_code in the ini file must be true or false ({error})") from None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """The run's exit status, as the outermost wrapper sees it: a conftest's wrapper of this hook that returns 0 or
    None (a bare `yield`), or raises SystemExit(0), over a regression (after every cleanup, so after the gate's last
    check) is overruled, saying so."""
    try:
        status = yield
    except SystemExit as leaving:
        run = config.stash.get(RUN_KEY, None)
        if leaving.code in (0, None) and run is not None and run.exit_status_of_the_run(0) != 0:
            raise SystemExit(pytest.ExitCode.TESTS_FAILED) from None
        raise
    run = config.stash.get(RUN_KEY, None)
    return run.exit_status_of_the_run(status) if run is not None else status


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "factcheck: a fact from a factcheck suite")
    _refuse_empty_options(config)
    command_line = _settings(config, lambda ini, kind: config.getoption(ini))
    ini = _settings(config, lambda name, kind: _ini_value(config, name, kind))
    ini = dataclasses.replace(ini, trust_remote_code=_trust_remote_code(config),
                              report=_from_the_ini_file(config, "factcheck_report", ini.report),
                              html=_from_the_ini_file(config, "factcheck_html", ini.html))
    for source in (command_line, ini):
        if source.say_check not in (None, *SAY_CHECKS):
            raise pytest.UsageError(f"factcheck_say_check must be 'generation' or 'ranking', not {source.say_check!r}")
        if source.require not in (None, *REQUIRE_MODES):
            raise pytest.UsageError(f"factcheck_require must be one of {', '.join(REQUIRE_MODES)}, not {source.require!r}")
        if source.templates not in (None, *TEMPLATE_MODES):
            raise pytest.UsageError(f"factcheck_templates must be one of {', '.join(TEMPLATE_MODES)}, not {source.templates!r}")
        if source.prompt not in (None, *PROMPT_STYLES):
            raise pytest.UsageError(f"factcheck_prompt must be 'text' or 'chat', not {source.prompt!r}")
        if source.lre not in (None, *LRE_SWITCH):
            raise pytest.UsageError(f"factcheck_lre must be 'on' or 'off', not {source.lre!r}")
        _check_numbers_and_names(source)
    run = FactcheckRun(config, command_line, ini)
    if run.settings.require != "says" and run.settings.lre == "off":
        raise pytest.UsageError(f"factcheck_require {run.settings.require!r} judges facts by their know-check (the LRE), "
                                "which factcheck_lre 'off' turns off: drop one of the two")
    if run.recording and run.baseline_path is None:
        raise pytest.UsageError("--factcheck-update-baseline needs a baseline path: --factcheck-baseline PATH or the factcheck_baseline ini option")
    _check_outputs(run)
    if run.recording and run.baseline_path.is_file():
        from factcheck.gate.release_gate import readable_for_update

        try:  # before any fact runs: a file that cannot be updated would only be found at the end
            readable_for_update(run.baseline_path)
        except BaselineError as error:
            raise pytest.UsageError(f"factcheck: {error}") from None
    config.stash[RUN_KEY] = run
    _register_whole(config, run, "factcheck-run")
    # Added now, so run after the cleanups and unconfigure hooks of conftests and plugins registered later.
    config.add_cleanup(run.fail_a_gate_passed_at_the_end)


def _register_whole(config: pytest.Config, part: object, name: str) -> None:
    """Registers a part of factcheck's; `-p no:NAME` blocks one silently (the gate off, a count gone): refused."""
    if config.pluginmanager.register(part, name) is None:
        raise pytest.UsageError(f"-p no:{name} turns off a part of factcheck's ({name}), and with it the gate or its counts; "
                                "-p no:factcheck turns factcheck off whole")


def _check_numbers_and_names(settings: Settings) -> None:
    """Options that would otherwise fail inside the first fact (or silently do nothing) fail here, named."""
    if settings.dtype is not None and str(settings.dtype).lower() not in DTYPE_NAMES:
        raise pytest.UsageError(f"factcheck_dtype must be one of {', '.join(DTYPE_NAMES)}, not {settings.dtype!r}")
    if settings.device is not None and not re.fullmatch(DEVICE_PATTERN, str(settings.device)):
        raise pytest.UsageError(f"factcheck_device must be a torch device such as cpu, cuda, cuda:1 or mps, or auto "
                                f"(accelerate spreads the model over the devices), not {settings.device!r}")
    for name, value, least in (("shots", settings.shots, 0), ("max_new_tokens", settings.max_new_tokens, 1),
                               ("batch_size", settings.batch_size, 1), ("threads", settings.threads, 1)):
        if value is not None and value < least:
            raise pytest.UsageError(f"factcheck_{name} must be at least {least}, not {value}")
    most_threads = 4 * usable_cores()  # torch starts each thread: a huge count only fails every fact later
    if settings.threads is not None and settings.threads > most_threads:
        raise pytest.UsageError(f"factcheck_threads must be at most {most_threads} (4 x this machine's "
                                f"{usable_cores()} cores), not {settings.threads}")


def _junit_path(config: pytest.Config) -> str | None:
    """The JUnit XML path as pytest will write it: pytest expands `$VAR` and `~` in it (`--junitxml='$OUT'`)."""
    given = getattr(config.option, "xmlpath", None)
    return os.path.expanduser(os.path.expandvars(given)) if given else given


# Other plugins' reports, written where they are named as pytest starts or ends: (option's dest, the switch that turns it
# on or None, its name). A baseline, a report or a suite named there would be lost.
_PLUGIN_OUTPUTS = (("report_log", None, "--report-log (pytest-reportlog)"),
                   ("json_report_file", "json_report", "--json-report-file (pytest-json-report)"),
                   ("htmlpath", None, "--html (pytest-html)"))


# pytest-cov's report files (--cov-report=KIND:PATH, KIND alone for these), by kind; html and annotate write folders.
_COVERAGE_REPORT_FILES = {"json": "coverage.json", "xml": "coverage.xml", "lcov": "coverage.lcov", "markdown": "coverage.md",
                          "markdown-append": "coverage.md"}


def _coverage_reports(config: pytest.Config) -> dict[str, str]:
    """pytest-cov's reports this run writes (with --cov): {kind: path as given}, a kind alone taking its default."""
    given = getattr(config.option, "cov_report", None)  # {kind: path or None}
    if not isinstance(given, dict) or not getattr(config.option, "cov_source", None):
        return {}
    defaults = {**_COVERAGE_REPORT_FILES, "html": "htmlcov"}
    return {kind: path for kind, named in given.items()
            if kind in defaults and isinstance(path := named or defaults[kind], str)}


def _expanded(path: str) -> str:
    """A path as a plugin writes it: `$VAR` and `~` expanded, made absolute."""
    return os.path.abspath(os.path.expanduser(os.path.expandvars(path)))


def _plugin_outputs(config: pytest.Config) -> list[tuple[str, str]]:
    """The other plugins' report files this run writes: (name, path)."""
    given = [(name, path) for dest, switch, name in _PLUGIN_OUTPUTS
             if isinstance(path := getattr(config.option, dest, None), str) and path
             and (switch is None or getattr(config.option, switch, False))]
    given += [(f"--cov-report={kind} (pytest-cov)", path) for kind, path in _coverage_reports(config).items()
              if kind in _COVERAGE_REPORT_FILES]
    return [(name, _expanded(path)) for name, path in given]


def _coverage_html_folder(config: pytest.Config) -> str | None:
    """The folder pytest-cov writes its HTML report into (--cov-report=html[:FOLDER], with --cov); None for none."""
    folder = _coverage_reports(config).get("html")
    return _expanded(folder) if folder else None


def _check_outputs(run: FactcheckRun) -> None:
    """Before any fact runs: no two outputs (nor an output and the baseline gated on) may be one file, and every
    output must be writable; otherwise a report overwrites the baseline, or the run fails only at its end."""
    from factcheck.cache import unwritable_reason

    # (name, path, who writes it: "factcheck", "pytest", "another plugin", or None where the run only reads it: the
    # gated baseline)
    files = [("--factcheck-report", run.settings.report, "factcheck"), ("--factcheck-html", run.settings.html, "factcheck"),
             ("the baseline (--factcheck-baseline)", run.baseline_path, "factcheck" if run.recording else None),
             ("--junitxml", _junit_path(run.config), "pytest"),  # pytest writes it; it must not be one of ours
             ("--log-file (pytest's log file)", _log_file_path(run.config), "pytest"),
             ("--debug (pytest's debug log)", _debug_log_path(run.config), "pytest"),
             *((name, path, "another plugin") for name, path in _plugin_outputs(run.config))]
    seen: dict[Path, tuple[str, str | None]] = {}
    for name, given, writer in files:
        if not given:
            continue
        path = resolved(given, name)
        if path in seen:
            raise pytest.UsageError(f"factcheck: {seen[path][0]} and {name} are the same file, {path}: give each its own path")
        seen[path] = name, writer
        if writer == "factcheck":
            reason = unwritable_reason(path)
        elif writer in ("pytest", "another plugin"):
            reason = _blocking_reason(path)
        else:
            reason = None  # read, not written: reading it says what is wrong with it
        if reason:
            raise pytest.UsageError(f"factcheck: {name} cannot be written to {path}: {reason}")
    _check_basetemp(run, seen)
    if coverage_html := _coverage_html_folder(run.config):
        # pytest-cov writes status.json there: the next run would collect it as a suite, and find it is none.
        if _matches_suite_patterns(Path(coverage_html) / "status.json", run.suite_patterns, run.config.rootpath):
            raise pytest.UsageError(f"factcheck: --cov-report=html (pytest-cov) {coverage_html} lies where suites are "
                                    f"collected (factcheck_suites: {' '.join(run.suite_patterns)}): write it outside the "
                                    "suites folder")
    for path, (name, writer) in seen.items():
        a_log, another_plugins = name.startswith(("--log-file", "--debug")), writer == "another plugin"
        if (a_log or another_plugins) and _holds_a_document(path):
            loss = ("no log (it would be lost: pytest empties its log file when it starts): give the log a new path" if a_log
                    else "which that plugin's report would replace: give its report a new path")
            raise pytest.UsageError(f"factcheck: {name} {path} is a baseline, a report, a suite or JUnit XML, {loss}")
        # (A file there given as --junitxml is said to be no JUnit report, below.)
        if (writer is not None and not (name == "--junitxml" and path.exists()) and path.suffix == ".json"
                and _matches_suite_patterns(path, run.suite_patterns, run.config.rootpath)):
            # The next run would collect it as a suite, find it is none, and mark itself incomplete.
            raise pytest.UsageError(f"factcheck: {name} {path} lies where suites are collected (factcheck_suites: "
                                    f"{' '.join(run.suite_patterns)}): write it outside the suites folder")
        if name in _OUTPUT_MARKS and not _holds_own_output(path, _OUTPUT_MARKS[name][0]):
            raise pytest.UsageError(f"factcheck: {name} {path} is a file that is not {_OUTPUT_MARKS[name][1]} (a suite, a "
                                    "baseline or another file would be lost): give a new path, or remove the file")


def _suite_file_of(node_id: str) -> str | None:
    """The JSON file part of a node id of a JSON file's item ("suites/cpp::std/plural.json" of
    "suites/cpp::std/plural.json::plural[cat]": a folder may hold "::"); None for another node id."""
    end = node_id.find(".json::")
    return node_id[: end + len(".json")] if end != -1 and node_id[end + len(".json::") :] else None


def _check_basetemp(run: FactcheckRun, outputs: dict[Path, tuple[str, str | None]]) -> None:
    """pytest empties its --basetemp folder when a test first asks for a temporary path: it must hold no baseline,
    output or suite of the project (below its root folder: a suite elsewhere, such as a test's own draft in an earlier
    run's temporary folder, is none of this run's), nor be the project's folder or one above it."""
    given = run.config.getoption("basetemp", None)
    if not given:
        return
    basetemp = resolved(given, "--basetemp")
    root = run.config.rootpath.resolve()
    if basetemp == root or basetemp in root.parents:
        holds = f"the project's folder {root}"
    elif inside := [name for path, (name, _) in outputs.items() if basetemp in path.parents]:
        holds = ", ".join(inside)
    elif root in basetemp.parents and basetemp.is_dir() and (suite := next(
            (path for path in basetemp.rglob("*.json") if _matches_suite_patterns(path, run.suite_patterns, run.config.rootpath)), None)):
        holds = f"the suite {suite}"
    else:
        return
    raise pytest.UsageError(f"factcheck: --basetemp {basetemp} holds {holds}, which pytest would delete with the rest of "
                            "that folder: give pytest a folder of its own for temporary files")


def _debug_log_path(config: pytest.Config) -> str | None:
    """pytest's --debug file, written from the start of the run (one named as a document was refused before it was
    emptied, by `_refuse_a_debug_log_over_a_document`)."""
    given = getattr(config.option, "debug", None)
    return os.path.abspath(given) if isinstance(given, str) and given else None


def _log_file_path(config: pytest.Config) -> str | None:
    """pytest's log file (--log-file, or log_file in the ini file), which pytest opens relative to the working folder
    and empties when it configures its logging, after this plugin's checks."""
    if not config.pluginmanager.has_plugin("logging"):
        return None  # `-p no:logging`: no log file, and no log_file ini setting to read
    given = config.getoption("log_file", None) or config.getini("log_file")
    return os.path.abspath(given) if given and given != os.devnull else None


# What the first bytes of a baseline, a report, JUnit XML or a suite hold (a suite: a JSON object naming its relation or
# templates); a log file whose lines are JSON or start with "[" holds none of them.
_DOCUMENT_MARKS = (b'"factcheck_baseline_version"', b'"factcheck_report_version"', b"<title>factcheck report</title>",
                   b"<testsuite", b'"relation"', b'"templates"')


# The keys of a baseline, a report or a suite, in whatever order they were written (sorted keys put "facts" first).
_DOCUMENT_KEYS = frozenset({"factcheck_baseline_version", "factcheck_report_version", "relation", "templates"})
# Parsed whole only up to this size (a megabyte of "{}" builds some 25 MB); a larger file is searched for the keys.
_LARGEST_DOCUMENT_PARSED = 8 * 2**20
_KEY_MARKS = re.compile(rb'"(?:factcheck_baseline_version|factcheck_report_version|relation|templates)"\s*:')


def _holds_a_document(path: Path) -> bool:
    """Whether `path` is a regular file that reads as a baseline, a report, JUnit XML or a suite (also one written
    with a byte-order mark, or with its keys sorted): no log file."""
    head = (_file_head(path) or b"").removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] not in (b"{", b"<"):
        return False
    return any(mark in head for mark in _DOCUMENT_MARKS) or head[:1] == b"{" and _a_json_document(path)


def _a_json_document(path: Path) -> bool:
    """Whether `path` holds one JSON object with a baseline's, a report's or a suite's keys (JSON lines of a log hold
    several objects, and are none)."""
    try:
        if path.stat().st_size > _LARGEST_DOCUMENT_PARSED:
            with path.open("rb") as handle:
                return bool(_KEY_MARKS.search(handle.read(_LARGEST_DOCUMENT_PARSED)))
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(document, dict) and not _DOCUMENT_KEYS.isdisjoint(document)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _refuse_a_debug_log_over_a_document(early_config)


def _refuse_a_debug_log_over_a_document(early_config: pytest.Config) -> None:
    """pytest's --debug FILE is emptied as soon as the command line is parsed, before any plugin is configured: a
    baseline, a report or a suite named there is refused now."""
    debug = getattr(getattr(early_config, "known_args_namespace", None), "debug", None)
    if isinstance(debug, str) and debug and _holds_a_document(Path(debug)):
        raise pytest.UsageError(f"factcheck: --debug {debug} is a baseline, a report, a suite or JUnit XML, no debug log "
                                "(it would be lost: pytest empties it when it starts): give the debug log a new path")


def _matches_suite_patterns(path: Path, patterns: Sequence[str], root: Path) -> bool:
    """Whether `path` is a suite file by the factcheck_suites patterns, matched against its path below the project's
    root folder ("./suites/geo/capital.json" for the default "*/suites/*.json", "facts/capital.json" for "facts/*.json"):
    the folders above the project (a checkout under a folder named "suites") never make a JSON file a suite. A file
    outside the root, and a pattern starting with "/", are matched against the absolute path."""
    absolute = os.path.abspath(path)
    below = os.path.relpath(absolute, os.path.abspath(root))
    if below.startswith(".."):
        return any(fnmatch.fnmatch(absolute, pattern) for pattern in patterns)
    below = below.replace(os.sep, "/")
    return any(fnmatch.fnmatch(absolute, pattern) if pattern.startswith("/")
               else fnmatch.fnmatch(below, pattern) or fnmatch.fnmatch("./" + below, pattern) for pattern in patterns)


def _blocking_reason(path: Path) -> str | None:
    """Why pytest's own writing of `path` (the JUnit XML, written in place) would hang or fail: a FIFO blocks until
    something reads it, which nothing does; a character device (/dev/null) takes the text."""
    from factcheck.cache import file_kind

    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # not there: pytest makes it
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode):
        return None
    return f"it is {file_kind(mode)}, not a regular file" + (": pytest would wait for a reader forever" if stat.S_ISFIFO(mode) else "")


# What the start of a report written before holds: only such a file (or none) is replaced by a new report. pytest's
# own JUnit XML is checked too: `--junitxml=suites/geo/capital.json` would replace a suite.
_OUTPUT_MARKS = {"--factcheck-report": (b'"factcheck_report_version"', "a factcheck report"),
                 "--factcheck-html": (b"<title>factcheck report</title>", "a factcheck report"),
                 "--junitxml": (b"<testsuite", "a JUnit XML report")}
_OWN_OUTPUT_MARKS = {name: mark for name, (mark, _) in _OUTPUT_MARKS.items() if name != "--junitxml"}


def _file_head(path: Path) -> bytes | None:
    """The first bytes of `path`; None where it is no regular file (never opened: a FIFO would block) or unreadable."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            return handle.read(512)
    except OSError:
        return None


def _holds_own_output(path: Path, mark: bytes) -> bool:
    """True where `path` is no regular file, is empty, or starts like a report factcheck wrote (an unreadable file
    too: writing it will say why)."""
    head = _file_head(path)
    return not head or mark in head


def _reads_as_own_report(path: Path, mark: bytes) -> bool:
    """True only where `path` is a regular file that starts like a report factcheck wrote."""
    head = _file_head(path)
    return head is not None and mark in head


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_local_popen(tx: str) -> bool:
    """A --tx spec (as -n writes them: "popen", or "4*popen//python=python3") for a worker on this machine."""
    spec = tx.split("*", 1)[-1]
    return spec.startswith("popen") and "ssh=" not in spec and "socket=" not in spec


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def relation_scheduling(config: pytest.Config, log, by_scope: bool = False):
    """xdist's "load" scheduling (or "loadscope", `by_scope`) with each suite file (one relation) as one unit of work:
    a relation runs in one batched pass on one worker; every other test is still its own unit (or in its scope).
    loadscope's own scope of a fact would be its id up to its last '::', which a subject may hold ("std::vector")."""
    from xdist.scheduler import LoadScopeScheduling

    class RelationScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            if path.endswith(".json"):
                return path
            return super()._split_scope(nodeid) if by_scope else nodeid

    return RelationScheduling(config, log)


_EXPRESSION_WORDS = ("and", "or", "not")  # -m "not slow": a mark of one of these names cannot be selected


def mark_problems(suite: Suite, foreign: frozenset[str]) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each mark the suite would add that is also a pytest or plugin mark."""
    problems = []
    if suite.name in foreign:
        problems.append(("", f"the file name {suite.name!r} is also the pytest mark {suite.name!r}, which would change how "
                             f"pytest runs these facts; rename the file (e.g. {suite.name}_facts.json)"))
    for index, fact in enumerate(suite.facts):
        for position, tag in enumerate(fact.tags):
            if tag in _EXPRESSION_WORDS:
                problems.append((f"/facts/{index}/tags/{position}", f"tag {tag!r} is a word of pytest's -m expressions, so "
                                                                    f"-m could not select it; rename it (e.g. {tag}_fact)"))
            elif tag.startswith("_"):
                problems.append((f"/facts/{index}/tags/{position}", f"tag {tag!r} starts with '_', which pytest refuses in a "
                                                                    f"mark name; rename it (e.g. {tag.lstrip('_') or 'tag'})"))
            elif tag in foreign:
                problems.append((f"/facts/{index}/tags/{position}", f"tag {tag!r} is also a pytest mark, which would change "
                                                                    f"how pytest runs this fact; rename it (e.g. {tag}_fact)"))
    for position, marker in enumerate(suite.settings.markers):
        if marker in _EXPRESSION_WORDS:
            problems.append((f"/settings/markers/{position}", f"marker {marker!r} is a word of pytest's -m expressions, so "
                                                              f"-m could not select it; rename it (e.g. {marker}_facts)"))
        elif marker.startswith("_"):
            problems.append((f"/settings/markers/{position}", f"marker {marker!r} starts with '_', which pytest refuses in "
                                                              f"a mark name; rename it (e.g. {marker.lstrip('_') or 'facts'})"))
        elif marker in foreign:
            problems.append((f"/settings/markers/{position}", f"marker {marker!r} is also a pytest mark, which would change "
                                                              f"how pytest runs these facts; rename it (e.g. {marker}_facts)"))
    return problems


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


class FactcheckRun:
    """One pytest run's factcheck state (settings, session, release gate) and the hooks that use it."""

    def __init__(self, config: pytest.Config, command_line: Settings, ini: Settings):
        self.config = config
        self.command_line, self.ini = command_line, ini
        # Output paths as the run checks, writes and names them: `~` expanded (an ini value and `--opt=~/x` reach us
        # unexpanded), made absolute once (a test that changes the working folder moves nothing).
        settings = resolve(command_line, ini)
        self.settings = dataclasses.replace(settings, report=_output_path(settings.report), html=_output_path(settings.html))
        self.recording = bool(config.getoption("factcheck_update_baseline"))
        self.baseline_path = baseline_path(config)
        self.suite_patterns: list[str] = _suite_patterns(config)
        self.gate: ReleaseGate | None = None
        # An exception the caller of pytest.main was handling when the run began (`except SystemExit:`), which the
        # final check must not take for one leaving this session.
        self._handled_before_the_run = sys.exc_info()[1]
        # On an xdist worker: why the run cannot go on, said once the worker's collection reached the controller,
        # which says it first (a usage error raised on a worker would only crash it, and the controller show none).
        self._worker_refusal: str | None = None
        self._controller_checked_gate = False
        self._comparison_made = None  # the run's results against the baseline, once made
        self._regressions_found = 0  # the gate's regressions: they fail the run whatever pytest's outcomes say
        self._baseline_reading: Baseline | BaselineError | None = None  # the baseline file as read once, or why it cannot be
        self.threshold_failures: list[tuple[str, float, float]] = []
        self.thresholds_not_judged: list[RelationSummary] = []  # with a minimum accuracy its unchecked facts would decide
        self._unchecked_for_thresholds: dict[str, int] = {}  # relation -> how many of its facts this run did not check
        self._session: FactcheckSession | None = None
        # The session could not be made (torch failed to import): the error, and its traceback as first raised.
        self._session_error: tuple[Exception, object] | None = None
        self._relation_files: dict[str, Path] = {}  # relation id -> the suite file that has it
        self._markers: set[str] = set()
        self._from_workers: dict[str, RunSummary] = {}  # under pytest-xdist, on the controller: worker id -> what it ran
        self._worker_problems: list[str] = []  # workers that crashed or sent what the controller cannot read
        self._summary: RunSummary | None = None
        self._summarised = False  # run_summary() was computed (its result may be None)
        self._output_lines: list[tuple[str, bool]] = []  # what writing the reports gave: (line, is a failure)
        self._outcomes: dict[tuple[str, str], dict[str, str]] = {}  # (relation, subject) -> its pytest outcome and gate class
        self._named: set[Path] | None = None  # files named on the command line
        self._passed_over: list[Path] = []  # JSON files that look like suites but match no factcheck_suites pattern
        self._suite_files_collected = 0
        self._passed_over_and_no_suite = 0  # on an xdist controller: a worker's _suites_passed_over_by_the_settings()
        self._odd_suffixes: list[Path] = []  # files that look like suites, named "*.JSON" or "*.Json"
        self._unselectable: list[Path] = []  # suite files whose path pytest cannot take as an argument or node id
        self._suite_files_by_target: dict[Path, Path] = {}  # a suite file's real path -> the first path it was collected by
        self._reached_twice: list[tuple[Path, Path]] = []  # suite files collected again by another path, and the first
        self._link_loops: list[Path] = []  # folder links into their own ancestry, not collected
        self._in_skipped_folders: list[Path] = []  # suite files in folders pytest does not enter (norecursedirs)
        self._kept_out_by_conftest: list[Path] = []  # suite files a conftest's collect_ignore(_glob) keeps out
        self._skipped_folders: dict[str, list[Path]] = {}  # why a folder's collection was skipped: its suite files
        self._dangling_folders: list[Path] = []  # folder links under the suites leading nowhere
        self._collection_notes_of_workers: list[str] = []  # under xdist, on the controller: what collection said
        self._unprintable_names: list[Path] = []  # suite files whose path holds control characters, not collected
        self._selected: dict[str, set[int]] = {}  # suite path -> the indices of its facts that this run asks
        self._collected: dict[str, set[int]] = {}  # suite path -> the indices of its facts collected as items
        self._deselected: dict[str, set[int]] = {}  # suite path -> the indices of its facts deselected (-k, -m, --lf)
        self._facts_done: set[str] = set()  # node ids of the facts that ran, or were skipped, or failed before running
        self._facts_failed: set[str] = set()  # node ids of a suite's items that failed (facts, suites that cannot be read)
        self._selected_ids: set[str] = set()  # node ids of the facts selected to run (on an xdist controller: the workers')
        self._removed_at_collection = 0  # facts a conftest or plugin removed without deselecting them
        self._errors_shown: dict[int, tuple[BaseException, str]] = {}  # id of an unforeseen error -> it, and the first fact it failed
        self._removed_at_start: set[str] = set()  # output flags whose earlier report was removed before the facts ran
        self._session_finishing = False  # pytest_sessionfinish reached: the run's outputs are settled there
        self._pytest_session: pytest.Session | None = None
        self._a_fact_started = False  # on an xdist controller: a worker started a fact (the earlier reports are removed then)
        self._streamed = StreamedRun()  # on an xdist controller: what the workers' test reports carried
        self._skipped: collections.Counter[str] = collections.Counter()  # why facts were skipped -> how many
        self._ran_but_reported_skipped: list[str] = []  # facts checked whose outcome a hook rewrote to skipped
        # Suite files and facts that pytest's cache of the last run (--lf, --sw) left out: the gate does not see them.
        self._left_out_by_the_cache = 0
        self._deselected_by_stepwise: list[pytest.Item] = []  # facts --sw deselected, before -k and -m judged them
        self._said_on_stderr: set[str] = set()  # lines printed to stderr where no terminal summary shows them
        self._facts_without_result = 0  # facts that failed before their check gave a result
        self._invalid_suites: set[str] = set()  # suite files that could not be read: their facts are missing
        self._unread_and_deselected: dict[str, str] = {}  # suite file that could not be read and a selection left out -> why
        self._invalid_items: list[BadSuiteItem] = []  # the collected items of suites that cannot be read
        _register_whole(config, _ItemsAsCollected(self), "factcheck-items-as-collected")
        self._know_verdicts_lost = 0  # facts expected wrong under a know-requiring mode that have no know-verdict now
        self._know_unjudged: list[str] = []  # facts held as known by the baseline, judged by what they say alone now
        self._facts_selected = False  # fact items were selected to run (after -k, -m, node ids)
        self._collection_finished = False  # this plugin's pytest_collection_finish ran: the selection is known
        self._a_worker_collected = False  # on an xdist controller: a worker sent its collection
        self._stopped_early: str | None = None  # why pytest stopped before the last item (-x, --maxfail)
        self._stopped_by: str | None = None  # the signal that stopped the run (SIGTERM, SIGHUP)
        self._writing_outputs = False  # the facts are over: a signal lets the reports and the baseline be written
        self._ctrl_c_while_writing = False  # a first Ctrl-C came once the facts were over: the outputs were finished
        self._ctrl_c_back_to_the_default = lambda: None  # ends that grace once the outputs are written
        self._outputs_done: set[str] = set()  # the output options written (or settled) so far, as the run ends
        if not hasattr(config, "workerinput") and (self.settings.report or self.settings.html or self.recording):
            self._stop_on_signals()

    def _stop_on_signals(self) -> None:
        """SIGTERM (a CI job's timeout or cancel, `timeout`) or SIGHUP (a closed terminal or ssh session) stops a run
        that writes outputs as Ctrl-C does: the report is written marked incomplete and no baseline is updated. By
        default the process ends at once, and an earlier run's report left at the output path reads as this run's.
        Only for a signal nothing else handles; a second one ends the process at once, and a process a test forks
        ends on it as it would without factcheck."""
        def stop(name: str) -> bool:
            self._stopped_by = name
            return not self._writing_outputs  # the facts are over: the outputs are finished, whole, as the run ends

        self.config.add_cleanup(stop_as_ctrl_c(stop))

    def _finish_outputs_on_ctrl_c(self) -> None:
        """Once the facts are over, a first Ctrl-C (also a CI runner's cancel, which sends SIGINT first) lets the
        reports and the baseline be finished whole, as SIGTERM does: pytest raises it inside the session's finish,
        where it would be a traceback that leaves an earlier run's reports in place. A second one stops at once
        (`_stopped_while_writing`)."""
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return

        def note(signal_number, frame):
            self._ctrl_c_while_writing = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        def back_to_the_default() -> None:
            if signal.getsignal(signal.SIGINT) is note:
                signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, note)
        self._ctrl_c_back_to_the_default = back_to_the_default
        self.config.add_cleanup(back_to_the_default)

    # ---- the session -------------------------------------------------------------------------
    @property
    def session(self) -> FactcheckSession:
        """The run's session, made on first use: this is where torch and transformers are imported."""
        if self._session is None:
            if self._session_error is not None:
                # Python does not remember a failed import: each fact would import torch again, and print its
                # traceback again; the same error, shown once (FactItem.repr_failure), with its first traceback: raised
                # as it stands, each raise would add its own frames to those of every earlier one.
                error, traceback = self._session_error
                raise error.with_traceback(traceback)
            try:
                from factcheck.session import FactcheckSession

                threads = self.settings.threads or getattr(self.config, "workerinput", {}).get("factcheck_threads")
                self._session = FactcheckSession(self.command_line, self.ini, progress=_progress_writer(self.config), threads=threads)
            except Exception as error:
                self._session_error = (error, error.__traceback__)
                raise
        return self._session

    def run_summary(self) -> RunSummary | None:
        """What this run checked, made once: in one process from its session; on an xdist controller merged from
        the workers. None where no fact ran."""
        if not self._summarised:
            self._summarised = True
            if self._from_workers or self._streamed.relation_ids:
                self._summary = self._merged_from_workers()
            elif self._session is not None and self._session.runs():
                self._summary = self._session.summary(lens_figures=self._lens_figures())
        return self._summary

    def _incomplete(self, exitstatus) -> str | None:
        """Why this run's results are partial, if they are: such a run never updates a baseline."""
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return f"the run was stopped by {self._stopped_by}" if self._stopped_by else "the run was interrupted"
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            return "the run ended in an internal error (INTERNALERROR above)"
        if self._stopped_early:
            return f"the run stopped early ({self._stopped_early})"
        if self._worker_problems:
            return "an xdist worker's results are missing"
        if self._facts_without_result:
            return f"{self._facts_without_result} fact(s) could not run"
        if never_ran := self._facts_never_ran():
            return never_ran
        if left_out := self._cache_left_out_facts():
            return left_out
        if self._invalid_suites:
            shown = ", ".join(sorted(self._invalid_suites)[:3])
            return f"{len(self._invalid_suites)} suite(s) could not be read: {shown}{' ...' if len(self._invalid_suites) > 3 else ''}"
        return None

    def _facts_never_ran(self) -> str | None:
        """Selected facts that gave no test report: the session ended before them without an interruption or a -x
        that would say so (pytest.exit from a conftest, with any return code), or a plugin's pytest_runtest_protocol
        hook kept them from running."""
        missing = sorted(self._selected_ids - self._facts_done)
        if not missing:
            return None
        shown = ", ".join(visible_controls(node_id.split("::", 1)[1]) for node_id in missing[:SHOWN_PATHS])
        return (f"{len(missing)} of the {len(self._selected_ids)} selected fact(s) gave no test report ({shown}"
                f"{' ...' if len(missing) > SHOWN_PATHS else ''}): the session ended before them (pytest.exit in a "
                "conftest or a plugin), or a plugin's pytest_runtest_protocol hook kept them from running")

    def _merged_from_workers(self) -> RunSummary | None:
        """The workers' summaries, and, for relations no summary brought (a worker crashed or was interrupted), what
        their test reports carried."""
        parts = list(self._from_workers.values())
        streamed = self._streamed.summary(received=[relation for part in parts for relation in part.relations])
        if streamed is not None:
            parts.append(streamed)
        self._worker_problems += [problem for problem in self._streamed.problems if problem not in self._worker_problems]
        try:
            return RunSummary.merged(parts)
        except ValueError as error:
            self._worker_problems.append(str(error))
            return None

    def _lens_figures(self) -> int:
        if not self.settings.html:
            return 0
        from factcheck.reports.html_report import MAX_LENS_FIGURES

        return MAX_LENS_FIGURES

    def register_marker(self, name: str, description: str) -> None:
        if name not in self._markers:
            self.config.addinivalue_line("markers", f"{name}: {description}")
            self._markers.add(name)

    def first_to_show(self, error: BaseException, nodeid: str) -> str:
        """The node id of the first fact that failed with `error` (this one, the first time)."""
        return self._errors_shown.setdefault(id(error), (error, nodeid))[1]

    def note_items_as_collected(self, items) -> None:
        """The items before any plugin or conftest changes them (pytest has left out the facts node ids do not name):
        a fact or an unreadable suite among them that is neither selected nor deselected afterwards was removed."""
        self._collected, self._invalid_items = {}, []
        for item in items:
            if isinstance(item, FactItem):
                self._collected.setdefault(str(item.suite.path), set()).add(item.fact_index)
            elif isinstance(item, BadSuiteItem):
                self._invalid_items.append(item)

    def claim_relation(self, relation_id: str, path: Path) -> Path:
        """The suite file that has `relation_id`: `path`, unless another file took it first."""
        return self._relation_files.setdefault(relation_id, path)

    def other_suite_in_the_baseline(self, relation_id: str, path: Path) -> Path | None:
        """Another suite file, still there, that the baseline recorded `relation_id` from: two packages' `suites`
        folders, or a draft copy named on the command line, share the id of one relation, and this file would be
        gated on (or recorded over) that file's facts. None where the recorded file is this one, is gone (a moved
        suite), or where no baseline names the relation."""
        recorded = None
        with contextlib.suppress(BaselineError, OSError):  # said where the baseline is read for the gate
            if self.baseline_path is not None and self.baseline_path.is_file():
                recorded = self._baseline_read().suites.get(relation_id, {}).get("path")
        if not recorded or recorded.strip() == ".":
            return None
        found = []
        for place in _places_a_recorded_suite_may_be(recorded, [self.baseline_path.parent, self.config.rootpath]):
            with contextlib.suppress(OSError):
                if place.is_file():
                    if place.samefile(path):
                        return None
                    found.append(place)
        return found[0] if found else None

    # ---- hooks -------------------------------------------------------------------------------
    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        lines = [f"factcheck: model={settings.model or 'smollm2 (embedded default)'} device={settings.device} dtype={settings.dtype}"]
        if self.baseline_path is not None:
            mode = "recording into" if self.recording else "gating on"
            listing = "" if self._checks_facts() else " (not: this run lists what would run, and checks no fact)"
            lines.append(f"factcheck: {mode} baseline {self.baseline_path}{listing}")
        return lines

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        """A folder link back to the folder it lies in or above it (`suites/self -> .`) is a loop: pytest would
        collect every suite under it again at each level, until the system's link limit."""
        if collection_path.is_symlink() and _links_back_up(collection_path):
            self._link_loops.append(collection_path)
            return True
        return None

    @pytest.hookimpl(wrapper=True, specname="pytest_ignore_collect")
    def pytest_ignore_collect_noting_suites_kept_out(self, collection_path: Path, config: pytest.Config):
        """Suite files that pytest keeps out of collection by a project setting, which would silently never run: in
        folders its norecursedirs passes over ("build", "dist", ".*"), or listed in a conftest.py's collect_ignore or
        collect_ignore_glob. Those the command line leaves out (--ignore, --ignore-glob) were left out on purpose."""
        ignored = yield
        if not ignored or collection_path in self._link_loops or _ignored_on_the_command_line(collection_path, config):
            return ignored
        # Where suites lie: under a folder named suites, or where the factcheck_suites patterns reach ("facts/*.json").
        # A folder a conftest keeps out is looked through whole ("gpu", above gpu/suites); one norecursedirs passes
        # over only where suites would lie (".venv" and "node_modules" are many, and hold none).
        a_file_there = collection_path / "suite.json" if collection_path.is_dir() else collection_path
        skipped_by_pytest = _skipped_by_pytest(collection_path, config)
        if (not skipped_by_pytest or SUITES_FOLDER in collection_path.parts
                or _matches_suite_patterns(a_file_there, self.suite_patterns, config.rootpath)):
            named = self._named_files()
            found = self._suites_under(collection_path) if collection_path.is_dir() else (
                [collection_path] if self._collects_as_a_suite(collection_path) and _looks_like_a_suite(collection_path) else [])
            found = [path for path in found if path.resolve() not in named]
            if skipped_by_pytest:
                self._in_skipped_folders += found
            else:
                self._kept_out_by_conftest += found
        return ignored

    def _collects_as_a_suite(self, path: Path) -> bool:
        """Whether `path` would be collected as a suite (a factcheck_suites pattern, or named on the command line)."""
        return path.suffix == ".json" and (_matches_suite_patterns(path, self.suite_patterns, self.config.rootpath)
                                           or path in self._named_files())

    def _suites_under(self, folder: Path) -> list[Path]:
        return _suites_under(folder, self._collects_as_a_suite, self.config)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):
        """A suite file that is a link leading nowhere (git-annex or DVC content not fetched, a share not mounted) is
        passed over by pytest's folder collection without a word: it is collected as a suite that cannot be read, so
        the gate does not silently check fewer facts; so is a folder link leading nowhere, also named after collection, as
        are the suites of a folder whose collection was skipped."""
        report = yield
        if isinstance(collector, SuiteFile) and report.passed and self.config.pluginmanager.has_plugin("lfplugin-collwrapper"):
            # --lf skips a file none of whose items failed last time, or keeps only a file's last failures, at
            # collection, before -k or -m and without pytest_deselected: its facts are put back, for --lf's own
            # selection after theirs to deselect (the facts the cache left out are counted there).
            made = getattr(collector, "items_made", None)
            if made is None:
                with contextlib.suppress(Exception):  # (a file it cannot read is an item of its own)
                    made = list(collector.collect())
            if made is not None and len(made) != len(report.result):
                report.result[:] = made
        if isinstance(collector, (pytest.Dir, pytest.Package)) and report.skipped:
            self._note_a_skipped_folder(collector.path, report)
        if isinstance(collector, (pytest.Dir, pytest.Package)) and report.passed:
            with contextlib.suppress(OSError):
                for entry in sorted(collector.path.iterdir()):
                    if not entry.is_symlink() or entry.exists():
                        continue
                    if entry.suffix == ".json" and _matches_suite_patterns(entry, self.suite_patterns, self.config.rootpath):
                        report.result.append(SuiteFile.from_parent(collector, path=entry))
                    elif entry.suffix != ".json" and _matches_suite_patterns(entry / "suite.json", self.suite_patterns, self.config.rootpath):
                        # Its suites cannot be told apart, so the link itself fails the run, as a suite link does.
                        self._dangling_folders.append(entry)
                        report.result.append(SuiteFile.from_parent(collector, path=entry))
        return report

    def _note_a_skipped_folder(self, folder: Path, report: pytest.CollectReport) -> None:
        """A folder whose conftest.py skips as it is imported (`pytest.importorskip` of a module not installed) is
        collected as one SKIPPED line: its suites are named, since their facts silently never run."""
        found = self._suites_under(folder)
        if found:
            where, reason = (report.longrepr[0], report.longrepr[2]) if isinstance(report.longrepr, tuple) else ("", str(report.longrepr))
            why = f"{_relative(Path(where), self.config.rootpath)}: {reason.removeprefix('Skipped: ')}" if where else reason
            self._skipped_folders.setdefault(why, []).extend(found)

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector):
        if file_path.suffix != ".json":
            if file_path.suffix.lower() == ".json" and _looks_like_a_suite(file_path):
                self._odd_suffixes.append(file_path)  # "capital.JSON": named, with how to include it
            return None
        patterns = self.suite_patterns
        if _matches_suite_patterns(file_path, patterns, self.config.rootpath) or file_path in self._named_files():
            shown = _relative(file_path, self.config.rootpath)  # pytest names files by their path below the root
            if visible_controls(shown) != shown or _reads_as_a_ci_command(shown):
                # pytest would print such a path raw (an escape sequence rewrites the terminal, a newline forges a
                # line) and write it into JUnit XML, which it breaks: the run stops at collection instead. On an xdist
                # worker, a collection error under the escaped name: the controller shows it, and the run fails.
                if is_xdist_worker(self.config):
                    return UnprintableSuiteName.from_parent(parent, path=file_path, name=visible_controls(file_path.name),
                                                            nodeid=visible_controls(shown))
                self._unprintable_names.append(file_path)
                return None
            # A JSON file named on the command line is meant as a suite wherever it lies (an invalid one says why).
            self._suite_files_collected += 1
            return SuiteFile.from_parent(parent, path=file_path)
        if _looks_like_a_suite(file_path):
            self._passed_over.append(file_path)
        return None

    def _named_files(self) -> set[Path]:
        """The files named on the command line (node ids without their ::part), made absolute: as named (pytest
        collects a file reached through a folder link under that path) and with links resolved."""
        if self._named is None:
            base = self.config.invocation_params.dir
            self._named = set()
            for argument in self.config.args:
                with contextlib.suppress(OSError, RuntimeError, ValueError):
                    named = base / argument.split("::", 1)[0]
                    self._named |= {Path(os.path.abspath(named)), named.resolve()}
        return self._named

    def note_unselectable(self, path: Path) -> None:
        self._unselectable.append(path)

    def note_suite_file(self, path: Path) -> None:
        """A suite file reached again through a folder link (`suites/lang_alias -> lang`) runs twice, as two
        relations: said at collection."""
        with contextlib.suppress(OSError):
            first = self._suite_files_by_target.setdefault(path.resolve(), path)
            if first != path:
                self._reached_twice.append((path, first))

    def pytest_report_collectionfinish(self, config: pytest.Config, start_path: Path, items) -> list[str]:
        return self._collection_notes(config)

    def _collection_notes(self, config: pytest.Config) -> list[str]:
        """A line for JSON files that look like fact suites but were not collected, and how to include them; and one
        for suite files that pytest cannot select by their path. (Under xdist, the workers collect and send them.)"""
        lines = []
        if self._passed_over:
            patterns = " ".join(self.suite_patterns)
            root = config.rootpath
            # Patterns are matched below the root: a root that is the suites folder (or inside one) has no 'suites'
            # folder below it, and moving the files would not help.
            fix = (f"The root folder ({root}) lies in a folder named 'suites': run pytest from the project's folder, or give "
                   "it --rootdir or an ini file there"
                   if SUITES_FOLDER in root.parts and not any(SUITES_FOLDER in Path(os.path.relpath(path, root)).parts
                                                              for path in self._passed_over) else
                   "Put them under a folder named 'suites', add a pattern to the factcheck_suites ini option, or name the file "
                   "on the command line")
            lines.append(f"factcheck: {len(self._passed_over)} JSON file(s) look like fact suites but match no factcheck_suites "
                         f"pattern ({patterns}), so they were not collected: {self._shown(self._passed_over)}. {fix}")
        if self._odd_suffixes:
            lines.append(f"factcheck: {len(self._odd_suffixes)} file(s) look like fact suites but their names do not end in "
                         f"'.json' (in lower case), so they were not collected: {self._shown(self._odd_suffixes)}; rename them")
        if self._in_skipped_folders:
            lines.append(f"factcheck: {len(self._in_skipped_folders)} suite file(s) lie in folders pytest does not enter "
                         f"(its norecursedirs ini option: {' '.join(config.getini('norecursedirs'))}), so they were not "
                         f"collected: {self._shown(self._in_skipped_folders)}. Rename the folder, or name the file on the "
                         "command line")
        if self._kept_out_by_conftest:
            lines.append(f"factcheck: {len(self._kept_out_by_conftest)} suite file(s) are kept out of collection by a "
                         "conftest.py's collect_ignore or collect_ignore_glob (or another plugin), so they were not "
                         f"collected: {self._shown(self._kept_out_by_conftest)}. Take them off that list to run them")
        for why, skipped in self._skipped_folders.items():
            lines.append(f"factcheck: {len(skipped)} suite file(s) were not collected, since their folder was skipped "
                         f"({why}), so their facts are not checked: {self._shown(skipped)}. Install what it needs, or "
                         "move the suites out of that folder")
        if self._dangling_folders:
            lines.append(f"factcheck: {len(self._dangling_folders)} folder link(s) where suites are collected lead nowhere "
                         f"(git-annex or DVC content not fetched, a share not mounted), so their suites were not collected: "
                         f"{self._shown(self._dangling_folders)}. Fetch their content, or remove the links")
        if self._link_loops:
            lines.append(f"factcheck: {len(self._link_loops)} folder link(s) lead back to a folder above them, so "
                         f"nothing under them was collected (it would repeat at each level): {self._shown(self._link_loops)}")
        if self._reached_twice:
            pairs = ", ".join(f"{_relative(path, self.config.rootpath)} (the file {_relative(first, self.config.rootpath)})"
                              for path, first in self._reached_twice[:SHOWN_PATHS])
            more = f" and {len(self._reached_twice) - SHOWN_PATHS} more" if len(self._reached_twice) > SHOWN_PATHS else ""
            lines.append(f"factcheck: {len(self._reached_twice)} suite file(s) are collected again by another path, through "
                         f"a folder link, so their facts run twice, as two relations: {pairs}{more}. Remove the link, or "
                         "add it to norecursedirs")
        if self._unselectable:
            lines.append(f"factcheck: {len(self._unselectable)} suite path(s) hold '[', ']' or '::', which pytest reads as "
                         f"its own syntax in a path or node id: {self._shown(self._unselectable)}. They run with their folder "
                         "and -k selects their facts; rename them (letters, digits, '_' and '-') to select them by path")
        return lines

    def _shown(self, paths: list[Path]) -> str:
        shown = ", ".join(_relative(path, self.config.rootpath) for path in paths[:SHOWN_PATHS])
        return shown + (f" and {len(paths) - SHOWN_PATHS} more" if len(paths) > SHOWN_PATHS else "")

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: it sees the report after pytest's xfail handling
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """A regression always fails, whatever xfail mark a project put on the fact. On an xdist worker, a fact's
        reports carry its relation and its result to the controller as they happen: what a crashed or interrupted
        worker had checked still reaches the reports."""
        report = yield
        if isinstance(item, FactItem) and call.excinfo is not None and call.excinfo.errisinstance(FactRegression):
            if hasattr(report, "wasxfail"):
                del report.wasxfail
                report.outcome = "failed"
                report.longrepr = item.repr_failure(call.excinfo)
        if isinstance(item, FactItem) and is_xdist_worker(self.config):
            if call.when == "setup" and item.relation_run is not None:
                relation, item.relation_run = item.relation_run, None  # sent once; the session keeps the run
                setattr(report, RELATION_ATTRIBUTE, relation_message(self.session.model_info(), relation.summary()))
            elif call.when == "call" and item.record is not None:
                record = item.record
                evidence = tuple(record.hidden_phrasing().evidence()) if record.verdict == "hidden" else ()
                setattr(report, FACT_ATTRIBUTE, fact_message(item.suite.relation_id, item.fact_index, record.result, evidence))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Each fact's final outcome for the reports (on an xdist controller too: the properties travel with the
        report), and what a worker's report carries of its results."""
        if not is_xdist_worker(self.config):
            self._streamed.take(report)
        # A mark of the project's own (a conftest that skips "slow" items, or an xfail with run=False) can keep facts
        # from running: never silently. An xfail in setup means the fact never ran; the baseline's own xfails come
        # from the call.
        # Only a suite file's items are facts, and only they carry results: a test of the project's own may sit in a
        # folder named "factcheck" (a keyword then) or record properties of these names for its JUnit entries, and
        # must not crash the run nor stand in for a fact's outcome.
        from_a_suite = _suite_file_of(report.nodeid) is not None
        properties = dict(report.user_properties) if from_a_suite else {}
        # A suite that cannot be read is marked `factcheck` too (a conftest that keeps marked items keeps it): no fact.
        a_fact = from_a_suite and "factcheck" in report.keywords and "factcheck_invalid_suite" not in properties
        if a_fact and (report.when == "call" or (report.when == "setup" and not report.passed)):
            self._facts_done.add(report.nodeid)
        if from_a_suite and report.failed:
            self._facts_failed.add(report.nodeid)
        # An xfail in the call without a fact result never checked it either (a conftest's pytest.xfail() before it ran).
        never_ran = not hasattr(report, "wasxfail") or report.when == "setup" or "factcheck_relation" not in properties
        if report.skipped and a_fact and report.when == "call" and "factcheck_relation" in properties and not hasattr(report, "wasxfail"):
            # It ran and has a result (the gate judged it); a conftest or plugin rewrote its outcome to skipped.
            self._ran_but_reported_skipped.append(report.nodeid)
        elif report.skipped and never_ran and a_fact:
            if hasattr(report, "wasxfail"):
                reason = f"xfail, not run: {report.wasxfail.removeprefix('[NOTRUN] ')}"
            else:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self._skipped[reason.removeprefix("Skipped: ")] += 1
        if (report.failed and report.when in ("setup", "call") and a_fact
                and "factcheck_relation" not in properties):
            # A fact that failed without a result (its relation could not run, a fixture failed): the reports lack it,
            # so they are incomplete, and `factcheck diff` on them must not pass.
            self._facts_without_result += 1
        if "factcheck_know_lost" in properties and report.when == "call":
            self._know_verdicts_lost += 1
        if "factcheck_know_unjudged" in properties and report.when == "call":
            self._know_unjudged.append(report.nodeid)
        if not report.passed and "factcheck_invalid_suite" in properties:  # failed, or skipped by a mark of the project's
            self._invalid_suites.add(properties["factcheck_invalid_suite"])
        if "factcheck_relation" not in properties or report.when != "call":
            return
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        elif report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
            outcome = "xpassed"  # a fact said wrong in the baseline and right now: fixed (fails until re-recorded)
        entry = {"outcome": outcome}
        if "factcheck_gate" in properties:
            entry["gate"] = properties["factcheck_gate"]
        self._outcomes[(properties["factcheck_relation"], properties["factcheck_subject"])] = entry

    @pytest.hookimpl(tryfirst=True)  # before --sw, -k and -m select: `-m xfail` asks for these facts
    def pytest_collection_modifyitems(self, config: pytest.Config, items) -> None:
        """Facts said wrong in the baseline run as strict xfail: a fix shows as XPASS until the baseline is re-recorded."""
        facts = [item for item in items if isinstance(item, FactItem)]
        if not facts:
            return
        self.gate = self._load_gate()
        if self.gate is None:
            return
        if problem := _skipping_problem(config):
            if is_xdist_worker(config):
                self._worker_refusal = problem
                return
            raise pytest.UsageError(problem)
        per_suite: dict[int, tuple[Settings, list[str]]] = {}  # id(suite) -> its settings and the templates asked
        for item in facts:
            if id(item.suite) not in per_suite:
                suite_run = settings_for_suite(self.command_line, item.suite, self.ini)
                per_suite[id(item.suite)] = suite_run, templates_asked(item.suite, suite_run.templates)
            settings, asked = per_suite[id(item.suite)]
            if self.gate.expected_wrong(item.suite.relation_id, item.fact.subject, item.fact.object, settings.say_check,
                                        asked, settings.templates, settings.require):
                item.expected_wrong = True
                # raises=FactFailure: a regression (under one of its templates) or a relation that cannot run still fails.
                item.add_marker(pytest.mark.xfail(
                    strict=True, raises=FactFailure,
                    reason=("said wrong" if settings.require == "says" else f"failing under --factcheck-require "
                            f"{settings.require}") + " in the baseline; if it passes, it is fixed: re-record the baseline",
                ))

    def pytest_deselected(self, items) -> None:
        """A suite that cannot be read has no facts a selection (-k, -m) could match, so its item is left out: it is
        named anyway, and the run's reports are marked incomplete, as when it is selected."""
        by_the_cache = self._deselecting_cache_plugin() if self._the_cache_selects() else None
        if by_the_cache == "stepwiseplugin":
            # --sw deselects before -k, -m and --deselect have their say: the facts it left out are those they keep,
            # counted once they have (pytest_collection_finish).
            self._deselected_by_stepwise += [item for item in items if isinstance(item, (FactItem, BadSuiteItem))]
        for item in items:
            if isinstance(item, (FactItem, BadSuiteItem)):
                # A suite that cannot be read counts as a fact the cache left out too: a gated run fails, as for a
                # readable one.
                self._left_out_by_the_cache += by_the_cache == "lfplugin"
            if isinstance(item, FactItem):
                self._deselected.setdefault(str(item.suite.path), set()).add(item.fact_index)
            if isinstance(item, BadSuiteItem):
                self._left_out_unread(item, "pytest's cache of the last run (--lf or --sw) left it out" if by_the_cache
                                      else "the selection left it out")

    def _the_cache_selects(self) -> bool:
        """Whether pytest's cache of the last run may select this run's items (--lf, --sw, --sw-skip)."""
        return self.config.pluginmanager.has_plugin("cacheprovider") and any(
            self.config.getoption(name, False) for name in ("lf", "stepwise", "stepwise_skip"))

    def _deselecting_cache_plugin(self) -> str | None:
        """Which of pytest's cache plugins makes the pytest_deselected call running now ("lfplugin": `--lf` keeping the
        last failures or, with `--lfnf none`, nothing; "stepwiseplugin": `--sw` skipping the items before the last
        failure), None where it is -k, -m, --deselect or another plugin: the hook does not say who deselects, the
        calling frames do."""
        cache_plugins = {name: plugin for name in ("lfplugin", "stepwiseplugin")
                         if (plugin := self.config.pluginmanager.get_plugin(name)) is not None}
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "pytest_collection_modifyitems":
                for name, plugin in cache_plugins.items():
                    if frame.f_locals.get("self") is plugin:
                        return name
            frame = frame.f_back
        return None

    def _kept_by_the_selection(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Of `items`, those -k, -m and --deselect keep, judged by pytest's own functions on items they never saw
        (without announcing a deselection); all of them where those functions cannot be imported."""
        try:
            from _pytest.mark import deselect_by_keyword, deselect_by_mark  # (pytest's own, not public)
        except ImportError:
            return list(items)
        kept = list(items)
        quiet = _WithoutDeselectionHook(self.config)
        deselect_by_keyword(kept, quiet)
        deselect_by_mark(kept, quiet)
        prefixes = tuple(self.config.getoption("deselect", None) or ())
        return [item for item in kept if not (prefixes and item.nodeid.startswith(prefixes))]

    def _fail_where_the_cache_left_some_facts_out(self, session: pytest.Session) -> None:
        """A gated run some of whose facts pytest's cache left out (`--sw` skipping facts that "already passed" in a run
        of another model or order): the gate did not check them, so the run fails and its reports are incomplete (the
        cache's selection is no user's, as `-k` is)."""
        gates = self.baseline_path is not None or self.recording
        if (left_out := self._cache_left_out_facts()) and gates and session.exitstatus == pytest.ExitCode.OK:
            self._output_lines.append((f"factcheck: {left_out}: the gate did not check them; {self._how_to_gate_every_fact()} "
                                       "to gate every fact; the run fails", True))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _cache_left_out_facts(self) -> str | None:
        left_out = self._left_out_by_the_cache
        return f"--lf or --sw (pytest's cache of the last run) left out {left_out} fact(s)" if left_out else None

    def _how_to_gate_every_fact(self) -> str:
        if self.config.getoption("lf", False) and self.config.getoption("last_failed_no_failures", "all") == "none":
            return "run without --lf --lfnf none (after a run with no failure it deselects everything)"
        return "run without --lf or --sw (or with --cache-clear)"

    def _left_out_unread(self, item: BadSuiteItem, how: str) -> None:
        problem = visible_controls(str(item.error).splitlines()[0] if str(item.error) else type(item.error).__name__)
        self._unread_but_deselected(_relative(item.path, self.config.rootpath), f"{how}: {problem}")

    def _unread_but_deselected(self, name: str, why: str) -> None:
        """`name`, a suite that cannot be read, is not in the run (`why`: how it was left out, and its problem)."""
        if name not in self._unread_and_deselected:  # under xdist, every worker says so
            self._unread_and_deselected[name] = why
            self._invalid_suites.add(name)
            self._facts_selected = True
            self._output_lines.append((f"factcheck: {name} cannot be read, and {why}", True))

    @pytest.hookimpl(trylast=True)  # on an xdist worker, after the worker sent its collection to the controller
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Which facts of each relation this run asks (after -k, -m, node ids and deselection by other plugins): only
        those are computed where the verdicts allow it (FactcheckSession.run)."""
        if self._worker_refusal:
            pytest.exit(self._worker_refusal, returncode=pytest.ExitCode.USAGE_ERROR)
        if self._deselected_by_stepwise:
            self._left_out_by_the_cache += len(self._kept_by_the_selection(self._deselected_by_stepwise))
            self._deselected_by_stepwise = []
        if self._unprintable_names:
            names = ", ".join(visible_controls(_relative(path, self.config.rootpath)) for path in self._unprintable_names)
            raise pytest.UsageError(f"factcheck: suite file name(s) holding {_UNPRINTABLE}, which pytest would print "
                                    f"raw into the terminal and JUnit XML: {names}; rename them")
        # One that a conftest or a plugin dropped without deselecting it (keeping only marked items) is named too.
        kept = set(session.items)
        for item in [item for item in self._invalid_items if item not in kept]:
            self._left_out_unread(item, "a conftest or plugin removed it from the run")
        # A suite that cannot be read counts as selected, also where a selection left it out: its facts give no result.
        self._facts_selected = bool(self._unread_and_deselected) or any(isinstance(item, (FactItem, BadSuiteItem)) for item in session.items)
        self._collection_finished = True
        self._selected = {}
        for item in session.items:
            if isinstance(item, FactItem):
                self._selected.setdefault(str(item.suite.path), set()).add(item.fact_index)
                self._selected_ids.add(item.nodeid)
        # A conftest or a plugin that drops items in pytest_collection_modifyitems without telling pytest_deselected
        # (the "--runslow" idiom): those facts are neither run nor deselected, and the gate would not see them.
        self._removed_at_collection = sum(len(indices - self._selected.get(path, set()) - self._deselected.get(path, set()))
                                          for path, indices in self._collected.items())

    def selected_facts(self, suite: Suite) -> set[int] | None:
        """The indices of `suite`'s facts this run asks (None: not known, so all of them)."""
        return self._selected.get(str(suite.path))

    def _load_gate(self) -> ReleaseGate | None:
        """The gate on the baseline, read when fact items are collected (a run of Python tests never needs it)."""
        gate, problem = self._read_gate()
        if problem is None:
            return gate
        if is_xdist_worker(self.config):
            self._worker_refusal = problem
            return None
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)

    def _read_gate(self) -> tuple[ReleaseGate | None, str | None]:
        """The gate on the baseline (None where no baseline gates this run), or why the baseline cannot gate it."""
        path = self.baseline_path
        if path is None or self.recording:
            return None, None
        try:
            path.exists()
        except OSError as error:  # a name past the file system's limit: Path.exists raises rather than says False
            return None, f"factcheck: baseline file {path} cannot be looked up ({error.strerror or error}); give it a shorter name"
        if not path.exists():
            return None, f"factcheck: baseline file {path} does not exist; record it with `pytest --factcheck-update-baseline`"
        try:
            return ReleaseGate(self._baseline_read()), None
        except BaselineError as error:
            return None, f"factcheck: {error}"

    def _baseline_read(self) -> Baseline:
        """The baseline file, read and validated once per run (collection's check of relation ids and the gate use the
        same reading); BaselineError where it cannot be used."""
        if self._baseline_reading is None:
            try:
                self._baseline_reading = load_baseline(self.baseline_path)
            except BaselineError as error:
                self._baseline_reading = error
        if isinstance(self._baseline_reading, BaselineError):
            raise self._baseline_reading
        return self._baseline_reading

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        """Plain -n ("load") would spread a relation's facts over workers, each then computing the whole relation, and
        "loadscope" would split a relation whose subjects hold '::'; keep each suite file on one worker instead."""
        dist = getattr(config.option, "dist", None)
        return relation_scheduling(config, log, by_scope=dist == "loadscope") if dist in ("load", "loadscope") else None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        """Workers started by -n share this machine: each runs torch on its share of the cores (N workers with
        every core each would oversubscribe the CPU N times over). Workers elsewhere (--tx ssh=...) keep torch's
        default."""
        spec = node.gateway.spec
        local = [tx for tx in (getattr(self.config.option, "tx", None) or []) if _is_local_popen(tx)]
        count = sum(int(tx.split("*", 1)[0]) if "*" in tx else 1 for tx in local)
        chosen = self.settings.threads is not None or "OMP_NUM_THREADS" in os.environ
        if count and spec.popen and not spec.ssh and not spec.socket and not chosen:
            node.workerinput["factcheck_threads"] = max(1, usable_cores() // count)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        """On the xdist controller, which collects nothing itself: whether the workers' selection holds facts; and,
        before any fact is scheduled, whether the baseline can gate them (the workers would only crash on it)."""
        facts = any(".json::" in node_id for node_id in ids)
        self._facts_selected = self._facts_selected or facts
        self._a_worker_collected = True
        # The facts, as the workers' collection names them: items of suite files (a project's own JSON test items, or
        # a parameter id holding ".json::", are none).
        self._selected_ids |= {node_id for node_id in ids if self._names_a_fact(node_id)}
        if facts and not self._controller_checked_gate:
            self._controller_checked_gate = True
            gate, problem = self._read_gate()
            problem = problem or (_skipping_problem(self.config) if gate is not None else None)
            if problem:
                pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)
            # Kept for the comparison at the end: the file read again then may have been replaced meanwhile (another
            # job recording into it), and the summary would not be the verdicts the workers gated on.
            self.gate = gate

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        """On the xdist controller, the first fact a worker starts (after its -k, -m and node ids): an earlier run's
        report is removed now, as before the facts without xdist."""
        if (not self._a_fact_started and not is_xdist_worker(self.config) and self.config.pluginmanager.has_plugin("dsession")
                and self._names_a_fact(nodeid) and self._checks_facts()):
            self._a_fact_started = True
            self._remove_earlier_reports_quietly()

    def _names_a_fact(self, node_id: str) -> bool:
        """Whether an xdist worker's node id is a fact: an item of a file collected as a suite."""
        file_part = _suite_file_of(node_id)
        if file_part is None or node_id.endswith("[invalid suite]"):
            return False
        path = self.config.rootpath / file_part
        return _matches_suite_patterns(path, self.suite_patterns, self.config.rootpath) or path in self._named_files()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """On the xdist controller: keep what a finished worker checked (once per worker: xdist may call this
        twice for a worker interrupted with Ctrl-C)."""
        name = node.gateway.id
        problem = f"worker {name} crashed ({error}): the facts it had run are missing"
        if error is not None and problem not in self._worker_problems:
            self._worker_problems.append(problem)
        for suite_name, why in json.loads(getattr(node, "workeroutput", {}).get("factcheck_unread") or "{}").items():
            self._unread_but_deselected(suite_name, why)
        # Each worker collects every fact: the facts a conftest removed are the same count on each, not a sum.
        for note in json.loads(getattr(node, "workeroutput", {}).get("factcheck_collection_notes") or "[]"):
            if note not in self._collection_notes_of_workers:  # every worker collects every suite
                self._collection_notes_of_workers.append(note)
        removed = int(getattr(node, "workeroutput", {}).get("factcheck_removed") or 0)
        passed_over = int(getattr(node, "workeroutput", {}).get("factcheck_passed_over_and_no_suite") or 0)
        self._passed_over_and_no_suite = max(self._passed_over_and_no_suite, passed_over)
        self._removed_at_collection = max(self._removed_at_collection, removed)
        left_out = int(getattr(node, "workeroutput", {}).get("factcheck_left_out_by_the_cache") or 0)
        self._left_out_by_the_cache = max(self._left_out_by_the_cache, left_out)
        payload = getattr(node, "workeroutput", {}).get("factcheck")
        if payload:
            try:
                self._from_workers[name] = RunSummary.from_payload(json.loads(payload))
            except (ValueError, KeyError, TypeError) as problem:
                self._worker_problems.append(f"worker {name} sent results this controller cannot read: {problem}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session):
        if not is_xdist_worker(self.config) and self._facts_selected and self._checks_facts():
            self._remove_earlier_reports_quietly()
        try:
            outcome = yield
        finally:
            # The facts are over, or were stopped: a signal from here on lets the outputs be written whole.
            self._writing_outputs = True
        # Only where the facts ran to their end: after a Ctrl-C that stopped them, a second one stops at once.
        if not is_xdist_worker(self.config) and (self.settings.report or self.settings.html or self.recording):
            self._finish_outputs_on_ctrl_c()
        return outcome

    def _checks_facts(self) -> bool:
        """Whether the facts run: not under --collect-only, --setup-only, --setup-plan, --fixtures or
        --fixtures-per-test, which list what would run."""
        option = self.config.option
        return not (option.collectonly or getattr(option, "setuponly", False) or getattr(option, "showfixtures", False)
                    or getattr(option, "show_fixtures_per_test", False))

    def _remove_earlier_reports_quietly(self) -> None:
        """Before the facts run, an earlier run's report at an output path is removed: this run writes its own at its
        end, and a run killed outright (SIGKILL, the OOM killer, a CI job's hard timeout) must not leave the earlier
        one to be taken for its own. Only a file that reads as a report factcheck wrote."""
        for flag, given in (("--factcheck-report", self.settings.report), ("--factcheck-html", self.settings.html)):
            if given and _reads_as_own_report(Path(given), _OWN_OUTPUT_MARKS[flag]):
                with contextlib.suppress(OSError):  # one that cannot be removed cannot be written either: said at the end
                    Path(given).unlink()
                    self._removed_at_start.add(flag)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        """A worker sends its results to the controller. Elsewhere: per-suite minimum accuracies; a missed one fails
        the session even when every fact passed or xfailed."""
        if is_xdist_worker(self.config):
            summary = self.run_summary()
            if summary is not None:
                self.config.workeroutput["factcheck"] = json.dumps(summary.to_payload())
            if self._unread_and_deselected:  # the controller collects nothing: it learns of them here
                self.config.workeroutput["factcheck_unread"] = json.dumps(self._unread_and_deselected)
            if self._removed_at_collection:
                self.config.workeroutput["factcheck_removed"] = str(self._removed_at_collection)
            if notes := self._collection_notes(self.config):
                self.config.workeroutput["factcheck_collection_notes"] = json.dumps(notes)
            if passed_over := self._suites_passed_over_by_the_settings():
                self.config.workeroutput["factcheck_passed_over_and_no_suite"] = str(passed_over)
            if left_out := self._left_out_by_the_cache:
                self.config.workeroutput["factcheck_left_out_by_the_cache"] = str(left_out)
            return
        self._session_finishing = True
        try:
            self._finish_session(session, exitstatus)
            if not self.config.pluginmanager.has_plugin("terminalreporter"):  # (-p no:terminal) no summary will show them
                for line in self._lines_that_fail_the_run():
                    self._say_on_stderr(line)
        except KeyboardInterrupt:
            self._stopped_while_writing(session)
        else:
            self._ctrl_c_back_to_the_default()  # the outputs are written: Ctrl-C stops at once again
            if self._ctrl_c_while_writing:
                self._output_lines.append(("factcheck: Ctrl-C came after the last fact: the outputs above were finished "
                                           "whole (a second Ctrl-C stops at once)", False))

    def _lines_that_fail_the_run(self) -> list[str]:
        """What fails the run, said where no terminal summary follows: factcheck's red lines, the regressions (pytest
        says nothing of a failed test there, and a failed CI gate gave no reason) and the minimum accuracies missed."""
        lines = [line for line, failed in self._output_lines if failed]
        comparison = self._comparison_made
        if comparison is not None and comparison.regressions:
            lines += [f"factcheck: {text}" for text, colour in comparison_lines(comparison) if colour == "red"]
        lines += [f"factcheck: {self._minimum_missed(*missed)}" for missed in self.threshold_failures]
        return lines

    def _minimum_missed(self, relation: str, accuracy: float, threshold: float) -> str:
        left_out = self._unchecked_for_thresholds.get(relation, 0)
        best = f"at most {_percent(accuracy)} ({left_out} fact(s) not checked, counted right)" if left_out else _percent(accuracy)
        return f"{relation}: said right {best}, below its minimum {_percent(threshold)}"

    def _say_on_stderr(self, line: str) -> None:
        """A line said where no terminal summary will show it, once."""
        if line not in self._said_on_stderr:
            self._said_on_stderr.add(line)
            with contextlib.suppress(OSError, ValueError):  # stderr closed too
                print(line, file=sys.stderr)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._pytest_session = session  # the last check judges its exit status, also where sessionfinish never came

    def fail_a_gate_passed_at_the_end(self) -> None:
        """Last of all (a cleanup of the config's, after every pytest_unconfigure hook): the run fails where the gate's
        regressions, or facts that failed, met an exit status of 0 set after the gate's check (a conftest or plugin's
        hook, also a trylast one), or an exit from a pytest_sessionfinish hook before factcheck's own ran
        (`pytest.exit(returncode=0)`, `sys.exit(0)`, also after a quarantine hook turned the failures into passes)."""
        session = self._pytest_session
        if session is None or is_xdist_worker(self.config):
            return
        # A sys.exit(0) from a sessionfinish hook is on its way out; not one the caller of pytest.main was handling
        # before the session began.
        leaving = sys.exc_info()[1]
        exits_with_0 = isinstance(leaving, SystemExit) and leaving.code in (0, None) and leaving is not self._handled_before_the_run
        if session.exitstatus != pytest.ExitCode.OK and not exits_with_0:
            return
        if self._fail_over_an_exit_status_of_0():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if exits_with_0:
                raise SystemExit(pytest.ExitCode.TESTS_FAILED)

    def exit_status_of_the_run(self, status):
        """The exit status pytest_cmdline_main gives back, checked last (factcheck's outermost wrapper of it): a
        conftest's wrapper of the same hook that returns 0 or None came after every other check of the gate's."""
        if not status and self._pytest_session is not None and not is_xdist_worker(self.config):  # 0, None, False
            if self._fail_over_an_exit_status_of_0():
                return pytest.ExitCode.TESTS_FAILED
        return status

    def _fail_over_an_exit_status_of_0(self) -> bool:
        """Whether the run's facts regressed or failed (said once on stderr, where the terminal may be gone): an exit
        status of 0 cannot stand."""
        # Without factcheck's sessionfinish, the facts' gate classes as they ran: the gate's own verdicts, and those the
        # reports carried (a quarantine hook rewrote pytest's outcomes, or replaced the reports whole).
        judged = self.gate.regressions_judged() if self.gate is not None else []
        if not judged and not self._session_finishing and (self._from_workers or self._streamed.relation_ids):
            # An xdist controller judges nothing itself: the workers' summaries, or what their reports carried (a
            # worker's own session finish was cut short), compared now.
            with contextlib.suppress(Exception):  # noqa: BLE001 - a last check must not raise over the run's own error
                summary = self.run_summary()
                comparison = self._comparison(summary) if summary is not None else None
                judged = list(comparison.regressions) if comparison is not None else []
        regressions = (self._regressions_found if self._session_finishing else
                       max(len(judged), sum(entry.get("gate") in REGRESSION_KINDS for entry in self._outcomes.values())))
        failed = len(self._facts_failed)
        if not (regressions or failed):
            return False
        named = ", ".join(visible_controls(f"{change.relation}[{change.subject}]") for change in judged[:SHOWN_PATHS])
        named += " ..." if len(judged) > SHOWN_PATHS else ""
        what = (f"{regressions} regression(s){f' ({named})' if named and not self._session_finishing else ''}" if regressions
                else f"{failed} fact(s) failed")
        self._say_on_stderr(f"factcheck: {what}, but a conftest or plugin set the run's exit status to 0 after the gate's "
                            "check, or ended the session before it: the run fails")
        return True

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """A run that stopped before pytest_sessionfinish (a conftest hook raising in pytest_sessionstart or at
        collection: INTERNALERROR; stdout closed or a broken pipe, `pytest ... | head -1`; a conftest's sessionfinish
        ending the session before factcheck's) writes no report: an earlier run's at an output path would be taken for
        this one's by a later CI step, so it is removed, and stderr says so (the terminal may be gone)."""
        if self._session_finishing or is_xdist_worker(config) or not self._checks_facts():
            return
        self._remove_earlier_reports_quietly()
        given_by_flag = {"--factcheck-report": self.settings.report, "--factcheck-html": self.settings.html}
        for flag in sorted(self._removed_at_start):
            with contextlib.suppress(OSError, ValueError):  # stderr closed too
                print(f"factcheck: the run stopped before its facts ended, and wrote no report: removed {given_by_flag[flag]}, "
                      "an earlier run's report, so that it is not taken for this run's", file=sys.stderr)

    def _stopped_while_writing(self, session: pytest.Session) -> None:
        """A second Ctrl-C while the outputs were made: an output not yet written is removed where an earlier run's
        is there (it would be taken for this run's), and the baseline is left as it was."""
        session.exitstatus = pytest.ExitCode.INTERRUPTED
        why = "the run was stopped while its outputs were written"
        self._remove_earlier_reports(why, [flag for flag in ("--factcheck-report", "--factcheck-html") if flag not in self._outputs_done],
                                     what="report not written", say_where_none_is=False)
        if self.recording and "--factcheck-update-baseline" not in self._outputs_done:
            self._output_lines.append((f"factcheck: baseline NOT updated: {why}; {self.baseline_path} is unchanged", True))

    def _finish_session(self, session: pytest.Session, exitstatus) -> None:
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return  # refused before any fact ran (a baseline that cannot be read, --runxfail): nothing written nor removed
        summary = self.run_summary()
        self._stopped_early = session.shouldfail or session.shouldstop or None  # -x, --maxfail: the facts after it never ran
        if self._worker_problems and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        # pytest.exit(returncode=0) from a test or a conftest after a fact failed (a regression) must not pass a gate.
        if self._facts_failed and session.exitstatus == 0:
            self._output_lines.append((f"factcheck: {len(self._facts_failed)} fact(s) failed, but the session was ended with "
                                       "exit status 0 (pytest.exit): the run fails", True))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        checks_facts = self._checks_facts()
        # Facts that never ran with no interruption or -x to say so fail the run: "3 passed" with exit 0 would pass a gate.
        never_ran = self._facts_never_ran() if checks_facts and not self._stopped_early else None
        if never_ran and exitstatus != pytest.ExitCode.INTERRUPTED:
            self._output_lines.append((f"factcheck: {never_ran}: the gate did not check them", True))
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        # An INTERNALERROR on an xdist controller before any fact started (xdist's own, for a typo in -k, which the
        # workers apply after sending their collection) leaves the earlier report, as the usage error it is does.
        controller = self.config.pluginmanager.has_plugin("dsession")
        facts_started = self._a_fact_started or exitstatus != pytest.ExitCode.INTERNAL_ERROR or not controller
        # Not so a run that ended before its facts were selected (a conftest hook raising, calling pytest.exit, or a
        # signal at collection): its selection is unknown. An xdist controller collects nothing itself: there, no
        # worker sent its collection, and the run was stopped or a worker went down (SIGTERM, Ctrl-C, pytest.exit).
        if controller:
            ended_at_collection = not self._a_worker_collected and (
                exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR) or bool(self._worker_problems))
        else:
            ended_at_collection = not self._collection_finished
        selected = self._facts_selected or exitstatus == pytest.ExitCode.INTERNAL_ERROR
        if checks_facts and not selected and not ended_at_collection:
            self._fail_where_no_suite_matched(session)
        elif checks_facts and selected:
            self._fail_where_the_cache_left_some_facts_out(session)
        if (summary is None or not summary.results) and checks_facts and (ended_at_collection or (selected and facts_started)):
            self._remove_earlier_reports(self._incomplete(exitstatus) or "every fact was skipped or could not run")
            if exitstatus == pytest.ExitCode.INTERNAL_ERROR or ended_at_collection:  # no terminal summary may follow
                for line, _ in self._output_lines:
                    self._say_on_stderr(line)
        if self.recording and checks_facts and not (summary and summary.results) and not is_xdist_worker(self.config):
            # A re-record job whose every fact was skipped or could not run must not pass having recorded nothing.
            line = f"factcheck: baseline NOT updated: no fact was checked; {self.baseline_path} is unchanged; the run fails"
            self._output_lines.append((line, True))
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if summary is None:
            return
        # A minimum accuracy is judged on the whole relation: where a selection (-k) or a skip left facts unchecked, it
        # is missed only if it would be whatever they say, and met only if it would be however they fail.
        with_minimum = {relation.relation_id: relation for relation in summary.relations if relation.min_accuracy is not None}
        thresholds = {relation_id: relation.min_accuracy for relation_id, relation in with_minimum.items()}
        unchecked = {relation_id: relation.facts_not_checked for relation_id, relation in with_minimum.items()}
        self.threshold_failures = threshold_failures(summary.results, thresholds, unchecked)
        self._unchecked_for_thresholds = unchecked
        self.thresholds_not_judged = [with_minimum[relation_id] for relation_id in thresholds_undecided(summary.results, thresholds, unchecked)]
        if self.threshold_failures and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if summary.results:
            incomplete = self._incomplete(exitstatus)
            self._write_outputs(summary, incomplete)
            if self.recording:
                self._record_baseline(summary, incomplete)
                self._outputs_done.add("--factcheck-update-baseline")
            self._fail_on_regressions(session, summary)
            if any(failed for _, failed in self._output_lines) and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _fail_where_no_suite_matched(self, session: pytest.Session) -> None:
        """A run that gates (a baseline is set) or writes factcheck's outputs, and collected no suite while files in a
        folder named 'suites' that look like suites match no factcheck_suites pattern (`--rootdir=suites` in
        PYTEST_ADDOPTS, `-o factcheck_suites=...` naming no file), or whose every fact pytest's cache of the last run
        left out (`--lf` after a project test failed, `--sw`): the gate was switched off by its settings. It fails,
        naming why, and an earlier run's report at an output path is removed (`pytest tests/` leaves it)."""
        passed_over = self._suites_passed_over_by_the_settings() or self._passed_over_and_no_suite
        gates = (self.baseline_path is not None or self.recording or self.settings.report or self.settings.html)
        left_out = self._left_out_by_the_cache
        if left_out and gates:
            self._output_lines.append((f"factcheck: --lf or --sw (pytest's cache of the last run) left out every fact "
                                       f"({left_out}): the gate checked no fact; {self._how_to_gate_every_fact()} to gate "
                                       "(or `pytest tests --lf` for the project's own tests); the run fails", True))
            self._remove_earlier_reports("--lf or --sw left out every fact")
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if not passed_over or not gates:
            return
        self._output_lines.append((f"factcheck: no suite was collected, and {passed_over} JSON file(s) that look like suites "
                                   f"match no factcheck_suites pattern ({' '.join(self.suite_patterns)}) below the root "
                                   f"folder {self.config.rootpath}: the gate checked no fact (see the collection note "
                                   "above for the fix); the run fails", True))
        self._remove_earlier_reports("no suite matched factcheck_suites")
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _suites_passed_over_by_the_settings(self) -> int:
        """How many suite-like files in a folder named 'suites' below the project a run collecting no suite passed over:
        the default patterns take them, so the settings keep them out (`pytest tests/` passes over its own tests' JSON
        files, in other folders, on purpose)."""
        if self._suite_files_collected:
            return 0
        # Below the project's folder (the ini file's, else where pytest started): a checkout in a folder named 'suites'
        # holds its tests' JSON files there too.
        project = self.config.inipath.parent if self.config.inipath else self.config.invocation_params.dir
        below = [Path(os.path.relpath(path, project)) for path in self._passed_over]
        return sum(SUITES_FOLDER in path.parts[:-1] and ".." not in path.parts for path in below)

    def _comparison(self, summary: RunSummary):
        """The run's results against the baseline it gates on, made once; None where none gates it (or it records one,
        or the baseline cannot be read: the terminal summary says why)."""
        if self.recording:
            return None
        if self.gate is None and self._from_workers and not self._controller_checked_gate:
            self.gate, _ = self._read_gate()  # the controller collects no facts: the baseline the workers gated on
        if self.gate is not None and self._comparison_made is None:
            self._comparison_made = dataclasses.replace(
                self.gate.comparison(summary.model.identity(), summary.suites_info(), summary.results),
                candidate_suite_subjects={relation: frozenset(facts) for relation, facts in summary.suite_facts().items()})
        return self._comparison_made

    def _fail_on_regressions(self, session: pytest.Session, summary: RunSummary) -> None:
        """A regression fails its fact; a conftest or plugin that turned its failure into a pass (a "quarantine" hook on
        pytest_runtest_makereport) or set the exit status to 0 must not pass the gate: the run fails here, whether or
        not a terminal summary follows (`-p no:terminal`), and again after every other hook (fail_a_gate_passed_at_the_end)."""
        comparison = self._comparison(summary)
        self._regressions_found = len(comparison.regressions) if comparison is not None else 0
        if self._regressions_found and session.exitstatus == pytest.ExitCode.OK:
            line = (f"factcheck: {self._regressions_found} regression(s), but the run's outcome was a pass (a conftest or "
                    "plugin rewrote the facts' outcomes or the exit status): the run fails")
            self._output_lines.append((line, True))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _remove_earlier_reports(self, why: str, flags: Sequence[str] = ("--factcheck-report", "--factcheck-html"),
                                what: str = "no fact ran", say_where_none_is: bool = True) -> None:
        """No report of this run will be at these output paths (no fact gave a result, a report could not be written,
        the run was stopped while writing): a report an earlier run left there would be taken for this run's, so it
        is removed (only a file that reads as a report factcheck wrote) and the terminal says so. `say_where_none_is`:
        also say that nothing was written where no earlier report is there (not where a line naming the output
        said it)."""
        given_by_flag = {"--factcheck-report": self.settings.report, "--factcheck-html": self.settings.html}
        for flag in flags:
            given = given_by_flag[flag]
            if not given:
                continue
            path = Path(given)
            if flag in self._removed_at_start and not path.exists():
                self._output_lines.append((f"factcheck: {what} ({why}): removed {path}, an earlier run's report, so "
                                           "that it is not taken for this run's", False))
                continue
            if not _reads_as_own_report(path, _OWN_OUTPUT_MARKS[flag]):
                if say_where_none_is:  # else the line naming the output said so
                    self._output_lines.append((f"factcheck: {what} ({why}): nothing written to {path}", False))
                continue
            try:
                path.unlink()
            except OSError as error:
                self._output_lines.append((f"factcheck: {what} ({why}), and {path}, an earlier run's report, could "
                                           f"not be removed: {error.strerror or error}", True))
                continue
            self._output_lines.append((f"factcheck: {what} ({why}): removed {path}, an earlier run's report, so "
                                       "that it is not taken for this run's", False))

    def _record_baseline(self, summary: RunSummary, incomplete: str | None) -> None:
        """--factcheck-update-baseline: write the run's verdicts (at session finish, so that a failure fails the run,
        and whether or not a terminal summary is shown)."""
        if incomplete:
            self._output_lines.append((f"factcheck: baseline NOT updated: the run is incomplete ({incomplete}); "
                                       f"{self.baseline_path} is unchanged", True))
            return
        turned_wrong = self._said_right_before_and_wrong_now(summary)
        try:
            path, kept, dropped = record(self.baseline_path, summary.model.identity(), summary.suites_info(),
                                         summary.results, root=self.config.rootpath, suite_facts=summary.suite_facts())
        except BaselineError as error:
            self._output_lines.append((f"factcheck: baseline NOT updated: {error}", True))
            return
        except OSError as error:
            self._output_lines.append((f"factcheck: baseline NOT updated: {self.baseline_path} could not be written "
                                       f"({error.strerror or error}); it is unchanged: free space on its disk or make "
                                       "its folder writable, then record again", True))
            return
        also = f" ({kept} fact(s) this run did not select kept as recorded before)" if kept else ""
        if self.settings.lre == "off":
            also += "; with --factcheck-lre off they hold no know-verdicts, so --factcheck-require knows cannot gate them"
        self._output_lines.append((f"factcheck: baseline of {len(summary.results)} facts written to {path}{also}", False))
        if turned_wrong:
            shown = ", ".join(turned_wrong[:SHOWN_PATHS]) + (" ..." if len(turned_wrong) > SHOWN_PATHS else "")
            given = any(arg.startswith("--factcheck-update-baseline") for arg in self.config.invocation_params.args)
            source = "" if given else " (--factcheck-update-baseline came from PYTEST_ADDOPTS or the ini file's addopts)"
            self._output_lines.append((f"factcheck: {len(turned_wrong)} fact(s) the baseline held as said right are recorded "
                                       f"as said wrong now ({shown}): a gate on this baseline will not see them regress"
                                       f"{source}", False))
        self._name_facts_the_baseline_lacks(path, summary)
        if dropped:
            self._output_lines.append((f"factcheck: dropped from the baseline, their suite file gone (removed, or moved: "
                                       f"a moved suite is recorded under its new path): {', '.join(dropped)}", False))

    def _said_right_before_and_wrong_now(self, summary: RunSummary) -> list[str]:
        """The facts the baseline being replaced held as said right that this run records as said wrong (a
        --factcheck-update-baseline leaked into a gate job records its regressions silently)."""
        if self.baseline_path is None or not self.baseline_path.is_file():
            return []
        try:
            earlier = ReleaseGate(load_baseline(self.baseline_path))
            comparison = earlier.comparison(summary.model.identity(), summary.suites_info(), summary.results)
        except (BaselineError, OSError, ValueError):
            return []  # recording says what is wrong with the file
        return [visible_controls(f"{change.relation}[{change.subject}]") for change in comparison.regressions]

    def _name_facts_the_baseline_lacks(self, path: Path, summary: RunSummary) -> None:
        """A selection recorded into a new baseline (or beside entries of other facts) leaves the suites' other facts
        out of it: a later gate cannot see them regress. Said, with how to record them."""
        try:
            recorded = load_baseline(path).facts
        except (BaselineError, OSError):
            return
        missing = [f"{relation}[{subject}]" for relation, facts in summary.suite_facts().items()
                   for subject in facts if subject not in recorded.get(relation, {})]
        if missing:
            self._output_lines.append((f"factcheck: the baseline holds no entry for {len(missing)} fact(s) of the suites "
                                       f"this run selected from ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): "
                                       "a gate cannot see them regress; record every fact (no -k, -m or node ids)", False))

    def _write_outputs(self, summary: RunSummary, incomplete: str | None) -> None:
        """The JSON and HTML reports, written here (where a failure can still fail the run) and announced in the
        terminal summary; one that cannot be written is said plainly and never stops the gate."""

        def json_report(path: Path) -> Path:
            from factcheck.reports.report import write_report

            return write_report(path, summary, incomplete, outcomes=self._outcomes)

        def html_report(path: Path) -> Path:
            from factcheck.reports.html_report import write_html_report

            return write_html_report(path, summary, outcomes=self._outcomes, incomplete=incomplete)

        for flag, name, given, write in (("--factcheck-report", "report", self.settings.report, json_report),
                                         ("--factcheck-html", "HTML report", self.settings.html, html_report)):
            if not given:
                continue
            try:
                path = write(Path(given))
            except Exception as error:  # noqa: BLE001 - any failure of a report must leave the gate running
                self._output_lines.append((f"factcheck: {name} NOT written to {given}: {type(error).__name__}: {error}", True))
                # An earlier run's report left there (a full disk) would be read as this one's by a later step.
                self._remove_earlier_reports(f"{type(error).__name__}", [flag], what=f"{name} not written", say_where_none_is=False)
                self._outputs_done.add(flag)
                continue
            self._outputs_done.add(flag)
            note = f" (marked incomplete: {incomplete})" if incomplete else ""
            self._output_lines.append((f"factcheck: {name} written to {path}{note}", False))

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config: pytest.Config) -> None:
        if is_xdist_worker(config):
            return
        if self._collection_notes_of_workers:  # the controller collected nothing: said here, not before the facts ran
            terminalreporter.section("factcheck: suites not collected", yellow=True)
            for note in self._collection_notes_of_workers:
                terminalreporter.write_line(note, yellow=True)
        if self._worker_problems:
            terminalreporter.section("factcheck: results incomplete", red=True)
            for problem in self._worker_problems:
                terminalreporter.write_line(problem, red=True)
        if self._removed_at_collection:
            self._skipped["removed from the run at collection by a conftest or plugin (pytest_collection_modifyitems), "
                          "without deselecting them"] = self._removed_at_collection
        if self._facts_selected and self._checks_facts() and (left_out := self._left_out_by_the_cache):
            self._skipped["facts left out by --lf or --sw (pytest's cache of the last run)"] = left_out
        if self._skipped:
            terminalreporter.section("factcheck: facts skipped, not checked", yellow=True)
            terminalreporter.write_line(f"{sum(self._skipped.values())} fact(s) were skipped by pytest marks or plugins and "
                                        "not checked: neither the reports nor the gate saw them", yellow=True)
            for reason, count in self._skipped.most_common(SHOWN_PATHS):
                terminalreporter.write_line(f"  {count} x {reason}", yellow=True)
        if self._ran_but_reported_skipped:
            shown = ", ".join(visible_controls(node_id.split("::", 1)[1]) for node_id in self._ran_but_reported_skipped[:SHOWN_PATHS])
            more = " ..." if len(self._ran_but_reported_skipped) > SHOWN_PATHS else ""
            terminalreporter.section("factcheck: facts checked, reported as skipped", yellow=True)
            terminalreporter.write_line(f"{len(self._ran_but_reported_skipped)} fact(s) ran and were checked, and the gate "
                                        f"judged them, but a conftest or plugin reported them as skipped ({shown}{more}): "
                                        "their verdicts are in the reports and the gate's counts", yellow=True)
        summary = self.run_summary()
        if summary is None or not summary.results:
            for line, failed in self._output_lines:
                terminalreporter.write_line(line, red=failed, yellow=not failed)
            return
        from factcheck.reports.report import distracted_lines, summary_lines

        terminalreporter.section("factcheck: what the model says and knows, per relation")
        terminalreporter.write_line(summary.model.line())
        if summary.split:
            dist = getattr(config.option, "dist", "no")
            terminalreporter.write_line(
                f"! {len(summary.split)} relation(s) ran on more than one worker, each computing all of its facts "
                f"(--dist {dist} splits relations): --dist loadfile, or plain -n, keeps a relation on one worker", yellow=True)
        for line in summary_lines(summary):
            terminalreporter.write_line(line, yellow=line.startswith("!"))
        distracted = distracted_lines(summary)
        if distracted:
            terminalreporter.section("factcheck: distracted prompts (a false statement before the question)")
            for line in distracted:
                terminalreporter.write_line(line)
        for line, failed in self._output_lines:
            terminalreporter.write_line(line, red=failed or "incomplete" in line)
        if self.threshold_failures:
            terminalreporter.section("factcheck: minimum accuracy missed", red=True)
            for missed in self.threshold_failures:
                terminalreporter.write_line(self._minimum_missed(*missed), red=True)
        for relation in self.thresholds_not_judged:
            terminalreporter.write_line(f"factcheck: {relation.relation_id}: its minimum accuracy ({_percent(relation.min_accuracy)}) was not "
                                        f"judged: this run checked {len(relation.subjects_asked)} of its {len(relation.suite_facts)} "
                                        "facts, and the others decide it (run them all to judge it)")
        if self.recording:
            return  # the baseline was written at session finish (its line is above)
        if self.gate is None and self._from_workers and not self._controller_checked_gate:
            self.gate = self._load_gate()  # the controller collects no facts: a baseline it cannot read is said here
        if (comparison := self._comparison(summary)) is not None:
            terminalreporter.section("factcheck: against the baseline", red=bool(comparison.regressions))
            if self._know_verdicts_lost:
                terminalreporter.write_line(
                    f"WARNING: {self._know_verdicts_lost} fact(s) failing under --factcheck-require "
                    f"{self.settings.require} in the baseline have no know-verdict now (no LRE, undecided or untrusted): "
                    "they stay expected failures, not fixes, as nothing tells whether they are fixed", yellow=True)
            if self._know_unjudged:
                shown = ", ".join(visible_controls(node_id.split("::", 1)[-1]) for node_id in self._know_unjudged[:SHOWN_PATHS])
                more = " ..." if len(self._know_unjudged) > SHOWN_PATHS else ""
                terminalreporter.write_line(
                    f"WARNING: {len(self._know_unjudged)} fact(s) the baseline judged by a know-verdict under "
                    f"--factcheck-require {self.settings.require} have none now (no LRE, undecided or untrusted): they "
                    f"passed by what they say alone, and a loss of their knowledge is not seen ({shown}{more})", yellow=True)
            for text, colour in comparison_lines(comparison):
                terminalreporter.write_line(text, **({colour: True} if colour else {}), bold=text.startswith("regressions:"))


def _percent(share: float) -> str:
    """A share as a percentage with the digits that tell it apart from its neighbours."""
    return f"{share * 100:.3g}%"  # 0.995 reads 99.5%, not 100%; 0.001 reads 0.1%, not 0%


SHOWN_PATHS = 3  # files named in a collection note


def _links_back_up(path: Path) -> bool:
    """Whether the link `path` leads to the folder it lies in, or to one above it."""
    try:
        target = path.resolve(strict=True)
        return target.is_dir() and path.parent.resolve(strict=True).is_relative_to(target)
    except (OSError, RuntimeError):  # a link loop of its own (ELOOP) or a dangling link: pytest skips it already
        return False


def _skipping_problem(config: pytest.Config) -> str | None:
    """Why the baseline's known-wrong facts cannot run as xfail in this run, if they cannot."""
    if not config.pluginmanager.has_plugin("skipping"):
        return ("factcheck: the baseline's known-wrong facts run as xfail, which pytest's skipping plugin handles, and "
                "this run turned it off (-p no:skipping): drop that option")
    if config.getoption("runxfail", False):
        return ("factcheck: the baseline's known-wrong facts run as xfail, and --runxfail runs them as plain tests: "
                "they would fail the run although nothing regressed. Drop --runxfail (the summary lists them as "
                "expected failures)")
    return None


def _ignored_on_the_command_line(path: Path, config: pytest.Config) -> bool:
    """Whether --ignore or --ignore-glob leaves `path` out (as pytest matches them: absolute paths and globs)."""
    ignored = [Path(os.path.abspath(given)) for given in config.getoption("ignore", None) or []]
    globs = [os.path.abspath(given) for given in config.getoption("ignore_glob", None) or []]
    return path in ignored or any(fnmatch.fnmatch(str(path), glob) for glob in globs)


def _skipped_by_pytest(path: Path, config: pytest.Config) -> bool:
    """Whether pytest's norecursedirs keeps it out of the folder `path` (matched on the folder's name, as pytest
    matches patterns without a slash)."""
    try:
        is_folder = path.is_dir()
    except OSError:
        return False
    return is_folder and any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("norecursedirs") if "/" not in pattern)


_MOST_FILES_LOOKED_AT = 1000  # in one skipped folder: a suites folder is small, and a stray .venv in one must cost little


def _suites_under(folder: Path, wanted: Callable[[Path], bool], config: pytest.Config) -> list[Path]:
    """The JSON files below `folder` that `wanted` takes (where suites are collected) and that look like fact suites,
    at most _MOST_FILES_LOOKED_AT of them read; folder links are followed as pytest's collection follows them (each
    real folder once: a link back up is no loop), and folders pytest does not enter (norecursedirs) are passed over."""
    found, looked_at, seen = [], 0, set()
    for here, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(name for name in folders if not _skipped_by_pytest(Path(here) / name, config))
        for path in (Path(here) / name for name in sorted(files) if name.endswith(".json")):
            if not wanted(path):
                continue
            looked_at += 1
            if looked_at > _MOST_FILES_LOOKED_AT:
                return sorted(found)
            if _looks_like_a_suite(path):
                found.append(path)
    return sorted(found)


# A file up to this size is read whole to tell a suite (a suite of many templates holds its "facts" key past its first
# 4 KB); a larger one by its first and last 64 KiB (a suite's top-level keys lie before or after its facts, whatever
# their order, and a repository's big JSON data must cost next to nothing).
_READ_WHOLE_TO_TELL_A_SUITE = 2**20
_ENDS_READ = 2**16


def _looks_like_a_suite(path: Path) -> bool:
    """A JSON file that names the keys of a fact suite. Its end too: written with sorted keys, "relation" and
    "templates" come after every fact."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            head = handle.read(_READ_WHOLE_TO_TELL_A_SUITE)
            if len(head) == _READ_WHOLE_TO_TELL_A_SUITE:  # a big file: its first and last bytes
                head = head[:_ENDS_READ]
                handle.seek(max(handle.seek(0, os.SEEK_END) - _ENDS_READ, len(head)))
            ends = head + handle.read(_ENDS_READ)
    except OSError:
        return False
    if b'"factcheck_report_version"' in ends or b'"factcheck_baseline_version"' in ends:
        return False  # a report or baseline names its suites' relations and templates, but is not one
    return all(key in ends for key in (b'"relation"', b'"templates"', b'"facts"'))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _run(config: pytest.Config) -> FactcheckRun:
    return config.stash[RUN_KEY]


_UNPRINTABLE = "control characters or a CI workflow command (a part starting with '::', or '##[', '##vso[')"


def _reads_as_a_ci_command(name: str) -> bool:
    """Whether a suite's path, printed at a line's start (its relation id in the summary, `factcheck diff`), would be
    read by a CI runner as a workflow command: GitHub Actions takes a line starting with '::' after its spaces
    ("::error title=...::"), and '##[' anywhere, as Azure Pipelines takes '##vso['."""
    return bool(re.search(r"##(?:vso)?\[", name)) or any(part.lstrip().startswith("::") for part in name.split("/"))


class _ItemsAsCollected:
    """Beside the run, a wrapper of pytest_collection_modifyitems: it sees the items before any plugin or conftest
    (their hooks, and -k's) changes them."""

    def __init__(self, run: FactcheckRun):
        self._run = run

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items):
        self._run.note_items_as_collected(items)
        return (yield)


class UnprintableSuiteName(pytest.File):
    """On an xdist worker, a suite file whose name holds control characters: a collection error, named escaped."""

    def collect(self):
        raise self.CollectError(f"factcheck: suite file name holding {_UNPRINTABLE}, which pytest would print raw "
                                f"into the terminal and JUnit XML: {self.nodeid}; rename it")


class _WithoutDeselectionHook:
    """A pytest config whose pytest_deselected hook does nothing: pytest's selection functions, run on items already
    deselected, must not have them counted (and shown) again."""

    def __init__(self, config: pytest.Config):
        self._config = config
        self.hook = types.SimpleNamespace(pytest_deselected=lambda items: None)

    def __getattr__(self, name: str):
        return getattr(self._config, name)


def _item_node_id(parent: pytest.Collector, name: str) -> str:
    """An item's node id, given as the string pytest's cache stores: pytest 9.2 builds a child's structured id with the
    whole name ("plural[louse]") where the cache's string parses into the name "plural" and the parameter "louse", so
    `--lf`, `--ff` and `--sw` would never find a fact again."""
    return f"{parent.nodeid}::{name}"


class SuiteFile(pytest.File):
    """One suite file; its items are the facts."""

    def _invalid(self, error: SuiteError) -> BadSuiteItem:
        """The failing item of a suite that cannot be used, marked `factcheck` as facts are: a conftest that keeps only
        those items keeps it."""
        name = f"{self.path.stem}[invalid suite]"
        item = BadSuiteItem.from_parent(self, name=name, nodeid=_item_node_id(self, name), error=error)
        item.add_marker("factcheck")
        return item

    def collect(self):
        self.items_made = list(self._items())  # before pytest's cache (--lf) keeps only the last run's failures
        return list(self.items_made)

    def _items(self):
        try:
            suite = dataclasses.replace(load_suite(self.path), key_root=self.config.rootpath)
        except SuiteError as error:
            # One bad file must not stop the other suites: report it as a failing item.
            yield self._invalid(error)
            return
        run = _run(self.config)
        run.note_suite_file(self.path)
        if any(part in _relative(self.path, self.config.rootpath) for part in ("[", "]", "::")):
            run.note_unselectable(self.path)
        problems = mark_problems(suite, RESERVED_MARKS)
        if problems:
            yield self._invalid(SuiteError(self.path, problems))
            return
        # A copy the baseline did not record from is refused before it claims the id: the recorded file still runs.
        other = run.other_suite_in_the_baseline(suite.relation_id, self.path)
        taken = run.claim_relation(suite.relation_id, self.path) if other is None else self.path
        if taken != self.path or other is not None:
            # Files in no `suites` folder are known by their name alone, others by their path below their innermost
            # `suites` folder (two packages' suites/capital.json are both 'capital'): two files cannot share it.
            where = (f"is already the suite {taken}" if taken != self.path else
                     f"is recorded in the baseline {run.baseline_path} from the suite {other}, which is still there: this "
                     "file would be gated on that suite's facts, or recorded over them")
            error = SuiteError(self.path, [("", f"relation id {suite.relation_id!r} (its path below its 'suites' folder, or "
                                                f"its file name in none) {where}; rename one of the files, or keep one "
                                                "baseline per folder of suites (--factcheck-baseline)")])
            yield self._invalid(error)
            return
        # The file name is the relation's mark (-m country_capital) where it can be one: "a:b" or "1st" cannot be
        # written in -m, and an unknown-looking mark would stop --strict-markers runs; -k and the path still select.
        relation_marker = (suite.name if suite.name.isidentifier() and not suite.name.startswith("_")
                           and suite.name not in _EXPRESSION_WORDS else None)
        if relation_marker:
            run.register_marker(relation_marker, f"facts of the relation {suite.relation!r}")
        with_xdist = self.config.pluginmanager.has_plugin("xdist")
        for index, fact in enumerate(suite.facts):
            name = f"{suite.name}[{fact.subject}]"
            item = FactItem.from_parent(self, name=name, nodeid=_item_node_id(self, name), suite=suite, fact_index=index)
            item.add_marker("factcheck")
            if relation_marker:
                item.add_marker(relation_marker)
            for name in (*fact.tags, *suite.settings.markers):
                run.register_marker(name, "factcheck fact tag")
                item.add_marker(name)
            # For --dist loadgroup; with pytest 9.2 and pytest-xdist 3.8 the group is ignored (pytest-xdist issue
            # 1386): plain -n (see relation_scheduling) and --dist loadfile keep a relation on one worker. Only where
            # xdist is loaded, which registers the mark: under --strict-markers it would stop every suite otherwise.
            if with_xdist:
                item.add_marker(pytest.mark.xdist_group(suite.relation_id))
            yield item


class FactFailure(AssertionError):
    """A fact that fails its requirement."""


class FactRegression(AssertionError):
    """A fact the baseline said right that is not said now (under one of its templates, at least): never an expected
    failure, so a fact said wrong in the baseline still fails when another of its templates regresses."""


class FactItem(pytest.Item):
    def __init__(self, *, suite: Suite, fact_index: int, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite
        self.fact_index = fact_index
        self.record: FactRecord | None = None
        self.regression: str | None = None  # the gate's note when this fact regressed
        self.expected_wrong = False  # failing in the baseline as this run judges it: a strict xfail
        self.relation_run = None  # on an xdist worker, the relation's run (a RelationRun) its setup computed, until sent

    @property
    def fact(self):
        return self.suite.facts[self.fact_index]

    def setup(self) -> None:
        """The relation's shared work (one batched pass for the facts this run asks, its LRE) runs in the setup of its
        first fact, so that --durations and JUnit (with junit_duration_report = call) charge it once, apart from the facts'
        own checks; its seconds are a property of that fact. A relation that cannot run fails each fact in runtest."""
        if self.config.getoption("setuponly", False):  # --setup-only, --setup-plan: no fact runs, nothing to compute
            return
        run = _run(self.config)
        try:
            session = run.session  # torch and transformers imported here: an import that fails is raised by runtest
            if session.has_run(self.suite, self.fact_index):
                return
            relation = session.run(self.suite, wanted=run.selected_facts(self.suite))
        except Exception:  # noqa: BLE001 - remembered by the session and raised again, per fact, by runtest
            return
        if is_xdist_worker(self.config):
            self.relation_run = relation  # streamed to the controller with this setup's report
        self.user_properties.append(("factcheck_relation_seconds", round(relation.seconds, 3)))

    def runtest(self) -> None:
        run = _run(self.config)
        self.record = run.session.record_for(self.suite, self.fact_index)
        result = self.record.result
        for key, value in self.record.user_properties():
            self.user_properties.append((key, value))
        if run.recording:
            return  # recording a baseline: every fact's verdict is what is recorded, none fails
        if run.gate is not None:
            change = run.gate.judge(result)
            self.user_properties.append(("factcheck_gate", change.kind))
            if change.is_regression:
                said = "" if change.note.startswith("said under") else "said right in the baseline, not now; "
                self.regression = f"REGRESSION ({change.kind}): {said}{change.note}"
                raise FactRegression(result.subject)
        if not self.record.passed:
            raise FactFailure(result.subject)
        if self._know_verdict_lost(run):
            if self.expected_wrong:
                # Passing only because there is no know-verdict to judge it by now: not a fix.
                self.user_properties.append(("factcheck_know_lost", self.record.require))
                raise FactFailure(result.subject)
            # Held as known in the baseline, and judged by what it says alone now: a loss of its knowledge is not seen.
            self.user_properties.append(("factcheck_know_unjudged", self.record.require))

    def _know_verdict_lost(self, run: FactcheckRun) -> bool:
        """Whether a fact the baseline judged by a know-verdict under a know-requiring mode (knows, both, agree) has
        none now (no LRE, undecided, untrusted): under such a mode it passes by what it says alone."""
        if self.record.require == "says" or self.record.result.know_pass is not None or run.gate is None:
            return False
        entry = run.gate.entry(self.suite.relation_id, self.fact.subject, self.fact.object)
        return entry is not None and entry.know_pass is not None

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (FactFailure, FactRegression)) and self.record is not None:
            return self.record.explain(self.regression)
        if isinstance(excinfo.value, FactcheckError):
            # A setting that cannot work with this suite or model: the message names it; a traceback would not help.
            return f"the relation in {self.path} cannot run:\n{excinfo.value}"
        # An error factcheck did not foresee: its traceback (with what it chains) once, for the first fact it failed;
        # the session raises the same error for every fact of the relation or the model, which printed it 50 times.
        first = _run(self.config).first_to_show(excinfo.value, self.nodeid)
        if first != self.nodeid:
            return (f"the relation in {self.path} cannot run: {type(excinfo.value).__name__}: {excinfo.value}\n"
                    f"(the same error as for {first}, whose traceback is shown there)")
        # The traceback style asked (--tb=line, native, short), as pytest's test functions take it.
        style = style or self.config.getoption("tbstyle", "auto")
        return super().repr_failure(excinfo, style="long" if style == "auto" else style)

    def reportinfo(self):
        return self.path, 0, self.name  # a line number: pytest's skip and xfail reports need one

    def _traceback_filter(self, excinfo):
        """An error's traceback from this fact's own code on, as pytest cuts a test function's: pytest's and pluggy's
        frames above it made 870 lines of one failed torch import."""
        traceback = excinfo.traceback.filter(excinfo)  # (not called under --fulltrace)
        for index, entry in enumerate(traceback):
            if entry.frame.code.raw in (FactItem.runtest.__code__, FactItem.setup.__code__):
                return traceback[index:]
        # Raised outside the fact's code (a conftest's hook): pytest's and pluggy's own frames left out, as pytest does.
        try:
            from _pytest._code.code import filter_traceback
        except ImportError:  # (pytest's own helper, not public: a later pytest may move it)
            return traceback
        return traceback.filter(filter_traceback) or traceback


class BadSuiteItem(pytest.Item):
    def __init__(self, *, error: SuiteError, **kwargs):
        super().__init__(**kwargs)
        self.error = error
        # Named in each of its reports (setup too: a conftest may skip it there): the run's reports lack this suite's
        # facts, so they are marked incomplete.
        self.user_properties.append(("factcheck_invalid_suite", _relative(self.path, self.config.rootpath)))

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SuiteError):
            return f"invalid fact suite:\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, self.name  # a line number: pytest's skip and xfail reports need one


@pytest.fixture(scope="session")
def factcheck_model(pytestconfig: pytest.Config):
    """The session's model (a factcheck.model.language_model.LanguageModel), loaded once, on first use. A test must
    leave it as it found it: a relation that runs after a change to its weights or hooks fails, naming it."""
    return _run(pytestconfig).session.model_for_a_test()
