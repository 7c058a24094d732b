"""Benchmark: the main job (say-checks and know-checks of every suite) with cached LREs vs a plain loop.

The batched path is what `pytest suites/` runs: per relation, one shared-prefix
pass that generates, ranks the candidates and captures the subject state at
the LRE's layer, then one matrix product per fact for the know-check.

The plain loop is what one would write first, per fact: `generate()` on the
full few-shot prompt, a second forward pass with `output_hidden_states` for
the subject state, and the LRE decoded from it. It runs on the first
`--plain-per-relation` test facts of each relation (its cost per fact does not
depend on how many facts there are), and its verdicts are compared with the
batched path's on those facts.

    python bench/bench_main_job.py                      # all suites, 3 timed runs
    python bench/bench_main_job.py --repeats 1 suites/geography

Before timing, every relation's LRE is loaded from the cache or estimated
(the "LRE cache fill" line), so the timed runs read cached LREs as a second
`pytest suites/` does. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch

from factcheck.says.matching import matching_answer
from factcheck.model.language_model import LanguageModel, load_model
from factcheck.suites.prompts import build_prompt, demonstrations_for, subject_token_index
from factcheck.session import FactcheckSession, Settings, lre_for_suite
from factcheck.suites.suite import Suite

from bench_saycheck import suites_under  # bench/ is on the path when this script runs


@torch.no_grad()
def plain_check(model: LanguageModel, suite: Suite, lre, fact_indexes: list[int], shots: int, max_new_tokens: int):
    """Per fact: (generation verdict, LRE top-1 token id), each computed on its own full prompt."""
    results = []
    for index in fact_indexes:
        fact = suite.facts[index]
        prompt = build_prompt(model.bos_text, suite.templates[0], fact.subject, demonstrations_for(suite.facts, fact.subject, shots))
        encoded = model.tokenizer(prompt.text, add_special_tokens=False, return_offsets_mapping=True)
        ids = torch.tensor([encoded["input_ids"]], device=model.device)
        generated = model.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
            do_sample=False, pad_token_id=model.tokenizer.pad_token_id,
        )
        text = model.tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True).split("\n", 1)[0]
        says = matching_answer(text, fact.answers) is not None
        hidden = model.model(input_ids=ids, output_hidden_states=True).hidden_states[lre.layer + 1]
        position = subject_token_index(prompt.text, fact.subject, encoded["offset_mapping"], prompt.subject_end)
        top1 = int(model.decode_state(lre.apply(hidden[0, position].float()).to(model.dtype)).argmax())
        results.append((says, top1))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["suites"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the batched path (median reported)")
    parser.add_argument("--plain-per-relation", type=int, default=4, help="test facts per relation for the plain loop")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    model = load_model(args.model)
    load_seconds = time.perf_counter() - started
    suites = suites_under(args.paths)
    facts = sum(len(s.facts) for s in suites)
    print(f"model {model.name} ({model.fingerprint}), {len(suites)} suites, {facts} facts, torch threads {torch.get_num_threads()}")

    started = time.perf_counter()
    lres = {}
    for suite in suites:
        lres[suite.relation_id], hit = lre_for_suite(model, suite)
        print(f"  LRE {suite.relation_id}: {'cached' if hit else 'estimated'}", file=sys.stderr)
    fill_seconds = time.perf_counter() - started

    quiet = lambda message: None  # noqa: E731
    times, session = [], None
    for repeat in range(args.repeats):
        session = FactcheckSession(Settings(), progress=quiet)
        session.use_model(model)
        started = time.perf_counter()
        for suite in suites:
            session.run(suite)
        times.append(time.perf_counter() - started)
        print(f"  batched run {repeat + 1}: {times[-1]:.1f} s", file=sys.stderr)
    batched_seconds = statistics.median(times)

    plain_facts, plain_seconds, differences = 0, 0.0, []
    for suite in suites:
        run = session.run(suite)
        test_indexes = [i for i, outcome in enumerate(run.outcomes) if not outcome.is_training][: args.plain_per_relation]
        lre = lres[suite.relation_id]
        started = time.perf_counter()
        plain = plain_check(model, suite, lre, test_indexes, run.options.shots, run.options.max_new_tokens)
        plain_seconds += time.perf_counter() - started
        plain_facts += len(test_indexes)
        for index, (says, top1) in zip(test_indexes, plain):
            batched_says = run.outcomes[index].generation_pass
            batched_top1 = run.knows[index].top_tokens[0][0]
            if says != batched_says or model.tokenizer.decode([top1]) != batched_top1:
                differences.append(f"{suite.relation_id}[{suite.facts[index].subject}]")
        print(f"  plain loop: {suite.relation_id} done", file=sys.stderr)

    batched_rate = facts / batched_seconds
    plain_rate = plain_facts / plain_seconds
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print()
    print(f"{'path':<48} {'facts':>6} {'seconds':>9} {'facts/s':>8}")
    print(f"{'plain loop (generate + hidden states per fact)':<48} {plain_facts:>6} {plain_seconds:>9.1f} {plain_rate:>8.2f}")
    print(f"{'batched, shared prefix, cached LREs (median)':<48} {facts:>6} {batched_seconds:>9.1f} {batched_rate:>8.2f}")
    print(f"speed-up {batched_rate / plain_rate:.1f}x; runs {', '.join(f'{t:.1f}' for t in times)} s")
    print(f"model load {load_seconds:.1f} s, LRE cache fill {fill_seconds:.1f} s, peak RSS {peak_gib:.2f} GiB")
    print(f"verdict differences on the {plain_facts} plain-loop facts (generation verdict or LRE top-1): {len(differences)}"
          + (f" {differences}" if differences else ""))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
