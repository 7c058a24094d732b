"""The candidate trie alone, against a made-up language model: branch and bound ranks as scoring every candidate would."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from factcheck.says.ranking import CandidateTrie, TrieShape

VOCAB = 7


def next_logits(prefix: tuple[int, ...]) -> torch.Tensor:
    """The made-up model: logits of the token after `prefix`, fixed per prefix (a hash seeds them)."""
    seed = int.from_bytes(hashlib.sha256(repr(prefix).encode()).digest()[:8], "little")
    return torch.randn(VOCAB, generator=torch.Generator().manual_seed(seed)) * 3


def full_score(tokens: tuple[int, ...], others: list[tuple[int, ...]] = (), own: list[tuple[int, ...]] = (),
               carrying_on: frozenset[int] = frozenset()) -> float:
    """A candidate's exact score: every token scored after its own prefix, then the log-probability of not going on:
    with a next token of a longer candidate of the other class (`others`), or with a token of `carrying_on` (that
    carries every answer on) unless it leads into a longer candidate of its own class (`own`)."""
    score = sum(float(torch.log_softmax(next_logits(tokens[:i]), -1)[t]) for i, t in enumerate(tokens))

    def next_tokens(candidates):
        return {c[len(tokens)] for c in candidates if len(c) > len(tokens) and c[: len(tokens)] == tokens}

    going_on = next_tokens(others) | (carrying_on - next_tokens(own))
    if going_on:
        next_probabilities = torch.softmax(next_logits(tokens).double(), -1)
        score += max(math.log(max(1.0 - float(next_probabilities[sorted(going_on)].sum()), 0.0) or 1e-300), -100.0)
    return score


class LastTokenCarriesOn:
    """Word ends of a made-up vocabulary: the last token carries every answer on (as "5" does "8" into "85")."""

    tokens = frozenset({VOCAB - 1})

    def mass_going_on(self, answer, logprobs, skip):
        return sum(float(logprobs[t].exp()) for t in self.tokens - skip)


def settle_alone(trie: CandidateTrie, limit: int = 2) -> int:
    """Run the nodes the trie asks for until it asks for none, as `settle` does with a real model."""
    runs = 0
    while nodes := trie.nodes_to_run(limit):
        for node in nodes:
            logits = next_logits(node)
            trie.learn(node, [], logits, torch.logsumexp(logits, -1))
            trie.runs += 1
            runs += 1
    return runs


candidate_lists = st.lists(st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=4).map(tuple), min_size=2, max_size=12, unique=True)


@settings(max_examples=150, deadline=None)
@given(candidate_lists, st.data(), st.booleans())
def test_branch_and_bound_gives_the_ranking_of_scoring_every_candidate(token_lists, data, with_word_ends):
    right = data.draw(st.integers(0, len(token_lists) - 1))
    correct = [i == right for i in range(len(token_lists))]
    shape = TrieShape.of(tuple(token_lists))
    word_ends = LastTokenCarriesOn() if with_word_ends else None
    trie = CandidateTrie([f"c{i}" for i in range(len(token_lists))], correct, shape, torch.log_softmax(next_logits(()), -1),
                         margin_runs=None, word_ends=word_ends)
    settle_alone(trie)
    carrying_on = LastTokenCarriesOn.tokens if with_word_ends else frozenset()
    exact_scores = {f"c{i}": full_score(tokens, [t for j, t in enumerate(token_lists) if correct[j] != correct[i]],
                                        [t for j, t in enumerate(token_lists) if correct[j] == correct[i] and j != i], carrying_on)
                    for i, tokens in enumerate(token_lists)}
    ranked = trie.candidates()
    for candidate in ranked:
        if candidate.exact:
            assert abs(candidate.logprob - exact_scores[candidate.text]) < 1e-4
        else:
            # A candidate left behind carries a bound from above, never below its true score.
            assert candidate.logprob >= exact_scores[candidate.text] - 1e-4
    best = max(exact_scores.values())
    assert ranked[0].exact and abs(ranked[0].logprob - best) < 1e-4
    # With no limit on margin runs, the best right and the best wrong answers are both exact: the margin is exact.
    for flag in (True, False):
        first_of_class = next(c for c in ranked if c.correct == flag)
        assert first_of_class.exact
        assert abs(first_of_class.logprob - max(exact_scores[c.text] for c in ranked if c.correct == flag)) < 1e-4


def test_a_candidate_that_begins_a_longer_one_scores_only_where_the_model_stops_there():
    # Token 0 is "1", token 0 then 0 is "11": a model sure of "11" must not rank "1" first, as the bare
    # log-probability of token 0 would (it is at least that of 0 then 0).
    first = torch.full((VOCAB,), -20.0)
    first[0] = 0.0
    trie = CandidateTrie(["1", "11"], [False, True], TrieShape.of(((0,), (0, 0))), torch.log_softmax(first, -1), margin_runs=None)
    settle_alone(trie)
    ranked = trie.candidates()
    assert all(c.exact for c in ranked)
    after_one = torch.softmax(next_logits((0,)).double(), -1)
    assert ranked[[c.text for c in ranked].index("1")].logprob == pytest.approx(math.log(1 - float(after_one[0])), abs=1e-6)
    assert ranked[[c.text for c in ranked].index("11")].logprob == pytest.approx(math.log(float(after_one[0])), abs=1e-5)
    assert (ranked[0].text == "11") == (float(after_one[0]) > 0.5)
    # A right answer and a longer right alias are not set against each other: "1" keeps its whole probability.
    trie = CandidateTrie(["1", "11", "5"], [True, True, False], TrieShape.of(((0,), (0, 0), (5,))), torch.log_softmax(first, -1),
                         margin_runs=None)
    settle_alone(trie)
    assert trie.candidates()[0].text == "1" and trie.candidates()[0].logprob == pytest.approx(0.0, abs=1e-6)


def test_a_clear_winner_leaves_the_other_branches_unrun():
    # Token 0 then 1 is the only right answer; the wrong ones all start with tokens the model finds unlikely.
    first = torch.full((VOCAB,), -20.0)
    first[0] = 0.0
    token_lists = [(0, 1), *[(t, u, 2) for t in (3, 4, 5) for u in (0, 1, 2)]]
    trie = CandidateTrie([str(t) for t in token_lists], [True] + [False] * 9, TrieShape.of(tuple(token_lists)),
                         torch.log_softmax(first, -1), margin_runs=None)
    runs = settle_alone(trie)
    prefixes = {tokens[:i] for tokens in token_lists for i in range(1, len(tokens))}
    assert runs < len(prefixes)  # a run per prefix is what scoring every candidate costs
    ranked = trie.candidates()
    assert ranked[0].correct and ranked[0].exact
    assert any(not c.exact for c in ranked)


def test_past_the_margin_runs_only_the_verdict_is_exact():
    token_lists = [(1, 2, 3), (1, 2, 4), (2, 3, 1), (2, 4, 1), (3, 1, 1)]

    def fresh(margin_runs):
        return CandidateTrie([str(t) for t in token_lists], [True, False, False, False, False], TrieShape.of(tuple(token_lists)),
                             torch.log_softmax(next_logits(()), -1), margin_runs=margin_runs)

    unlimited, verdict_only = fresh(None), fresh(0)
    assert settle_alone(verdict_only) <= settle_alone(unlimited)
    assert verdict_only.candidates()[0].correct == unlimited.candidates()[0].correct
    assert verdict_only.candidates()[0].exact
