"""The HTML report's per-fact table: one escaped row per fact with its verdicts and outcome, filtered in a real
browser where one is installed (Debian's chromium)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from factcheck.reports.html_report import write_html_report
from factcheck.reports.run_summary import LensFigure, RunSummary
from test_run_summary import MODEL, relation

HOSTILE = "<script>alert('x')</script> \"O'Brien\" & <b>"


class FactRows(HTMLParser):
    """The rows of the table with id "facts": each row's data-* attributes and its cells' text."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.scripts = 0
        self._in_table = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table" and attributes.get("id") == "facts":
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append({"data": {k[5:]: v for k, v in attributes.items() if k.startswith("data-")},
                              "hidden": "hidden" in attributes, "cells": []})
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._in_table = self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def fact_rows(text: str) -> FactRows:
    parser = FactRows()
    parser.feed(text)
    return parser


def summary_with(subject: str = "s0") -> RunSummary:
    first = relation("a_rel", (0, 1, 2, 3, 4), (LensFigure("s1", "iVBORw0KGgo=", "x"),))
    first = dataclasses.replace(first, templates=("{subject} is",))
    second = relation("b_rel", (0, 1))
    second = dataclasses.replace(second, results=(dataclasses.replace(second.results[0], subject=subject), second.results[1]))
    return RunSummary(MODEL, (first, second))


OUTCOMES = {("a_rel", "s1"): {"outcome": "failed", "gate": "suppressed"}, ("a_rel", "s0"): {"outcome": "passed", "gate": "still_right"},
            ("a_rel", "s3"): {"outcome": "xfailed", "gate": "still_wrong"}}


def test_every_fact_is_one_row_with_its_verdicts_class_margin_and_outcome(tmp_path):
    summary = summary_with()
    path = write_html_report(tmp_path / "r.html", summary, outcomes=OUTCOMES)
    rows = fact_rows(path.read_text(encoding="utf-8")).rows
    assert [(r["data"]["relation"], r["cells"][1]) for r in rows] == [(res.relation, res.subject) for res in summary.results]
    by_subject = {(r["data"]["relation"], r["cells"][1]): r for r in rows}
    hidden = by_subject[("a_rel", "s1")]
    # relation, subject, expected, generated, says, knows, class, margin, outcome, gate, lens
    assert hidden["cells"][2:10] == ["x (ex)", "y", "FAIL", "PASS", "hidden", "-0.500", "failed", "suppressed"]
    assert hidden["data"] == {"relation": "a_rel", "class": "hidden", "outcome": "failed", "gate": "suppressed", "margin": "-0.500"}
    assert hidden["cells"][10] == "questions1 is heatmap" or hidden["cells"][10].endswith("heatmap")  # its figure is on the page
    assert by_subject[("a_rel", "s4")]["data"]["class"] == "undecided"
    assert by_subject[("b_rel", "s1")]["data"]["outcome"] == "" and by_subject[("b_rel", "s1")]["cells"][8] == "-"
    # A fact without a drawn heatmap gets the command that draws it.
    assert "lens" in by_subject[("a_rel", "s2")]["cells"][10] and "factcheck lens --model tiny --relation suites/a_rel.json" in path.read_text()
    default = dataclasses.replace(summary, model=dataclasses.replace(summary.model, name="smollm2"))
    assert "factcheck lens --relation suites/a_rel.json" in write_html_report(tmp_path / "d.html", default).read_text(encoding="utf-8")
    # On another model or dtype, the command loads that model: pasted, it draws this run's lens.
    other = dataclasses.replace(summary, model=dataclasses.replace(summary.model, name="/models/my model", dtype="bfloat16"))
    text = write_html_report(tmp_path / "o.html", other, outcomes=OUTCOMES).read_text(encoding="utf-8")
    assert "factcheck lens --model &#x27;/models/my model&#x27; --dtype bfloat16 --relation suites/a_rel.json" in text


def test_suite_text_cannot_inject_markup_or_script(tmp_path):
    path = write_html_report(tmp_path / "r.html", summary_with(HOSTILE), outcomes=OUTCOMES)
    text = path.read_text(encoding="utf-8")
    parsed = fact_rows(text)
    assert parsed.scripts == 1  # the page's own
    innocent = write_html_report(tmp_path / "innocent.html", summary_with(), outcomes=OUTCOMES).read_text(encoding="utf-8")
    assert "<script>alert" not in text and text.count("<b>") == innocent.count("<b>")
    assert any(row["cells"][1] == HOSTILE for row in parsed.rows)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def rendered_rows(path, fragment: str = "") -> FactRows:
    """The page's DOM after its script ran in headless chromium, opened at `fragment` (the filters)."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--dump-dom", f"{path.resolve().as_uri()}{fragment}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return fact_rows(done.stdout)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (Debian: apt-get install chromium)")
def test_the_table_filters_in_a_real_browser_from_the_address(tmp_path):
    summary = summary_with(HOSTILE)
    path = write_html_report(tmp_path / "r.html", summary, outcomes=OUTCOMES)
    everything = rendered_rows(path)
    assert len(everything.rows) == len(summary.results) and not any(row["hidden"] for row in everything.rows)
    for fragment, expected in (("#class=hidden", {r.key for r in summary.results if r.verdict == "hidden"}),
                               ("#outcome=failed", {("a_rel", "s1")}),
                               ("#relation=b_rel&class=known", {r.key for r in summary.results if r.relation == "b_rel" and r.verdict == "known"}),
                               ("#q=o%27brien", {("b_rel", HOSTILE)})):
        shown = {(row["data"]["relation"], row["cells"][1]) for row in rendered_rows(path, fragment).rows if not row["hidden"]}
        assert shown == expected and expected, fragment
    counted = re.search(r"id=\"fact-count\">(\d+) of (\d+) facts shown", subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
         f"{path.resolve().as_uri()}#class=hidden"], capture_output=True, text=True, timeout=120).stdout)
    assert counted and counted.groups() == (str(sum(r.verdict == "hidden" for r in summary.results)), str(len(summary.results)))


def test_two_subjects_that_read_alike_get_their_own_heatmap_anchor():
    from factcheck.reports.html_facts import lens_anchor

    anchors = {lens_anchor("rel", subject) for subject in ("a b", "a-b", "a_b", "a.b")}
    assert len(anchors) == 4 and all(anchor.startswith("lens-rel-a-b-") for anchor in anchors)


def test_bidirectional_controls_in_suite_text_are_written_out_not_obeyed(tmp_path):
    spoof = "\u202etxt.exe"
    text = write_html_report(tmp_path / "r.html", summary_with(spoof), outcomes=OUTCOMES).read_text(encoding="utf-8")
    assert "\u202e" not in text and "\\u202etxt.exe" in text
