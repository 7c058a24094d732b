"""Many prompts in one token sequence: a mask, not padding or cache copies, keeps them apart.

A `PackedSequence` is a batch of one whose key/value cache holds the tokens of
many contexts (a shared prefix, each fact's prompt, its generated tokens, each
candidate answer being scored). Every token carries its context and its own
position id; a token attends to the slot ranges its context inherits (say,
the first k prefix tokens) and to its own context's earlier slots. The result
equals running each context alone, as on a CPU a pass costs its real tokens
plus one read of the weights: no padding and no per-row copies of the prefix.

Sliding-window layers (Gemma 3, Mistral) get their own mask: a key is visible
only within the window counted in position ids, as in an unpacked run; so do
chunked layers (Llama 4): a key is visible only within its chunk of positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import DynamicCache

from factcheck.model.language_model import LanguageModel, ModelLayoutError
from factcheck.model.packed_attention import tiled_masks

SlotRange = tuple[int, int]  # [start, end) of cache slots
# New tokens per packed pass at most: a pass's mask grows with its square (and so does its attention
# where tiling does not pay), the fixed cost of a pass (one read of the weights) with the number of passes.
PASS_TOKENS = 1024


@dataclass(frozen=True)
class Token:
    context: int
    token_id: int
    position: int


@dataclass
class PassResult:
    slots: list[int]  # the cache slot of each token of the pass, in order
    logits: torch.Tensor | None  # (number of kept tokens, vocab), in the order of `keep`
    captured: dict[int, torch.Tensor]  # layer -> (tokens of the pass, hidden)


def _text_config(model: LanguageModel):
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def sliding_window_layout(model: LanguageModel) -> tuple[int | None, list[str] | None]:
    """The sliding window (None: every layer attends to everything) and the per-layer attention kinds."""
    config = _text_config(model)
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        return (window if any("sliding" in str(kind) for kind in layer_types) else None), list(layer_types)
    if window is None or getattr(config, "use_sliding_window", True) is False:
        return None, None
    return window, None


# Two short prompts; a state carried over from the first shows most at the second's first tokens.
_PACKING_PROBES = ("The capital city of France is Paris.", "Water boils at one hundred degrees.")


def refuse_models_packing_changes(model: LanguageModel) -> None:
    """Refuse, at load, a model whose packed passes do not keep prompts apart: a layer that is not attention (a short
    convolution, a linear-attention or recurrent state) carries one prompt into the next where no mask reaches, and a
    window or scale taken from cache slots rather than positions cuts a context off from the prefix it inherits, so
    every verdict would be silently wrong, or the pass fails with a traceback per fact. Checked on probe prompts,
    whatever the layer is named: the second prompt's logits must not change when the first one's tokens do (but for
    rounding), and each context, also one continuing the first prompt after the second, must
    give what it gives alone (half precision rounds each logit to about 3 significant digits, so there only a gross
    difference tells)."""
    if why := _window_by_cache_slot(model):
        raise ModelLayoutError(f"model {model.name!r} ({type(model.model).__name__}) cannot be checked: {why}; factcheck "
                               "packs many prompts into one pass, each inheriting a shared prefix from slots far behind it")
    (first, second), _ = model.tokenize([model.bos_text + text for text in _PACKING_PROBES])
    reordered = first[:1] + first[1:][::-1]  # the same number of tokens, in another order
    with torch.no_grad():
        alone = torch.cat([model.model(input_ids=torch.tensor([prompt], device=model.device)).logits[0, -len(own):].float()
                           for prompt, own in ((first, first), (second, second), (first + second, second))])
    if not torch.isfinite(alone).all():
        return  # half precision overflowing: the say-check names that, and the dtype to use, at the first relation
    try:
        after_first = _packed_logits(model, first, second)
        after_reordered = _packed_logits(model, reordered, second)
    except ModelLayoutError:
        raise
    except Exception as error:  # noqa: BLE001 - a cache or mask the model's own layers do not take
        why = f"a packed pass fails ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"[:300]
    else:
        second_rows = slice(len(first), len(first) + len(second))
        carried = _worst_relative_difference(after_first[second_rows], after_reordered[second_rows])
        off = _worst_relative_difference(after_first, alone)
        # A leaked state moves the second prompt's logits by far more than rounding, which can differ in half
        # precision where another expert kernel sums in another order (a mixture of experts on a GPU).
        full_precision = model.dtype == torch.float32
        if carried <= (1e-3 if full_precision else 2e-2) and off <= (1e-3 if full_precision else 0.2):
            return
        why = (f"the second of two prompts packed into one pass changes by up to {carried:.1%} with the first one's "
               f"tokens, and the packed contexts differ from each run alone by up to {off:.1%}")
    raise ModelLayoutError(f"model {model.name!r} ({type(model.model).__name__}) cannot be checked: {why}; factcheck "
                           "packs many prompts into one pass, kept apart by attention masks, and some layer of this model "
                           "is not attention (a convolution, or a linear-attention or recurrent state) or takes no such mask")


def _packed_logits(model: LanguageModel, first: Sequence[int], second: Sequence[int]) -> torch.Tensor:
    """The logits at every token of three contexts in one packed pass: `first`, `second`, and `second` again
    continuing `first` from its slots (as a prompt continues the shared prefix), behind the other context's tokens."""
    sequence = PackedSequence(model)
    contexts = [sequence.new_context(), sequence.new_context(), sequence.new_context([(0, len(first))])]
    tokens = [Token(contexts[0], token_id, position) for position, token_id in enumerate(first)]
    tokens += [Token(contexts[1], token_id, position) for position, token_id in enumerate(second)]
    tokens += [Token(contexts[2], token_id, len(first) + position) for position, token_id in enumerate(second)]
    return sequence.run(tokens, keep=range(len(tokens))).logits.float()


