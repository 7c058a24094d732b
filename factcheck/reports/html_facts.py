"""The HTML report's per-fact table: every fact with what the model said, both verdicts, its class, margin and outcome,
filtered, sorted and searched in the page itself (no network: the script is inline).

Rows are written as HTML, so the table reads without a script; the script only hides and reorders them. Filters can
be set from the page's address (report.html#class=hidden&outcome=failed), so a filtered view can be linked to.
"""

from __future__ import annotations

import hashlib
import html
import shlex
from typing import Mapping, Sequence

from factcheck.display import bidi_visible
from factcheck.fact_result import FactResult
from factcheck.model.default_model import DEFAULT_MODEL_NAME
from factcheck.reports.run_summary import ModelInfo, RelationSummary
from factcheck.suites.suite import render

FILTERS = ("relation", "class", "outcome", "gate")  # the row attributes the page filters by, in the order shown

FACTS_STYLE = """
#facts td,#facts th{text-align:left;vertical-align:top}#facts td.num{text-align:right}
#facts th[data-sort]{cursor:pointer}#facts th[data-sort]::after{content:" \\2195";color:#999}
.pass{color:#070}.fail{color:#b00}.filters label{margin-right:1em}.filters select,.filters input{margin-left:.3em}
#facts details summary{cursor:pointer;color:#555}#facts pre{white-space:pre-wrap;margin:.3em 0;max-width:32em}
"""

# Filters from the selects, the search box and the address; sorting by a column's data-sort key.
FACTS_SCRIPT = """
(function(){
const table=document.getElementById('facts');if(!table)return;
const body=table.tBodies[0],rows=Array.from(body.rows),names=%s;
const search=document.getElementById('fact-search'),count=document.getElementById('fact-count');
const selects=Object.fromEntries(names.map(n=>[n,document.getElementById('filter-'+n)]));
function apply(){
  const q=search.value.trim().toLowerCase();let shown=0;
  for(const row of rows){
    const ok=names.every(n=>!selects[n].value||row.dataset[n]===selects[n].value)&&(!q||row.textContent.toLowerCase().includes(q));
    row.hidden=!ok;if(ok)shown++;
  }
  count.textContent=shown+' of '+rows.length+' facts shown';
  const state=new URLSearchParams();
  for(const n of names)if(selects[n].value)state.set(n,selects[n].value);
  if(q)state.set('q',q);
  history.replaceState(null,'',state.toString()?'#'+state.toString():location.pathname+location.search);
}
const given=new URLSearchParams(location.hash.slice(1));
for(const n of names){if(given.has(n))selects[n].value=given.get(n);selects[n].addEventListener('change',apply);}
if(given.has('q'))search.value=given.get('q');
search.addEventListener('input',apply);
for(const th of table.tHead.rows[0].cells){
  const key=th.dataset.sort;if(!key)continue;
  th.addEventListener('click',()=>{
    const down=th.dataset.order!=='asc';th.dataset.order=down?'asc':'desc';
    const value=r=>key==='margin'?(r.dataset.margin===''?NaN:parseFloat(r.dataset.margin)):r.cells[th.cellIndex].textContent.toLowerCase();
    rows.sort((a,b)=>{const x=value(a),y=value(b);
      if(key==='margin'){if(isNaN(x))return isNaN(y)?0:1;if(isNaN(y))return -1;return down?x-y:y-x;}
      return down?x.localeCompare(y):y.localeCompare(x);});
    for(const r of rows)body.appendChild(r);
  });
}
apply();
if(given.toString())document.getElementById('fact-search').scrollIntoView();  // a linked view opens at the table
})();
"""


def escaped(value: object) -> str:
    """`value` as HTML text (quotes too: it may stand in an attribute), its bidirectional controls written out."""
    return html.escape(bidi_visible(str(value)))


_e = escaped


def fact_class(result: FactResult) -> str:
    """The class a row is filtered by: the knows-vs-says verdict, else why the fact has none."""
    if result.verdict:
        return result.verdict
    if result.training:
        return "training"
    if result.know is None:
        return "no LRE"
    if result.know.undecided is not None:
        return "undecided"
    return "untrusted LRE" if result.know.trusted is False else "no verdict"


def _verdict_cell(passed: bool | None, detail: str = "") -> str:
    if passed is None:
        return f"<td>{_e(detail or '-')}</td>"
    word, style = ("PASS", "pass") if passed else ("FAIL", "fail")
    return f"<td class={style}{(' title=' + repr(_e(detail))) if detail else ''}>{word}</td>"


def _know_cell(result: FactResult) -> str:
    know = result.know
    if know is None:
        return "<td>-</td>"
    if know.undecided is not None:
        return f"<td title='{_e(know.undecided.describe())}'>undecided</td>"
    if result.know_pass is None:
        decoded = "decodes" if know.decodes_object else "does not decode"
        return f"<td title='{_e(decoded)} the object; not counted ({_e(fact_class(result))})'>-</td>"
    return _verdict_cell(result.know_pass)


def lens_model_options(model: ModelInfo) -> str:
    """The `factcheck lens` options that load the model this run checked (none for the default model in float32)."""
    options = [] if model.name == DEFAULT_MODEL_NAME else ["--model", model.name]
    options += [] if model.dtype == "float32" else ["--dtype", model.dtype]
    return "".join(f" {shlex.quote(option)}" for option in options)


