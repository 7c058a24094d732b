"""How good an LRE is: faithfulness (does it predict what the model says?) and causality (can it edit the model?).

Both follow the LRE paper (Hernandez et al., ICLR 2024). Test facts are the relation's facts outside the
LRE's training set, each prompted with all n training facts as
demonstrations, and only those the model itself gets right count.

Two matching rules are reported side by side:
* strict: token ids. The first token of the object (or of an alias) as a
  continuation of the prompt, leading space included, must be the top-1,
  and only where that token decides (factcheck.knows.know_rules): a first token
  that is blank or also starts a wrong candidate leaves the fact undecided,
  out of both the test set and the count.
* lenient (the paper's code): the top-1 token's text, stripped and
  lower-cased, is a non-empty prefix of the lower-cased object (or alias),
  so the token "B" matches "Buenos Aires".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from factcheck.knows.know_rules import FirstTokenRule, object_rank
from factcheck.knows.lre import Lre, PromptSite, PromptStates, prompt_states, query_sites
from factcheck.model.hooks import edit_residual
from factcheck.model.language_model import LanguageModel, left_pad
from factcheck.says.saycheck import answer_tokens
from factcheck.suites.suite import Fact, Suite


def lenient_match(token_text: str, answers: Sequence[str]) -> bool:
    """The paper's rule: the stripped, lower-cased token is a non-empty prefix of an answer."""
    piece = token_text.strip().lower()
    return bool(piece) and any(answer.strip().lower().startswith(piece) for answer in answers)


def first_token_ids(model: LanguageModel, site: PromptSite, answers: Sequence[str]) -> set[int]:
    """First token id of each answer as a continuation of the site's prompt (unmergeable answers dropped)."""
    return {tokens[0] for tokens in answer_tokens(model, site.text, list(site.token_ids), answers, separator=site.answer_separator) if tokens}


@dataclass(frozen=True)
class FactFaithfulness:
    fact: Fact
    model_top1: str  # the model's own next token
    lre_top1: str  # the LRE's top-1 decoded token
    model_strict: bool  # the model's top-1 is an answer's first token that decides
    model_lenient: bool
    lre_strict: bool  # the LRE's top-1 is an answer's first token that decides
    lre_lenient: bool
    object_rank: int  # 1 + distinct wrong candidates' first tokens the LRE scores above every right one
    lre_undecided: bool = False  # the LRE's top-1 cannot decide (no first token decides the fact, or it is a shared one)
    # The first-token rule without the undecided one (what the strict rule counted before it), for comparison:
    model_starts_answer: bool = False  # the model's top-1 is an accepted answer's first token, deciding or not
    lre_starts_answer: bool = False  # the LRE's top-1 is

    @property
    def strict_tested(self) -> bool:
        """In the strict test set: the model says it (by a deciding token) and the LRE's top-1 can decide."""
        return self.model_strict and not self.lre_undecided


@dataclass(frozen=True)
class FaithfulnessReport:
    facts: tuple[FactFaithfulness, ...]

    @property
    def strict(self) -> float | None:
        """Among decided test facts the model gets right (token rule), the share where the LRE's top-1 is right."""
        tested = [f for f in self.facts if f.strict_tested]
        return sum(f.lre_strict for f in tested) / len(tested) if tested else None

    @property
    def lenient(self) -> float | None:
        """The paper's number: both the test-set filter and the match use the lenient rule."""
        tested = [f for f in self.facts if f.model_lenient]
        return sum(f.lre_lenient for f in tested) / len(tested) if tested else None

    @property
    def tested_strict(self) -> int:
        return sum(f.strict_tested for f in self.facts)

    @property
    def mean_object_rank(self) -> float | None:
        tested = [f for f in self.facts if f.strict_tested]
        return sum(f.object_rank for f in tested) / len(tested) if tested else None


def _facts_of(relation: Suite | Sequence[Fact]) -> tuple[Fact, ...]:
    return tuple(relation.facts) if isinstance(relation, Suite) else tuple(relation)


def _split(lre: Lre, relation: Suite | Sequence[Fact]) -> tuple[tuple[Fact, ...], tuple[Fact, ...], tuple[str, ...]]:
    """(training facts, test facts, candidate objects) for an LRE estimated on this relation."""
    facts = _facts_of(relation)
    by_subject = {f.subject: f for f in facts}
    training = tuple(by_subject.get(s, Fact(s, o)) for s, o in lre.training)
    trained = {s for s, _ in lre.training}
    test = tuple(f for f in facts if f.subject not in trained)
    candidates = tuple(dict.fromkeys(f.object for f in facts))
    return training, test, candidates


def test_sites(model: LanguageModel, lre: Lre, relation: Suite | Sequence[Fact]) -> list[PromptSite]:
    """The prompts of the relation's facts outside the LRE's training set, with all training facts as demos."""
    training, test, _ = _split(lre, relation)
    return query_sites(model, lre.template, training, [f.subject for f in test])


