"""Benchmark: how facts are asked. Text vs chat prompts, and a suite's several templates.

1. Text vs chat: every suite under `suites/` asked both ways on the same facts
   (the suite's own `prompt` setting is overridden): say-accuracy by
   generation and by ranking, know-accuracy among facts with a know-verdict,
   and seconds, with the chat/text ratio of the totals. The LRE of each way is
   taken from the cache when there (a first run estimates them).
2. Templates: one relation asked under its own template alone, and under
   [its template, a nonsense one] with templates = all / any / first: facts
   said, and seconds.

    python bench/bench_prompts.py
    python bench/bench_prompts.py --only templates --relation suites/geography/country_capital.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from factcheck.model.language_model import load_model
from factcheck.session import FactcheckSession, Settings
from factcheck.suites.suite import load_suite

NONSENSE = "Zebra {subject} purple quantum"


def quiet(model, **settings) -> FactcheckSession:
    session = FactcheckSession(Settings(**settings), progress=lambda message: print(message, end="", file=sys.stderr, flush=True))
    session.use_model(model)
    return session


def asked(session: FactcheckSession, suite):
    """(results of every fact, seconds)."""
    started = time.perf_counter()
    run = session.run(suite)
    seconds = time.perf_counter() - started
    return [run.record(i).result for i in range(len(suite.facts))], seconds


def text_vs_chat(model, paths: list[Path]) -> None:
    rows = []
    for path in paths:
        suite = load_suite(path)
        row = [suite.relation_id, len(suite.facts)]
        for style in ("text", "chat"):
            results, seconds = asked(quiet(model, prompt=style), suite)
            decided = [r for r in results if r.know_pass is not None]
            row += [sum(r.say.generation_pass for r in results), sum(r.say.ranking_pass for r in results),
                    f"{sum(r.know_pass for r in decided)}/{len(decided)}", seconds]
        rows.append(row)
    print()
    print(f"model {model.name} ({model.fingerprint}): the same facts asked as text and as chat")
    print("| relation | facts | text: generation | text: ranking | text: knows | text s | chat: generation | chat: ranking | chat: knows | chat s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, facts, *cells in rows:
        text_gen, text_rank, text_know, text_s, chat_gen, chat_rank, chat_know, chat_s = cells
        print(f"| {name} | {facts} | {text_gen} | {text_rank} | {text_know} | {text_s:.1f} | {chat_gen} | {chat_rank} | {chat_know} | {chat_s:.1f} |")
    facts = sum(row[1] for row in rows)
    totals = [sum(row[i] for row in rows) for i in (2, 3, 5, 6, 7, 9)]
    print(f"| all | {facts} | {totals[0]} ({totals[0] / facts:.0%}) | {totals[1]} ({totals[1] / facts:.0%}) | | {totals[2]:.1f} "
          f"| {totals[3]} ({totals[3] / facts:.0%}) | {totals[4]} ({totals[4] / facts:.0%}) | | {totals[5]:.1f} |")
    print(f"chat/text time: {totals[5] / totals[2]:.2f}x")


def templates(model, path: Path) -> None:
    suite = load_suite(path)
    own = suite.templates[0]
    both = dataclasses.replace(suite, templates=(own, NONSENSE))
    rows = []
    for label, asked_suite, mode in ((f"[{own!r}]", dataclasses.replace(suite, templates=(own,)), "all"),
                                     (f"[{own!r}, {NONSENSE!r}]", both, "all"),
                                     (f"[{own!r}, {NONSENSE!r}]", both, "any"),
                                     (f"[{own!r}, {NONSENSE!r}]", both, "first")):
        results, seconds = asked(quiet(model, templates=mode), asked_suite)
        consistent = [r.consistent for r in results if r.consistent is not None]
        rows.append((label, mode, sum(r.say_pass for r in results), len(results),
                     f"{sum(consistent)}/{len(consistent)}" if consistent else "-", seconds))
    print()
    print(f"model {model.name} ({model.fingerprint}): {suite.relation_id} under one and two templates")
    print("| templates | mode | said | consistent | seconds |")
    print("|---|---|---|---|---|")
    for label, mode, said, total, consistent, seconds in rows:
        print(f"| {label} | {mode} | {said}/{total} | {consistent} | {seconds:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--suites", default="suites", help="folder of suites for text vs chat (default: suites)")
    parser.add_argument("--relation", default="suites/geography/country_capital.json", help="suite for the templates table")
    parser.add_argument("--only", choices=("chat", "templates"), default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    if args.only in (None, "chat"):
        text_vs_chat(model, sorted(Path(args.suites).rglob("*.json")))
    if args.only in (None, "templates"):
        templates(model, Path(args.relation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
