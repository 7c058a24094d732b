"""Packed sequences: many contexts in one pass give what each context gives alone."""

from __future__ import annotations

import pytest
import torch

from factcheck.model.language_model import ModelLayoutError
from factcheck.model.packing import PackedSequence, Token, has_sliding_window, refuse_models_packing_changes

PROMPTS = [[5, 9, 14, 3, 22, 7, 11], [5, 9, 14, 30, 8], [5, 40, 41, 42, 43, 44, 45, 46, 47, 48]]


def alone(model, ids: list[int]) -> torch.Tensor:
    """Last-token logits of one unpadded prompt, no cache."""
    with torch.no_grad():
        return model.model(input_ids=torch.tensor([ids])).logits[0, -1]


def packed_last_logits(model, prompts, prefix_length: int) -> torch.Tensor:
    """Run `prefix_length` shared tokens as a prefix, then every prompt's rest in one packed pass."""
    prefix = prompts[0][:prefix_length]
    tensors = None
    if prefix_length:
        sequence = PackedSequence(model)
        context = sequence.new_context()
        sequence.run([Token(context, t, i) for i, t in enumerate(prefix)])
        tensors = [(layer.keys, layer.values) for layer in sequence.cache.layers]
    sequence = PackedSequence(model, tensors, prefix_length)
    tokens, ends = [], []
    for ids in prompts:
        shared = prefix_length if ids[:prefix_length] == prefix else 0
        context = sequence.new_context([(0, shared)])
        tokens += [Token(context, t, shared + j) for j, t in enumerate(ids[shared:])]
        ends.append(len(tokens) - 1)
    return sequence.run(tokens, keep=ends).logits


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("architecture", ["llama", "gemma3", "gpt2"])
@pytest.mark.parametrize("prefix_length", [0, 1, 3])
def test_packed_prompts_match_each_prompt_alone(tiny_model_factory, architecture, attention, prefix_length):
    model = tiny_model_factory(architecture)
    model.model.config._attn_implementation = attention
    try:
        logits = packed_last_logits(model, PROMPTS, prefix_length)
        for row, ids in enumerate(PROMPTS):
            assert torch.allclose(logits[row], alone(model, ids), atol=1e-4), (architecture, attention, row)
    finally:
        model.model.config._attn_implementation = "sdpa"


def test_the_sliding_window_counts_positions_not_cache_slots(tiny_model_factory):
    # Gemma 3's tiny model slides over 4 positions; a packed cache puts other contexts' tokens between a
    # token and its own earlier ones, which a window over cache slots would wrongly cut off.
    model = tiny_model_factory("gemma3")
    assert has_sliding_window(model)
    long_prompts = [list(range(10, 22)), list(range(30, 41)), list(range(50, 63))]
    logits = packed_last_logits(model, long_prompts, 0)
    for row, ids in enumerate(long_prompts):
        assert torch.allclose(logits[row], alone(model, ids), atol=1e-4), row


def test_later_passes_continue_each_context(tiny_llama):
    # Two contexts generate a token each per pass; each must see only its own history.
    sequence = PackedSequence(tiny_llama)
    first, second = sequence.new_context(), sequence.new_context()
    sequence.run([Token(first, t, i) for i, t in enumerate(PROMPTS[0])] + [Token(second, t, i) for i, t in enumerate(PROMPTS[1])])
    step = sequence.run([Token(first, 60, len(PROMPTS[0])), Token(second, 61, len(PROMPTS[1]))], keep=[0, 1])
    assert torch.allclose(step.logits[0], alone(tiny_llama, PROMPTS[0] + [60]), atol=1e-4)
    assert torch.allclose(step.logits[1], alone(tiny_llama, PROMPTS[1] + [61]), atol=1e-4)


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_dropping_unused_slots_leaves_what_the_others_see(tiny_model_factory, architecture):
    # Three contexts; the second one's tokens are dropped; a child context of the third that sees its
    # prompt through an inherited range, and the first context itself, must go on as if nothing was dropped.
    model = tiny_model_factory(architecture)
    sequence = PackedSequence(model)
    contexts = [sequence.new_context() for _ in PROMPTS]
    tokens = [Token(context, t, i) for context, ids in zip(contexts, PROMPTS) for i, t in enumerate(ids)]
    slots = sequence.run(tokens).slots
    starts = [0, len(PROMPTS[0]), len(PROMPTS[0]) + len(PROMPTS[1])]
    third = (slots[starts[2]], slots[-1] + 1)
    child = sequence.new_context([third])
    kept = [s for s in range(sequence.length) if not starts[1] <= s < starts[2]]
    new_index = sequence.keep_only(kept)
    assert sequence.length == len(kept) == sequence.cache.layers[0].keys.shape[-2]
    assert [new_index[s] for s in kept] == list(range(len(kept)))
    assert all(new_index[s] == -1 for s in range(starts[1], starts[2]))
    step = sequence.run([Token(contexts[0], 60, len(PROMPTS[0])), Token(child, 61, len(PROMPTS[2]))], keep=[0, 1])
    assert torch.allclose(step.logits[0], alone(model, PROMPTS[0] + [60]), atol=1e-4)
    assert torch.allclose(step.logits[1], alone(model, PROMPTS[2] + [61]), atol=1e-4)