@torch.no_grad()
def faithfulness(
    model: LanguageModel,
    lre: Lre,
    relation: Suite | Sequence[Fact],
    batch_size: int = 16,
    states: PromptStates | None = None,
) -> FaithfulnessReport:
    """Decode LRE(h) for every test fact and compare it with the model's own answer and the object.

    `states` may pass in prompt_states(model, test_sites(...), lre.layer) when
    several LREs of one layer are scored (e.g. a beta sweep).
    """
    training, test, candidates = _split(lre, relation)
    if not test:
        return FaithfulnessReport(())
    sites = query_sites(model, lre.template, training, [f.subject for f in test])
    if states is None:
        states = prompt_states(model, sites, lre.layer, batch_size)
    lre_logits = lre.logits(model, states.h)
    model_top = states.logits.argmax(-1).tolist()
    lre_top = lre_logits.argmax(-1).tolist()
    results = []
    text_of = model.token_text
    for row, (fact, site) in enumerate(zip(test, sites)):
        right = first_token_ids(model, site, fact.answers)
        wrong_all = first_token_ids(model, site, [c for c in candidates if c not in fact.answers])
        rule = FirstTokenRule.of(right, wrong_all, text_of)
        model_text = text_of(model_top[row])
        lre_text = text_of(lre_top[row])
        lre_decision = rule.decide(lre_top[row])
        results.append(
            FactFaithfulness(
                fact=fact,
                model_top1=model_text,
                lre_top1=lre_text,
                model_strict=rule.decide(model_top[row]) is True,
                model_lenient=lenient_match(model_text, fact.answers),
                lre_strict=lre_decision is True,
                lre_lenient=lenient_match(lre_text, fact.answers),
                object_rank=object_rank(lambda t: float(lre_logits[row, t]), right, wrong_all),
                lre_undecided=lre_decision is None,
                model_starts_answer=model_top[row] in right,
                lre_starts_answer=lre_top[row] in right,
            )
        )
    return FaithfulnessReport(tuple(results))


@dataclass(frozen=True)
class CausalEdit:
    source: Fact  # the fact whose subject state is edited
    target: Fact  # the fact whose object the edit aims for
    top1_after: str
    success: bool


@dataclass(frozen=True)
class CausalityReport:
    edits: tuple[CausalEdit, ...]
    rank: int

    @property
    def causality(self) -> float | None:
        return sum(e.success for e in self.edits) / len(self.edits) if self.edits else None


@torch.no_grad()
def causality(
    model: LanguageModel,
    lre: Lre,
    relation: Suite | Sequence[Fact],
    rank: int | None = None,
    batch_size: int = 16,
) -> CausalityReport:
    """Edit h by W_k^+ (z' - z) (no beta) and check whether the model now says o'.

    Sources are the test facts the model gets right (token rule); each one's
    target is the next such fact (in relation order, wrapping around) whose
    object starts with another token.
    """
    training, test, _ = _split(lre, relation)
    k = rank if rank is not None else (lre.rank or lre.hidden_size)
    sites = query_sites(model, lre.template, training, [f.subject for f in test])
    if not sites:
        return CausalityReport((), k)
    states = prompt_states(model, sites, lre.layer, batch_size)
    first_ids = [first_token_ids(model, site, fact.answers) for fact, site in zip(test, sites)]
    known = [i for i, top in enumerate(states.logits.argmax(-1).tolist()) if top in first_ids[i]]
    pairs = []
    for position, i in enumerate(known):
        following = known[position + 1 :] + known[:position]
        j = next((j for j in following if not first_ids[j] & first_ids[i]), None)
        if j is not None:
            pairs.append((i, j))
    if not pairs:
        return CausalityReport((), k)
    inverse = lre.pseudo_inverse(k).to(states.z)
    deltas = (states.z[[j for _, j in pairs]] - states.z[[i for i, _ in pairs]]) @ inverse.T
    edited_top = _edited_top1(model, [sites[i] for i, _ in pairs], lre.layer, deltas, batch_size)
    edits = tuple(
        CausalEdit(
            source=test[i],
            target=test[j],
            top1_after=model.tokenizer.decode([top]),
            success=top in first_ids[j],
        )
        for (i, j), top in zip(pairs, edited_top)
    )
    return CausalityReport(edits, k)


def _edited_top1(model: LanguageModel, sites: Sequence[PromptSite], layer, deltas: torch.Tensor, batch_size: int) -> list[int]:
    """The model's top-1 next token with deltas[i] added to the residual stream at site i's subject token."""
    tops: list[int] = []
    for start in range(0, len(sites), batch_size):
        chunk = sites[start : start + batch_size]
        encoded = left_pad([s.token_ids for s in chunk], model.pad_id, model.device)
        rows = torch.arange(len(chunk), device=model.device)
        columns = torch.tensor([encoded.padded_index(i, s.subject_index) for i, s in enumerate(chunk)], device=model.device)
        chunk_deltas = deltas[start : start + batch_size]

        def add_delta(states):
            states = states.clone()
            states[rows, columns] += chunk_deltas.to(states.dtype)
            return states

        with edit_residual(model, layer, add_delta):
            logits = model.forward(encoded).logits[:, -1]
        tops.extend(logits.argmax(-1).tolist())
    return tops
