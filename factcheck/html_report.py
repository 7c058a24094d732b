"""One self-contained HTML file: per-relation tables, the knows-vs-says matrix, lens heatmaps of hidden facts."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import write_text_atomic
from .knowcheck import VERDICTS
from .lens import attribute_lens, png_bytes

if TYPE_CHECKING:
    from .report import FactRecord, RelationRun
    from .session import FactcheckSession

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
    head = "".join(f"<th>{h}</th>" for h in ("relation", "facts", "generation", "ranking", *VERDICTS, "LRE layer", "faithfulness"))
    rows = []
    for run in runs:
        records = [run.record(i) for i in sorted(run.asked)]
        if not records:
            continue
        cells = [
            f"<td class=name>{_e(run.suite.relation_id)}</td>",
            f"<td>{len(records)}</td>",
            f"<td>{sum(r.outcome.generation_pass for r in records)}</td>",
            f"<td>{sum(r.outcome.ranking_pass for r in records)}</td>",
            *(f"<td>{sum(r.verdict == v for r in records)}</td>" for v in VERDICTS),
        ]
        if run.lre is None:
            cells += ["<td>-</td>", "<td>-</td>"]
        else:
            faith = "n/a" if run.lre.faithfulness is None else f"{run.lre.faithfulness:.2f}"
            flag = "" if run.lre.trusted else " <span class=warn title='know-verdicts not trusted'>&#9888; not trusted</span>"
            cells += [f"<td>{_e(run.lre.layer)}</td>", f"<td>{faith}{flag}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _class_matrix(records: list[FactRecord]) -> str:
    scored = [r for r in records if r.know_pass is not None]
    count = {v: sum(r.verdict == v for r in scored) for v in VERDICTS}
    return (
        "<table><tr><th></th><th>LRE decodes the object</th><th>LRE does not</th></tr>"
        f"<tr><th>model says it</th><td>known: {count['known']}</td><td>unfaithful: {count['unfaithful']}</td></tr>"
        f"<tr><th>model does not say it</th><td class=hidden>hidden: {count['hidden']}</td><td>unknown: {count['unknown']}</td></tr>"
        f"</table><p>{len(scored)} facts scored; training facts ({len(records) - len(scored)}) have no know-verdict.</p>"
    )


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
                session.model, run.lre.lre, record.outcome.prompt, target=record.fact.object, last_positions=LENS_POSITIONS
            )
            image = base64.b64encode(png_bytes(grid, title=f"{run.suite.relation_id}[{record.fact.subject}]", last_positions=LENS_POSITIONS))
            caption = (
                f"<b>{_e(run.suite.relation_id)}[{_e(record.fact.subject)}]</b>: expected {_e(record.fact.object)!s}, "
                f"the model said {_e(record.outcome.generated.strip() or '(nothing)')}; the LRE at layer {_e(run.lre.layer)} decodes "
                f"{_e(', '.join(t.strip() for t, _ in record.know.top_tokens[:3]))}. Colour: probability of the expected object's first token."
            )
            figures.append(f"<figure><img alt='attribute lens' src='data:image/png;base64,{image.decode()}'><figcaption>{caption}</figcaption></figure>")
    if not figures:
        return "<p>No hidden facts in this run.</p>"
    return "".join(figures)


def write_html_report(path: str | Path, session: FactcheckSession, max_lens_figures: int = MAX_LENS_FIGURES) -> Path:
    runs = sorted(session.runs(), key=lambda r: r.suite.relation_id)
    records = [run.record(i) for run in runs for i in sorted(run.asked)]
    model = session.model
    body = [
        "<h1>factcheck report</h1>",
        f"<p>Model <b>{_e(model.name)}</b> ({_e(model.architecture)}, fingerprint <code>{_e(model.fingerprint)}</code>), "
        f"{len(records)} facts, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
        "<h2>Per relation</h2>",
        _relation_table(runs),
        "<h2>Knows vs says</h2>",
        _class_matrix(records),
        "<h2>Hidden facts: stored but not said</h2>",
        f"<p>The attribute lens applies the relation's LRE at every layer and at the prompt's last {LENS_POSITIONS} tokens.</p>",
        _lens_figures(session, max_lens_figures),
    ]
    document = f"<!doctype html><html><head><meta charset=utf-8><title>factcheck report</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    write_text_atomic(Path(path), document)
    return Path(path)
