"""Benchmark: say-checks of the suites on SmolLM2, batched with a shared-prefix cache vs a plain loop.

The plain loop is what one would write first: for each fact, `generate()` on the
full few-shot prompt, then match the text. The batched path does more (it also
ranks every candidate answer) and must give the same generation verdicts.

    python bench/bench_saycheck.py                 # all suites under suites/
    python bench/bench_saycheck.py --repeats 3 suites/geography
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from factcheck.says.matching import matching_answer
from factcheck.model.language_model import LanguageModel, load_model
from factcheck.suites.prompts import build_prompt, demonstrations_for
from factcheck.says.saycheck import SayOptions, run_relation
from factcheck.suites.suite import Suite, load_suite


def suites_under(paths: list[str]) -> list[Suite]:
    files = []
    for path in map(Path, paths):
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return [load_suite(f) for f in files]


@torch.no_grad()
def plain_loop(model: LanguageModel, suite: Suite, options: SayOptions) -> list[tuple[str, bool]]:
    results = []
    for fact in suite.facts:
        demonstrations = demonstrations_for(suite.facts, fact.subject, options.shots)
        prompt = build_prompt(model.bos_text, suite.templates[0], fact.subject, demonstrations).text
        ids = torch.tensor(model.tokenize([prompt])[0])
        output = model.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=options.max_new_tokens,
            do_sample=False,
            pad_token_id=model.tokenizer.pad_token_id,
        )
        text = model.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True).split("\n", 1)[0]
        results.append((text, matching_answer(text, fact.answers) is not None))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["suites"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of the batched path (median reported)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    suites = suites_under(args.paths)
    options = SayOptions()
    facts = sum(len(s.facts) for s in suites)
    print(f"model {model.name} ({model.fingerprint}), {len(suites)} suites, {facts} facts, torch threads {torch.get_num_threads()}")

    batched_times, batched = [], {}
    for repeat in range(args.repeats):
        started = time.perf_counter()
        for suite in suites:
            batched[suite.relation_id] = run_relation(model, suite, options)
        batched_times.append(time.perf_counter() - started)
        print(f"  batched run {repeat + 1}: {batched_times[-1]:.1f} s", file=sys.stderr)

    started = time.perf_counter()
    plain = {}
    for suite in suites:
        plain[suite.relation_id] = plain_loop(model, suite, options)
        print(f"  plain loop: {suite.relation_id} done", file=sys.stderr)
    plain_time = time.perf_counter() - started

    mismatched_text = mismatched_verdict = 0
    for relation, outcomes in batched.items():
        for outcome, (text, verdict) in zip(outcomes, plain[relation]):
            mismatched_text += outcome.generated != text
            mismatched_verdict += outcome.generation_pass != verdict
    batched_median = statistics.median(batched_times)
    print()
    print("| path | seconds | facts/s |")
    print("|---|---|---|")
    print(f"| plain loop: generate() per fact, full prompt (1 run) | {plain_time:.1f} | {facts / plain_time:.2f} |")
    print(f"| batched + shared-prefix cache, with ranking (median of {args.repeats}) | {batched_median:.1f} | {facts / batched_median:.2f} |")
    print(f"\nratio (plain / batched): {plain_time / batched_median:.1f}x")
    print(f"generation verdicts that differ: {mismatched_verdict} of {facts}; generated texts that differ: {mismatched_text}")
    return 0 if mismatched_verdict == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