def _window_by_cache_slot(model: LanguageModel) -> str | None:
    """GPT-Neo's local layers take their window from cache slots (their own causal bias), not from positions: in a
    packed cache a context more than a window's slots past the prefix it inherits would not see it."""
    config = _text_config(model)
    window = getattr(config, "window_size", None)
    if window and "local" in (getattr(config, "attention_layers", None) or ()):
        return (f"its local attention layers apply their window ({window} tokens) by cache slot, not by position, "
                "outside the attention mask")
    return None


def _worst_relative_difference(logits: torch.Tensor, reference: torch.Tensor) -> float:
    difference = float(((logits - reference).norm(dim=-1) / reference.norm(dim=-1).clamp_min(1e-30)).max())
    return difference if math.isfinite(difference) else math.inf


def _slots_read_as_positions(model: LanguageModel) -> int | None:
    """How many cache slots a packed sequence may hold where a layer reads the slot's index as a position: Llama 4's
    layers without RoPE scale their queries by it from `floor_scale` - 1 on (a context there would be scaled unlike
    its run alone)."""
    config = _text_config(model)
    if getattr(config, "attn_temperature_tuning", False) and isinstance(getattr(config, "floor_scale", None), int):
        return config.floor_scale - 1
    return None


def attention_chunk(model: LanguageModel) -> int | None:
    """The chunk of positions a chunked attention layer sees (Llama 4), where some layer is one."""
    config = _text_config(model)
    if "chunked_attention" not in (getattr(config, "layer_types", None) or ()):
        return None
    return getattr(config, "attention_chunk_size", None)