def test_chunked_attention_layers_see_only_their_chunk_of_positions(tiny_tokenizer):
    # The 52nd pass: Llama 4's chunked layers got the full mask in a packed pass (2.45 off in the logits with a chunk
    # of 18 positions); released models chunk by 8,192, here by 4 so that each prompt spans chunks.
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    config = tf.Llama4TextConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, intermediate_size_mlp=64,
                                 num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                 attention_chunk_size=4, num_local_experts=2, num_experts_per_tok=1, no_rope_layers=[1, 1, 1, 0],
                                 interleave_moe_layer_step=2, max_position_embeddings=256, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    model = LanguageModel(tf.Llama4ForCausalLM(config).eval(), tiny_tokenizer, name="tiny-llama4")
    assert "chunked_attention" in model.config.layer_types
    long_prompts = [list(range(10, 22)), list(range(30, 41)), list(range(50, 63))]
    for prefix_length in (0, 3):
        logits = packed_last_logits(model, [[5, 9, 14, *ids] for ids in long_prompts], prefix_length)
        for row, ids in enumerate(long_prompts):
            assert torch.allclose(logits[row], alone(model, [5, 9, 14, *ids]), atol=1e-4), (prefix_length, row)


@pytest.mark.parametrize("architecture", ["llama", "gemma3", "gpt2"])
def test_a_model_whose_packed_passes_keep_prompts_apart_is_taken(tiny_model_factory, architecture):
    refuse_models_packing_changes(tiny_model_factory(architecture))


def test_a_model_with_a_layer_that_carries_state_along_the_sequence_is_refused_at_load(tiny_model_factory):
    # The 53rd pass: hybrid models whose layers are named otherwise (Inkling's short convolutions, MiniMax's lightning
    # attention, Bailing's delta attention) loaded, then every fact failed with a traceback; a state that ran on from
    # one packed prompt into the next without failing would change verdicts silently. A running sum over the sequence
    # after the first block, as a recurrent layer's state, under no recurrent-sounding name:
    model = tiny_model_factory("llama")
    model.layout.blocks[0].register_forward_hook(lambda module, args, output: output + 0.1 * output.cumsum(dim=1))
    with pytest.raises(ModelLayoutError, match=r"cannot be checked: the second of two prompts packed into one pass changes by "
                                               r"up to .*some layer of this model is not attention"):
        refuse_models_packing_changes(model)


def test_a_window_taken_from_cache_slots_is_refused_at_load(tiny_tokenizer):
    # The 54th pass: GPT-Neo's local layers apply their window (256 tokens) by cache slot, outside the attention mask:
    # a context continuing a prefix more slots behind it than the window lost it, and verdicts changed silently; the
    # probe of two prompts side by side could not see it. Its config names the window; a window of other names is found
    # by a context continuing the first probe prompt behind the second (as prompts continue the shared prefix).
    import transformers as tf

    from factcheck.model import packing
    from factcheck.model.language_model import LanguageModel

    config = tf.GPTNeoConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, num_layers=2, num_heads=4,
                             attention_types=[[["global", "local"], 1]], window_size=4, max_position_embeddings=256,
                             bos_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    model = LanguageModel(tf.GPTNeoForCausalLM(config).eval(), tiny_tokenizer, name="tiny-gpt-neo")
    with pytest.raises(ModelLayoutError, match=r"its local attention layers apply their window \(4 tokens\) by cache slot"):
        refuse_models_packing_changes(model)
    original = packing._window_by_cache_slot
    packing._window_by_cache_slot = lambda model: None
    try:
        with pytest.raises(ModelLayoutError, match=r"the packed contexts differ from each run alone by up to"):
            refuse_models_packing_changes(model)
    finally:
        packing._window_by_cache_slot = original


def test_a_packed_sequence_stops_where_a_layer_would_read_its_slots_as_positions(tiny_tokenizer):
    # The 54th pass: Llama 4's layers without RoPE scale their queries by the cache slot's index from `floor_scale` on:
    # a packed context past it was scored unlike its run alone (2.3% off with floor_scale 100).
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    config = tf.Llama4TextConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, intermediate_size_mlp=64,
                                 num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                 attention_chunk_size=64, num_local_experts=2, num_experts_per_tok=1, no_rope_layers=[1, 1, 1, 0],
                                 interleave_moe_layer_step=2, floor_scale=20, max_position_embeddings=256,
                                 bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    model = LanguageModel(tf.Llama4ForCausalLM(config).eval(), tiny_tokenizer, name="tiny-llama4")
    sequence = PackedSequence(model)
    context = sequence.new_context()
    sequence.run([Token(context, 10 + i, i) for i in range(15)])
    with pytest.raises(ModelLayoutError, match=r"would reach cache slot 20, past the 19 below which its attention temperature"):
        sequence.run([Token(sequence.new_context(), 10 + i, i) for i in range(5)])


def test_half_precision_overflow_is_left_to_the_say_checks_message(tiny_model_factory):
    # The 54th pass: a model whose float16 logits overflow was refused at load as "some layer of this model is not
    # attention" (an infinite difference); the say-check's message names the overflow and the dtype to use.
    model = tiny_model_factory("llama", seed=3)
    model.model.to(torch.float16)
    with torch.no_grad():
        model.model.lm_head.weight.mul_(3e4)
    refuse_models_packing_changes(model)
