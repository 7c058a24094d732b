"""Benchmark: an 8B-class model's width on this CPU, to plan past this machine.

A randomly initialised Llama-style model at the width of an 8B model (hidden
4096, 32 heads, 8 key/value heads, MLP 14336, vocabulary 128256) but only
--layers blocks (2 and 4 by default), with SmolLM2's tokenizer (its ids fit the
vocabulary). Random weights say nothing sensible, but every fact costs what it
costs: the same prompts, candidates and passes as on a trained model. Per
layer count, on the first --facts facts of one relation (their objects are
the ranking candidates; n = 8 training facts, the LRE at block 0, so that the
know-check runs through the other blocks):

* say-check: run_relation (generation and ranking), seconds per fact;
* know-check without W: factcheck.knows.implicit_lre decoding every fact's
  subject state (n (facts + 1) Jacobian-vector products), seconds per fact;
* know-check with W: forming W takes n d Jacobian rows (d = 4096); --rows of
  one training prompt are timed and scaled to n d, since forming all of W at
  this width would take hours on two cores;
* the process's peak resident memory after each step.

A line through the layer counts gives the cost of a 32-block model: the
say-check runs every block, a know-check only the blocks after the LRE's
layer (15 of them at the default, block 16 of 32). The README turns that into
an estimate for one GPU, with the arithmetic shown.

    python bench/bench_8b_width.py [--layers 2 4] [--facts 16] [--rows 32]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import sys
import time
from pathlib import Path

import torch

from factcheck.knows.implicit_lre import ImplicitLre
from factcheck.knows.lre import SuffixProblem, training_sites
from factcheck.model.default_model import converted_folder
from factcheck.model.language_model import LanguageModel
from factcheck.says.saycheck import SayOptions, run_relation
from factcheck.suites.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
WIDTH = dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336, vocab_size=128256)
N_TRAIN = 8
BLOCK_PARAMETERS = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336  # q and o; k and v (8 of 32 heads); the MLP
EDGE_PARAMETERS = 2 * 128256 * 4096  # embedding and output head


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def wide_model(layers: int, tokenizer) -> LanguageModel:
    import transformers

    config = transformers.LlamaConfig(**WIDTH, num_hidden_layers=layers, max_position_embeddings=4096, tie_word_embeddings=False,
                                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                      pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    return LanguageModel(model, tokenizer, name=f"llama-8b-width-{layers}-blocks")


class count_passes:
    """Counts the packed passes run (and their tokens) until stop()."""

    def __init__(self):
        from factcheck.model.packing import PackedSequence

        self.owner, self.original, self.passes, self.tokens = PackedSequence, PackedSequence.run, 0, 0
        counter = self

        def run(sequence, tokens, *args, **kwargs):
            counter.passes += 1
            counter.tokens += len(tokens)
            return counter.original(sequence, tokens, *args, **kwargs)

        PackedSequence.run = run

    def stop(self) -> tuple[int, int]:
        self.owner.run = self.original
        return self.passes, self.tokens


def cpu_gflops() -> float:
    """This machine's sustained float32 GFLOP/s on a matrix product of the model's shapes (median of 5)."""
    a, b = torch.randn(64, 4096), torch.randn(4096, 14336)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * 64 * 4096 * 14336 / sorted(times)[2] / 1e9


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(layers: int, tokenizer, suite, facts: int, rows: int) -> dict[str, float]:
    started = time.perf_counter()
    model = wide_model(layers, tokenizer)
    log(f"[bench] {layers} blocks: built in {time.perf_counter() - started:.0f} s, peak {peak_gib():.1f} GiB")
    layer = 0
    options = SayOptions(shots=N_TRAIN)
    passes = count_passes()
    started = time.perf_counter()
    outcomes = run_relation(model, suite, options, capture_layers=[layer])
    say = (time.perf_counter() - started) / len(outcomes)
    say_passes, say_tokens = passes.stop()
    say_peak = peak_gib()
    log(f"[bench] say-check {say:.2f} s/fact, peak {say_peak:.1f} GiB")
    states = torch.stack([o.subject_states[layer] for o in outcomes])
    training = tuple(suite.facts[:N_TRAIN])
    started = time.perf_counter()
    implicit = ImplicitLre(model, suite.templates[0], training, layer, 1.5)
    implicit.apply(states)
    know_implicit = (time.perf_counter() - started) / len(outcomes)
    implicit_peak = peak_gib()
    log(f"[bench] know-check without W {know_implicit:.2f} s/fact ({implicit.products} products), peak {implicit_peak:.1f} GiB")
    problem = SuffixProblem(model, training_sites(model, suite.templates[0], training)[0], layer)
    cotangents = torch.randn(model.hidden_size, rows)
    started = time.perf_counter()
    problem.vjp(cotangents)
    per_row = (time.perf_counter() - started) / rows
    w_seconds = per_row * N_TRAIN * model.hidden_size
    log(f"[bench] one Jacobian row {per_row:.3f} s: W would take {w_seconds:.0f} s, {w_seconds / len(outcomes):.1f} s/fact")
    suffix_tokens = int(implicit.batch().suffix_ids.numel())
    result = dict(layers=layers, say=say, implicit=know_implicit, w_total=w_seconds, w_per_fact=w_seconds / len(outcomes),
                  say_peak=say_peak, implicit_peak=implicit_peak, peak=peak_gib(), products=implicit.products,
                  say_passes=say_passes, say_tokens=say_tokens, facts=len(outcomes),
                  product_tokens=implicit.products // implicit.batch().count * suffix_tokens)
    del model, problem, implicit, outcomes
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--facts", type=int, default=16, help="facts of the relation checked (the first 8 train the LRE)")
    parser.add_argument("--rows", type=int, default=32, help="Jacobian rows timed to scale the cost of W")
    parser.add_argument("--suite", default=str(ROOT / "suites/geography/country_capital.json"))
    parser.add_argument("--gpu-tbps", type=float, default=4.8, help="GPU memory bandwidth in TB/s (H200: 4.8)")
    parser.add_argument("--gpu-tflops", type=float, default=300.0,
                        help="sustained bfloat16 TFLOP/s assumed for one GPU (an H100/H200 peaks near 990 dense)")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted_folder())
    full = load_suite(args.suite)
    suite = dataclasses.replace(full, facts=full.facts[: args.facts])  # its objects are the ranking candidates
    log(f"[bench] {len(suite.facts)} facts of {full.relation_id}, torch threads {torch.get_num_threads()}")
    results = [measure(layers, tokenizer, suite, len(suite.facts), args.rows) for layers in args.layers]

    print(f"\n{'blocks':>6} {'say s/fact':>10} {'know s/fact, no W':>17} {'products':>8} {'W s (scaled)':>12} "
          f"{'W s/fact':>9} {'peak GiB':>8}")
    for r in results:
        print(f"{r['layers']:>6} {r['say']:>10.2f} {r['implicit']:>17.2f} {r['products']:>8} {r['w_total']:>12.0f} "
              f"{r['w_per_fact']:>9.1f} {r['peak']:>8.1f}")
    if len(results) >= 2:
        first, last = results[0], results[-1]
        span = last["layers"] - first["layers"]
        print("\nlinear in the block count, per fact, for 32 blocks (know-checks: the 15 blocks after the LRE at block 16):")
        for key, name, target in (("say", "say-check", 32), ("implicit", "know-check without W", 16),
                                  ("w_per_fact", "know-check with W formed", 16)):
            per_block = (last[key] - first[key]) / span
            at_target = first[key] + per_block * (target - first["layers"])
            print(f"  {name:<26} {first[key]:.2f} s at {first['layers']} blocks + {per_block:.3f} s per block x "
                  f"{target - first['layers']} = {at_target:.1f} s")
        ratio = (last["w_per_fact"] - first["w_per_fact"]) / max(1e-9, last["implicit"] - first["implicit"])
        print(f"  forming W costs {ratio:.0f}x the products per added block")
        gflops = cpu_gflops()
        speedup = args.gpu_tflops * 1000 / gflops
        print(f"\nthis CPU sustains {gflops:.0f} GFLOP/s (float32 matrix product 64 x 4096 x 14336); one GPU at "
              f"{args.gpu_tflops:.0f} TFLOP/s (bfloat16) is {speedup:.0f}x that, if the passes were as compute-bound there")
        # One GPU, a 32-block 8B model in bfloat16: each pass reads every weight once (bandwidth-bound for few
        # tokens), and its tokens cost 2 FLOPs per parameter they pass through.
        weights_bytes = 2 * (32 * BLOCK_PARAMETERS + EDGE_PARAMETERS)
        read = weights_bytes / (args.gpu_tbps * 1e12)
        flops = args.gpu_tflops * 1e12
        say_gpu = (first["say_passes"] * read + first["say_tokens"] * 2 * (32 * BLOCK_PARAMETERS + EDGE_PARAMETERS) / flops) / first["facts"]
        # Products: one batched pass over the 15 blocks after the LRE per chunk, primal and tangents both.
        after = 15 * BLOCK_PARAMETERS
        know_gpu = (2 * read * 15 / 32 + first["product_tokens"] * 2 * 2 * after / flops) / first["facts"]
        print(f"one GPU ({args.gpu_tbps} TB/s, {args.gpu_tflops:.0f} TFLOP/s), 32 blocks, bfloat16, {weights_bytes / 1e9:.1f} GB of weights:")
        print(f"  say-check: {first['say_passes']} passes x {read * 1e3:.1f} ms weight reads + {first['say_tokens']} tokens x "
              f"{2 * (32 * BLOCK_PARAMETERS + EDGE_PARAMETERS) / 1e9:.1f} GFLOP, over {first['facts']} facts = {say_gpu * 1e3:.1f} ms per fact")
        print(f"  know-check without W: one batched pass over 15 blocks + {first['product_tokens']} product tokens x "
              f"{2 * 2 * after / 1e9:.0f} GFLOP, over {first['facts']} facts = {know_gpu * 1e3:.1f} ms per fact")


if __name__ == "__main__":
    main()