def has_sliding_window(model: LanguageModel) -> bool:
    """Whether some attention layer sees only a window of recent positions (Gemma 3, Mistral)."""
    return sliding_window_layout(model)[0] is not None


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many first tokens all `sequences` share."""
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for position in range(length):
        token = first[position]
        if any(s[position] != token for s in sequences):
            return position
    return length


def slot_ranges(slots: Sequence[int]) -> list[SlotRange]:
    """Consecutive runs of cache slots as [start, end) ranges."""
    ranges: list[SlotRange] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot:
            ranges[-1] = (ranges[-1][0], slot + 1)
        else:
            ranges.append((slot, slot + 1))
    return ranges


class PackedSequence:
    """A cache of many contexts' tokens and the bookkeeping that keeps each context to its own slots."""

    def __init__(
        self,
        model: LanguageModel,
        prefix_tensors: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        prefix_length: int = 0,
    ):
        """`prefix_tensors`: keys/values of a batch-of-one prefix of `prefix_length` tokens (positions 0..),
        which contexts may inherit as slots [0, k); they are read, never modified."""
        self.model = model
        self.cache = DynamicCache(ddp_cache_data=prefix_tensors) if prefix_tensors else DynamicCache()
        device = model.device
        self._slot_context = torch.full((prefix_length,), -1, dtype=torch.long, device=device)
        self._slot_position = torch.arange(prefix_length, device=device)
        self._inherited: list[list[SlotRange]] = []
        self.window, self.layer_types = sliding_window_layout(model)
        self.chunk = attention_chunk(model)
        self.slot_limit = _slots_read_as_positions(model)

    @property
    def length(self) -> int:
        return int(self._slot_context.shape[0])

    def new_context(self, inherited: Sequence[SlotRange] = ()) -> int:
        """A context whose tokens see the slots in `inherited` and their own context's earlier slots."""
        self._inherited.append([(start, end) for start, end in inherited if end > start])
        return len(self._inherited) - 1

    def keep_only(self, slots: Sequence[int]) -> list[int]:
        """Drop every cache slot not in `slots`: every pass's mask spans the whole cache, seen or not.

        Returns each old slot's new index (-1 where dropped). Contexts keep
        seeing what they saw of the kept slots; a caller must keep every slot
        that a context it still runs would see.
        """
        device = self.model.device
        kept = torch.zeros(self.length, dtype=torch.bool, device=device)
        kept[torch.tensor(sorted(set(slots)), dtype=torch.long, device=device)] = True
        index = kept.nonzero().squeeze(1)
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(-2, index)
            layer.values = layer.values.index_select(-2, index)
        self._slot_context = self._slot_context[index]
        self._slot_position = self._slot_position[index]
        # An inherited range [start, end) becomes the kept slots inside it: [kept before start, kept before end).
        kept_before = [0, *torch.cumsum(kept, 0).tolist()]
        self._inherited = [
            [(kept_before[start], kept_before[end]) for start, end in ranges if kept_before[end] > kept_before[start]]
            for ranges in self._inherited
        ]
        new_index = torch.full((len(kept),), -1, dtype=torch.long)
        new_index[index.cpu()] = torch.arange(len(index))
        return new_index.tolist()

    @torch.no_grad()
    def run(self, tokens: Sequence[Token], keep: Sequence[int] = (), capture_layers: Sequence[int] = ()) -> PassResult:
        """One forward pass appending `tokens` to the cache; logits for the tokens at indexes `keep`."""
        device = self.model.device
        first_slot = self.length
        if self.slot_limit is not None and first_slot + len(tokens) > self.slot_limit:
            raise ModelLayoutError(f"model {self.model.name!r}: a packed pass would reach cache slot {first_slot + len(tokens)}, "
                                   f"past the {self.slot_limit} below which its attention temperature (Llama 4's "
                                   "attn_temperature_tuning), read from cache slots rather than positions, leaves the "
                                   "scores alone: a context there would be scored unlike its run alone, so it is not run")
        query_context = torch.tensor([t.context for t in tokens], dtype=torch.long, device=device)
        query_position = torch.tensor([t.position for t in tokens], dtype=torch.long, device=device)
        self._slot_context = torch.cat([self._slot_context, query_context])
        self._slot_position = torch.cat([self._slot_position, query_position])
        mask = self._mask(query_context, query_position, first_slot)
        keep_index = torch.tensor(list(keep), dtype=torch.long, device=device)
        masks = list(mask.values()) if isinstance(mask, dict) else [mask]
        with self.model.capture_blocks(capture_layers) as captured, tiled_masks(self.model.model, masks):
            output = self.model.model(
                input_ids=torch.tensor([[t.token_id for t in tokens]], device=device),
                attention_mask=mask,
                position_ids=query_position[None, :],
                cache=self.cache,
                use_cache=True,
                logits_to_keep=keep_index if len(keep) else 1,
            )
        logits = output.logits[0] if len(keep) else None
        return PassResult(
            slots=list(range(first_slot, first_slot + len(tokens))),
            logits=logits,
            captured={layer: states[0] for layer, states in captured.items()},
        )

    def _mask(self, query_context: torch.Tensor, query_position: torch.Tensor, first_slot: int):
        """The attention mask in the form the model's attention takes (a dict per layer kind for Gemma 3)."""
        device = query_context.device
        total = self.length
        slots = torch.arange(total, device=device)
        query_slot = first_slot + torch.arange(len(query_context), device=device)
        own = (self._slot_context[None, :] == query_context[:, None]) & (slots[None, :] <= query_slot[:, None])
        contexts, which = torch.unique(query_context, return_inverse=True)
        inherited = torch.zeros((len(contexts), total), dtype=torch.bool, device=device)
        for row, context in enumerate(contexts.tolist()):
            for start, end in self._inherited[context]:
                inherited[row, start:end] = True
        full = own | inherited[which]
        if self.window is None and self.chunk is None:
            return self._as_attention_mask(full)
        if self.layer_types is None:  # every layer slides (Mistral)
            return self._as_attention_mask(full & self._near(query_position))
        masks = {"full_attention": self._as_attention_mask(full)}
        if self.window is not None:
            masks["sliding_attention"] = self._as_attention_mask(full & self._near(query_position))
        if self.chunk is not None:
            # Llama 4's chunked layers see only the keys of their own chunk of positions.
            same_chunk = (query_position[:, None] // self.chunk) == (self._slot_position[None, :] // self.chunk)
            masks["chunked_attention"] = self._as_attention_mask(full & same_chunk)
        return masks

    def _near(self, query_position: torch.Tensor) -> torch.Tensor:
        return (query_position[:, None] - self._slot_position[None, :]) < self.window

    def _as_attention_mask(self, visible: torch.Tensor) -> torch.Tensor:
        visible = visible[None, None, :, :]
        if _text_config(self.model)._attn_implementation == "eager":
            # Eager attention adds the mask to its scores.
            dtype = self.model.model.dtype
            return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(~visible, torch.finfo(dtype).min)
        return visible
