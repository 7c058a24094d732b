"""Benchmark: the main job on a model seen for the first time (no LRE cached) against the same job fully cached.

Each run is `pytest suites/ --factcheck-report=...` in a subprocess, as a user
runs it, with its own FACTCHECK_CACHE that holds the converted default model
(linked from the usual cache) and, for the cold runs, no LRE:

* cold: the say-check plus LREs decoded without W (factcheck.knows.implicit_lre);
* again: the same cache a second time (the implicit decodes are cached);
* W cached: the usual cache with every relation's W (the fully cached run the
  ratio is against; it is filled first, estimating W where missing).

Then every fact's know-verdict, class and decoded top-5 tokens of the cold run
are compared with the W run's. `--estimate-w` also times a cold run that
estimates every W (the path before the implicit decode existed).

    python bench/bench_cold_run.py [--repeats 3] [--estimate-w]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_home() -> Path:
    explicit = os.environ.get("FACTCHECK_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "factcheck"


def run_main_job(cache: Path, report: Path, *extra: str) -> float:
    """Seconds of one `pytest suites/` run (wall, including start-up), its report written to `report`."""
    env = {**os.environ, "FACTCHECK_CACHE": str(cache)}
    command = [sys.executable, "-m", "pytest", "suites/", "-q", "-p", "no:cacheprovider", f"--factcheck-report={report}", *extra]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        sys.exit(f"pytest failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    summary = [line for line in result.stdout.splitlines() if line.startswith("LRE decode:")]
    print(f"  {seconds:7.1f} s  {summary[0] if summary else ''}", file=sys.stderr)
    return seconds


ESTIMATE_EVERY_W = """
from pathlib import Path
from factcheck.model.language_model import load_model
from factcheck.session import lre_for_suite
from factcheck.suites.suite import load_suite
model = load_model()
for path in sorted(Path("suites").rglob("*.json")):
    lre_for_suite(model, load_suite(path))
"""


def estimate_every_w(cache: Path) -> float:
    """Seconds to estimate every relation's W into `cache`, in a subprocess."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", ESTIMATE_EVERY_W], cwd=ROOT, env={**os.environ, "FACTCHECK_CACHE": str(cache)}, check=True)
    return time.perf_counter() - started


def fresh_cache(models: Path) -> Path:
    """A cache with the converted model and no LRE."""
    directory = Path(tempfile.mkdtemp(prefix="factcheck-cold-"))
    (directory / "models").symlink_to(models, target_is_directory=True)
    return directory


def facts_of(report: Path) -> dict[tuple[str, str], dict]:
    return {(f["relation"], f["subject"]): f for f in json.loads(report.read_text())["facts"]}


def compare_reports(cold: Path, explicit: Path) -> tuple[int, list[str], float]:
    """(facts compared, differences, largest difference of a decoded probability)."""
    a, b = facts_of(cold), facts_of(explicit)
    differences, largest = [], 0.0
    for key in sorted(b):
        x, y = a[key], b[key]
        for field in ("know_pass", "verdict", "lre_decodes_object", "know_undecided", "lre_object_rank", "say_pass"):
            if x[field] != y[field]:
                differences.append(f"{key}: {field} {x[field]!r} vs {y[field]!r}")
        if [d["token"] for d in x["lre_top_tokens"]] != [d["token"] for d in y["lre_top_tokens"]]:
            differences.append(f"{key}: top tokens {x['lre_top_tokens']} vs {y['lre_top_tokens']}")
        for d, e in zip(x["lre_top_tokens"], y["lre_top_tokens"]):
            largest = max(largest, abs(d["probability"] - e["probability"]))
    return len(b), differences, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="cold and cached runs each (medians are reported)")
    parser.add_argument("--estimate-w", action="store_true", help="also time a cold run that estimates every W")
    args = parser.parse_args()
    home = cache_home()
    models = home / "models"
    if not models.is_dir():
        sys.exit(f"no converted model under {models}: run `factcheck model info` once first")
    work = Path(tempfile.mkdtemp(prefix="factcheck-bench-"))
    print("[bench] W cached (filling the usual cache where needed first)", file=sys.stderr)
    run_main_job(home, work / "fill.json")
    explicit_report = work / "w.json"
    cached_times = [run_main_job(home, explicit_report) for _ in range(args.repeats)]
    cold_times, again_times, caches = [], [], []
    for repeat in range(args.repeats):
        cache = fresh_cache(models)
        caches.append(cache)
        print(f"[bench] cold run {repeat + 1}: no LRE cached", file=sys.stderr)
        cold_times.append(run_main_job(cache, work / f"cold{repeat}.json"))
        print("[bench] the same cache again", file=sys.stderr)
        again_times.append(run_main_job(cache, work / f"again{repeat}.json"))
    rows = [
        ("fully cached (W cached)", statistics.median(cached_times), cached_times),
        ("cold: no LRE cached (implicit decode)", statistics.median(cold_times), cold_times),
        ("cold run again (decodes cached)", statistics.median(again_times), again_times),
    ]
    if args.estimate_w:
        cache = fresh_cache(models)
        caches.append(cache)
        print("[bench] cold run estimating every W first (the path before the implicit decode)", file=sys.stderr)
        seconds = estimate_every_w(cache) + run_main_job(cache, work / "estimate.json")
        rows.append(("cold: estimating every W, then the run", seconds, [seconds]))
    compared, differences, largest = compare_reports(work / "cold0.json", explicit_report)
    _, again_differences, _ = compare_reports(work / "again0.json", work / "cold0.json")
    baseline = rows[0][1]
    print(f"\n{'run':<40} {'median s':>9} {'x cached':>9}  runs")
    for name, median, runs in rows:
        print(f"{name:<40} {median:9.1f} {median / baseline:9.2f}  {', '.join(f'{r:.1f}' for r in runs)}")
    print(f"\ncold vs W cached: {compared} facts compared, {len(differences)} differences in know-verdict, class, "
          f"undecided reason, object rank, say-verdict or top-5 decoded tokens; largest decoded probability difference {largest:.2e}")
    print(f"cold vs its second run: {len(again_differences)} differences")
    for line in differences[:20]:
        print(f"  {line}")
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
