"""Attention of a short suffix over a prompt prefix recorded earlier.

The LRE's Jacobians differentiate only the tokens from the subject on; the
prompt before the subject is the same in every such pass. Its keys and values
are taken once from a full pass and kept as plain tensors that nothing ever
modifies; each suffix pass attends to [prefix, itself] through this function,
routed in by `factcheck.model.hooks.route_attention`, with no transformers
cache object that a pass could mutate.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from factcheck.errors import FactcheckError
from factcheck.model.hooks import route_attention


class UnroutedAttention(FactcheckError, RuntimeError):
    """Some attention layers of the model do not go through transformers' AttentionInterface, so a prefix
    cannot be routed into them."""

    def __init__(self, architecture: str, layers_used: int, num_layers: int):
        super().__init__(
            f"{architecture}: {layers_used} of {num_layers} attention layers went through transformers' "
            "AttentionInterface and cache; the suffix-only LRE estimator needs all of them"
        )


@dataclass
class PrefixKeys:
    """Keys and values of a prompt prefix per layer index, taken once from a full pass and only ever read."""

    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    values: dict[int, torch.Tensor] = field(default_factory=dict)
    layers_seen: set[int] = field(default_factory=set)  # attention layers that took the prefix


def per_head_product(x: torch.Tensor, constants: torch.Tensor) -> torch.Tensor:
    """x (batch, heads, rows, k) times each head's constants (heads, n, k) transposed: (batch, heads, rows, n).

    One F.linear with a block-diagonal weight rather than a batched matmul:
    under vmap (one Jacobian row per vmapped entry) matmul and its backward
    copy the prefix's keys and values once for every Jacobian row, while
    linear folds the vmapped entries into its rows. The zero blocks cost
    little next to the copies they save.
    """
    batch, heads, rows, k = x.shape
    n = constants.shape[1]
    weight = torch.block_diag(*constants.unbind(0))  # (heads * n, heads * k)
    flat = x.permute(0, 2, 1, 3).reshape(batch, rows, heads * k)
    return F.linear(flat, weight).reshape(batch, rows, heads, n).permute(0, 2, 1, 3)


def _prefix_attention(
    prefix: PrefixKeys,
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    sliding_window: int | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Causal attention of the current tokens over [recorded prefix, themselves].

    query (batch, heads, T, head_dim); key/value (batch, kv_heads, T, head_dim)
    for the T current tokens only, which sit at absolute positions
    len(prefix) ... len(prefix) + T - 1. HF's own mask is ignored: it was
    built for T tokens without a past (prompts here are single and unpadded).
    Matches HF's eager attention: scores in float32, optional soft-capping,
    sliding window (a key is visible when query_pos - key_pos < window).
    """
    batch, heads, length, head_dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    if scaling is None:
        scaling = head_dim**-0.5
    layer = getattr(module, "layer_idx", None)
    if layer not in prefix.keys:
        raise FactcheckError(f"no prefix keys for attention module {type(module).__name__} (layer_idx {layer})")
    prefix.layers_seen.add(layer)
    past_keys, past_values = prefix.keys[layer], prefix.values[layer]
    start = past_keys.shape[2]  # the current tokens follow the past ones

    # Grouped-query attention without repeating the keys: fold each group's query heads into the rows.
    grouped = query.reshape(batch, kv_heads, groups * length, head_dim).float()
    scores = torch.cat([per_head_product(grouped, past_keys[0].float()), grouped @ key.float().transpose(-1, -2)], dim=-1) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    query_pos = torch.arange(length, device=query.device).repeat(groups) + start
    key_pos = torch.arange(start + length, device=query.device)
    visible = key_pos[None, :] <= query_pos[:, None]
    if sliding_window is not None:
        visible = visible & (key_pos[None, :] > query_pos[:, None] - sliding_window)
    weights = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1).to(value.dtype)
    output = per_head_product(weights[..., :start], past_values[0].transpose(-1, -2)) + weights[..., start:] @ value
    output = output.reshape(batch, heads, length, head_dim).transpose(1, 2).contiguous()
    return output, None


