"""Benchmark: distracted prompts on SmolLM2 — does the knowledge survive when the output is led astray?

Before each question goes a false statement about the subject in the
relation's own words, repeated ("The capital city of France is Rome. The
capital city of France is Rome. The capital city of France is"). The paper reports that the output
then drops to a few percent right while the attribute lens still recovers the
object about half the time. This prints, per relation, say- and know-accuracy
on plain and on distracted prompts (test facts only: training facts shaped the
LRE and are no evidence of knowledge).

    python bench/bench_distracted.py
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from factcheck.model.language_model import load_model
from factcheck.reports.report import decided_on_both
from factcheck.session import FactcheckSession, Settings
from factcheck.suites.suite import DistractorSettings, load_suite

RELATIONS = [
    "suites/geography/country_capital.json",
    "suites/geography/landmark_country.json",
    "suites/geography/country_official_language.json",
    "suites/geography/city_country.json",
]


def false_statement(template: str) -> str:
    """The relation's own sentence completed with a wrong object ({wrong} is another fact's object)."""
    return template + " {wrong}."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2, help="how often the false statement is repeated (default 2)")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    model = load_model(args.model)
    session = FactcheckSession(Settings(), progress=lambda message: print(message, end="", file=sys.stderr, flush=True))
    session.use_model(model)
    rows = []
    for path in RELATIONS:
        suite = load_suite(path)
        distractor = DistractorSettings(statement=false_statement(suite.templates[0]), repeat=args.repeat)
        suite = dataclasses.replace(suite, settings=dataclasses.replace(suite.settings, distractor=distractor))
        started = time.perf_counter()
        run = session.run(suite)
        records = [run.record(i).result for i in range(len(suite.facts)) if not run.outcomes[i].is_training]
        # Facts decided on both prompts (an undecided or untrusted know-verdict counts neither way).
        scored = decided_on_both(records)
        rows.append(
            (
                suite.relation_id,
                len(records),
                sum(r.say_pass for r in records) / len(records),
                sum(r.distracted.say_pass for r in records) / len(records),
                sum(r.know_pass for r in scored) / max(1, len(scored)),
                sum(r.distracted.know_pass for r in scored) / max(1, len(scored)),
                # Of the facts the distraction made the model say wrong, how many does the LRE still decode?
                _recovered(records),
                time.perf_counter() - started,
            )
        )
    print()
    print(f"model {model.name} ({model.fingerprint}); distractor repeated {args.repeat}x; test facts only")
    print("| relation | facts | says | says (distracted) | knows | knows (distracted) | knows, among facts the distraction broke | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, facts, says, says_d, knows, knows_d, recovered, seconds in rows:
        print(f"| {name} | {facts} | {says:.2f} | {says_d:.2f} | {knows:.2f} | {knows_d:.2f} | {recovered} | {seconds:.1f} |")
    return 0


def _recovered(records) -> str:
    broken = [r for r in records if r.say_pass and not r.distracted.say_pass and r.distracted.know_pass is not None]
    if not broken:
        return "-"
    kept = sum(r.distracted.know_pass for r in broken)
    return f"{kept}/{len(broken)} ({kept / len(broken):.2f})"


if __name__ == "__main__":
    sys.exit(main())
