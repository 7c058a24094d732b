"""Benchmark: packed passes with tiled attention (factcheck.model.packed_attention) vs dense masked attention.

Runs the main job's per-relation work (say-checks and know-checks, LREs
cached) on every suite under the given paths, alternating the two kinds of
attention in one process: dense is every pass's SDPA over all cache slots
with the packing mask, as before tiling. Reports median seconds of each, the
ratio, and whether verdicts and margins agree.

    python bench/bench_packed_attention.py                  # suites/, 3 runs each
    python bench/bench_packed_attention.py --repeats 1 suites/geography

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from typing import Iterator

import torch

from factcheck.model import packed_attention
from factcheck.model.language_model import load_model
from factcheck.session import FactcheckSession, Settings, lre_for_suite

from bench_saycheck import suites_under  # bench/ is on the path when this script runs


@contextlib.contextmanager
def dense_attention() -> Iterator[None]:
    """Every packed pass plans no tiles, so it runs dense SDPA over the whole cache."""
    planner = packed_attention.plan_tiles
    packed_attention.plan_tiles = lambda visible: None
    try:
        yield
    finally:
        packed_attention.plan_tiles = planner


def run_all(model, suites) -> tuple[float, dict]:
    session = FactcheckSession(Settings(), progress=lambda message: None)
    session.use_model(model)
    started = time.perf_counter()
    results = {}
    for suite in suites:
        run = session.run(suite)
        for outcome in run.outcomes:
            results[(suite.relation_id, outcome.fact.subject)] = (outcome.generation_pass, outcome.ranking_pass, outcome.margin)
    return time.perf_counter() - started, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["suites"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    model = load_model(args.model)
    suites = suites_under(args.paths)
    facts = sum(len(s.facts) for s in suites)
    print(f"model {model.name}, {len(suites)} suites, {facts} facts, torch threads {torch.get_num_threads()}")
    for suite in suites:
        lre_for_suite(model, suite)

    times: dict[str, list[float]] = {"dense": [], "tiled": []}
    results: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for kind in ("dense", "tiled"):
            with dense_attention() if kind == "dense" else contextlib.nullcontext():
                seconds, results[kind] = run_all(model, suites)
            times[kind].append(seconds)
            print(f"  run {repeat + 1} {kind}: {seconds:.1f} s", file=sys.stderr, flush=True)

    verdicts_differ = [key for key in results["dense"] if results["dense"][key][:2] != results["tiled"][key][:2]]
    margin_gaps = [
        abs(results["dense"][key][2] - results["tiled"][key][2])
        for key in results["dense"]
        if results["dense"][key][2] is not None and results["tiled"][key][2] is not None
    ]
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    print()
    print(f"{'attention':<10} {'median s':>9} {'facts/s':>8}  runs")
    for kind in ("dense", "tiled"):
        print(f"{kind:<10} {medians[kind]:>9.1f} {facts / medians[kind]:>8.2f}  {', '.join(f'{t:.1f}' for t in times[kind])}")
    print(f"speed-up {medians['dense'] / medians['tiled']:.2f}x")
    print(f"facts whose generation or ranking verdict differs: {len(verdicts_differ)}"
          + (f" {verdicts_differ[:10]}" if verdicts_differ else ""))
    print(f"largest margin difference: {max(margin_gaps, default=0.0):.2e} over {len(margin_gaps)} margins")
    return 1 if verdicts_differ else 0


if __name__ == "__main__":
    sys.exit(main())
