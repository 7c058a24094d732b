"""Attention for packed passes that skips the key slots a group of queries cannot see.

A packed pass (factcheck.model.packing) holds many contexts in one sequence; its
mask lets each token see a shared prefix and its own context, a small part of
the cache. Dense attention still multiplies every query with every slot, and
on a CPU that is a fifth of a prompt pass and more of a generation step.
Here the queries go in tiles of consecutive tokens (a pass's tokens come
context by context); each tile gathers only the slots some query of it sees,
and tiles of about the same width run as one batched SDPA call. The softmax then runs over the
same visible keys as before, so results equal dense attention up to float
rounding.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from factcheck.model.hooks import attention_configs, route_attention

TILE_SIZES = (4, 8, 16, 32, 64, 128)
# A tile costs a little beyond its products (gathering its keys, a small SDPA problem): counted as this
# many extra queries when choosing the tile size.
TILE_OVERHEAD_QUERIES = 16
# Tiles whose widths differ by more than this ratio run in separate SDPA calls, each padded to its widest.
WIDTH_RATIO = 1.5
# One more SDPA call (and its gathers) per layer, counted in query-slot products.
GROUP_OVERHEAD = 20_000
# Gathered keys must save at least this share of the dense products, else dense attention runs.
MIN_SAVING = 0.3


@dataclass(frozen=True)
class TileGroup:
    """Tiles of about the same width: which queries they hold, which slots they gather, the mask within."""

    tiles: torch.Tensor  # (tiles,) tile numbers: queries tile * size .. (tile + 1) * size - 1
    columns: torch.Tensor  # (tiles * width,) slot indexes, each tile's `width` slots in a row
    mask: torch.Tensor  # (tiles, 1, size, width) bool


@dataclass(frozen=True)
class TilePlan:
    size: int  # queries per tile
    groups: list[TileGroup]


def plan_tiles(visible: torch.Tensor) -> TilePlan | None:
    """The cheapest tiling of a (queries, slots) visibility mask; None when dense attention is as cheap."""
    queries, slots = visible.shape
    best: tuple[float, int, list[list[int]], torch.Tensor] | None = None
    for size in TILE_SIZES:
        count = -(-queries // size)
        seen = _pad_rows(visible, count * size).view(count, size, slots).any(1)
        widths = seen.sum(1).tolist()
        buckets = _width_buckets(widths)
        cost = sum(len(b) * (size + TILE_OVERHEAD_QUERIES) * max(widths[t] for t in b) + GROUP_OVERHEAD for b in buckets)
        if best is None or cost < best[0]:
            best = (cost, size, buckets, seen)
        if size >= queries:
            break
    assert best is not None
    cost, size, buckets, seen = best
    if cost > (1 - MIN_SAVING) * queries * slots:
        return None
    count = seen.shape[0]
    grouped = _pad_rows(visible, count * size).view(count, size, slots)
    # Each tile's seen slots first, in slot order (a stable sort of "not seen"); the rest pads the tile's group.
    order = torch.sort((~seen).to(torch.uint8), dim=1, stable=True).indices
    groups = []
    for bucket in buckets:
        tiles = torch.tensor(bucket, dtype=torch.long, device=visible.device)
        width = int(seen[tiles].sum(1).max())
        columns = order[tiles, :width]
        mask = grouped[tiles].gather(2, columns[:, None, :].expand(len(bucket), size, width))
        groups.append(TileGroup(tiles=tiles, columns=columns.reshape(-1), mask=mask[:, None]))
    return TilePlan(size=size, groups=groups)


def _width_buckets(widths: list[int]) -> list[list[int]]:
    """Tiles grouped so that no group's widest tile is more than WIDTH_RATIO times its narrowest."""
    buckets: list[list[int]] = []
    first_width = 0
    for tile in sorted(range(len(widths)), key=widths.__getitem__):
        if not buckets or widths[tile] > WIDTH_RATIO * first_width:
            buckets.append([])
            first_width = widths[tile]
        buckets[-1].append(tile)
    return buckets


