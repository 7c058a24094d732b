"""Benchmark: LRE estimation on SmolLM2, straightforward reference vs the fast full and low-rank estimators.

One relation (country capital city), n = 8 training facts, one middle layer,
all in one process:

* reference: tests/lre_reference.py, full prompt every time, no cache, HF's
  eager attention, torch.autograd.functional.jacobian (one backward per row);
  run once;
* fast full: factcheck.knows.lre.estimate_lre(method="full"), median of --repeats;
* low rank: estimate_lre(method="lowrank"), median of --repeats;
* cached: lre_cache.load_or_estimate on an existing entry, median of 5;
* without W: factcheck.knows.implicit_lre decoding the relation's test facts
  (what a know-check on a model seen for the first time costs), median of
  --repeats, compared with the fast full estimate's decoding.

Each estimate is then scored by faithfulness on the relation's other facts
(strict token-id rule; the paper's lenient rule in parentheses).

    python bench/bench_lre_speed.py
    python bench/bench_lre_speed.py --skip-reference --threads 1
    python bench/bench_lre_speed.py --skip-reference --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the one copy of the reference estimator

from lre_reference import reference_estimate  # noqa: E402

from factcheck.knows.implicit_lre import ImplicitLre  # noqa: E402
from factcheck.knows.lre import DEFAULT_BETA, Lre, compare_lres, estimate_lre, prompt_states, resolve_layer  # noqa: E402
from factcheck.knows.lre_cache import load_or_estimate  # noqa: E402
from factcheck.knows.lre_metrics import faithfulness, test_sites  # noqa: E402
from factcheck.model.language_model import load_model  # noqa: E402
from factcheck.suites.suite import load_suite  # noqa: E402


def timed(function, repeats: int):
    """(median wall seconds, all wall seconds, median process CPU seconds, last result)."""
    times, cpu_times, result = [], [], None
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # GPU work is asynchronous: count it where it was queued
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    return statistics.median(times), times, statistics.median(cpu_times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default=str(ROOT / "suites/geography/country_capital.json"))
    parser.add_argument("--layer", default=None, help="block index (default: factcheck.knows.lre's default layer)")
    parser.add_argument("--n-train", type=int, default=8)
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sketch-rank", type=int, default=64)
    parser.add_argument("--oversample", type=int, default=16)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model(None, device=args.device, dtype=args.dtype)
    suite = load_suite(args.suite)
    layer = resolve_layer(model, args.layer)
    started = time.perf_counter()
    _ = model.fingerprint  # once per process; part of every LRE's metadata and cache key
    fingerprint_seconds = time.perf_counter() - started
    print(
        f"model {model.name} ({model.num_layers} blocks, d={model.hidden_size}), relation {suite.relation_id} "
        f"({len(suite.facts)} facts), layer {layer}, n={args.n_train}, beta={args.beta}, "
        f"torch threads {torch.get_num_threads()}; fingerprint {fingerprint_seconds:.1f}s (once per process)",
        flush=True,
    )

    rows = []  # (name, median wall seconds, all runs, median CPU seconds, lre)
    if not args.skip_reference:
        seconds, runs, cpu, (weight, bias) = timed(
            lambda: reference_estimate(model, suite.templates[0], suite.facts, layer, n_train=args.n_train), 1
        )
        reference = Lre(
            weight=weight, bias=bias, layer=layer, beta=args.beta, template=suite.templates[0],
            training=tuple((f.subject, f.object) for f in suite.facts[: args.n_train]), method="reference",
        )
        rows.append(("reference (full prompt, autograd)", seconds, runs, cpu, reference))
        print(f"reference done in {seconds:.1f}s", flush=True)
    seconds, runs, cpu, full = timed(lambda: estimate_lre(model, suite, layer, n_train=args.n_train, beta=args.beta), args.repeats)
    rows.append(("fast full (suffix-only, jacrev)", seconds, runs, cpu, full))
    seconds, runs, cpu, lowrank = timed(
        lambda: estimate_lre(
            model, suite, layer, n_train=args.n_train, beta=args.beta, method="lowrank",
            sketch_rank=args.sketch_rank, oversample=args.oversample,
        ),
        args.repeats,
    )
    rows.append((f"low rank (k={args.sketch_rank}, p={args.oversample})", seconds, runs, cpu, lowrank))

    with tempfile.TemporaryDirectory() as cache_dir:
        os.environ["FACTCHECK_CACHE"] = cache_dir
        load_or_estimate(model, suite, layer, n_train=args.n_train, beta=args.beta)
        seconds, runs, cpu, (cached, hit) = timed(
            lambda: load_or_estimate(model, suite, layer, n_train=args.n_train, beta=args.beta), 5
        )
        assert hit
        rows.append(("cached full estimate (load)", seconds, runs, cpu, cached))

    states = prompt_states(model, test_sites(model, full, suite), layer)
    training = tuple(suite.facts[: args.n_train])
    seconds, runs, cpu, decoded = timed(
        lambda: ImplicitLre(model, suite.templates[0], training, layer, args.beta).apply(states.h), args.repeats
    )
    implicit_row = (f"without W: decode {states.h.shape[0]} test facts", seconds, runs, cpu)
    full_decoded = full.apply(states.h)
    implicit_error = float((decoded - full_decoded).norm() / full_decoded.norm())
    base = rows[0][1]
    print(
        f"\n{'estimator':36s} {'seconds':>8s} {'runs':>22s} {'cpu s':>7s} {'vs ref':>7s} "
        f"{'faithful strict (lenient)':>26s} {'tested':>6s}"
    )
    for name, seconds, runs, cpu, lre in rows:
        report = faithfulness(model, lre, suite, states=states)
        ratio = f"{base / seconds:6.1f}x" if not args.skip_reference else "   n/a"
        runs_text = ",".join(f"{r:.2f}" for r in runs)
        faithful = f"{report.strict:.3f} ({report.lenient:.3f})"
        print(f"{name:36s} {seconds:8.2f} {runs_text:>22s} {cpu:7.2f} {ratio:>7s} {faithful:>26s} {report.tested_strict:6d}")
    name, seconds, runs, cpu = implicit_row
    ratio = f"{base / seconds:6.1f}x" if not args.skip_reference else "   n/a"
    print(f"{name:36s} {seconds:8.2f} {','.join(f'{r:.2f}' for r in runs):>22s} {cpu:7.2f} {ratio:>7s} "
          f"{'(same as fast full)':>26s}")

    print()
    if not args.skip_reference:
        agreement = compare_lres(model, full, rows[0][4], states.h)
        print(
            f"fast full vs reference: |W| rel. error {agreement.weight_relative_error:.2e}, "
            f"|b| rel. error {agreement.bias_relative_error:.2e}, top-1 agreement {agreement.top1_agreement:.3f} "
            f"on {agreement.compared_states} test prompts"
        )
    print(f"without W vs fast full: decoded states rel. error {implicit_error:.2e} on {states.h.shape[0]} test prompts")
    agreement = compare_lres(model, lowrank, full, states.h)
    print(
        f"low rank vs fast full:  |W| rel. error {agreement.weight_relative_error:.2e}, "
        f"|b| rel. error {agreement.bias_relative_error:.2e}, top-1 agreement {agreement.top1_agreement:.3f} "
        f"on {agreement.compared_states} test prompts"
    )


if __name__ == "__main__":
    main()
