"""Sweep: LRE faithfulness on SmolLM2 over layers and beta, to pick the defaults in factcheck.knows.lre.

One full estimate per (relation, layer), n = 8, cached on disk (lre_cache);
beta only rescales W h, so every beta reuses the estimate. Prints strict and
lenient faithfulness (as in the LRE paper) per relation, layer and beta, and the
mean over relations.

    python bench/bench_lre_beta.py
    python bench/bench_lre_beta.py suites/geography/country_capital.json --layers 6 10 15 --betas 1 2 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from factcheck.knows.lre import prompt_states
from factcheck.knows.lre_cache import load_or_estimate
from factcheck.knows.lre_metrics import faithfulness, test_sites
from factcheck.model.language_model import load_model
from factcheck.suites.suite import load_suite

DEFAULT_SUITES = [
    "suites/geography/country_capital.json",
    "suites/geography/country_official_language.json",
    "suites/language/verb_past_tense.json",
    "suites/science/element_symbol.json",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="*", default=DEFAULT_SUITES)
    parser.add_argument("--layers", nargs="+", default=["4", "8", "12", "15", "18", "22"])
    parser.add_argument("--betas", nargs="+", type=float, default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0])
    parser.add_argument("--n-train", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model()
    table: dict[tuple[str, float], list[float]] = {}
    print(f"{'relation':32s} {'layer':>5s} {'tested':>6s}  " + "  ".join(f"b={b:<4g}" for b in args.betas))
    for path in args.suites:
        suite = load_suite(path)
        for layer in args.layers:
            layer = layer if layer == "emb" else int(layer)
            started = time.perf_counter()
            lre, hit = load_or_estimate(model, suite, layer, n_train=args.n_train, beta=1.0)
            seconds = time.perf_counter() - started
            states = prompt_states(model, test_sites(model, lre, suite), lre.layer)
            cells = []
            tested = 0
            for beta in args.betas:
                report = faithfulness(model, lre.with_beta(beta), suite, states=states)
                tested = report.tested_strict
                strict, lenient = report.strict or 0.0, report.lenient or 0.0
                table.setdefault((str(layer), beta), []).append(strict)
                cells.append(f"{strict:.2f}/{lenient:.2f}")
            note = "cached" if hit else f"{seconds:.0f}s"
            print(f"{suite.relation_id:32s} {layer!s:>5s} {tested:6d}  " + "  ".join(cells) + f"   ({note})", flush=True)
    print("\nmean strict faithfulness over relations (rows: layer, columns: beta)")
    print(f"{'layer':>5s}  " + "  ".join(f"{b:>5g}" for b in args.betas))
    for layer in args.layers:
        print(f"{layer:>5s}  " + "  ".join(f"{statistics.mean(table[(str(layer), b)]):5.2f}" for b in args.betas))


if __name__ == "__main__":
    main()
