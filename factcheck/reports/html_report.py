"""One self-contained HTML file: per-relation tables, the knows-vs-says matrix, lens heatmaps of hidden facts."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from factcheck.cache import write_text_atomic
from factcheck.knows.know_rules import UNDECIDED_HINT, UNDECIDED_MEANING
from factcheck.knows.lens import attribute_lens, png_bytes
from factcheck.reports.report import FactRecord, RelationRun, undecided_count
from factcheck.types import VERDICTS

if TYPE_CHECKING:
    from factcheck.session import FactcheckSession

MAX_LENS_FIGURES = 8
LENS_POSITIONS = 12
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td.name{text-align:left}.warn{color:#a60}.hidden{background:#fff4d6}
figure{margin:1.5em 0}figcaption{font-size:.9em;color:#555}img{max-width:100%}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _relation_table(runs: list[RelationRun]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("relation", "facts", "generation", "ranking", *VERDICTS, "undecided", "LRE layer", "faithfulness [95%]", "rests on")
    )
    rows = []
    for run in runs:
        records = run.asked_records()
        if not records:
            continue
        trusted = run.lre is not None and run.lre.trusted
        cells = [
            f"<td class=name>{_e(run.suite.relation_id)}</td>",
            f"<td>{len(records)}</td>",
            f"<td>{sum(r.outcome.generation_pass for r in records)}</td>",
            f"<td>{sum(r.outcome.ranking_pass for r in records)}</td>",
            *(f"<td>{sum(r.verdict == v for r in records) if trusted else '-'}</td>" for v in VERDICTS),
            f"<td>{undecided_count(records)}</td>",
        ]
        if run.lre is None:
            cells += ["<td>-</td>", "<td>-</td>", "<td>-</td>"]
        else:
            faith = run.lre.faithfulness
            flag = "" if trusted else f" <span class=warn title='{_e(faith.why_untrusted())}'>&#9888; untrusted: no classes</span>"
            cells += [f"<td>{_e(run.lre.layer)}</td>", f"<td>{faith.value_text()}{flag}</td>", f"<td>{faith.tested} facts</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _class_matrix(records: list[FactRecord]) -> str:
    scored = [r for r in records if r.know_pass is not None]
    count = {v: sum(r.verdict == v for r in scored) for v in VERDICTS}
    undecided = undecided_count(records)
    untrusted = sum(r.lre_trusted is False and not r.outcome.is_training and r.undecided is None for r in records)
    return (
        "<table><tr><th></th><th>LRE decodes the object</th><th>LRE does not</th></tr>"
        f"<tr><th>model says it</th><td>known: {count['known']}</td><td>unfaithful: {count['unfaithful']}</td></tr>"
        f"<tr><th>model does not say it</th><td class=hidden>hidden: {count['hidden']}</td><td>unknown: {count['unknown']}</td></tr>"
        f"</table><p>{len(scored)} facts classed. Not classed: {undecided} undecided ({_e(UNDECIDED_MEANING)}; "
        f"{_e(UNDECIDED_HINT)}), {untrusted} other test facts of relations whose LRE is untrusted, and the training facts.</p>"
    )


def _undecided_table(records: list[FactRecord]) -> str:
    undecided = [r for r in records if r.undecided is not None]
    if not undecided:
        return "<p>No undecided facts.</p>"
    rows = "".join(
        f"<tr><td class=name>{_e(r.suite.relation_id)}[{_e(r.fact.subject)}]</td><td class=name>{_e(r.fact.object)}</td>"
        f"<td class=name>{_e(r.undecided.reason)}</td><td class=name>{_e(r.undecided.describe())}</td>"
        f"<td class=name>{_e(', '.join(repr(t) for t, _ in r.know.top_tokens[:3]))}</td></tr>"
        for r in undecided
    )
    return (
        "<table><tr><th>fact</th><th>expected</th><th>reason</th><th>why</th><th>LRE decodes</th></tr>"
        f"{rows}</table>"
    )


def _hidden_table(records: list[FactRecord]) -> str:
    hidden = [r for r in records if r.verdict == "hidden"]
    if not hidden:
        return "<p>No hidden facts in this run.</p>"
    rows = "".join(
        f"<tr class=hidden><td class=name>{_e(r.suite.relation_id)}[{_e(r.fact.subject)}]</td><td class=name>{_e(r.fact.object)}</td>"
        f"<td class=name>{_e(r.outcome.generated.strip() or '(nothing)')}</td>"
        f"<td class=name>{_e(', '.join(repr(t) for t, _ in r.know.top_tokens[:3]))}</td>"
        f"<td class=name>{_e('; '.join(r.evidence()))}</td></tr>"
        for r in hidden
    )
    return f"<table><tr><th>fact</th><th>expected</th><th>the model said</th><th>LRE decodes</th><th>evidence</th></tr>{rows}</table>"


def _lens_figures(session: FactcheckSession, limit: int) -> str:
    figures = []
    for run in session.runs():
        if run.lre is None or run.lre.lre is None:
            continue
        for index in sorted(run.asked):
            record = run.record(index)
            if record.verdict != "hidden" or len(figures) >= limit:
                continue
            grid = attribute_lens(
                session.model, run.lre.lre, record.outcome.prompt, target=record.decoded_answer, last_positions=LENS_POSITIONS
            )
            image = base64.b64encode(png_bytes(grid, title=f"{run.suite.relation_id}[{record.fact.subject}]", last_positions=LENS_POSITIONS))
            caption = (
                f"<b>{_e(run.suite.relation_id)}[{_e(record.fact.subject)}]</b>: expected {_e(record.fact.object)!s}, "
                f"the model said {_e(record.outcome.generated.strip() or '(nothing)')}; the LRE at layer {_e(run.lre.layer)} decodes "
                f"{_e(', '.join(t.strip() for t, _ in record.know.top_tokens[:3]))}. Evidence: {_e('; '.join(record.evidence()))}. "
                f"Colour: probability of the first token of {_e(record.decoded_answer)}."
            )
            figures.append(f"<figure><img alt='attribute lens' src='data:image/png;base64,{image.decode()}'><figcaption>{caption}</figcaption></figure>")
    return "".join(figures)


def write_html_report(path: str | Path, session: FactcheckSession, max_lens_figures: int = MAX_LENS_FIGURES) -> Path:
    runs = sorted(session.runs(), key=lambda r: r.suite.relation_id)
    records = [record for run in runs for record in run.asked_records()]
    model = session.model
    body = [
        "<h1>factcheck report</h1>",
        f"<p>Model <b>{_e(model.name)}</b> ({_e(model.architecture)}, fingerprint <code>{_e(model.fingerprint)}</code>), "
        f"{len(records)} facts, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
        "<h2>Per relation</h2>",
        _relation_table(runs),
        "<h2>Knows vs says</h2>",
        _class_matrix(records),
        "<h2>Undecided facts</h2>",
        _undecided_table(records),
        "<h2>Hidden facts: stored but not said</h2>",
        _hidden_table(records),
        f"<p>Lens heatmaps of the first {max_lens_figures} hidden facts: the attribute lens applies the relation's LRE at "
        f"every layer and at the prompt's last {LENS_POSITIONS} tokens.</p>",
        _lens_figures(session, max_lens_figures),
    ]
    document = f"<!doctype html><html><head><meta charset=utf-8><title>factcheck report</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    write_text_atomic(Path(path), document)
    return Path(path)
