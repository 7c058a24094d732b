"""RunSummary: what an xdist worker sends to the controller survives JSON whole, and workers' parts merge into
the run one process would have summarised."""

from __future__ import annotations

import dataclasses
import json

import pytest

from factcheck.fact_result import DistractedSummary, FactResult, KnowResult, RankedCandidate, SayResult, TemplateResult
from factcheck.knows.know_rules import BLANK_FIRST_TOKEN, Faithfulness, Undecided
from factcheck.reports.report import distracted_lines, report_document, summary_lines
from factcheck.reports.run_summary import LensFigure, LreInfo, ModelInfo, RelationSummary, RunSummary

MODEL = ModelInfo("tiny", "LlamaForCausalLM", "abc123", "float32", "cpu", 1.25)


def result(relation: str, subject: str, said: bool, know: bool | None, undecided: bool = False) -> FactResult:
    say = SayResult("generation", said, said, generated=" x" if said else " y", margin=0.5 if said else -0.5,
                    top_candidates=(RankedCandidate("x", -0.1, True), RankedCandidate("y", -1.5, False)),
                    first_token_probability=0.25)
    know_result = KnowResult(
        passed=None if undecided else know, trusted=True, decodes_object=None if undecided else know,
        undecided=Undecided(BLANK_FIRST_TOKEN, (" ",)) if undecided else None,
        top_tokens=((" x", 0.5), (" y", 0.25)), object_rank=1, object_vocab_rank=3, object_probability=0.5,
    )
    verdict = None if undecided else {(True, True): "known", (False, True): "hidden", (True, False): "unfaithful",
                                      (False, False): "unknown"}[(said, know)]
    return FactResult(relation, subject, "x", say, know_result, verdict, aliases=("ex",), tags=("t",),
                      distracted=DistractedSummary(" z", False, know))


def relation(relation_id: str, indices: tuple[int, ...], lens: tuple[LensFigure, ...] = ()) -> RelationSummary:
    shapes = [(True, True), (False, True), (True, False), (False, False), (True, None)]
    results = tuple(result(relation_id, f"s{i}", *shapes[i % 4], undecided=i == 4) for i in indices)
    lre = LreInfo(layer=3, beta=2.5, rank=None, n_train=2, faithfulness=Faithfulness(9, 10, 1), cache_hit=False,
                  decode="implicit", products=40)
    return RelationSummary(relation_id, relation_id.replace("_", " "), f"suites/{relation_id}.json", "hash", 2, results,
                           indices, lre=lre, min_accuracy=0.5, distracted=True,
                           evidence={r.subject: ("a sentence",) for r in results if r.verdict == "hidden"}, lens=lens)


def test_a_summary_survives_the_trip_to_the_controller():
    figure = LensFigure("s1", "iVBORw0KGgo=", "x")
    summary = RunSummary(MODEL, (relation("a_rel", (0, 1, 2, 3, 4), (figure,)), relation("b_rel", (0, 1))))
    back = RunSummary.from_payload(json.loads(json.dumps(summary.to_payload())))
    assert back == summary
    assert back.relations[0].lre.faithfulness == Faithfulness(9, 10, 1) and back.relations[0].lre.trusted
    assert summary_lines(back) == summary_lines(summary) and distracted_lines(back) == distracted_lines(summary)
    assert report_document(back) == report_document(summary)


def test_a_relation_asked_under_several_templates_survives_the_trip_with_each_template():
    templated = dataclasses.replace(
        relation("t_rel", (0, 1)), templates=("A {subject}", "B {subject}"),
        other_lres=(LreInfo(layer=3, beta=2.5, rank=None, n_train=2, faithfulness=Faithfulness(3, 10, 0), cache_hit=True),),
        other_lres_skipped=(None,),
    )
    templated = dataclasses.replace(templated, results=tuple(
        dataclasses.replace(r, template_mode="all", templates=(
            TemplateResult("A {subject}", True, True, True, " x", 0.5, True, "known"),
            TemplateResult("B {subject}", i == 0, i == 0, True, " y", -0.5, None, None)))
        for i, r in enumerate(templated.results)))
    summary = RunSummary(MODEL, (templated,))
    back = RunSummary.from_payload(json.loads(json.dumps(summary.to_payload())))
    assert back == summary and report_document(back) == report_document(summary)
    document = report_document(back)
    assert document["suites"]["t_rel"]["consistency"] == 0.5
    assert [entry["template"] for entry in document["suites"]["t_rel"]["templates"]] == ["A {subject}", "B {subject}"]
    assert any("t_rel #2 'B {subject}': said 1/2  50%" in line for line in summary_lines(back))


def test_workers_parts_merge_into_the_one_process_run():
    whole = RunSummary(MODEL, (relation("a_rel", (0, 1, 2, 3, 4)), relation("b_rel", (0, 1)), relation("c_rel", (0,))))
    # Relations sorted by id; a_rel split over two workers (worksteal), its facts back in suite order.
    first = RunSummary(MODEL, (relation("c_rel", (0,)), relation("a_rel", (3, 4))))
    second = RunSummary(MODEL, (relation("a_rel", (0, 1, 2)), relation("b_rel", (0, 1))))
    merged = RunSummary.merged([first, second])
    assert merged.relations == whole.relations
    assert merged.split == ("a_rel",)
    assert summary_lines(merged) == summary_lines(whole)
    # A mode that repeats facts on every worker ("each") keeps each fact once.
    assert RunSummary.merged([whole, whole]).relations == whole.relations
    assert RunSummary.merged([]) is None


