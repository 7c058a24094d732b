"""Baseline files: what one model said about every fact, recorded so later models can be gated against it.

A baseline is versioned JSON validated by `schemas/baseline.schema.json`. It is
written deterministically (sorted keys, margins rounded to a fixed number of
decimals, newline at the end) so that re-recording the same model gives a
byte-identical file and a changed fact shows up as a one-line git diff.

Reading is strict: any problem is a `BaselineError` naming the file, the JSON
pointer of the bad value, what was expected and how to fix it. Nothing is
ever written when a document is invalid.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any, Iterable, Mapping

import jsonschema

from factcheck.cache import write_json_atomic
from factcheck.display import TERMINAL_CONTROLS
from factcheck.errors import JsonFileError
from factcheck.fact_result import FactResult
from factcheck.suites.suite import (LFS_POINTER_PROBLEM, SuiteError, _describe_schema_error, first_schema_errors, json_pointer, read_json_document,
                                     suite_key)
from factcheck.types import BASELINE_VERSION

VERSION_KEY = "factcheck_baseline_version"
MARGIN_DECIMALS = 4
# Generous: a baseline holds a few hundred bytes per fact.
MAX_BASELINE_BYTES = 256 * 1024 * 1024
RERECORD_HINT = "re-record it with `pytest --factcheck-update-baseline`, or restore it from version control"


class BaselineError(JsonFileError):
    """A baseline (or other results file) that cannot be used; lists each problem as (pointer, message)."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]], fix: str = RERECORD_HINT):
        super().__init__(path, problems, fix)


@dataclass(frozen=True)
class BaselineFact:
    """One fact's recorded result."""

    object: str
    say_pass: bool
    generation_pass: bool
    ranking_pass: bool
    know_pass: bool | None
    verdict: str | None
    margin: float | None
    training: bool
    # template -> {"say_pass", "generation_pass", "ranking_pass", "know_pass"} where the fact was asked under several
    # templates, else None (baselines written before the checks were kept per template hold say_pass and know_pass)
    templates: dict[str, dict[str, bool | None]] | None = None
    say_check: str | None = None  # the check whose verdict say_pass is (None: a baseline written before it was kept)
    template: str | None = None  # the one template the fact was asked under (None: several, or not kept)

    def said_by(self, check: str) -> bool:
        """Whether the baseline's model said the fact by `check` ("generation" or "ranking"): a run is compared with
        the check it decides by, whichever check decided `say_pass` when the baseline was recorded."""
        return self.ranking_pass if check == "ranking" else self.generation_pass

    def said_under(self, check: str) -> dict[str, bool]:
        """Template -> whether the baseline's model said the fact under it by `check`, for every template it was
        asked under that the baseline names (empty for a baseline that names none)."""
        if self.templates:
            if all(f"{check}_pass" in verdicts for verdicts in self.templates.values()):
                return {template: bool(verdicts[f"{check}_pass"]) for template, verdicts in self.templates.items()}
            # Written before both checks were kept per template: each template's say_pass is the recording check's
            # verdict, usable only where that check is this one; otherwise the fact is compared whole, by its own
            # verdicts of both checks.
            if self.recorded_by() == check:
                return {template: bool(verdicts["say_pass"]) for template, verdicts in self.templates.items()}
            return {}
        if self.template is not None:
            return {self.template: self.said_by(check)}
        return {}

    def recorded_by(self) -> str | None:
        """The check whose verdict say_pass is: kept (say_check), or told by the checks' verdicts where they differ;
        None where a baseline written before it was kept cannot tell."""
        if self.say_check is not None:
            return self.say_check
        if self.generation_pass != self.ranking_pass:
            return "generation" if self.say_pass == self.generation_pass else "ranking"
        return None

    def to_entry(self) -> dict[str, Any]:
        """The fact's entry of a baseline file (as `baseline_entry` writes it)."""
        entry = asdict(self)
        for key in ("templates", "say_check", "template"):
            if entry[key] is None:
                del entry[key]
        return entry


@dataclass(frozen=True)
class Baseline:
    """A validated baseline: model, suites (relation -> content_hash, path) and facts (relation -> subject -> fact)."""

    path: Path | None
    model: dict[str, str]
    suites: dict[str, dict[str, str]]
    facts: dict[str, dict[str, BaselineFact]]
    incomplete: str | None = None  # a report of a partial run says why (a baseline is never written from one)
    results: tuple[FactResult, ...] = ()  # read from a report: its facts whole (a baseline keeps less of each)
    suite_subjects: Mapping[str, frozenset[str]] = field(default_factory=dict)  # from a report: relation -> its suite's subjects

    def records(self) -> list[FactResult]:
        """The facts as results, sorted: a baseline can stand in for a run. A report's results are kept whole (the
        template a fact was asked under, why a know-verdict is missing); a baseline's hold what it keeps of one."""
        if self.results:
            return sorted(self.results, key=lambda result: result.key)
        return [
            FactResult.from_dict({"relation": relation, "subject": subject, **fact.to_entry()})
            for relation in sorted(self.facts)
            for subject, fact in sorted(self.facts[relation].items())
        ]