@contextlib.contextmanager
def prefix_attention(model: nn.Module, prefix: PrefixKeys) -> Iterator[None]:
    """Every attention module of `model` attends over `prefix` and the current tokens during passes inside the `with`."""
    with route_attention(model, functools.partial(_prefix_attention, prefix)):
        yield


@dataclass
class PrefixBatch:
    """Several prompts' prefixes, one per batch row, zero-padded to the longest: row b holds `lengths[b]` slots."""

    keys: dict[int, torch.Tensor]  # layer index -> (rows, kv_heads, longest prefix, head_dim)
    values: dict[int, torch.Tensor]
    lengths: torch.Tensor  # (rows,)
    layers_seen: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, prefixes: list[PrefixKeys]) -> PrefixBatch:
        lengths = torch.tensor([p.keys[next(iter(p.keys))].shape[2] for p in prefixes])
        longest = int(lengths.max())

        def padded(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat([F.pad(t, (0, 0, 0, longest - t.shape[2])) for t in tensors])

        layers = prefixes[0].keys.keys()
        return cls(
            keys={layer: padded([p.keys[layer] for p in prefixes]) for layer in layers},
            values={layer: padded([p.values[layer] for p in prefixes]) for layer in layers},
            lengths=lengths.to(prefixes[0].keys[next(iter(layers))].device),
        )


def _batched_prefix_attention(
    prefix: PrefixBatch,
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    sliding_window: int | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """`_prefix_attention` with one prompt per batch row, each after its own prefix: row b's current tokens sit
    at positions lengths[b] ... lengths[b] + T - 1, and its padded prefix slots are never seen. Current
    tokens past a row's own end (right padding) come after its real ones, so causality keeps them unseen."""
    batch, heads, length, head_dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    if scaling is None:
        scaling = head_dim**-0.5
    layer = getattr(module, "layer_idx", None)
    if layer not in prefix.keys:
        raise FactcheckError(f"no prefix keys for attention module {type(module).__name__} (layer_idx {layer})")
    prefix.layers_seen.add(layer)
    past_keys, past_values = prefix.keys[layer], prefix.values[layer]
    longest = past_keys.shape[2]
    grouped = query.reshape(batch, kv_heads, groups * length, head_dim).float()
    scores = torch.cat([grouped @ past_keys.float().transpose(-1, -2), grouped @ key.float().transpose(-1, -2)], dim=-1) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    device = query.device
    offsets = torch.arange(length, device=device).repeat(groups)  # each folded row's token within the suffix
    query_pos = prefix.lengths[:, None] + offsets[None, :]  # (batch, rows)
    slot = torch.arange(longest, device=device)
    sees_prefix = slot[None, None, :] < prefix.lengths[:, None, None]  # (batch, 1, longest)
    sees_self = torch.arange(length, device=device)[None, :] <= offsets[:, None]  # (rows, T)
    if sliding_window is not None:
        sees_prefix = sees_prefix & (slot[None, None, :] > query_pos[:, :, None] - sliding_window)
        sees_self = sees_self & (torch.arange(length, device=device)[None, :] > offsets[:, None] - sliding_window)
    visible = torch.cat([sees_prefix.expand(batch, groups * length, longest), sees_self.expand(batch, -1, -1)], dim=-1)
    weights = torch.softmax(scores.masked_fill(~visible[:, None], float("-inf")), dim=-1).to(value.dtype)
    output = weights[..., :longest] @ past_values + weights[..., longest:] @ value
    output = output.reshape(batch, heads, length, head_dim).transpose(1, 2).contiguous()
    return output, None


@contextlib.contextmanager
def batched_prefix_attention(model: nn.Module, prefix: PrefixBatch) -> Iterator[None]:
    """Every attention module of `model` attends, row by row, over that row's prefix and the current tokens."""
    with route_attention(model, functools.partial(_batched_prefix_attention, prefix)):
        yield
