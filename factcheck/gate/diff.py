"""`factcheck diff BASE CANDIDATE`: the release gate as a command.

Either input may be a baseline file or a JSON report (`--factcheck-report`);
both become a `Baseline` and the candidate is compared with the base. Prints
regressions first, then fixes, then per-relation accuracy deltas, as plain
text or as GitHub-flavoured markdown for a CI job summary.

Exit codes: 0 when regressions <= budget, 1 when over budget, 2 on bad input.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema

from factcheck.display import bidi_visible, visible_controls
from factcheck.fact_result import FactResult
from factcheck.gate.baseline import (VERSION_KEY, Baseline, BaselineError, build_baseline, parse_baseline, read_document,
                                     refuse_unpaired_surrogates)
from factcheck.gate.comparison import CHANGED, FORGOTTEN, REGRESSED, SUPPRESSED, Comparison, FactChange, RelationAccuracy, compare
from factcheck.schemas import report_schema
from factcheck.suites.suite import _describe_schema_error, first_schema_errors, json_pointer
from factcheck.types import REPORT_VERSION, VERDICTS

REPORT_KEY = "factcheck_report_version"
INPUT_HINT = "pass a baseline (pytest --factcheck-update-baseline) or a report (pytest --factcheck-report PATH)"
REPORT_HINT = "regenerate the report with `pytest --factcheck-report PATH`"

_TEXT = {"type": "string", "minLength": 1}
# A number a float can hold: JSON integers have no limit, and one past a float's range cannot be compared.
_NUMBER = {"type": ["number", "null"], "minimum": -sys.float_info.max, "maximum": sys.float_info.max}
# The part of a report that diff reads; reports carry more keys, which are ignored.
_REPORT_SCHEMA = {
    "type": "object",
    "required": [REPORT_KEY, "model", "suites", "facts"],
    "properties": {
        # Why the run was partial; any other value ("", false, 0) would read as a complete run and pass a gate.
        "incomplete": _TEXT,
        "model": {"type": "object", "required": ["name", "fingerprint"], "properties": {"name": {"type": "string"}, "fingerprint": _TEXT}},
        "suites": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["content_hash", "path"],
                "properties": {"content_hash": _TEXT, "path": {"type": "string"}, "subjects": {"type": "array", "items": {"type": "string"}},
                               "settings": {"type": "object"}},
            },
        },
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["relation", "subject", "object", "say_pass", "generation_pass", "ranking_pass"],
                "properties": {
                    "relation": _TEXT, "subject": _TEXT, "object": _TEXT,
                    "say_pass": {"type": "boolean"}, "generation_pass": {"type": "boolean"}, "ranking_pass": {"type": "boolean"},
                    # Absent from reports written before the know-check existed: read as unavailable.
                    "know_pass": {"type": ["boolean", "null"]},
                    "verdict": {"enum": [*VERDICTS, None]},
                    "margin": _NUMBER,
                    "margin_exact": {"type": "boolean"},
                    "training": {"type": "boolean"},
                    "say_check": {"enum": ["generation", "ranking"]},
                    "template": {"type": "string"},
                    # The detail a comparison's notes and markdown show, typed as the report schema types it.
                    "generated": {"type": ["string", "null"]}, "prompt": {"type": ["string", "null"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                    "top_candidates": {"type": "array", "items": {"$ref": "#/$defs/candidate"}},
                    "model_first_token_probability": _NUMBER,
                    "know_undecided": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/undecided"}]},
                    "lre_top_tokens": {"type": "array", "items": {"$ref": "#/$defs/decoded"}},
                    "lre_trusted": {"type": ["boolean", "null"]}, "lre_decodes_object": {"type": ["boolean", "null"]},
                    "lre_object_rank": {"type": ["integer", "null"]}, "lre_object_vocab_rank": {"type": ["integer", "null"]},
                    "lre_object_probability": _NUMBER,
                    "distracted": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["generated", "say_pass"], "properties": {
                        "generated": {"type": "string"}, "say_pass": {"type": "boolean"}, "know_pass": {"type": ["boolean", "null"]}}}]},
                    "template_mode": {"type": ["string", "null"]},
                    "templates": {"type": "array", "items": {
                        "type": "object", "required": ["template", "say_pass"],
                        "properties": {"template": {"type": "string"}, "say_pass": {"type": "boolean"}, "generation_pass": {"type": "boolean"},
                                       "ranking_pass": {"type": "boolean"}, "know_pass": {"type": ["boolean", "null"]}},
                    }},
                },
            },
        },
    },
}



def _report_schema() -> dict[str, Any]:
    """_REPORT_SCHEMA with the report schema's definitions of candidates, decoded tokens and undecided reasons."""
    definitions = report_schema()["$defs"]
    return {**_REPORT_SCHEMA, "$defs": {name: definitions[name] for name in ("candidate", "decoded", "undecided")}}


