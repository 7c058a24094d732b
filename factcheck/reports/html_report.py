"""One self-contained HTML file: per-relation tables, the knows-vs-says matrix, lens heatmaps of hidden facts."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from factcheck.cache import write_text_atomic
from factcheck.fact_result import FactResult
from factcheck.knows.know_rules import UNDECIDED_HINT, UNDECIDED_MEANING
from factcheck.reports.html_facts import FACTS_STYLE, escaped as _e, facts_table, lens_anchor, lens_model_options
from factcheck.reports.report import is_undecided, undecided_count
from factcheck.reports.run_summary import LensFigure, RelationSummary, RunSummary
from factcheck.types import VERDICTS

MAX_LENS_FIGURES = 8
LENS_POSITIONS = 12
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td.name{text-align:left}.warn{color:#a60}.hidden{background:#fff4d6}
figure{margin:1.5em 0}figcaption{font-size:.9em;color:#555}img{max-width:100%}
"""


def _relation_table(relations: Sequence[RelationSummary]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("relation", "facts", "generation", "ranking", *VERDICTS, "undecided", "LRE layer", "faithfulness [95%]", "rests on")
    )
    rows = []
    for relation in relations:
        results = relation.results
        if not results:
            continue
        lre = relation.lre
        trusted = lre is not None and lre.trusted
        cells = [
            f"<td class=name>{_e(relation.relation_id)}</td>",
            f"<td>{len(results)}</td>",
            f"<td>{sum(r.say.generation_pass for r in results)}</td>",
            f"<td>{sum(r.say.ranking_pass for r in results)}</td>",
            *(f"<td>{sum(r.verdict == v for r in results) if trusted else '-'}</td>" for v in VERDICTS),
            f"<td>{undecided_count(results)}</td>",
        ]
        if lre is None:
            cells += ["<td>-</td>", "<td>-</td>", "<td>-</td>"]
        else:
            faith = lre.faithfulness
            flag = "" if trusted else f" <span class=warn title='{_e(faith.why_untrusted())}'>&#9888; untrusted: no classes</span>"
            cells += [f"<td>{_e(lre.layer)}</td>", f"<td>{faith.value_text()}{flag}</td>", f"<td>{faith.tested} facts</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _class_matrix(results: Sequence[FactResult]) -> str:
    scored = [r for r in results if r.know_pass is not None]
    count = {v: sum(r.verdict == v for r in scored) for v in VERDICTS}
    undecided = undecided_count(results)
    untrusted = sum(r.know is not None and r.know.trusted is False and not r.training and not is_undecided(r) for r in results)
    return (
        "<table><tr><th></th><th>LRE decodes the object</th><th>LRE does not</th></tr>"
        f"<tr><th>model says it</th><td>known: {count['known']}</td><td>unfaithful: {count['unfaithful']}</td></tr>"
        f"<tr><th>model does not say it</th><td class=hidden>hidden: {count['hidden']}</td><td>unknown: {count['unknown']}</td></tr>"
        f"</table><p>{len(scored)} facts classed. Not classed: {undecided} undecided ({_e(UNDECIDED_MEANING)}; "
        f"{_e(UNDECIDED_HINT)}), {untrusted} other test facts of relations whose LRE is untrusted, and the training facts.</p>"
    )


def _decoded(result: FactResult) -> str:
    return _e(", ".join(repr(t) for t, _ in result.know.top_tokens[:3]))


def _undecided_table(results: Sequence[FactResult]) -> str:
    undecided = [r for r in results if is_undecided(r)]
    if not undecided:
        return "<p>No undecided facts.</p>"
    rows = "".join(
        f"<tr><td class=name>{_e(r.relation)}[{_e(r.subject)}]</td><td class=name>{_e(r.object)}</td>"
        f"<td class=name>{_e(r.know.undecided.reason)}</td><td class=name>{_e(r.know.undecided.describe())}</td>"
        f"<td class=name>{_decoded(r)}</td></tr>"
        for r in undecided
    )
    return (
        "<table><tr><th>fact</th><th>expected</th><th>reason</th><th>why</th><th>LRE decodes</th></tr>"
        f"{rows}</table>"
    )


def _hidden(relations: Sequence[RelationSummary]) -> list[tuple[RelationSummary, FactResult]]:
    return [(relation, r) for relation in relations for r in relation.results if r.verdict == "hidden"]


def _said(result: FactResult) -> str:
    return _e((result.say.generated or "").strip() or "(nothing)")


def _hidden_table(relations: Sequence[RelationSummary]) -> str:
    hidden = _hidden(relations)
    if not hidden:
        return "<p>No hidden facts in this run.</p>"
    rows = "".join(
        f"<tr class=hidden><td class=name>{_e(r.relation)}[{_e(r.subject)}]</td><td class=name>{_e(r.object)}</td>"
        f"<td class=name>{_said(r)}</td><td class=name>{_decoded(r)}</td>"
        f"<td class=name>{_e('; '.join(relation.evidence.get(r.subject, ())))}</td></tr>"
        for relation, r in hidden
    )
    return f"<table><tr><th>fact</th><th>expected</th><th>the model said</th><th>LRE decodes</th><th>evidence</th></tr>{rows}</table>"


def draw_lens(model, run, record) -> LensFigure:
    """The attribute lens of one fact of `run` (a RelationRun with an LRE), drawn in the process that has the model."""
    from factcheck.knows.lens import attribute_lens, png_bytes  # torch: an xdist controller only writes the page

    grid = attribute_lens(model, run.lre.lre, record.outcome.prompt, target=record.decoded_answer, last_positions=LENS_POSITIONS,
                          answer_separator=record.outcome.answer_separator)
    image = png_bytes(grid, title=f"{run.suite.relation_id}[{record.fact.subject}]", last_positions=LENS_POSITIONS)
    return LensFigure(record.fact.subject, base64.b64encode(image).decode(), record.decoded_answer)


def _drawn_figures(relations: Sequence[RelationSummary], limit: int) -> list[tuple[RelationSummary, FactResult, LensFigure]]:
    """The hidden facts whose lens heatmap the page shows (at most `limit`)."""
    drawn = []
    for relation, result in _hidden(relations):
        figure = next((f for f in relation.lens if f.subject == result.subject), None)
        if figure is not None and len(drawn) < limit:
            drawn.append((relation, result, figure))
    return drawn


def _lens_figures(drawn: Sequence[tuple[RelationSummary, FactResult, LensFigure]]) -> str:
    figures = []
    for relation, result, figure in drawn:
        caption = (
            f"<b>{_e(relation.relation_id)}[{_e(result.subject)}]</b>: expected {_e(result.object)}, "
            f"the model said {_said(result)}; the LRE at layer {_e(relation.lre.layer)} decodes "
            f"{_e(', '.join(t.strip() for t, _ in result.know.top_tokens[:3]))}. "
            f"Evidence: {_e('; '.join(relation.evidence.get(result.subject, ())))}. "
            f"Colour: probability of the first token of {_e(figure.decoded_answer)}."
        )
        figures.append(f"<figure id='{_e(lens_anchor(result.relation, result.subject))}'><img alt='attribute lens' "
                       f"src='data:image/png;base64,{figure.png_base64}'><figcaption>{caption}</figcaption></figure>")
    return "".join(figures)


def write_html_report(path: str | Path, summary: RunSummary, max_lens_figures: int = MAX_LENS_FIGURES,
                      outcomes: Mapping[tuple[str, str], Mapping[str, str]] | None = None, incomplete: str | None = None) -> Path:
    """The report of `summary`, whose relations carry the lens figures (FactcheckSession.summary(lens_figures=...));
    `outcomes`: (relation, subject) -> the fact's pytest "outcome" and its "gate" class, for the per-fact table;
    `incomplete`: why the run's results are partial (said at the top of the page)."""
    results = summary.results
    model = summary.model
    drawn = _drawn_figures(summary.relations, max_lens_figures)
    body = [
        "<h1>factcheck report</h1>",
        *([f"<p class=warn><b>Incomplete run: {_e(incomplete)}.</b> Only the facts checked before it stopped are "
           "shown; no baseline was updated from it.</p>"] if incomplete else []),
        f"<p>Model <b>{_e(model.name)}</b> ({_e(model.architecture)}, fingerprint <code>{_e(model.fingerprint)}</code>), "
        f"{len(results)} facts, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
        "<p><a href='#relations'>per relation</a> &middot; <a href='#every-fact'>every fact</a> (filter, sort, search) &middot; "
        "<a href='#matrix'>knows vs says</a> &middot; <a href='#undecided'>undecided</a> &middot; <a href='#hidden'>hidden facts</a></p>",
        "<h2 id=relations>Per relation</h2>",
        _relation_table(summary.relations),
        "<h2 id=matrix>Knows vs says</h2>",
        _class_matrix(results),
        "<h2 id=undecided>Undecided facts</h2>",
        _undecided_table(results),
        "<h2 id=hidden>Hidden facts: stored but not said</h2>",
        _hidden_table(summary.relations),
        f"<p>Lens heatmaps of the first {max_lens_figures} hidden facts: the attribute lens applies the relation's LRE at "
        f"every layer and at the prompt's last {LENS_POSITIONS} tokens.</p>",
        _lens_figures(drawn),
        "<h2 id=every-fact>Every fact</h2>",
        facts_table(summary.relations, outcomes or {}, {result.key for _, result, _ in drawn}, lens_model_options(summary.model)),
    ]
    document = f"<!doctype html><html><head><meta charset=utf-8><title>factcheck report</title><style>{_STYLE}{FACTS_STYLE}</style></head><body>{''.join(body)}</body></html>"
    write_text_atomic(Path(path), document)
    return Path(path)
