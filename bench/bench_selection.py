"""Benchmark: a keyword selection (`pytest suites/ -k France`) against the whole relations it touches.

Per relation with a selected fact, a fresh session runs either the whole
relation (the baseline: what every -k run cost before) or only the selected
facts, with the relation's faithfulness read from the cache that a whole run
stored. Both use the loaded model and cached LREs, as a second `pytest`
run does. The selected facts' verdicts are checked against the whole run's.

A fact is selected as `-k KEYWORD` would select it: the keyword, ignoring
case, is in its test name (`country_capital[France]`) or its suite's path.

    python bench/bench_selection.py                    # -k France over suites/, 3 timed runs
    python bench/bench_selection.py --keyword Japan --repeats 5

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from factcheck.model.language_model import load_model
from factcheck.session import FactcheckSession, Settings

from bench_saycheck import suites_under  # bench/ is on the path when this script runs


def selected_facts(suite, keyword: str) -> set[int]:
    keyword = keyword.lower()
    if keyword in str(suite.path).lower():
        return set(range(len(suite.facts)))
    return {i for i, fact in enumerate(suite.facts) if keyword in f"{suite.name}[{fact.subject}]".lower()}


def timed_run(model, suite, wanted):
    session = FactcheckSession(Settings(), progress=lambda message: None)
    session.use_model(model)
    started = time.perf_counter()
    run = session.run(suite, wanted=wanted)
    return time.perf_counter() - started, run


def verdicts(run, index):
    result = run.record(index).result
    return result.say.passed, result.say.generated, result.know_pass, result.verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["suites"])
    parser.add_argument("--keyword", default="France")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path (median reported)")
    args = parser.parse_args()

    model = load_model()
    chosen = [(suite, selected_facts(suite, args.keyword)) for suite in suites_under(args.paths)]
    chosen = [(suite, wanted) for suite, wanted in chosen if wanted]
    print(f"model {model.name} ({model.fingerprint}), -k {args.keyword}: {len(chosen)} relations, "
          f"{sum(len(w) for _, w in chosen)} facts selected, torch threads {torch.get_num_threads()}")

    rows, differences, not_partial = [], [], []
    for suite, wanted in chosen:
        _, whole = timed_run(model, suite, None)  # fills the LRE and faithfulness caches
        whole_times, part_times = [], []
        for _ in range(args.repeats):
            seconds, whole = timed_run(model, suite, None)
            whole_times.append(seconds)
            seconds, part = timed_run(model, suite, wanted)
            part_times.append(seconds)
        if part.computed is None and len(wanted) < len(suite.facts):
            not_partial.append(suite.relation_id)
        differences += [f"{suite.relation_id}[{suite.facts[i].subject}]" for i in sorted(wanted)
                        if verdicts(part, i) != verdicts(whole, i)]
        rows.append((suite.relation_id, len(suite.facts), len(wanted), statistics.median(whole_times), statistics.median(part_times)))
        print(f"  {suite.relation_id}: whole {whole_times}, selected {part_times}", file=sys.stderr)

    print()
    print(f"{'relation':<38} {'facts':>5} {'selected':>8} {'whole s':>8} {'selected s':>10} {'ratio':>6}")
    for relation, facts, selected, whole_s, part_s in rows:
        print(f"{relation:<38} {facts:>5} {selected:>8} {whole_s:>8.2f} {part_s:>10.2f} {whole_s / part_s:>5.1f}x")
    whole_total, part_total = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"{'all (sum of medians)':<38} {sum(r[1] for r in rows):>5} {sum(r[2] for r in rows):>8} {whole_total:>8.2f} "
          f"{part_total:>10.2f} {whole_total / part_total:>5.1f}x")
    print(f"relations that ran whole although part was selected: {len(not_partial)}" + (f" {not_partial}" if not_partial else ""))
    print(f"selected facts whose verdicts differ from the whole run's: {len(differences)}" + (f" {differences}" if differences else ""))
    return 1 if differences or not_partial else 0


if __name__ == "__main__":
    sys.exit(main())
