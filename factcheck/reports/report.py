"""What a run's results say, without torch (an xdist controller writes them from its workers' summaries): the
per-relation table, the distracted-prompt table and the JSON report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from factcheck import __version__
from factcheck.cache import write_json_atomic
from factcheck.fact_result import FactResult
from factcheck.knows.know_rules import UNDECIDED_HINT, UNDECIDED_MEANING
from factcheck.reports.run_summary import RelationSummary, RunSummary
from factcheck.types import REPORT_VERSION, VERDICTS

PATHS_NAMED = 4  # an LRE decode path used by this many relations or fewer lists them by name

def undecided_count(results: Sequence[FactResult]) -> int:
    return sum(is_undecided(r) for r in results)


def is_undecided(result: FactResult) -> bool:
    return result.know is not None and result.know.undecided is not None


def summary_lines(summary: RunSummary) -> list[str]:
    """The per-relation table: facts run, said right (generation, ranking), the four knows-vs-says classes,
    the facts whose first token cannot decide, and the LRE's faithfulness with its 95% interval."""
    relations = summary.relations
    width = _relation_width(relations)
    # The consistency column (share of facts said alike under each template) where any relation has several templates.
    several = any(len(relation.templates) > 1 for relation in relations)
    header = (
        f"{'relation':<{width}} {'facts':>5} {'generation':>11} {'ranking':>11} "
        + " ".join(f"{v:>10}" for v in (*VERDICTS, "undecided"))
        + (f" {'consistent':>11}" if several else "")
        + f"  {'LRE faithfulness [95%] n':<24}"
    )
    template_lines = []
    lines = [header, "-" * len(header)]
    warnings = []
    totals = {"facts": 0, "generation": 0, "ranking": 0, **{v: 0 for v in VERDICTS}, "undecided": 0}
    for relation in relations:
        results = relation.results
        if not results:
            continue
        relation_id, lre = relation.relation_id, relation.lre
        classes = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
        undecided = undecided_count(results)
        generation = sum(r.say.generation_pass for r in results)
        ranking = sum(r.say.ranking_pass for r in results)
        for key, value in (("facts", len(results)), ("generation", generation), ("ranking", ranking), *classes.items(), ("undecided", undecided)):
            totals[key] += value
        faith = "-"
        lres = [info for _, info, _ in relation.template_lres if info is not None]
        class_cells = [f"{classes[v]:>10}" if lres else f"{'-':>10}" for v in VERDICTS]
        if lre is not None:
            faith = lre.faithfulness.describe()
            if not lre.trusted:
                faith += " untrusted"
        # A further template's trusted LRE still classes the facts (by that template's know-verdicts).
        if lre is not None and not any(info.trusted for info in lres):
            class_cells = [f"{'-':>10}"] * len(VERDICTS)
            all_undecided = lre.faithfulness.tested == 0 and lre.faithfulness.undecided > 0
            remedy = "make its first tokens decide: see the hint below" if all_undecided else "try `factcheck tune`, or add facts"
            warnings.append(
                f"! {relation_id}: LRE (layer {lre.layer}) untrusted: {lre.faithfulness.why_untrusted()}; "
                f"its facts are not classed and their regressions not split ({remedy})"
            )
        if relation.lre_skipped:
            warnings.append(f"! {relation_id}: {relation.lre_skipped}")
        if undecided:
            reasons = Counter(r.know.undecided.reason.replace("_", " ") for r in results if is_undecided(r))
            warnings.append(
                f"! {relation_id}: {undecided} fact(s) undecided ("
                + ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items())) + ")"
            )
        consistent_cell = ""
        if several:
            judged = [r.consistent for r in results if r.consistent is not None]
            consistent_cell = f" {_fraction(sum(judged), len(judged)):>11}" if judged else f" {'-':>11}"
            template_lines += _template_lines(relation)
        lines.append(
            f"{relation_id:<{width}} {len(results):>5} {_fraction(generation, len(results)):>11} "
            f"{_fraction(ranking, len(results)):>11} " + " ".join(class_cells) + f" {undecided:>10}{consistent_cell}  {faith}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'all relations':<{width}} {totals['facts']:>5} {_fraction(totals['generation'], totals['facts']):>11} "
        f"{_fraction(totals['ranking'], totals['facts']):>11} " + " ".join(f"{totals[v]:>10}" for v in (*VERDICTS, "undecided"))
    )
    if template_lines:
        lines.append("per template (a fact's verdicts combine its templates' by the templates setting: all, any or first):")
        lines += template_lines
    lines.append("classes: known = stored and said, hidden = stored not said, unfaithful = said not decodable, unknown = neither"
                 " (training facts have none); " + UNDECIDED_MEANING)
    paths = lre_paths_line(relations)
    if paths:
        lines.append(paths)
    if totals["undecided"]:
        warnings.append(f"  undecided facts: {UNDECIDED_HINT}")
    return lines + warnings


def _template_lines(relation: RelationSummary) -> list[str]:
    """Each template of a relation asked under several: facts said under it, and its LRE's faithfulness."""
    if len(relation.templates) < 2:
        return []
    lines = []
    for index, (template, lre, skipped) in enumerate(relation.template_lres):
        said = [next(t.say_pass for t in r.templates if t.template == template) for r in relation.results if r.templates]
        faith = skipped or ("no LRE" if lre is None else lre.faithfulness.describe() + ("" if lre.trusted else " untrusted"))
        lines.append(f"  {relation.relation_id} #{index + 1} {template!r}: said {_fraction(sum(said), len(said))}, LRE {faith}")
    return lines