# --- reading inputs --------------------------------------------------------------------------

def _report_pointer(pointer: str, facts: dict[tuple[str, str], int]) -> str:
    """A pointer into the baseline a report is read as ("/facts/lang~1plural/cat/templates") as one into the report
    ("/facts/0/templates"), where it names a fact; others as they are."""
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    if len(parts) >= 3 and parts[0] == "facts" and (index := facts.get((parts[1], parts[2]))) is not None:
        return json_pointer(["facts", index, *parts[3:]])
    return pointer


def parse_report(document: dict[str, Any], path: str | Path) -> Baseline:
    """A JSON report as a Baseline (the facts it ran, with their results), or BaselineError."""
    refuse_unpaired_surrogates(document, path, fix=REPORT_HINT)
    version = document.get(REPORT_KEY)
    if type(version) is not int or version != REPORT_VERSION:
        raise BaselineError(path, [(f"/{REPORT_KEY}", f"expected report format version {REPORT_VERSION}, got {version!r}")], fix=REPORT_HINT)
    validator = jsonschema.Draft202012Validator(_report_schema())
    errors = sorted(first_schema_errors(validator, document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        raise BaselineError(path, [_describe_schema_error(e) for e in errors[:20]], fix=REPORT_HINT)
    problems: list[tuple[str, str]] = []
    first_seen: dict[tuple[str, str], int] = {}
    for index, fact in enumerate(document["facts"]):
        key = (fact["relation"], fact["subject"])
        if key in first_seen:
            problems.append((json_pointer(["facts", index]), f"fact {key[0]}[{key[1]}] already appears at /facts/{first_seen[key]}"))
        first_seen.setdefault(key, index)
        if fact["relation"] not in document["suites"]:
            problems.append((json_pointer(["facts", index, "relation"]), f"relation {fact['relation']!r} has no entry in /suites"))
        elif "subjects" in (suite := document["suites"][fact["relation"]]) and fact["subject"] not in suite["subjects"]:
            # A fact its own suite does not hold: the report contradicts itself (checked against a suite it never had).
            problems.append((json_pointer(["facts", index, "subject"]),
                             f"subject {fact['subject']!r} is not among its suite's subjects (/suites/{fact['relation']}/subjects)"))
        asked = [entry["template"] for entry in fact.get("templates", [])]
        problems += [(json_pointer(["facts", index, "templates", position]), f"template {template!r} appears twice in the fact")
                     for position, template in enumerate(asked) if template in asked[:position]]
    if problems:
        raise BaselineError(path, problems[:20], fix=REPORT_HINT)
    results = []
    for index, fact in enumerate(document["facts"]):
        try:
            results.append(FactResult.from_dict(fact))
        except (KeyError, TypeError, ValueError, AttributeError) as error:  # a shape the schema above lets through
            problems.append((json_pointer(["facts", index]), f"cannot be read ({type(error).__name__}: {error})"))
    if problems:
        raise BaselineError(path, problems[:20], fix=REPORT_HINT)
    try:
        parsed = parse_baseline(build_baseline(document["model"], document["suites"], results), path)
    except BaselineError as error:  # read as a baseline, but it is a report: say how to make a good one
        raise BaselineError(error.path, [(_report_pointer(pointer, first_seen), problem) for pointer, problem in error.problems],
                            fix=REPORT_HINT) from None
    return dataclasses.replace(parsed,
                               incomplete=document.get("incomplete"), results=tuple(results),
                               suite_subjects={relation: frozenset(info["subjects"]) for relation, info in document["suites"].items()
                                               if "subjects" in info})


def load_results(path: str | Path) -> Baseline:
    """Read a baseline file or a JSON report; raise BaselineError naming the file and pointer on any problem."""
    path = Path(path)
    document = read_document(path, fix=INPUT_HINT)
    if isinstance(document, dict) and REPORT_KEY in document and VERSION_KEY not in document:
        return parse_report(document, path)
    if isinstance(document, dict) and VERSION_KEY not in document:
        raise BaselineError(path, [("", f"neither a factcheck baseline ({VERSION_KEY!r}) nor a report ({REPORT_KEY!r})")], fix=INPUT_HINT)
    return parse_baseline(document, path)


# --- rendering -------------------------------------------------------------------------------

# A baseline keeps a fact's know_pass but not why it is missing (undecided, untrusted, no LRE), so the diff
# names the unsplit class only in general; the plugin's failure text gives each fact's reason.
_CLASS_LABELS = {
    SUPPRESSED: "suppressed",
    FORGOTTEN: "forgotten",
    REGRESSED: "regressed (not split: no trusted, decided know-verdict)",
}
LEGEND = (
    "suppressed = the LRE still decodes the object: the knowledge is there, the output lost it; "
    "forgotten = gone from both; regressed = said right before, not now, and no know-verdict to split it (no LRE, undecided first token, or an untrusted LRE)"
)


def _accuracy(right: int, total: int) -> str:
    return f"{right}/{total} ({100 * right / total:.1f}%)" if total else "not run"


def _delta(row: RelationAccuracy) -> str:
    return "-" if row.delta is None else f"{100 * row.delta:+.1f} pts"


def _totals(comparison: Comparison) -> str:
    n = comparison.counts()
    regressions = n[SUPPRESSED] + n[FORGOTTEN] + n[REGRESSED]
    return (
        f"{regressions} regression(s) ({n[SUPPRESSED]} suppressed, {n[FORGOTTEN]} forgotten, {n[REGRESSED]} not split), "
        f"{n['fixed']} fixed, {n['still_right']} still right, {n['still_wrong']} still wrong, "
        f"{n['new']} new, {n['removed']} removed, {n['changed']} changed"
    )


def _verdict(comparison: Comparison, budget: int) -> str:
    count = len(comparison.regressions)
    status = "PASS" if comparison.within_budget(budget) else "FAIL"
    partial = (" (the candidate run is incomplete)" if comparison.candidate_incomplete else
               f" ({len(comparison.unchecked_said_right)} fact(s) said right before not checked)"
               if comparison.require_checked and comparison.unchecked_said_right else
               f" ({len(comparison.relations_not_run_said_right)} relation(s) said right before not run)"
               if comparison.relations_not_run_said_right else "")
    return f"{status}: {count} regression(s), budget {budget}{partial}"


def _model(model: dict[str, Any]) -> str:
    return f"{visible_controls(str(model.get('name')))} (fingerprint {model.get('fingerprint')})"


def _fact_rows(changes: list[FactChange], with_class: bool) -> list[list[str]]:
    return [[c.relation, c.subject, c.object, *([_CLASS_LABELS[c.kind]] if with_class else [])] for c in changes]


def _text_table(header: list[str], rows: list[list[str]], right_align: int = 99) -> list[str]:
    """Columns padded to their widest cell; columns from `right_align` on are right-aligned (numbers)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        padded = [cell.rjust(w) if i >= right_align else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths))]
        return "  " + "  ".join(padded).rstrip()

    return [line(header), "  " + "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def render_text(comparison: Comparison, base: str, candidate: str, budget: int) -> str:
    lines = [f"factcheck diff: {base} -> {candidate}", f"  base     : {_model(comparison.baseline_model)}",
             f"  candidate: {_model(comparison.candidate_model)}"]
    lines += [f"warning: {warning}" for warning in comparison.warnings()]
    regressions, fixes, changed = comparison.regressions, comparison.fixes, comparison.of(CHANGED)
    lines.append("")
    lines.append(f"Regressions: {len(regressions)} (budget {budget})")
    if regressions:
        lines += _text_table(["relation", "subject", "object", "class"], _fact_rows(regressions, True))
        lines.append(f"  {LEGEND}")
    lines.append("")
    lines.append(f"Fixes: {len(fixes)}")
    if fixes:
        lines += _text_table(["relation", "subject", "object"], _fact_rows(fixes, False))
    if changed:
        lines.append("")
        lines.append(f"Changed in the suite, not compared: {len(changed)}")
        lines += _text_table(["relation", "subject", "object", "note"], [[c.relation, c.subject, c.object, c.note] for c in changed])
    lines.append("")
    lines.append("Per-relation say-accuracy:")
    rows = [[r.relation, _accuracy(r.baseline_right, r.baseline_total), _accuracy(r.candidate_right, r.candidate_total), _delta(r)]
            for r in comparison.relations]
    lines += _text_table(["relation", "baseline", "candidate", "delta"], rows, right_align=1)
    lines.append("")
    lines.append(f"Totals: {_totals(comparison)}")
    lines.append(_verdict(comparison, budget))
    return "\n".join(lines) + "\n"


# Every ASCII character markdown may read as syntax: links and images ([x](url), ![x](url)), emphasis, code, HTML,
# headings, lists, tables. A backslash before ASCII punctuation makes it a literal character in CommonMark and GFM.
# Also $ (GitHub's math) and @ (a mention).
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:\"'=$@])")


def _cell(text: str) -> str:
    """Suite text as literal markdown on one line: it comes from suite files, so it must never add a link, an image,
    HTML, math, a mention or a table column to a CI job summary, nor reorder what is shown around it."""
    visible = bidi_visible(" ".join(str(text).split()))
    return _MARKDOWN_SYNTAX.sub(r"\\\1", visible)


def _markdown_table(header: list[str], rows: list[list[str]], right_align: int = 99) -> list[str]:
    """Right-aligned columns hold this module's own numbers; every other cell is suite text and is escaped."""
    rule = ["---:" if i >= right_align else "---" for i in range(len(header))]
    body = [f"| {' | '.join(c if i >= right_align else _cell(c) for i, c in enumerate(row))} |" for row in rows]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(rule)} |", *body]


def render_markdown(comparison: Comparison, base: str, candidate: str, budget: int) -> str:
    lines = [f"## factcheck diff: {_verdict(comparison, budget)}", ""]
    lines.append(f"Base {_cell(base)}: {_cell(_model(comparison.baseline_model))}  ")
    lines.append(f"Candidate {_cell(candidate)}: {_cell(_model(comparison.candidate_model))}")
    for warning in comparison.warnings():
        lines += ["", f"> **Warning:** {_cell(warning)}"]
    regressions, fixes, changed = comparison.regressions, comparison.fixes, comparison.of(CHANGED)
    lines += ["", f"### Regressions ({len(regressions)}, budget {budget})", ""]
    if regressions:
        lines += _markdown_table(["relation", "subject", "object", "class"], _fact_rows(regressions, True))
        lines += ["", f"<sub>{_cell(LEGEND)}</sub>"]
    else:
        lines.append("None.")
    lines += ["", f"### Fixes ({len(fixes)})", ""]
    lines += _markdown_table(["relation", "subject", "object"], _fact_rows(fixes, False)) if fixes else ["None."]
    if changed:
        lines += ["", f"### Changed in the suite, not compared ({len(changed)})", ""]
        lines += _markdown_table(["relation", "subject", "object", "note"], [[c.relation, c.subject, c.object, c.note] for c in changed])
    lines += ["", "### Per-relation say-accuracy", ""]
    rows = [[r.relation, _accuracy(r.baseline_right, r.baseline_total), _accuracy(r.candidate_right, r.candidate_total), _delta(r)]
            for r in comparison.relations]
    lines += _markdown_table(["relation", "baseline", "candidate", "delta"], rows, right_align=1)
    lines += ["", f"**Totals:** {_totals(comparison)}"]
    return "\n".join(lines) + "\n"


# --- the command -----------------------------------------------------------------------------

def diff_files(base: str | Path, candidate: str | Path, only_relations_run: bool = False) -> Comparison:
    """Compare the candidate file with the base file (each a baseline or a report). Both are whole runs: a fact or a
    relation the base said right that the candidate did not run fails, unless `only_relations_run` (the candidate ran
    some suites on purpose: the relations it did not run are named, not failed)."""
    before, after = load_results(base), load_results(candidate)
    return dataclasses.replace(compare(before, after.model, after.suites, after.records()),
                               base_incomplete=before.incomplete, candidate_incomplete=after.incomplete, require_checked=True,
                               require_every_relation=not only_relations_run, candidate_suite_subjects=after.suite_subjects,
                               base_suite_subjects=before.suite_subjects)


def run_diff(base: str | Path, candidate: str | Path, *, budget: int = 0, markdown: bool = False,
             only_relations_run: bool = False) -> int:
    """Print the comparison; 0 when regressions <= budget, 1 when over. Bad input raises BaselineError (exit 2 in the CLI)."""
    comparison = diff_files(base, candidate, only_relations_run)
    render = render_markdown if markdown else render_text
    print(render(comparison, str(base), str(candidate), budget), end="")
    return 0 if comparison.within_budget(budget) else 1
