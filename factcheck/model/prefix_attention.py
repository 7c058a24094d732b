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
    cannot be routed into them (or take something the route does not apply)."""

    def __init__(self, architecture: str, layers_used: int, num_layers: int):
        super().__init__(
            f"{architecture}: {layers_used} of {num_layers} attention layers went through transformers' "
            "AttentionInterface and cache; the suffix-only LRE estimator needs all of them"
        )

    @classmethod
    def with_reason(cls, message: str) -> UnroutedAttention:
        error = cls.__new__(cls)
        FactcheckError.__init__(error, message)
        return error


@dataclass
class PrefixKeys:
    """Keys and values of one prompt's prefix per layer index, taken once from a full pass and only ever read."""

    keys: dict[int, torch.Tensor] = field(default_factory=dict)  # layer index -> (1, kv_heads, length, head_dim)
    values: dict[int, torch.Tensor] = field(default_factory=dict)


@dataclass
class PrefixBatch:
    """The prefixes of the prompts that run as one batch, one per row, zero-padded to the longest: row b holds
    `lengths[b]` slots. A single prompt's prefix is a batch of one."""

    keys: dict[int, torch.Tensor]  # layer index -> (rows, kv_heads, longest, head_dim)
    values: dict[int, torch.Tensor]
    lengths: torch.Tensor  # (rows,)
    layers_seen: set[int] = field(default_factory=set)  # attention layers that took the prefix

    @classmethod
    def of(cls, prefixes: list[PrefixKeys]) -> PrefixBatch:
        layers = list(prefixes[0].keys)
        lengths = torch.tensor([p.keys[layers[0]].shape[2] for p in prefixes], device=prefixes[0].keys[layers[0]].device)
        longest = int(lengths.max())

        def padded(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat([F.pad(t, (0, 0, 0, longest - t.shape[2])) for t in tensors])

        return cls(
            keys={layer: padded([p.keys[layer] for p in prefixes]) for layer in layers},
            values={layer: padded([p.values[layer] for p in prefixes]) for layer in layers},
            lengths=lengths,
        )


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
    """Causal attention of the current tokens over [their row's recorded prefix, themselves].

    query (batch, heads, T, head_dim); key/value (batch, kv_heads, T, head_dim)
    for the T current tokens only, which in row b sit at absolute positions
    lengths[b] ... lengths[b] + T - 1; a row's padded prefix slots are never
    seen, and current tokens past a row's own end (right padding) come after
    its real ones, so causality keeps them unseen. HF's own mask is ignored:
    it was built for T tokens without a past. Matches HF's eager attention:
    scores in float32, optional soft-capping, sliding window (a key is visible
    when query_pos - key_pos < window).
    """
    if (sinks := kwargs.get("s_aux", kwargs.get("sinks"))) is not None:
        # gpt-oss's attention sinks (a learned column of the softmax): not applied here, the LRE would be estimated on
        # a function several percent off the model's own.
        raise UnroutedAttention.with_reason(f"{type(module).__name__} takes attention sinks ({tuple(sinks.shape)}), which the "
                                            "suffix-only LRE estimator does not apply; run with --factcheck-lre=off")
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
    one_prefix = past_keys.shape[0] == 1  # shared by every row (and every vmapped entry): the cheaper product

    # Grouped-query attention without repeating the keys: fold each group's query heads into the rows.
    grouped = query.reshape(batch, kv_heads, groups * length, head_dim).float()
    prefix_scores = per_head_product(grouped, past_keys[0].float()) if one_prefix else grouped @ past_keys.float().transpose(-1, -2)
    scores = torch.cat([prefix_scores, grouped @ key.float().transpose(-1, -2)], dim=-1) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    device = query.device
    offsets = torch.arange(length, device=device).repeat(groups)  # each folded row's token within the current ones
    query_pos = prefix.lengths[:, None] + offsets[None, :]  # (prefix rows, folded rows)
    slot = torch.arange(longest, device=device)
    sees_prefix = slot[None, None, :] < prefix.lengths[:, None, None]
    sees_self = torch.arange(length, device=device)[None, :] <= offsets[:, None]
    if sliding_window is not None:
        sees_prefix = sees_prefix & (slot[None, None, :] > query_pos[:, :, None] - sliding_window)
        sees_self = sees_self & (torch.arange(length, device=device)[None, :] > offsets[:, None] - sliding_window)
    rows = prefix.lengths.shape[0]
    visible = torch.cat([sees_prefix.expand(rows, groups * length, longest), sees_self.expand(rows, -1, -1)], dim=-1)
    weights = torch.softmax(scores.masked_fill(~visible[:, None], float("-inf")), dim=-1).to(value.dtype)
    prefix_part = weights[..., :longest]
    if one_prefix:
        prefix_output = per_head_product(prefix_part, past_values[0].transpose(-1, -2))
    else:
        prefix_output = prefix_part @ past_values
    output = prefix_output + weights[..., longest:] @ value
    output = output.reshape(batch, heads, length, head_dim).transpose(1, 2).contiguous()
    return output, None


@contextlib.contextmanager
def prefix_attention(model: nn.Module, prefix: PrefixBatch) -> Iterator[None]:
    """Every attention module of `model` attends, row by row, over that row's prefix and the current tokens."""
    with route_attention(model, functools.partial(_prefix_attention, prefix)):
        yield