def lre_paths_line(relations: Sequence[RelationSummary]) -> str | None:
    """How each relation's LRE was decoded: W from the cache, W estimated now, or exactly without W."""
    paths: dict[str, list[str]] = {}
    for relation in sorted(relations, key=lambda r: r.relation_id):
        lre = relation.lre
        if lre is None:
            continue
        if lre.decode == "implicit":
            path = "without W, decodes cached" if lre.cache_hit else "without W (Jacobian-vector products, exact)"
        else:
            path = "W cached" if lre.cache_hit else "W estimated"
        paths.setdefault(path, []).append(relation.relation_id)
    if not paths:
        return None
    parts = [f"{path}: {len(ids)}" + (f" ({', '.join(ids)})" if len(ids) <= PATHS_NAMED else "") for path, ids in paths.items()]
    return "LRE decode: " + "; ".join(parts)


def distracted_lines(summary: RunSummary) -> list[str]:
    """Say- and know-accuracy on plain vs distracted prompts, for relations that ask for distractors."""
    width = _relation_width(summary.relations)
    rows = []
    for relation in summary.relations:
        if not relation.distracted:
            continue
        results = [r for r in relation.results if not r.training]
        if not results:
            continue
        decided = decided_on_both(results)
        rows.append(
            f"{relation.relation_id:<{width}} {_fraction(sum(r.say_pass for r in results), len(results)):>11} "
            f"{_fraction(sum(r.distracted.say_pass for r in results), len(results)):>11} "
            f"{_fraction(sum(r.know_pass for r in decided), len(decided)):>11} "
            f"{_fraction(sum(r.distracted.know_pass for r in decided), len(decided)):>11}"
        )
    if not rows:
        return []
    header = f"{'relation':<{width}} {'says':>11} {'says (dis.)':>11} {'knows':>11} {'knows (dis.)':>11}"
    return [header, "-" * len(header), *rows]


def _relation_width(relations: Sequence[RelationSummary]) -> int:
    """The relation column fits the longest relation id (a suite's path below its `suites` folder)."""
    return max([28, *(len(relation.relation_id) for relation in relations)])


def decided_on_both(results: Sequence[FactResult]) -> list[FactResult]:
    """Facts with a know-verdict on the plain and on the distracted prompt: the two know columns compare these."""
    return [r for r in results if r.know_pass is not None and r.distracted is not None and r.distracted.know_pass is not None]


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole} {100 * part / whole:3.0f}%" if whole else "-"


def report_document(summary: RunSummary, incomplete: str | None = None,
                    outcomes: Mapping[tuple[str, str], Mapping[str, str]] | None = None) -> dict[str, object]:
    """The JSON report; `incomplete` says why the run's results are partial (the key is absent otherwise);
    `outcomes`: (relation, subject) -> the fact's pytest "outcome" and, gated on a baseline, its "gate" class."""
    outcomes = outcomes or {}
    model = summary.model
    return {
        "factcheck_report_version": REPORT_VERSION,
        "factcheck_version": __version__,
        **({"incomplete": incomplete} if incomplete else {}),
        "model": {"name": model.name, "fingerprint": model.fingerprint, "architecture": model.architecture,
                  "dtype": model.dtype, "device": model.device},
        "suites": {relation.relation_id: {"path": relation.path, "content_hash": relation.content_hash,
                                          "relation": relation.relation, "shots": relation.shots,
                                          "settings": relation.prompt_settings(),
                                          "lre": None if relation.lre is None else relation.lre.to_dict(),
                                          "undecided": undecided_count(relation.results),
                                          # So that `factcheck diff` tells a fact left out of this run from one gone from the suite.
                                          **({"subjects": [s for s, _ in relation.suite_facts]} if relation.suite_facts else {}),
                                          **_templates_entry(relation)}
                   for relation in summary.relations},
        "facts": [{**result.to_dict(), **outcomes.get(result.key, {})} for result in summary.results],
    }


def _templates_entry(relation: RelationSummary) -> dict[str, object]:
    """A relation asked under several templates: each template's LRE, and how consistent its facts' verdicts are."""
    if len(relation.templates) < 2:
        return {}
    return {
        "templates": [{"template": template, "lre": None if lre is None else lre.to_dict(), "lre_skipped": skipped}
                      for template, lre, skipped in relation.template_lres],
        "consistency": consistency(relation.results),
    }


def consistency(results: Sequence[FactResult]) -> float | None:
    """Share of the facts asked under several templates whose say-verdict is the same under each (None: no such fact)."""
    judged = [r.consistent for r in results if r.consistent is not None]
    return round(sum(judged) / len(judged), 6) if judged else None


def write_report(path: Path, summary: RunSummary, incomplete: str | None = None,
                 outcomes: Mapping[tuple[str, str], Mapping[str, str]] | None = None) -> Path:
    from factcheck.results import validate_report

    document = report_document(summary, incomplete, outcomes)
    validate_report(document, path)  # a report that does not match its own schema is a bug: fail before writing
    write_json_atomic(path, document)
    return path
