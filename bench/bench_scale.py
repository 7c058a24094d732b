"""Benchmark: how the main job's time grows with the number of facts and with the prompt's length.

Facts: the paper's relations (../shared/datasets/lre-relations, converted in
memory by factcheck.suites.importer) sampled to about 100, 1,000 and 10,000 facts:
relations in file order, each given at least `--min-per-relation` facts (so
that its LRE has training facts and test facts), the rest shared out one fact
per relation in turn. Every relation's LRE is estimated or read from the cache
first (reported apart, as "LRE cache fill"); the timed run is the plugin's
per-relation work: say-checks (generation and ranking) and know-checks.

Prompt length: one relation (--length-suite) with 0, 2, 4, 8 and 16
demonstrations per prompt (the LRE's training size follows), timed the same way.

    python bench/bench_scale.py                          # 100, 1000, 10000 facts and the prompt lengths
    python bench/bench_scale.py --sizes 100 1000 --no-length
    python bench/bench_scale.py --sizes 10000 --no-length --cold   # no LRE cached (a model seen for the first time)
    python bench/bench_scale.py --sizes 10000 --no-length --cold --then-cached   # and its second run
    python bench/bench_scale.py --sizes 10000 --no-length --relations person_father person_mother   # the heaviest two

To compare commits on one day (this machine's speed varies from day to day), run the same command with another
checkout's library first on the path: `PYTHONPATH=/path/to/other/checkout python bench/bench_scale.py ...`.

Each size is timed once (a 10,000-fact run takes minutes); prompt lengths are
medians of --repeats runs. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from factcheck.suites.importer import convert_document
from factcheck.model.language_model import load_model
from factcheck.suites.prompts import build_prompt, demonstrations_for
from factcheck.session import FactcheckSession, Settings, lre_for_suite
from factcheck.suites.suite import Suite, load_suite, parse_suite, read_json_document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "lre-relations"
SHOTS = 8


def paper_relations(data: Path) -> list[Suite]:
    suites = []
    for path in sorted(data.rglob("*.json")):
        document, _ = convert_document(read_json_document(path), path)
        suites.append(parse_suite(document, path))
    return suites


def sample(suites: list[Suite], size: int, min_per_relation: int) -> list[Suite]:
    """About `size` facts: relations in order with at least `min_per_relation` facts each, then one more each in turn."""
    usable = [s for s in suites if len(s.facts) >= min_per_relation]
    quota: dict[int, int] = {}
    left = size
    for index, suite in enumerate(usable):
        if left < min_per_relation:
            break
        quota[index] = min_per_relation
        left -= min_per_relation
    growing = True
    while left > 0 and growing:
        growing = False
        for index in quota:
            if left > 0 and quota[index] < len(usable[index].facts):
                quota[index] += 1
                left -= 1
                growing = True
    return [dataclasses.replace(usable[i], facts=usable[i].facts[:n]) for i, n in quota.items()]


def timed_run(model, suites: list[Suite], shots: int | None = None, show_progress: bool = False) -> float:
    session = FactcheckSession(Settings(shots=shots), progress=lambda message: None)
    session.use_model(model)
    started = time.perf_counter()
    for number, suite in enumerate(suites, 1):
        relation_started = time.perf_counter()
        session.run(suite)
        if show_progress:
            seconds = time.perf_counter() - relation_started
            print(
                f"    {number}/{len(suites)} {suite.relation_id}: {len(suite.facts)} facts, {len(suite.objects)} objects, "
                f"{seconds:.1f} s ({time.perf_counter() - started:.0f} s so far, peak RSS {peak_rss_gib():.2f} GiB)",
                file=sys.stderr,
                flush=True,
            )
    return time.perf_counter() - started


@contextlib.contextmanager
def empty_lre_cache():
    """FACTCHECK_CACHE pointed at an empty folder for the length of the `with` (the model is loaded already)."""
    previous = os.environ.get("FACTCHECK_CACHE")
    with tempfile.TemporaryDirectory(prefix="factcheck-cold-") as folder:
        os.environ["FACTCHECK_CACHE"] = folder
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("FACTCHECK_CACHE", None)
            else:
                os.environ["FACTCHECK_CACHE"] = previous


def fill_lre_cache(model, suites: list[Suite], n_train: int | None = None) -> float:
    started = time.perf_counter()
    for number, suite in enumerate(suites, 1):
        _, hit = lre_for_suite(model, suite, n_train)
        print(f"  LRE {number}/{len(suites)} {suite.relation_id}: {'cached' if hit else 'estimated'}", file=sys.stderr)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", type=int, default=[100, 1000, 10000])
    parser.add_argument("--min-per-relation", type=int, default=12)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--length-suite", default=str(ROOT / "suites/geography/country_capital.json"))
    parser.add_argument("--shots", nargs="*", type=int, default=[0, 2, 4, 8, 16])
    parser.add_argument("--no-length", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--relations", nargs="*", default=None,
                        help="time only these relations of each sample (relation ids such as person_father)")
    parser.add_argument("--cold", action="store_true",
                        help="no LRE cached: each size runs on an empty LRE cache, as a model seen for the first time does")
    parser.add_argument("--then-cached", action="store_true",
                        help="with --cold: time a second run on what the cold run cached (a candidate model's second run)")
    args = parser.parse_args()
    if args.then_cached and not args.cold:
        parser.error("--then-cached times the second run of a --cold run: pass --cold too")

    model = load_model(args.model)
    print(f"model {model.name} ({model.fingerprint}), torch threads {torch.get_num_threads()}")

    if args.sizes:
        relations = paper_relations(args.data)
        print()
        print(f"{'facts':>7} {'relations':>9} {'seconds':>9} {'facts/s':>8} {'LRE cache fill s':>17}", flush=True)
        for size in args.sizes:
            suites = sample(relations, size, args.min_per_relation)
            if args.relations:
                suites = [suite for suite in suites if suite.relation_id in args.relations]
                if missing := sorted(set(args.relations) - {suite.relation_id for suite in suites}):
                    parser.error(f"--relations: no relation {', '.join(missing)} in the sample of {size} facts")
            facts = sum(len(s.facts) for s in suites)
            if args.cold:
                # The session decodes without W where that is cheaper and estimates W elsewhere, inside the timing.
                fill = 0.0
                with empty_lre_cache():
                    print(f"  timing {facts} facts in {len(suites)} relations, no LRE cached ...", file=sys.stderr)
                    seconds = timed_run(model, suites, show_progress=True)
                    if args.then_cached:
                        print(f"{facts:>7} {len(suites):>9} {seconds:>9.1f} {facts / seconds:>8.2f} {'(cold run)':>17}",
                              flush=True)
                        print(f"  timing {facts} facts again, on what the cold run cached ...", file=sys.stderr)
                        seconds, fill = timed_run(model, suites, show_progress=True), "(second run)"
            else:
                # Each sample's relations are prefixes of the full files, so their LREs (first 8 facts) are shared.
                fill = fill_lre_cache(model, suites)
                print(f"  timing {facts} facts in {len(suites)} relations ...", file=sys.stderr)
                seconds = timed_run(model, suites, show_progress=True)
            # One row per size as soon as it is measured: a 10,000-fact run takes a while.
            fill_column = fill if isinstance(fill, str) else f"{fill:.1f}"
            print(f"{facts:>7} {len(suites):>9} {seconds:>9.1f} {facts / seconds:>8.2f} {fill_column:>17}", flush=True)

    if not args.no_length:
        suite = load_suite(args.length_suite)
        rows = []
        for shots in args.shots:
            if shots >= 2:  # fewer demonstrations: no LRE, says only
                fill_lre_cache(model, [suite], shots)
            prompt_tokens = len(model.tokenize([_prompt_text(model, suite, shots)])[0][0])
            times = [timed_run(model, [suite], shots) for _ in range(args.repeats)]
            rows.append((shots, prompt_tokens, statistics.median(times)))
        print()
        print(f"{suite.relation_id}, {len(suite.facts)} facts, median of {args.repeats} runs (know-check from 2 demonstrations up)")
        print(f"{'demonstrations':>14} {'prompt tokens':>13} {'seconds':>8} {'facts/s':>8}")
        for shots, tokens, seconds in rows:
            print(f"{shots:>14} {tokens:>13} {seconds:>8.2f} {len(suite.facts) / seconds:>8.2f}")

    print(f"\npeak RSS {peak_rss_gib():.2f} GiB")
    return 0


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _prompt_text(model, suite: Suite, shots: int) -> str:
    last = suite.facts[-1]
    return build_prompt(model.bos_text, suite.templates[0], last.subject, demonstrations_for(suite.facts, last.subject, shots)).text


if __name__ == "__main__":
    sys.exit(main())
