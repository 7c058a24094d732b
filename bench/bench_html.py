"""Benchmark: the HTML report's size and speed with its per-fact table, up to 10,000 facts.

The facts are a real run's (a JSON report, e.g. from `pytest suites/ --factcheck-report=r.json`), repeated with
numbered subjects to reach each size. For each size: the HTML page's size against the JSON report of the same
facts (the straightforward way to ship them), the seconds to write it, and, where chromium is installed, the
seconds a headless browser takes to open the page and filter it by class (median of 3).

    python bench/bench_html.py --report r.json
    python bench/bench_html.py --report r.json --sizes 724 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from factcheck.fact_result import FactResult
from factcheck.reports.html_report import write_html_report
from factcheck.reports.report import write_report
from factcheck.reports.run_summary import ModelInfo, RelationSummary, RunSummary
from factcheck.results import read_json_document
from factcheck.suites.suite import SuiteError, load_suite


def summary_of(report: Path, size: int) -> RunSummary:
    """The report's facts repeated (subjects numbered after the first round) to `size` facts, as a RunSummary."""
    document = read_json_document(report, max_bytes=1 << 30)
    facts = [FactResult.from_dict(entry) for entry in document["facts"]]
    grown = [facts[i % len(facts)] if i < len(facts) else
             dataclasses.replace(facts[i % len(facts)], subject=f"{facts[i % len(facts)].subject} #{i // len(facts)}")
             for i in range(size)]
    by_relation: dict[str, list[FactResult]] = {}
    for fact in grown:
        by_relation.setdefault(fact.relation, []).append(fact)
    relations = []
    for relation_id, results in sorted(by_relation.items()):
        info = document["suites"].get(relation_id, {})
        try:
            templates = tuple(load_suite(Path(info.get("path", ""))).templates)
        except SuiteError:
            templates = ()
        relations.append(RelationSummary(relation_id, info.get("relation", relation_id), info.get("path", ""),
                                         info.get("content_hash", ""), info.get("shots", 0), tuple(results),
                                         tuple(range(len(results))), templates=templates,
                                         other_lres=(None,) * (len(templates) - 1), other_lres_skipped=(None,) * (len(templates) - 1)))
    model = document["model"]
    return RunSummary(ModelInfo(model["name"], model["architecture"], model["fingerprint"], model["dtype"], model["device"], 0.0),
                      tuple(relations))


def browser_seconds(chromium: str, page: Path) -> float:
    started = time.perf_counter()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"{page.resolve().as_uri()}#class=hidden"],
                   capture_output=True, check=True, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, required=True, help="a JSON report of a real run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[724, 2500, 10000])
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    print(f"{'facts':>6} {'HTML MB':>8} {'JSON MB':>8} {'HTML/JSON':>9} {'write s':>8} {'browser s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            summary = summary_of(args.report, size)
            page, report = Path(folder) / f"{size}.html", Path(folder) / f"{size}.json"
            started = time.perf_counter()
            write_html_report(page, summary)
            written = time.perf_counter() - started
            write_report(report, summary)
            html_mb, json_mb = page.stat().st_size / 1e6, report.stat().st_size / 1e6
            browser = f"{statistics.median(browser_seconds(chromium, page) for _ in range(3)):.2f}" if chromium else "-"
            print(f"{size:>6} {html_mb:>8.2f} {json_mb:>8.2f} {html_mb / json_mb:>9.2f} {written:>8.2f} {browser:>10}")
    if not chromium:
        print("(no chromium: the browser column is empty; Debian: apt-get install chromium)")


if __name__ == "__main__":
    main()
