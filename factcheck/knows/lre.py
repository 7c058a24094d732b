"""Linear Relational Embeddings: estimate LRE(h) = beta * W h + b for one relation, and apply it.

The method of Hernandez et al., "Linearity of Relation Decoding in Transformer
Language Models" (ICLR 2024). For each of the first n facts of a relation,
the prompt holds the other n - 1 facts as demonstrations; h is the output of block `layer` at the subject's last token
and z the last block's (pre-final-norm) output at the prompt's last token.
W is the mean of the Jacobians dz/dh, b the mean of z - J h.

How the Jacobian is computed fast (and correctly):

* Suffix only. Only the tokens from the subject's last token to the end of
  the prompt depend on h. One packed pass over all training prompts
  (factcheck.model.packing) gives each prompt's keys and values before that token;
  every pass over the suffix attends to them through
  factcheck.model.prefix_attention (no transformers cache object, so none can
  be mutated between passes) and skips the blocks up to the LRE's layer, whose
  output there is known (factcheck.model.hooks.blocks_replaced).
* Batched rows. `torch.func.jacrev` runs the suffix forward once and
  vectorises the d backward passes (one per row of J) with vmap. The prefix
  keys are constants, so no gradient is spent on them.
* Randomised low rank (method="lowrank"): sketch W with k + p Jacobian-vector
  products per fact (range finder Y = W Omega, Q = orth(Y)) and k + p
  vector-Jacobian products (B = Q^T W), giving W ~= Q B truncated to rank k.

The slow, straightforward estimator that the tests compare against lives in
tests/lre_reference.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from factcheck.errors import FactcheckError, SettingError
from factcheck.model.hooks import (EMBEDDING_LAYER, LayerSpec, blocks_replaced, capture_residual, edit_residual,
                                   ready_for_transforms)
from factcheck.model.language_model import LanguageModel, left_pad
from factcheck.model.packing import PackedSequence, Token, common_prefix_length, slot_ranges
from factcheck.model.prefix_attention import PrefixBatch, PrefixKeys, UnroutedAttention, prefix_attention
from factcheck.suites.prompts import TEXT_SEPARATOR, Phrasing, phrase_prompt, subject_token_index
from factcheck.suites.suite import Fact, Suite

METHODS = ("full", "lowrank")

DEFAULT_N_TRAIN = 8
# Chosen for SmolLM2-135M by bench/bench_lre_beta.py (beta 0.5-5, blocks 4-22, four
# relations, n = 8): mean strict faithfulness peaks at beta 1.5 (0.75 at block 15,
# 0.76 at blocks 8 and 12). The paper uses 2.25 for GPT-J.
DEFAULT_BETA = 1.5
# Fraction of the depth used when no layer is given: SmolLM2 (30 blocks) -> block 15,
# as faithful as blocks 8-12 in that sweep and cheaper (fewer blocks after it).
DEFAULT_LAYER_FRACTION = 0.5
DEFAULT_SKETCH_RANK = 64
DEFAULT_OVERSAMPLE = 16

_CHUNK_BYTES = 256 * 2**20


# ---- the estimate -----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Lre:
    """An estimated LRE for one relation and layer: apply(h) = beta * W_k h + b (W_k: W truncated to `rank`)."""

    weight: torch.Tensor  # (d, d): mean Jacobian, full estimate (truncation is applied on use)
    bias: torch.Tensor  # (d,)
    layer: LayerSpec
    beta: float
    rank: int | None = None
    relation: str = ""
    template: str = ""
    training: tuple[tuple[str, str], ...] = ()  # (subject, object) of the training facts, in order
    model_fingerprint: str = ""
    method: str = "full"

    @classmethod
    def estimated(cls, model: LanguageModel, template: str, training: Sequence[Fact], layer: LayerSpec, weight: torch.Tensor,
                  bias: torch.Tensor, beta: float, *, rank: int | None = None, relation: str = "", method: str = "full") -> Lre:
        """An LRE estimated on `model` from the prompts of `template` over the `training` facts."""
        return cls(
            weight=weight, bias=bias, layer=layer, beta=float(beta), rank=rank, relation=relation, template=template,
            training=tuple((f.subject, f.object) for f in training), model_fingerprint=model.fingerprint, method=method,
        )

    @property
    def hidden_size(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_train(self) -> int:
        return len(self.training)

    @functools.cached_property
    def _svd(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u, s, vh = torch.linalg.svd(self.weight.double(), full_matrices=False)
        return u, s, vh

    @functools.cached_property
    def effective_weight(self) -> torch.Tensor:
        """W, or its rank-k truncated SVD when `rank` is set."""
        if self.rank is None or self.rank >= self.hidden_size:
            return self.weight
        u, s, vh = self._svd
        k = self.rank
        return ((u[:, :k] * s[:k]) @ vh[:k]).to(self.weight.dtype)

    def pseudo_inverse(self, rank: int | None = None) -> torch.Tensor:
        """W_k^+ (rank k = `rank`, else this LRE's rank, else full), without beta: maps object-state edits to h."""
        k = rank if rank is not None else (self.rank or self.hidden_size)
        k = min(k, self.hidden_size)
        u, s, vh = self._svd
        return ((vh[:k].T / s[:k]) @ u[:, :k].T).to(self.weight.dtype)

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """The predicted object state(s) for subject state(s) h of shape (..., d)."""
        weight = self.effective_weight.to(h.device)
        return self.beta * (h.to(weight.dtype) @ weight.T) + self.bias.to(h.device)

    def logits(self, model: LanguageModel, h: torch.Tensor) -> torch.Tensor:
        """Next-token logits decoded from LRE(h) through the model's own final norm and output head."""
        with torch.no_grad():
            return model.decode_state(self.apply(h.to(model.device)).to(model.dtype)).float()

    def top_tokens(self, model: LanguageModel, h: torch.Tensor, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """For each row of h: the k most likely decoded tokens as (token id, text, probability)."""
        logits = self.logits(model, h.reshape(-1, h.shape[-1]))
        top = torch.softmax(logits, dim=-1).topk(k, dim=-1)
        return [
            [(int(t), model.tokenizer.decode([int(t)]), float(p)) for t, p in zip(ids, probs)]
            for ids, probs in zip(top.indices.tolist(), top.values.tolist())
        ]

    def with_beta(self, beta: float) -> Lre:
        """A copy with another beta (W and b are shared)."""
        return dataclasses.replace(self, beta=float(beta))

    def with_rank(self, rank: int | None) -> Lre:
        """A copy applying W truncated to `rank` (None: full rank)."""
        return dataclasses.replace(self, rank=rank)


class NonFiniteLre(FactcheckError, ValueError):
    """An LRE (or a decode) with infinite or NaN values: never cached, never used."""


def all_finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def require_finite(what: str, *tensors: torch.Tensor) -> None:
    """Raise NonFiniteLre when any value of `tensors` is infinite or NaN (`what` names them in the message)."""
    if not all_finite(*tensors):
        raise NonFiniteLre(
            f"{what} has infinite or NaN values, so its know-verdicts would be meaningless; it is not cached. "
            "The model's hidden states may overflow in this dtype (try --factcheck-dtype float32) or at this layer "
            "(pin another settings.lre.layer), or a huge settings.lre.beta scales them past any number (a few units is "
            "usual); --factcheck-lre off checks what the model says only"
        )


# ---- prompts and their subject positions --------------------------------------------
@dataclass(frozen=True)
class PromptSite:
    """A tokenized prompt and the index of its subject's last token (last occurrence)."""

    text: str
    subject: str
    token_ids: tuple[int, ...]
    subject_index: int
    answer_separator: str = TEXT_SEPARATOR  # what comes between the prompt and an answer


def prompt_site(model: LanguageModel, text: str, subject: str, subject_end: int | None = None,
                answer_separator: str = TEXT_SEPARATOR) -> PromptSite:
    """The site of `subject`'s last occurrence in `text` ending by `subject_end` (pass a Prompt's, as the say-check
    does, so that a subject that is also a word of the template is found where the question puts it)."""
    ids, offsets = model.tokenize([text])
    return PromptSite(text, subject, tuple(ids[0]), subject_token_index(text, subject, offsets[0], subject_end), answer_separator)


def _site(model: LanguageModel, template: str | Phrasing, subject: str, demonstrations: Sequence[Fact]) -> PromptSite:
    prompt = phrase_prompt(model, template, subject, demonstrations)
    return prompt_site(model, prompt.text, subject, prompt.subject_end, prompt.answer_separator)


def training_sites(model: LanguageModel, template: str | Phrasing, training: Sequence[Fact]) -> list[PromptSite]:
    """One prompt per training fact, with the other training facts as demonstrations (a plain template: text prompts)."""
    return [_site(model, template, fact.subject, training) for fact in training]


def query_sites(model: LanguageModel, template: str | Phrasing, training: Sequence[Fact], subjects: Sequence[str]) -> list[PromptSite]:
    """Prompts for applying an LRE: all training facts (except the subject itself) as demonstrations."""
    return [_site(model, template, s, training) for s in subjects]


def relation_parts(relation: Suite | tuple[str | Phrasing, Sequence[Fact]]) -> tuple[str, str | Phrasing, tuple[Fact, ...]]:
    """(relation name, template, facts) from a Suite (its first template, as the suite asks it: a Phrasing for chat
    prompts) or a (template, facts) pair."""
    if isinstance(relation, Suite):
        phrasing = relation.phrasing
        return relation.relation, phrasing if phrasing.chat else phrasing.template, tuple(relation.facts)
    template, facts = relation
    return "", template, tuple(facts)


def resolve_layer(model: LanguageModel, layer: LayerSpec | None) -> LayerSpec:
    """A validated layer: "emb", a block index (negative counts from the end), or None for the default depth."""
    if layer is None:
        return int(model.num_layers * DEFAULT_LAYER_FRACTION)
    if isinstance(layer, str):
        if layer == EMBEDDING_LAYER:
            return layer
        if layer.lstrip("-").isdigit():
            layer = int(layer)
        else:
            raise SettingError(f"layer must be a block index or {EMBEDDING_LAYER!r}, got {layer!r}")
    index = int(layer) + (model.num_layers if int(layer) < 0 else 0)
    if not 0 <= index < model.num_layers:
        raise SettingError(f"layer {layer} is out of range for a model with {model.num_layers} blocks: give one from 0 to "
                           f"{model.num_layers - 1} (a suite's /settings/lre/layer: `factcheck tune` picks one), or leave "
                           "it out for the default depth")
    return index


# ---- the residual stream ----------------------------------------------------------------
def _splice(states: torch.Tensor, position: int, value: torch.Tensor) -> torch.Tensor:
    """`states` (batch, seq, d) with column `position` replaced by `value` (d,), built without in-place writes
    so that it works under torch.func transforms."""
    column = value.to(states.dtype).reshape(1, 1, -1).expand(states.shape[0], 1, -1)
    return torch.cat([states[:, :position], column, states[:, position + 1 :]], dim=1)


def _decoder(model: LanguageModel) -> nn.Module:
    # The decoder without the output head: the Jacobian needs the last block's output, not logits.
    return getattr(model.model, "base_model", model.model)


@contextlib.contextmanager
def _torch_deprecation_quiet():
    """Forward mode's first use loads torch's decompositions, which warn that torch.jit.script is deprecated: under
    the user's `-W error` that warning (torch's, about torch) would fail the first JVP, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is", category=DeprecationWarning)
        yield


# ---- one training prompt, split at the subject ---------------------------------------------
def _full_passes(model: LanguageModel, sites: Sequence[PromptSite], layer: LayerSpec) -> list[tuple[PrefixKeys, torch.Tensor, torch.Tensor]]:
    """Each prompt's prefix keys/values (before the subject's last token), the output of block `layer` over
    the rest of the prompt (h first) and z, from one packed pass.

    A prompt reuses the longest start it shares with an earlier one (training
    prompts share their first demonstrations), up to its subject's last token.
    """
    sequence = PackedSequence(model)
    tokens: list[Token] = []
    slots_of: list[list[int]] = []  # each prompt's cache slot per token
    for site in sites:
        shared, source = 0, []
        for earlier, earlier_slots in zip(sites, slots_of):
            length = min(common_prefix_length([site.token_ids, earlier.token_ids]), site.subject_index)
            if length > shared:
                shared, source = length, earlier_slots
        context = sequence.new_context(slot_ranges(source[:shared]))
        first_slot = sequence.length + len(tokens)
        own = site.token_ids[shared:]
        tokens += [Token(context, token_id, shared + offset) for offset, token_id in enumerate(own)]
        slots_of.append(source[:shared] + list(range(first_slot, first_slot + len(own))))
    with capture_residual(model, layer) as subject, capture_residual(model, model.num_layers - 1) as last:
        sequence.run(tokens)  # without gradients: PackedSequence.run is no_grad
    layers = sequence.cache.layers
    if len(layers) != model.num_layers:
        raise UnroutedAttention(model.architecture, len(layers), model.num_layers)
    results = []
    for site, slots in zip(sites, slots_of):
        split = site.subject_index
        before = torch.tensor(slots[:split], dtype=torch.long, device=model.device)
        prefix = PrefixKeys(
            keys={index: cached.keys.index_select(2, before) for index, cached in enumerate(layers)},
            values={index: cached.values.index_select(2, before) for index, cached in enumerate(layers)},
        )
        suffix_states = subject["states"][:, slots[split:]].clone()  # (1, suffix length, d)
        z = last["states"][0, slots[-1]].clone()
        results.append((prefix, suffix_states, z))
    return results


class SuffixProblem:
    """f(h) = last block output at the last token when the residual stream at `layer` holds h at the subject.

    The whole prompt runs once (`for_sites` runs many prompts in one packed
    pass), giving h, z and every layer's keys and values before the subject's
    last token: the prefix. Every evaluation of f runs only the suffix.
    """

    def __init__(self, model: LanguageModel, site: PromptSite, layer: LayerSpec, full_pass=None):
        self.model = model
        self.layer = layer
        self.site = site
        device = model.device
        ids = torch.tensor([site.token_ids], device=device)
        split = site.subject_index
        self.suffix_ids = ids[:, split:]
        self.suffix_positions = torch.arange(split, ids.shape[1], device=device)[None]
        self.prefix_keys, self.layer_output, self.z = full_pass or _full_passes(model, [site], layer)[0]
        self.prefix = PrefixBatch.of([self.prefix_keys])
        model.blocks_return_tuples  # seen now, on a pass of the model's own: the suffix passes run under transforms
        self.h = self.layer_output[0, 0].clone()
        # Blocks up to `layer` need not run again on the suffix: their output there is known, and h
        # replaces the subject's part of it anyway.
        self.known_blocks = 0 if layer == EMBEDDING_LAYER else int(layer) + 1

    @classmethod
    def for_sites(cls, model: LanguageModel, sites: Sequence[PromptSite], layer: LayerSpec) -> list[SuffixProblem]:
        problems = [cls(model, site, layer, full) for site, full in zip(sites, _full_passes(model, sites, layer))]
        for problem in problems:  # (one suffix pass each: little beside a Jacobian)
            problem.check_against_the_full_pass()
        return problems

    def check_against_the_full_pass(self) -> None:
        """f at the prompt's own h must be the object state of the full pass: the suffix runs over a prefix held from
        the model's cache, and a cache holding something else than each head's keys and values (DeepSeek's latent
        attention: every LRE failed with a shape-error traceback) or attention the prefix route leaves out (gpt-oss's
        sinks: 4% off; a window only the mask applies, which a longer prompt crosses) would give a wrong LRE."""
        try:
            with torch.no_grad():
                state = self.object_state(self.h).float()
        except FactcheckError:
            raise
        except Exception as error:  # noqa: BLE001 - named below: the estimator cannot read this model
            why = f"they fail ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"[:300]
        else:
            z = self.z.float()
            mismatch = float((state - z).norm()) / max(float(z.norm()), 1e-30)
            # Rounding alone: about 1e-6 in float32, 0.25% in float16 and 2% in bfloat16 on SmolLM2 (2.7% at most
            # over 28 families' tiny models).
            tolerance = {torch.float32: 1e-3, torch.float16: 3e-2}.get(self.model.dtype, 5e-2)
            if math.isfinite(mismatch) and mismatch <= tolerance:
                return
            why = f"they give the prompt's object state {mismatch:.1%} off its full pass"
        raise FactcheckError(f"model {self.model.name!r} ({type(self.model.model).__name__}): the LRE estimator runs each "
                             f"training prompt's suffix over its prefix held from the model's attention cache, and {why}: "
                             "its attention or its cache is not one the estimator can hold; run with --factcheck-lre=off")

    def object_state(self, h: torch.Tensor) -> torch.Tensor:
        """f(h): the object state with h spliced in at the subject position (suffix position 0)."""
        with edit_residual(self.model, self.layer, lambda states: _splice(states, 0, h)):
            last = _run_suffixes(self.model, self.prefix, self.known_blocks, self.layer_output, self.suffix_ids, self.suffix_positions)
        return last[0, -1]

    def jacobian(self, chunk_size: int | None = None) -> torch.Tensor:
        """J = df/dh at h (d x d), rows batched through vmap, `chunk_size` rows at a time (None: automatic)."""
        with ready_for_transforms(self.model, self.suffix_positions):
            return torch.func.jacrev(self.object_state, chunk_size=chunk_size or self.rows_per_chunk())(self.h)

    def rows_per_chunk(self) -> int:
        """How many Jacobian rows to vectorise at once so that one batched activation (rows x suffix length x
        MLP width, taken as 4 d) stays near _CHUNK_BYTES; all rows for small models."""
        hidden = self.h.shape[0]
        per_row = self.suffix_ids.shape[1] * 4 * hidden * self.h.element_size()
        return max(1, min(hidden, _CHUNK_BYTES // per_row))

    def jvp(self, tangents: torch.Tensor) -> torch.Tensor:
        """J @ tangents for tangents (d, m), forward mode vectorised over the m columns."""
        def one(v):
            return torch.func.jvp(self.object_state, (self.h,), (v,))[1]

        with ready_for_transforms(self.model, self.suffix_positions):
            return torch.func.vmap(one, in_dims=1, out_dims=1)(tangents)

    def vjp(self, cotangents: torch.Tensor) -> torch.Tensor:
        """cotangents^T @ J for cotangents (d, m): returns (m, d)."""
        with ready_for_transforms(self.model, self.suffix_positions):
            _, pullback = torch.func.vjp(self.object_state, self.h)
            return torch.func.vmap(lambda u: pullback(u)[0], in_dims=1)(cotangents)


class SuffixBatch:
    """The training prompts' suffixes as one batch: F(H) = each prompt's object state with its row of H (n, d)
    at its subject, so that F's Jacobian-vector products give J_i v for every prompt i in one pass.

    Rows are right-padded to the longest suffix (padding follows a row's real tokens, so causal attention
    keeps it unseen) and each row attends over its own prefix (factcheck.model.prefix_attention.PrefixBatch).
    One pass over n rows reads the weights once where n problems would read them n times.
    """

    def __init__(self, problems: Sequence[SuffixProblem]):
        first = problems[0]
        self.model, self.layer, self.known_blocks = first.model, first.layer, first.known_blocks
        self.count = len(problems)
        longest = max(p.suffix_ids.shape[1] for p in problems)
        pad = self.model.pad_id

        def right_padded(tensor: torch.Tensor, value) -> torch.Tensor:
            extra = longest - tensor.shape[1]
            return torch.cat([tensor, tensor.new_full((1, extra, *tensor.shape[2:]), value)], dim=1) if extra else tensor

        self.suffix_ids = torch.cat([right_padded(p.suffix_ids, pad) for p in problems])
        # Padded positions continue each row's count (they are never seen, but rotary tables need them in range).
        self.positions = torch.cat([p.suffix_positions[:, :1] + torch.arange(longest, device=p.suffix_positions.device) for p in problems])
        self.layer_output = torch.cat([right_padded(p.layer_output, 0.0) for p in problems])
        self.last = torch.tensor([p.suffix_ids.shape[1] - 1 for p in problems], device=self.suffix_ids.device)
        self.prefix = PrefixBatch.of([p.prefix_keys for p in problems])
        self.h = torch.stack([p.h for p in problems])  # (n, d)
        self.z = torch.stack([p.z for p in problems])

    def object_states(self, h: torch.Tensor) -> torch.Tensor:
        """F(h) for h (n, d): each row's object state with its row of h spliced in at its subject."""
        with edit_residual(self.model, self.layer, lambda states: _splice_rows(states, 0, h)):
            last = _run_suffixes(self.model, self.prefix, self.known_blocks, self.layer_output, self.suffix_ids, self.positions)
        return last[torch.arange(self.count, device=self.last.device), self.last]

    def jvp(self, tangents: torch.Tensor) -> torch.Tensor:
        """J_i t_{k,i} for tangents (m, n, d): (m, n, d), forward mode vectorised over the m entries."""
        def one(tangent):
            return torch.func.jvp(self.object_states, (self.h,), (tangent,))[1]

        with _torch_deprecation_quiet(), ready_for_transforms(self.model, self.positions):
            return torch.func.vmap(one)(tangents)

    def entries_per_chunk(self) -> int:
        """Tangent entries per vectorised pass, keeping one batched activation near _CHUNK_BYTES."""
        per_entry = self.count * self.suffix_ids.shape[1] * 4 * self.h.shape[1] * self.h.element_size()
        return max(1, _CHUNK_BYTES // per_entry)


def _run_suffixes(model: LanguageModel, prefix: PrefixBatch, known_blocks: int, layer_output: torch.Tensor,
                  ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The last block's output over suffix tokens `ids` (rows, T), each row after its prefix, the first
    `known_blocks` blocks replaced by their known output."""
    with prefix_attention(model.model, prefix), capture_residual(model, model.num_layers - 1) as last:
        with blocks_replaced(model, known_blocks, layer_output):
            _decoder(model)(input_ids=ids, position_ids=positions, use_cache=False)
    if len(prefix.layers_seen) < model.num_layers - known_blocks:
        raise UnroutedAttention(model.architecture, len(prefix.layers_seen) + known_blocks, model.num_layers)
    return last["states"]


def _splice_rows(states: torch.Tensor, position: int, values: torch.Tensor) -> torch.Tensor:
    """`states` (n, seq, d) with column `position` of row i replaced by values[i], without in-place writes."""
    column = values.to(states.dtype)[:, None, :]
    return torch.cat([states[:, :position], column, states[:, position + 1 :]], dim=1)


# ---- estimation -----------------------------------------------------------------------
def estimate_lre(
    model: LanguageModel,
    relation: Suite | tuple[str, Sequence[Fact]],
    layer: LayerSpec | None = None,
    *,
    n_train: int = DEFAULT_N_TRAIN,
    beta: float = DEFAULT_BETA,
    rank: int | None = None,
    method: str = "full",
    sketch_rank: int = DEFAULT_SKETCH_RANK,
    oversample: int = DEFAULT_OVERSAMPLE,
    seed: int = 0,
    chunk_size: int | None = None,
) -> Lre:
    """Estimate the LRE of a relation from its first `n_train` facts (see the module docstring).

    method="full" computes each J exactly; method="lowrank" estimates W
    directly with a randomised rank-`sketch_rank` sketch (oversampling
    `oversample`, random seed `seed`). `rank` truncates W on use (apply).
    `chunk_size` bounds how many Jacobian rows one vectorised backward holds
    (None: as many as fit a fixed memory budget; all d rows for SmolLM2).
    """
    if method not in METHODS:
        raise SettingError(f"method must be one of {METHODS}, got {method!r}")
    name, template, facts = relation_parts(relation)
    if n_train < 1 or len(facts) < n_train:
        raise SettingError(f"need at least n_train={n_train} facts to estimate an LRE, the relation has {len(facts)}")
    layer = resolve_layer(model, layer)
    training = facts[:n_train]
    problems = SuffixProblem.for_sites(model, training_sites(model, template, training), layer)
    if method == "full":
        weight, bias = mean_jacobian(problems, chunk_size)
    else:
        weight, bias = _sketched_mean_jacobian(list(problems), sketch_rank, oversample, seed)
    return Lre.estimated(model, template, training, layer, weight, bias, beta, rank=rank, relation=name, method=method)


def mean_jacobian(problems: Sequence[SuffixProblem], chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """W = mean_i J_i and b = mean_i (z_i - J_i h_i) over the training prompts' problems."""
    # Sums in float32 whatever the model's dtype: a bf16 mean of 8 Jacobians would lose digits.
    weight_sum = bias_sum = 0
    count = 0
    for problem in problems:
        jacobian = problem.jacobian(chunk_size).float()
        weight_sum = weight_sum + jacobian
        bias_sum = bias_sum + (problem.z.float() - jacobian @ problem.h.float())
        count += 1
    return (weight_sum / count).detach(), (bias_sum / count).detach()


def _sketched_mean_jacobian(
    problems: list[SuffixProblem], sketch_rank: int, oversample: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomised range finder on W = mean J_i (Halko et al. 2011, algorithm 4.1, then an SVD of Q^T W).

    Y = W Omega (k + p JVPs per fact), Q = orth(Y), B = Q^T W (k + p VJPs per
    fact), W ~= Q B truncated to rank k. The JVP batch also carries h_i, so the
    bias b = mean(z_i - J_i h_i) is exact.
    """
    h = problems[0].h
    hidden = h.shape[0]
    width = min(sketch_rank + oversample, hidden)
    omega = torch.randn(hidden, width, generator=torch.Generator().manual_seed(seed)).to(h.device)
    sketch = torch.zeros(hidden, width, device=h.device)
    bias = torch.zeros(hidden, device=h.device)
    for problem in problems:
        products = problem.jvp(torch.cat([omega, problem.h[:, None].float()], dim=1).to(h.dtype)).float()
        sketch += products[:, :width]
        bias += problem.z.float() - products[:, width]
    basis, _ = torch.linalg.qr(sketch / len(problems))
    projected = sum(problem.vjp(basis.to(h.dtype)).float() for problem in problems) / len(problems)  # Q^T W
    u, s, vh = torch.linalg.svd(projected, full_matrices=False)
    k = min(sketch_rank, width)
    weight = (basis @ u[:, :k]) * s[:k] @ vh[:k]
    return weight.detach(), (bias / len(problems)).detach()


# ---- states of many prompts at once ----------------------------------------------------
@dataclass
class PromptStates:
    h: torch.Tensor  # (N, d) subject states at the LRE layer
    z: torch.Tensor  # (N, d) object states (last block, pre-norm, last token)
    logits: torch.Tensor  # (N, vocab) the model's own next-token logits


@torch.no_grad()
def prompt_states(model: LanguageModel, sites: Sequence[PromptSite], layer: LayerSpec, batch_size: int = 16) -> PromptStates:
    """Subject states, object states and next-token logits for many prompts, in left-padded batches."""
    layer = resolve_layer(model, layer)
    hs, zs, logits = [], [], []
    for start in range(0, len(sites), batch_size):
        chunk = sites[start : start + batch_size]
        encoded = left_pad([s.token_ids for s in chunk], model.pad_id, model.device)
        with capture_residual(model, layer) as captured:
            result = model.forward(encoded, layers=[model.num_layers - 1])
        rows = torch.arange(len(chunk))
        columns = torch.tensor([encoded.padded_index(i, s.subject_index) for i, s in enumerate(chunk)])
        hs.append(captured["states"][rows, columns])
        zs.append(result.block_outputs[model.num_layers - 1][:, -1])
        logits.append(result.logits[:, -1])
    return PromptStates(h=torch.cat(hs), z=torch.cat(zs), logits=torch.cat(logits))


def subject_states(model: LanguageModel, sites: Sequence[PromptSite], layer: LayerSpec, batch_size: int = 16) -> torch.Tensor:
    """h for many prompts (N, d): the residual stream at `layer` at each subject's last token."""
    return prompt_states(model, sites, layer, batch_size).h


# ---- how close is an approximate estimate? --------------------------------------------
@dataclass(frozen=True)
class LreAgreement:
    weight_relative_error: float  # ||W_a - W_r||_F / ||W_r||_F
    bias_relative_error: float
    top1_agreement: float | None  # share of states where both decode the same top-1 token
    compared_states: int


def compare_lres(model: LanguageModel, approximate: Lre, reference: Lre, states: torch.Tensor | None = None) -> LreAgreement:
    """How far `approximate` (e.g. method="lowrank") is from `reference` (e.g. the full estimate)."""
    weight_error = torch.linalg.norm(approximate.effective_weight - reference.effective_weight) / torch.linalg.norm(
        reference.effective_weight
    )
    bias_error = torch.linalg.norm(approximate.bias - reference.bias) / torch.linalg.norm(reference.bias)
    agreement = None
    count = 0
    if states is not None and len(states):
        count = int(states.shape[0])
        same = approximate.logits(model, states).argmax(-1) == reference.logits(model, states).argmax(-1)
        agreement = float(same.float().mean())
    return LreAgreement(float(weight_error), float(bias_error), agreement, count)