@lru_cache(maxsize=None)
def baseline_schema() -> dict[str, Any]:
    text = resources.files("factcheck.schemas").joinpath("baseline.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


# --- building --------------------------------------------------------------------------------

def round_margin(margin: float | None) -> float | None:
    """Fixed decimals so re-recording gives the same bytes; non-finite margins (and integers past a float's range)
    carry no usable number."""
    try:
        value = None if margin is None else float(margin)
    except OverflowError:
        return None
    if value is None or not math.isfinite(value):
        return None
    return round(value, MARGIN_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _portable_path(path: str | Path, root: Path | None) -> str:
    """Relative to `root` (going up with '..' where it must), always with forward slashes, so that the file does not
    depend on the checkout; absolute where no relative path leads there (another drive)."""
    pure = PurePath(path)
    if root is not None and pure.is_absolute():
        try:
            pure = PurePath(os.path.relpath(pure, Path(root)))
        except ValueError:
            pass
    return pure.as_posix()


def baseline_entry(result: FactResult) -> dict[str, Any]:
    """What a baseline keeps of one fact."""
    say = result.say
    return {
        "object": result.object,
        "say_pass": say.passed,
        "generation_pass": say.generation_pass,
        "ranking_pass": say.ranking_pass,
        # Which check say_pass is: read back from a baseline, a fact whose checks agree could be either.
        "say_check": say.check,
        "know_pass": result.know_pass,
        "verdict": result.verdict,
        # A bound is no margin to compare models by (see FactOutcome.margin_is_exact).
        "margin": round_margin(say.margin) if say.margin_exact else None,
        "training": result.training,
        # Each template's verdicts by both checks, so that a regression under one phrasing is found even when the
        # fact's combined verdict does not change, and a run by the other say-check is compared like for like.
        **({"templates": {t.template: {"say_pass": t.say_pass, "generation_pass": t.generation_pass,
                                       "ranking_pass": t.ranking_pass, "know_pass": t.know_pass} for t in result.templates}}
           if result.templates else {}),
        # The one template asked, so that a later run under several templates is compared on that one.
        **({"template": result.template} if not result.templates and result.template is not None else {}),
    }


def build_baseline(
    model_info: Mapping[str, Any],
    suites_info: Mapping[str, Mapping[str, Any]],
    results: Iterable[FactResult],
    *,
    root: str | Path | None = None,
) -> dict[str, Any]:
    """The baseline document for a run's per-fact `results`.

    Only relations that have results get a `suites` entry. Suite paths are made
    relative to `root` when given. Raises ValueError for a fact recorded twice
    or a relation missing from `suites_info`.
    """
    root_path = Path(root) if root is not None else None
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results:
        relation, subject = result.key
        by_subject = facts.setdefault(relation, {})
        if subject in by_subject:
            raise ValueError(f"fact {relation}[{subject}] appears twice in the results; a baseline holds one result per fact")
        by_subject[subject] = baseline_entry(result)
    suites: dict[str, dict[str, str]] = {}
    for relation in facts:
        if relation not in suites_info:
            raise ValueError(f"relation {relation!r} has facts but no suite information (content_hash, path)")
        info = suites_info[relation]
        suites[relation] = {"content_hash": str(info["content_hash"]), "path": _portable_path(info["path"], root_path),
                            **({"settings": dict(info["settings"])} if info.get("settings") is not None else {})}
    return {
        VERSION_KEY: BASELINE_VERSION,
        "model": {"name": str(model_info["name"]), "fingerprint": str(model_info["fingerprint"])},
        "suites": suites,
        "facts": facts,
    }


# --- validating ------------------------------------------------------------------------------

def _version_problem(document: Any) -> tuple[str, str] | None:
    """Checked before the schema so that a wrong file or a newer format gets a message that says so."""
    if not isinstance(document, dict):
        return "", f"expected a JSON object (a factcheck baseline), got {type(document).__name__}"
    if VERSION_KEY not in document:
        if "factcheck_report_version" in document:
            return "", f"this is a factcheck report, not a baseline (no {VERSION_KEY!r} key); `factcheck diff` accepts reports"
        return "", f"missing {VERSION_KEY!r}: this is not a factcheck baseline"
    version = document[VERSION_KEY]
    if type(version) is not int:  # bool is an int in Python; true is not a version
        return f"/{VERSION_KEY}", f"expected the integer {BASELINE_VERSION}, got {json.dumps(version)[:60]}"
    if version > BASELINE_VERSION:
        return f"/{VERSION_KEY}", (
            f"baseline format version {version} was written by a newer factcheck; this one reads version {BASELINE_VERSION} "
            "(upgrade factcheck)"
        )
    if version != BASELINE_VERSION:
        return f"/{VERSION_KEY}", f"unsupported baseline format version {version}; this factcheck reads version {BASELINE_VERSION}"
    return None


def _semantic_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks the schema cannot express."""
    problems: list[tuple[str, str]] = []
    # Values the gate and `factcheck diff` print as they are (hashes, a fingerprint, paths, settings): written by a run
    # without control characters, which shown raw would forge lines on the terminal.
    for where, value in [(["model", "fingerprint"], document["model"]["fingerprint"]),
                         *((["suites", relation, *inner], text) for relation, info in document["suites"].items()
                           for inner, text in _strings_within(info))]:
        if isinstance(value, str) and TERMINAL_CONTROLS.search(value):
            problems.append((json_pointer(where), f"{value[:40]!r} holds control characters, which no factcheck run writes"))
    for relation, by_subject in document["facts"].items():
        for key, where in [(relation, ["facts", relation]), *((subject, ["facts", relation, subject]) for subject in by_subject)]:
            if TERMINAL_CONTROLS.search(key):  # a run never writes them; shown raw they would act on the terminal
                problems.append((json_pointer(where), f"{key!r} holds control characters, which no factcheck run writes"))
        if relation not in document["suites"]:
            problems.append((json_pointer(["facts", relation]), f"relation {relation!r} has facts but no entry in /suites"))
        for subject, fact in by_subject.items():
            margin = fact["margin"]
            # json.dumps would write NaN/Infinity, which is not JSON.
            if isinstance(margin, float) and not math.isfinite(margin):
                problems.append((json_pointer(["facts", relation, subject, "margin"]), f"expected a finite number or null, got {margin}"))
            if problem := _say_pass_contradiction(fact):
                problems.append((json_pointer(["facts", relation, subject, "say_pass"]), problem))
            if "template" in fact and "templates" in fact:
                problems.append((json_pointer(["facts", relation, subject, "template"]),
                                 "a fact asked under several templates keeps them under 'templates', not 'template'"))
            for template, verdicts in (fact.get("templates") or {}).items():
                check = fact.get("say_check")
                if check is not None and f"{check}_pass" in verdicts and verdicts["say_pass"] != verdicts[f"{check}_pass"]:
                    problems.append((json_pointer(["facts", relation, subject, "templates", template, "say_pass"]),
                                     f"say_pass is {json.dumps(verdicts['say_pass'])} while {check}_pass, the say_check "
                                     f"it is the verdict of, is {json.dumps(verdicts[f'{check}_pass'])}"))
    return problems


def _strings_within(value: Any, where: tuple = ()) -> Iterable[tuple[list, str]]:
    """Every string inside a JSON value (its keys too), with its path."""
    if isinstance(value, str):
        yield list(where), value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield [*where, key], str(key)
            yield from _strings_within(inner, (*where, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings_within(inner, (*where, index))


def _say_pass_contradiction(fact: Mapping[str, Any]) -> str | None:
    """A fact's say_pass is one check's verdict, combined over its templates by all or any: one that no check and no
    combination gives was edited by hand, and the gate would read the fact two ways."""
    say_pass = fact["say_pass"]
    check = fact.get("say_check")
    if check is not None and say_pass != fact[f"{check}_pass"]:
        return (f"say_pass is {json.dumps(say_pass)} while {check}_pass, the say_check it is the verdict of, is "
                f"{json.dumps(fact[f'{check}_pass'])}")
    if say_pass not in (fact["generation_pass"], fact["ranking_pass"]):
        return (f"say_pass is {json.dumps(say_pass)} while generation_pass and ranking_pass are both "
                f"{json.dumps(not say_pass)}: say_pass is the verdict of one of those checks")
    template_verdicts = [entry["say_pass"] for entry in (fact.get("templates") or {}).values()]
    if template_verdicts and len(set(template_verdicts)) == 1 and say_pass != template_verdicts[0]:
        return (f"say_pass is {json.dumps(say_pass)} while every template's say_pass is {json.dumps(template_verdicts[0])}: "
                "the fact's verdict combines its templates' verdicts")
    return None


def validation_problems(document: Any) -> list[tuple[str, str]]:
    """Every problem with a baseline document as (JSON pointer, message); empty when it is valid."""
    problem = _version_problem(document)
    if problem:
        return [problem]
    validator = jsonschema.Draft202012Validator(baseline_schema())
    errors = sorted(first_schema_errors(validator, document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        return [_describe_schema_error(e) for e in errors[:20]]
    return _semantic_problems(document)


def migrate_version_1(document: Any) -> Any:
    """Version 1 keyed relations by suite file name, so two files of one name were one relation; version 2 keys
    them by path (factcheck.suites.suite.suite_key), read here from each relation's recorded suite path."""
    if not (isinstance(document, dict) and type(document.get(VERSION_KEY)) is int and document[VERSION_KEY] == 1):  # not True
        return document
    suites, facts = document.get("suites"), document.get("facts")
    if not (isinstance(suites, dict) and isinstance(facts, dict)):
        return {**document, VERSION_KEY: BASELINE_VERSION}  # the schema says what is wrong with it
    renamed = {}
    for relation, info in suites.items():
        path = info.get("path") if isinstance(info, dict) else None
        renamed[relation] = suite_key(path) if isinstance(path, str) and path.strip() else relation
    if len(set(renamed.values())) < len(renamed):
        renamed = {relation: relation for relation in renamed}  # keys that would merge stay as they were
    return {
        **document,
        VERSION_KEY: BASELINE_VERSION,
        "suites": {renamed[relation]: info for relation, info in suites.items()},
        "facts": {renamed.get(relation, relation): by_subject for relation, by_subject in facts.items()},
    }


def parse_baseline(document: Any, path: str | Path | None = None) -> Baseline:
    """Validate a parsed document (a version 1 document is migrated first) and build a Baseline, or raise BaselineError."""
    refuse_unpaired_surrogates(document, path if path is not None else "<baseline>")
    migrated = migrate_version_1(document)
    problems = validation_problems(migrated)
    if problems and migrated is not document:
        # Point into the file as it is written, not at the migrated keys.
        problems = validation_problems({**document, VERSION_KEY: BASELINE_VERSION}) or problems
    if problems:
        raise BaselineError(path if path is not None else "<baseline>", problems)
    document = migrated
    facts = {
        relation: {subject: BaselineFact(**fact) for subject, fact in by_subject.items()}
        for relation, by_subject in document["facts"].items()
    }
    return Baseline(
        path=Path(path) if path is not None else None,
        model=dict(document["model"]),
        suites={relation: dict(info) for relation, info in document["suites"].items()},
        facts=facts,
    )


# --- files -----------------------------------------------------------------------------------

def write_baseline(path: str | Path, document: dict[str, Any]) -> Path:
    """Validate `document`, then write it atomically; on a problem raise BaselineError and leave `path` as it was."""
    path = Path(path)
    problems = validation_problems(document)
    if problems:
        raise BaselineError(path, problems, fix="build the document with build_baseline(); nothing was written")
    write_json_atomic(path, document)
    return path


def read_document(path: str | Path, fix: str = RERECORD_HINT) -> Any:
    """Parse a JSON file strictly (UTF-8, no duplicate keys, no NaN), raising BaselineError on any problem."""
    path = Path(path)
    try:
        document = read_json_document(path, max_bytes=MAX_BASELINE_BYTES)
    except SuiteError as error:
        problems = list(error.problems)
        if path.exists() and any("invalid JSON" in message for _, message in problems):
            problems = [(pointer, f"{message} (the file is damaged: truncated or badly hand-edited?)") for pointer, message in problems]
        # Recording again would replace the tracked file with one that accepts every regression of this run.
        raise BaselineError(path, problems, fix="" if problems == [("", LFS_POINTER_PROBLEM)] else fix) from None
    return document


def refuse_unpaired_surrogates(document: Any, path: str | Path, fix: str = RERECORD_HINT) -> None:
    """Raise BaselineError at the first key or string of a baseline or report that holds an unpaired surrogate: JSON
    may escape one (\\ud800), but it is no text, and printing or writing it back would fail in UTF-8."""
    if (where := _unpaired_surrogate(document, [])) is not None:
        raise BaselineError(path, [(json_pointer(where), "holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), "
                                    "which is not text and which no factcheck run writes")], fix=fix)


def _unpaired_surrogate(value: Any, where: list) -> list | None:
    """The path to the first key or string in `value` that holds an unpaired surrogate, else None."""
    if isinstance(value, str):
        return where if _SURROGATES.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATES.search(key):
                return [*where, key]
            if (found := _unpaired_surrogate(item, [*where, key])) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _unpaired_surrogate(item, [*where, index])) is not None:
                return found
    return None


_SURROGATES = re.compile("[\ud800-\udfff]")


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline file, or raise BaselineError naming the file, the JSON pointer and the fix."""
    path = Path(path)
    return parse_baseline(read_document(path), path)
