"""Tiled attention for packed passes: the same outputs as dense attention, on fewer key slots."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from factcheck.model import packed_attention
from factcheck.model.packed_attention import plan_tiles, tiled_attention
from factcheck.model.packing import PackedSequence, Token

from test_packing import alone


def packed_visibility(prefix: int, lengths: list[int]) -> torch.Tensor:
    """A prompt pass's mask: every context sees the prefix and itself causally; the prefix sees itself."""
    total = prefix + sum(lengths)
    visible = torch.zeros((total, total), dtype=torch.bool)
    visible[:prefix, :prefix] = torch.ones((prefix, prefix)).tril().bool()
    start = prefix
    for length in lengths:
        visible[start : start + length, :prefix] = True
        visible[start : start + length, start : start + length] = torch.ones((length, length)).tril().bool()
        start += length
    return visible


def dense(query, key, value, visible, groups):
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    output = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=visible[None, None])
    return output.transpose(1, 2)


@pytest.mark.parametrize(
    ("lengths", "width_groups"),
    [([6] * 40, 1), ([3, 40, 5, 5, 2, 60, 7] * 4, 1), ([1] * 400, 1), ([2] * 300 + [120] * 6, 4)],
)
def test_tiled_attention_equals_dense_attention(lengths, width_groups):
    generator = torch.Generator().manual_seed(len(lengths))
    visible = packed_visibility(12, lengths)
    kv_heads, groups, head_dim = 2, 3, 8
    slots = visible.shape[0]
    query = torch.randn((1, kv_heads * groups, slots, head_dim), generator=generator)
    key = torch.randn((1, kv_heads, slots, head_dim), generator=generator)
    value = torch.randn((1, kv_heads, slots, head_dim), generator=generator)
    module = nn.Module()
    module.num_key_value_groups = groups

    plan = plan_tiles(visible)
    assert plan is not None
    assert len(plan.groups) == width_groups  # a few long contexts' tiles run apart from the short ones'
    gathered = sum(group.mask.numel() for group in plan.groups)
    assert gathered < 0.7 * visible.numel()  # the point of tiling: fewer products than dense
    tiled = tiled_attention(module, query, key, value, plan, scaling=None)
    assert torch.allclose(tiled, dense(query, key, value, visible, groups), atol=1e-5)


def test_values_narrower_than_the_queries_are_attended_at_their_own_size():
    # The 55th pass: DeepSeek-V2/V3's multi-head latent attention has value heads narrower than its query and key heads
    # (128 against 192): the tiled output was sized by the queries', and every fact failed with a shape error.
    generator = torch.Generator().manual_seed(7)
    visible = packed_visibility(12, [6] * 40)
    kv_heads, groups, head_dim, value_dim = 2, 3, 12, 8
    slots = visible.shape[0]
    query = torch.randn((1, kv_heads * groups, slots, head_dim), generator=generator)
    key = torch.randn((1, kv_heads, slots, head_dim), generator=generator)
    value = torch.randn((1, kv_heads, slots, value_dim), generator=generator)
    tiled = tiled_attention(nn.Module(), query, key, value, plan_tiles(visible), scaling=None)
    assert tiled.shape == (1, slots, kv_heads * groups, value_dim)
    assert torch.allclose(tiled, dense(query, key, value, visible, groups), atol=1e-5)


def test_queries_that_see_everything_run_dense():
    assert plan_tiles(torch.ones((64, 64), dtype=torch.bool).tril()) is None


def test_a_query_pass_behind_a_cache_is_tiled_by_its_own_slots():
    # Generation step: 200 contexts, one new token each, behind a cache of 12 prefix + 200 x 8 prompt slots.
    contexts = 200
    prompts = packed_visibility(12, [8] * contexts)
    step = torch.zeros((contexts, prompts.shape[1] + contexts), dtype=torch.bool)
    for row in range(contexts):
        step[row, :12] = True
        step[row, 12 + 8 * row : 20 + 8 * row] = True
        step[row, prompts.shape[1] + row] = True
    plan = plan_tiles(step)
    assert plan is not None
    covered = torch.zeros_like(step)
    for group in plan.groups:
        columns = group.columns.view(len(group.tiles), -1)
        for number, tile in enumerate(group.tiles.tolist()):
            for within, row in enumerate(range(tile * plan.size, min((tile + 1) * plan.size, contexts))):
                covered[row, columns[number]] |= group.mask[number, 0, within]
    assert torch.equal(covered, step)  # every visible slot is gathered, and nothing else is seen


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_a_packed_pass_of_many_prompts_is_tiled_and_matches_each_prompt_alone(tiny_model_factory, architecture, monkeypatch):
    model = tiny_model_factory(architecture)
    calls = []
    original = packed_attention.tiled_attention
    monkeypatch.setattr(packed_attention, "tiled_attention", lambda *args: calls.append(1) or original(*args))
    prompts = [[5, 9, 14, *[(7 * row + j) % 90 + 3 for j in range(row % 7 + 6)]] for row in range(64)]
    sequence = PackedSequence(model)
    prefix = sequence.new_context()
    tokens = [Token(prefix, t, i) for i, t in enumerate(prompts[0][:3])]
    ends = []
    for ids in prompts:
        context = sequence.new_context([(0, 3)])
        tokens += [Token(context, t, 3 + j) for j, t in enumerate(ids[3:])]
        ends.append(len(tokens) - 1)
    logits = sequence.run(tokens, keep=ends).logits
    assert calls, "the pass ran dense attention"
    for row, ids in enumerate(prompts):
        assert torch.allclose(logits[row], alone(model, ids), atol=1e-4), row