def test_parts_from_different_models_or_versions_are_refused():
    other = RunSummary(ModelInfo("tiny", "LlamaForCausalLM", "zzz999", "float32", "cpu", 1.0), ())
    with pytest.raises(ValueError, match="different models"):
        RunSummary.merged([RunSummary(MODEL, ()), other])
    payload = RunSummary(MODEL, ()).to_payload() | {"version": 99}
    with pytest.raises(ValueError, match="same factcheck version"):
        RunSummary.from_payload(payload)


def test_the_model_line_names_what_ran():
    assert MODEL.line() == "factcheck: tiny LlamaForCausalLM fingerprint=abc123 dtype=float32 device=cpu (loaded in 1.2 s)"


def test_the_controller_writes_every_output_from_workers_summaries_without_importing_torch(tmp_path):
    """An xdist controller runs no model: the summary lines, the JSON report, the HTML page and the gate must not
    cost it torch's import (seconds and hundreds of MB)."""
    import subprocess
    import sys
    from pathlib import Path

    summary = RunSummary(MODEL, (relation("a_rel", (0, 1, 2, 3, 4), (LensFigure("s1", "iVBORw0KGgo=", "x"),)),))
    (tmp_path / "payload.json").write_text(json.dumps(summary.to_payload()), encoding="utf-8")
    script = f"""
import json, sys
from pathlib import Path
from factcheck.reports.run_summary import RunSummary
from factcheck.reports.report import summary_lines, distracted_lines, write_report
from factcheck.reports.html_report import write_html_report
from factcheck.gate.release_gate import record
import plugins.plugin
folder = Path({str(tmp_path)!r})
summary = RunSummary.from_payload(json.loads((folder / "payload.json").read_text()))
lines = summary_lines(summary) + distracted_lines(summary)
write_report(folder / "report.json", summary)
write_html_report(folder / "report.html", summary)
record(folder / "baseline.json", summary.model.identity(), summary.suites_info(), summary.results)
print(len(lines), "torch" in sys.modules, "transformers" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    count, torch_imported, transformers_imported = done.stdout.split()
    assert int(count) > 5 and (torch_imported, transformers_imported) == ("False", "False")
    assert (tmp_path / "report.json").is_file() and (tmp_path / "report.html").is_file() and (tmp_path / "baseline.json").is_file()


class _Report:
    """The attributes of a pytest report that a worker's stream uses."""

    def __init__(self, nodeid: str, **attributes):
        self.nodeid = nodeid
        self.__dict__.update(attributes)


def streamed_reports(relation_summary: RelationSummary, version=None) -> list[_Report]:
    from factcheck.reports.streamed import FACT_ATTRIBUTE, RELATION_ATTRIBUTE, fact_message, relation_message

    reports = [_Report("setup", **{RELATION_ATTRIBUTE: relation_message(MODEL, relation_summary)})]
    for index, fact in zip(relation_summary.indices, relation_summary.results):
        reports.append(_Report(f"call {index}", **{FACT_ATTRIBUTE: fact_message(
            relation_summary.relation_id, index, fact, relation_summary.evidence.get(fact.subject, ()))}))
    if version is not None:
        for report in reports:
            for name, text in list(vars(report).items()):
                if name != "nodeid":
                    setattr(report, name, json.dumps(json.loads(text) | {"version": version}))
    return reports


def test_what_a_workers_reports_carried_makes_the_relation_its_summary_would_without_its_lens():
    from factcheck.reports.streamed import StreamedRun

    sent = relation("a_rel", (0, 1, 2, 4), (LensFigure("s1", "iVBORw0KGgo=", "x"),))
    stream = StreamedRun()
    for report in [*streamed_reports(sent), _Report("a plain test's report")]:
        stream.take(report)
    rebuilt = stream.summary()
    assert stream.problems == [] and rebuilt.model == MODEL
    assert rebuilt.relations == (dataclasses.replace(sent, lens=()),)
    assert report_document(rebuilt) == report_document(RunSummary(MODEL, (sent,)))
    # A relation whose worker sent its own summary is left to that summary; of a relation split over two workers, the
    # facts of the one that sent none are kept.
    assert stream.summary(received=[sent]) is None
    (rest,) = stream.summary(received=[relation("a_rel", (0, 1))]).relations
    assert rest.indices == (2, 4) and [r.subject for r in rest.results] == ["s2", "s4"]


def test_a_relation_whose_facts_had_not_run_yet_is_kept_without_facts_and_bad_messages_are_said():
    from factcheck.reports.streamed import FACT_ATTRIBUTE, StreamedRun

    stream = StreamedRun()
    stream.take(streamed_reports(relation("a_rel", ()))[0])
    for report in [*streamed_reports(relation("b_rel", (0,)), version=99), _Report("garbage", **{FACT_ATTRIBUTE: "{not json"})]:
        stream.take(report)
    (kept,) = stream.summary().relations
    assert kept.relation_id == "a_rel" and kept.results == () and len(stream.problems) == 3
    assert "format 99" in stream.problems[0] and "garbage" in stream.problems[2]



def test_a_model_path_with_control_characters_is_written_escaped_in_the_model_line():
    # A folder named with a newline and colour codes forged a "PASSED" line in the terminal.
    line = ModelInfo("/m/evil\nPASSED all 724 facts \x1b[32mOK", "LlamaForCausalLM", "abc123", "float32", "cpu", 1.0).line()
    assert "\n" not in line and "\x1b" not in line and "evil\\nPASSED all 724 facts \\x1b[32mOK" in line
