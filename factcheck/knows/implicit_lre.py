"""The LRE applied without forming W: exact, and far cheaper when a relation has fewer facts than the model has
hidden dimensions.

The LRE of a subject state s is beta * W s + b with W = mean_i J_i over the
training prompts and b = mean_i (z_i - J_i h_i) (Hernandez et al., ICLR 2024).
So W s = mean_i (J_i s): one forward-mode Jacobian-vector product per training
prompt and state, and b needs one more per prompt (along its own h_i). For m
states that is n (m + 1) products where forming W costs n d Jacobian rows; at
SmolLM2's width (d = 576) and a suite of 40 facts, about a fourteenth. Nothing
is approximated: the products are those W is the mean of.

Where many states must be decoded (the attribute lens: every layer and
position of a prompt), forming W once is cheaper; `apply` then estimates it
from the same training passes, hands it to `on_weight` (the disk cache) and
uses it from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch

from factcheck.knows.lre import Lre, SuffixBatch, SuffixProblem, mean_jacobian, require_finite, training_sites
from factcheck.model.hooks import LayerSpec
from factcheck.model.language_model import LanguageModel
from factcheck.suites.suite import Fact

# On SmolLM2 (2 cores) a batched product cost 5.6 ms per prompt and state (51 states: 2.3 s for 8 prompts)
# and a row of the vectorised reverse-mode Jacobian 3.5 ms (W of 8 prompts: 16.0 s), so products win
# below about 0.6 d states; this share keeps a margin.
IMPLICIT_SHARE = 0.5


class AppliedStore(Protocol):
    """Where decoded states are kept between runs (factcheck.knows.lre_cache.AppliedCache)."""

    def load(self, states: torch.Tensor) -> torch.Tensor | None: ...

    def save(self, states: torch.Tensor, decoded: torch.Tensor) -> None: ...


def implicit_is_cheaper(states: int, hidden_size: int) -> bool:
    """Whether decoding `states` subject states by products beats forming W (which costs d rows per prompt)."""
    return states + 1 <= IMPLICIT_SHARE * hidden_size


@dataclass(eq=False)
class ImplicitLre:
    """apply(h) = beta * W h + b, with W h = mean_i J_i h by products; W itself is never formed unless a call
    decodes so many states that forming it is cheaper."""

    model: LanguageModel
    template: str
    training: tuple[Fact, ...]
    layer: LayerSpec
    beta: float
    relation: str = ""
    on_weight: Callable[[Lre], None] | None = None  # receives W once it is formed
    store: AppliedStore | None = None  # decoded states kept on disk, so that a second run computes no product
    products: int = 0  # Jacobian-vector products computed so far (for progress lines and benchmarks)
    rank: None = None  # the implicit path applies the full W only (a truncated W needs W's SVD)
    method: str = "implicit"
    _problems: list[SuffixProblem] | None = field(default=None, repr=False)
    _batch: SuffixBatch | None = field(default=None, repr=False)
    _bias: torch.Tensor | None = field(default=None, repr=False)
    _weight: Lre | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return len(self.training)

    @property
    def formed(self) -> Lre | None:
        """The explicit LRE, once a call needed W."""
        return self._weight

    def batch(self) -> SuffixBatch:
        if self._batch is None:
            self._batch = SuffixBatch(self.problems())
        return self._batch

    def release(self) -> None:
        """Drop the training prompts' passes (every layer's prefix keys: about 100 MB per relation on SmolLM2);
        a later call makes them again. The bias and any formed W stay."""
        self._problems = None
        self._batch = None

    def problems(self) -> list[SuffixProblem]:
        """The training prompts split at their subjects: one packed pass, made on first use."""
        if self._problems is None:
            sites = training_sites(self.model, self.template, self.training)
            self._problems = SuffixProblem.for_sites(self.model, sites, self.layer)
        return self._problems

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """The predicted object state(s) for subject state(s) h of shape (..., d), in float32."""
        if self._weight is not None:
            return self._weight.apply(h)
        hidden = self.model.hidden_size
        flat = h.reshape(-1, hidden)
        # Many calls add up too: once the products spent would have formed W, W serves the rest.
        if not implicit_is_cheaper(flat.shape[0], hidden) or self.products >= IMPLICIT_SHARE * self.n_train * hidden:
            return self._form_weight().apply(h)
        stored = None if self.store is None else self.store.load(flat)
        if stored is not None:
            return stored.to(flat.device).reshape(*h.shape[:-1], hidden)
        decoded = self._decode(flat)
        if self.store is not None:
            self.store.save(flat, decoded)
        return decoded.reshape(*h.shape[:-1], hidden)

    def _decode(self, flat: torch.Tensor) -> torch.Tensor:
        """beta * mean_i J_i s + b for each row s of `flat` (m, d)."""
        decoded = self.beta * self.weight_times(flat) + self._bias
        require_finite(f"the LRE of {self.relation or 'the relation'} at layer {self.layer}", decoded)
        return decoded

    def weight_times(self, flat: torch.Tensor) -> torch.Tensor:
        """W s = mean_i J_i s for each row s of `flat` (m, d), in float32, never forming W: every prompt's products
        in one batched pass (which also yields b, the first time). Beta is not applied, so that a beta sweep
        re-uses the products."""
        batch = self.batch()
        count, states = batch.count, flat.shape[0]
        tangents = flat.to(batch.h.dtype)[:, None, :].expand(states, count, flat.shape[1])
        if self._bias is None:
            tangents = torch.cat([tangents, batch.h[None]])  # row i of the last entry: h_i, for J_i h_i in the bias
        products = _chunked(batch.jvp, tangents, batch.entries_per_chunk()).float()  # (entries, n, d)
        self.products += tangents.shape[0] * count
        if self._bias is None:
            self._bias = (batch.z.float() - products[states]).mean(0)
        return products[:states].mean(1)

    @property
    def bias(self) -> torch.Tensor:
        """b = mean_i (z_i - J_i h_i), in float32 (one product per training prompt if no call has made it yet)."""
        if self._weight is not None:
            return self._weight.bias
        if self._bias is None:
            self.weight_times(self.batch().h[:0])
        return self._bias

    def _form_weight(self) -> Lre:
        weight, bias = mean_jacobian(self.problems(), None)
        require_finite(f"the LRE of {self.relation or 'the relation'} at layer {self.layer}", weight, bias)
        self.products += len(self.problems()) * self.model.hidden_size
        self._weight = Lre.estimated(self.model, self.template, self.training, self.layer, weight, bias, self.beta,
                                     relation=self.relation)
        if self.on_weight is not None:
            self.on_weight(self._weight)
        return self._weight


def _chunked(jvp: Callable[[torch.Tensor], torch.Tensor], tangents: torch.Tensor, step: int) -> torch.Tensor:
    """jvp over the tangent entries (first dimension) in chunks of `step`, so that memory stays bounded."""
    if tangents.shape[0] <= step:
        return jvp(tangents)
    return torch.cat([jvp(tangents[start : start + step]) for start in range(0, tangents.shape[0], step)])
