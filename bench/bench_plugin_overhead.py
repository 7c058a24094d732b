"""What the installed plugin costs a pytest run that has no fact suites: a project with one plain test, run
with the plugin and with `-p no:factcheck`, alternating, in fresh processes. Prints each run and the ratio
of the medians (target: at most 1.3x).

    python bench/bench_plugin_overhead.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(project: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=project, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
        timed_run(project, [])  # warm the file system cache and bytecode
        with_plugin, without = [], []
        for _ in range(args.repeats):
            with_plugin.append(timed_run(project, []))
            without.append(timed_run(project, ["-p", "no:factcheck"]))
    print("| run | with the plugin (s) | -p no:factcheck (s) |")
    print("|---|---|---|")
    for index, (a, b) in enumerate(zip(with_plugin, without), 1):
        print(f"| {index} | {a:.2f} | {b:.2f} |")
    ratio = statistics.median(with_plugin) / statistics.median(without)
    print(f"medians: {statistics.median(with_plugin):.2f} s vs {statistics.median(without):.2f} s: {ratio:.2f}x (target 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