def _pad_rows(visible: torch.Tensor, rows: int) -> torch.Tensor:
    if rows == visible.shape[0]:
        return visible
    padding = torch.zeros((rows - visible.shape[0], visible.shape[1]), dtype=visible.dtype, device=visible.device)
    return torch.cat([visible, padding])


def tiled_attention(module: nn.Module, query, key, value, plan: TilePlan, scaling: float | None) -> torch.Tensor:
    """Attention of (1, heads, q, d) queries over the (1, kv_heads, slots, d) cache along `plan`: (1, q, heads, dv),
    dv the values' head size (DeepSeek's multi-head latent attention: narrower than the queries' and keys')."""
    _, heads, queries, head_dim = query.shape
    kv_heads, value_dim = key.shape[1], value.shape[-1]
    heads_per_key = heads // kv_heads
    size = plan.size
    count = -(-queries // size)
    # (1, heads, q, d) -> (tiles, kv_heads, head group * size, d): a key head's query heads become rows,
    # so that keys are gathered once per key head.
    padded = torch.nn.functional.pad(query[0], (0, 0, 0, count * size - queries))
    tiled_query = padded.view(kv_heads, heads_per_key, count, size, head_dim).permute(2, 0, 1, 3, 4)
    output = torch.empty((count, kv_heads, heads_per_key, size, value_dim), dtype=query.dtype, device=query.device)
    for group in plan.groups:
        tiles, width = len(group.tiles), group.mask.shape[-1]
        group_query = tiled_query.index_select(0, group.tiles).reshape(tiles, kv_heads, heads_per_key * size, head_dim)
        mask = group.mask.repeat(1, 1, heads_per_key, 1)
        result = torch.nn.functional.scaled_dot_product_attention(
            group_query, _gather(key, group.columns, tiles, width), _gather(value, group.columns, tiles, width),
            attn_mask=mask, scale=scaling,
        )
        output[group.tiles] = result.view(tiles, kv_heads, heads_per_key, size, value_dim)
    # (tiles, kv_heads, head group, size, dv) -> (1, q, heads, dv)
    output = output.permute(0, 3, 1, 2, 4).reshape(count * size, heads, value_dim)[:queries]
    return output[None].contiguous()


def _gather(states: torch.Tensor, columns: torch.Tensor, tiles: int, width: int) -> torch.Tensor:
    # (1, kv_heads, slots, d) -> (tiles, kv_heads, width, d)
    gathered = states[0].index_select(1, columns)
    return gathered.view(states.shape[1], tiles, width, states.shape[-1]).transpose(0, 1)


class _TiledRoute:
    """Attention for one packed pass: tiled over the masks it has a plan for (by the mask tensor's identity, as
    the model hands the same mask object to every layer), SDPA as usual for anything else."""

    def __init__(self, plans: dict[int, tuple[torch.Tensor, TilePlan]]):
        self.plans = plans

    def __call__(self, module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        entry = self.plans.get(id(attention_mask)) if attention_mask is not None else None
        if entry is None or entry[0] is not attention_mask or kwargs.get("softcap") is not None or query.shape[0] != 1:
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
        return tiled_attention(module, query, key, value, entry[1], scaling), None


@contextlib.contextmanager
def tiled_masks(model: nn.Module, masks: list[torch.Tensor]) -> Iterator[None]:
    """While active, SDPA attention over each of `masks` ((1, 1, q, slots) bool) runs tiled where that saves work.

    Models on another attention implementation (eager) run as they are."""
    if any(config._attn_implementation != "sdpa" for config in attention_configs(model)):
        yield
        return
    plans = {}
    for mask in masks:
        plan = plan_tiles(mask[0, 0])
        if plan is not None:
            plans[id(mask)] = (mask, plan)
    if not plans:
        yield
        return
    with route_attention(model, _TiledRoute(plans)):
        yield
