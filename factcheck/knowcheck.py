"""What the model knows: decode a relation's LRE from each fact's subject state, and the four verdict classes.

The subject states come from the say-check's own forward pass (captured at
the LRE's layer), so the know-check costs one matrix product per fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from .model import LanguageModel
from .saycheck import FactOutcome

VERDICTS = ("known", "hidden", "unfaithful", "unknown")
TOP_TOKENS = 5
# Below this faithfulness a relation's know-verdicts say more about the LRE than about the model.
MIN_TRUSTED_FAITHFULNESS = 0.5


class AppliesToStates(Protocol):
    layer: int

    def apply(self, h: torch.Tensor) -> torch.Tensor: ...


def verdict_class(says: bool, knows: bool) -> str:
    """known: stored and said; hidden: stored, not said; unfaithful: said, not decodable; unknown: neither."""
    if knows:
        return "known" if says else "hidden"
    return "unfaithful" if says else "unknown"


@dataclass(frozen=True)
class KnowOutcome:
    top_tokens: list[tuple[str, float]]  # the LRE's decoded top tokens over the whole vocabulary, with probabilities
    object_rank: int  # 1 + distinct wrong candidates' first tokens the LRE scores above every accepted answer
    top1_is_answer: bool  # strict token rule: the vocabulary top-1 is an accepted answer's first token

    @property
    def know_pass(self) -> bool:
        # The paper's strict rule: the LRE's top token over the whole vocabulary starts an accepted answer.
        # Ranking first among the candidates alone is not enough: an LRE that decodes " Sydney" for
        # Australia ranks Canberra above every other capital and yet does not store Canberra.
        return self.top1_is_answer


@torch.no_grad()
def know_check(model: LanguageModel, lre: AppliesToStates, outcomes: Sequence[FactOutcome], top_k: int = TOP_TOKENS) -> list[KnowOutcome]:
    """Decode the LRE at every fact's subject state and rank the relation's candidates by it."""
    if not outcomes:
        return []
    states = torch.stack([o.subject_states[lre.layer] for o in outcomes]).to(model.device)
    logits = model.decode_state(lre.apply(states).to(model.dtype)).float()
    probabilities = torch.softmax(logits, dim=-1)
    top = probabilities.topk(top_k, dim=-1)
    results = []
    for row, outcome in enumerate(outcomes):
        accepted = {c.first_token for c in outcome.candidates if c.correct and c.first_token is not None}
        wrong = {c.first_token for c in outcome.candidates if not c.correct and c.first_token is not None} - accepted
        best_accepted = max((float(logits[row, t]) for t in accepted), default=float("-inf"))
        rank = 1 + sum(float(logits[row, t]) > best_accepted for t in wrong)
        tokens = top.indices[row].tolist()
        results.append(
            KnowOutcome(
                top_tokens=[(model.tokenizer.decode([t]), round(float(p), 6)) for t, p in zip(tokens, top.values[row].tolist())],
                object_rank=rank if accepted else len(wrong) + 1,
                top1_is_answer=tokens[0] in accepted,
            )
        )
    return results


def faithfulness(outcomes: Sequence[FactOutcome], knows: Sequence[KnowOutcome]) -> tuple[float | None, int]:
    """The paper's protocol with the strict token rule: among test facts the model says right, the share whose
    LRE top-1 token is the answer's first token. Returns (faithfulness or None, number of facts it rests on)."""
    tested = [k for o, k in zip(outcomes, knows) if not o.is_training and o.generation_pass]
    if not tested:
        return None, 0
    return sum(k.top1_is_answer for k in tested) / len(tested), len(tested)
