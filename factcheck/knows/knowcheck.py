"""What the model knows: decode a relation's LRE from each fact's subject state, and the four verdict classes.

The subject states come from the say-check's own forward pass (captured at
the LRE's layer), so the know-check costs one matrix product per fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from factcheck.knows.know_rules import Faithfulness, FirstTokenRule, Undecided, object_rank
from factcheck.model.hooks import LayerSpec
from factcheck.model.language_model import LanguageModel
from factcheck.says.matching import matching_answer
from factcheck.says.saycheck import FactOutcome, first_tokens

TOP_TOKENS = 5
SHARED_WITH_SHOWN = 3  # wrong candidates named beside an undecided fact


class AppliesToStates(Protocol):
    layer: LayerSpec

    def apply(self, h: torch.Tensor) -> torch.Tensor: ...


def verdict_class(says: bool, knows: bool) -> str:
    """known: stored and said; hidden: stored, not said; unfaithful: said, not decodable; unknown: neither."""
    if knows:
        return "known" if says else "hidden"
    return "unfaithful" if says else "unknown"


@dataclass(frozen=True)
class KnowOutcome:
    top_tokens: list[tuple[str, float]]  # the LRE's decoded top tokens over the whole vocabulary, with probabilities
    object_rank: int  # 1 + distinct wrong candidates' first tokens the LRE scores above every accepted answer's
    top1_is_answer: bool  # the vocabulary top-1 is an accepted answer's first token (deciding or not)
    undecided: Undecided | None = None  # why the first token cannot decide this fact; None: it decides
    object_vocab_rank: int | None = None  # rank of the best accepted first token over the whole vocabulary
    object_probability: float | None = None  # its probability in the LRE's decoding
    object_token_id: int | None = None  # that token (the accepted first token the LRE scores highest)
    object_token: str | None = None  # its text

    @property
    def decodes_object(self) -> bool | None:
        """The paper's strict rule where it can decide: the LRE's top token over the whole vocabulary
        starts an accepted answer and no wrong candidate (None: undecided).

        Ranking first among the candidates alone is not enough: an LRE that decodes " Sydney" for
        Australia ranks Canberra above every other capital and yet does not store Canberra.
        """
        return None if self.undecided is not None else self.top1_is_answer


@torch.no_grad()
def know_check(
    model: LanguageModel, lre: AppliesToStates, outcomes: Sequence[FactOutcome], say_check: str = "generation", top_k: int = TOP_TOKENS
) -> list[KnowOutcome]:
    """Decode the LRE at every fact's subject state; rank the relation's candidates and the object by it.

    What the model says wrong counts as one more wrong answer: when its generated answer starts with the
    object's first token and goes wrong after it (" Norwegian krona" for " Norwegian krone"), that token
    cannot tell what is stored from what is said, and the fact is undecided.
    """
    if not outcomes:
        return []
    states = torch.stack([o.subject_states[lre.layer] for o in outcomes]).to(model.device)
    logits = model.decode_state(lre.apply(states).to(model.dtype)).float()
    probabilities = torch.softmax(logits, dim=-1)
    top = probabilities.topk(top_k, dim=-1)
    text_of = model.token_text
    results = []
    for row, outcome in enumerate(outcomes):
        accepted = first_tokens(outcome.candidates, correct=True)
        wrong_candidates = first_tokens(outcome.candidates, correct=False)
        # Under the ranking check the model's answer is its top-ranked candidate, already among the wrong ones.
        said_wrong = say_check == "generation" and not outcome.generation_pass and outcome.greedy_first_token is not None
        rule = FirstTokenRule.of(accepted, wrong_candidates | ({outcome.greedy_first_token} if said_wrong else set()), text_of)
        tokens = top.indices[row].tolist()
        best = max(accepted, key=lambda t: float(logits[row, t]), default=None)
        best_logit = float(logits[row, best]) if best is not None else float("-inf")
        results.append(
            KnowOutcome(
                top_tokens=[(text_of(t), round(float(p), 6)) for t, p in zip(tokens, top.values[row].tolist())],
                object_rank=object_rank(lambda t: float(logits[row, t]), accepted, wrong_candidates),
                top1_is_answer=tokens[0] in accepted,
                undecided=rule.why_undecided(tokens[0], text_of, _sharing(outcome, rule, tokens[0], said_wrong)),
                object_vocab_rank=None if best is None else 1 + int((logits[row] > best_logit).sum()),
                object_probability=None if best is None else round(float(probabilities[row, best]), 6),
                object_token_id=best,
                object_token=None if best is None else text_of(best),
            )
        )
    return results


def _sharing(outcome: FactOutcome, rule: FirstTokenRule, top1: int, said_wrong: bool) -> tuple[str, ...]:
    """A few wrong answers that start with the token that cannot decide (the decoded one when an alias decides):
    the model's own generated answer first when it is one of them."""
    tokens = {top1} if rule.deciding else rule.undeciding
    said = [f"{outcome.generated.strip()} (the model's answer)"] if said_wrong and outcome.greedy_first_token in tokens else []
    # The candidate that the model's answer says is named once, as its answer.
    candidates = [c.text for c in outcome.candidates if not c.correct and c.first_token in tokens
                  and not (said and matching_answer(outcome.generated, [c.text]))]
    return tuple(said + candidates)[:SHARED_WITH_SHOWN]


def faithfulness(outcomes: Sequence[FactOutcome], knows: Sequence[KnowOutcome]) -> Faithfulness:
    """The paper's protocol with the strict token rule: among test facts the model says right and whose first
    token decides, how many the LRE decodes (its top-1 token starts the answer and no wrong candidate)."""
    said = [k for o, k in zip(outcomes, knows) if not o.is_training and o.generation_pass]
    decided = [k for k in said if k.decodes_object is not None]
    return Faithfulness(faithful=sum(k.decodes_object for k in decided), tested=len(decided), undecided=len(said) - len(decided))