def _lens_cell(result: FactResult, relation: RelationSummary | None, question: str, drawn: set[tuple[str, str]],
               model_options: str) -> str:
    """A link to the fact's heatmap where the page has one; otherwise the command that draws it (on `question`)."""
    if result.key in drawn:
        return f"<a href='#{_e(lens_anchor(result.relation, result.subject))}'>heatmap</a>"
    if relation is None or relation.lre is None or not question:
        return ""
    command = (f"factcheck lens{model_options} --relation {shlex.quote(relation.path)} --target {shlex.quote(result.object)} "
               f"{shlex.quote(question)}")
    return f"<details><summary>lens</summary><pre>{_e(command)}</pre></details>"


def lens_anchor(relation: str, subject: str) -> str:
    """A heatmap's id: readable, and unique through a hash ("a b" and "a-b" read alike)."""
    digest = hashlib.sha256(f"{relation}\0{subject}".encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return "lens-" + "".join(c if c.isalnum() else "-" for c in f"{relation}-{subject}") + "-" + digest


def _row(result: FactResult, relation: RelationSummary | None, outcome: Mapping[str, str], drawn: set[tuple[str, str]],
         model_options: str) -> str:
    say = result.say
    klass = fact_class(result)
    margin = "" if say.margin is None else f"{say.margin:.3f}"
    margin_text = margin if say.margin_exact or not margin else ("&ge; " if say.ranking_pass else "&le; ") + margin
    aliases = f" <small>({_e(', '.join(result.aliases))})</small>" if result.aliases else ""
    # The question only: the demonstrations before it are the relation's (the JSON report keeps each whole prompt).
    question = render(relation.templates[0], result.subject) if relation is not None and relation.templates else ""
    prompt = f"<details><summary>question</summary><pre>{_e(question)}</pre></details>" if question else ""
    pytest_outcome, gate = outcome.get("outcome", ""), outcome.get("gate", "")
    attributes = {"relation": result.relation, "class": klass, "outcome": pytest_outcome, "gate": gate, "margin": margin}
    data = " ".join(f"data-{name}='{_e(value)}'" for name, value in attributes.items())
    return (
        f"<tr {data}><td>{_e(result.relation)}</td><td>{_e(result.subject)}</td><td>{_e(result.object)}{aliases}</td>"
        f"<td>{_e((say.generated or '').strip() or '(nothing)')}</td>{_verdict_cell(say.passed, say.check + ' check')}{_know_cell(result)}"
        f"<td>{_e(klass)}</td><td class=num>{margin_text or '-'}</td><td>{_e(pytest_outcome or '-')}</td><td>{_e(gate or '-')}</td>"
        f"<td>{prompt}{_lens_cell(result, relation, question, drawn, model_options)}</td></tr>"
    )


def _select(name: str, values: Sequence[str]) -> str:
    options = "".join(f"<option value='{_e(v)}'>{_e(v)}</option>" for v in values)
    return f"<label>{name} <select id='filter-{name}'><option value=''>all</option>{options}</select></label>"


def facts_table(relations: Sequence[RelationSummary], outcomes: Mapping[tuple[str, str], Mapping[str, str]],
                drawn: set[tuple[str, str]], model_options: str = "") -> str:
    """Every fact of the run as one row; `outcomes`: (relation, subject) -> pytest "outcome" and "gate" class;
    `drawn`: the facts whose lens heatmap the page holds; `model_options`: what the lens command needs to load the
    run's model (lens_model_options)."""
    rows, values = [], {name: set() for name in FILTERS}
    for relation in relations:
        for result in relation.results:
            outcome = outcomes.get(result.key, {})
            values["relation"].add(result.relation)
            values["class"].add(fact_class(result))
            for name in ("outcome", "gate"):
                if outcome.get(name):
                    values[name].add(outcome[name])
            rows.append(_row(result, relation, outcome, drawn, model_options))
    filters = "".join(_select(name, sorted(values[name])) for name in FILTERS if values[name])
    missing = [name for name in FILTERS if not values[name]]
    head = "".join(
        f"<th data-sort='{key}'>{label}</th>" if key else f"<th>{label}</th>"
        for label, key in (("relation", "text"), ("subject", "text"), ("expected", "text"), ("generated", "text"),
                           ("says", "text"), ("knows", "text"), ("class", "text"), ("margin", "margin"),
                           ("outcome", "text"), ("gate", "text"), ("question, lens", None))
    )
    script_names = [name for name in FILTERS if values[name]]
    return (
        f"<div class=filters>{filters}<label>search <input id='fact-search' type=search placeholder='subject, object, "
        f"generated text...'></label> <span id='fact-count'>{len(rows)} facts</span></div>"
        + (f"<p><small>No {' or '.join(missing)} in this run (a gate class needs --factcheck-baseline).</small></p>" if missing else "")
        + f"<table id=facts><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + f"<script>{FACTS_SCRIPT % _json_list(script_names)}</script>"
    )


def _json_list(names: Sequence[str]) -> str:
    return "[" + ",".join(f"'{name}'" for name in names) + "]"
