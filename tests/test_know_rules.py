"""When a decoded first token can decide a fact, and when a relation's faithfulness can be trusted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factcheck.knows.know_rules import (
    BLANK_FIRST_TOKEN,
    MIN_FAITHFULNESS_FACTS,
    NO_FIRST_TOKEN,
    SHARED_FIRST_TOKEN,
    Faithfulness,
    FirstTokenRule,
    is_blank,
    object_rank,
    wilson_interval,
)

TEXTS = {1: " Paris", 2: " Rome", 3: " ", 4: " J", 5: " (", 6: "7"}


def text_of(token: int) -> str:
    return TEXTS[token]


@pytest.mark.parametrize("text, blank", [(" ", True), ("", True), (" (", True), ("\n", True), (" '", True), (" 7", False),
                                         ("7", False), (" J", False), (" é", False), (" 東", False)])
def test_blank_means_no_letter_or_digit(text, blank):
    assert is_blank(text) is blank


def test_a_deciding_first_token_decides_both_ways():
    rule = FirstTokenRule.of({1}, {2}, text_of)
    assert rule.decidable and rule.decide(1) is True and rule.decide(2) is False and rule.decide(6) is False
    assert rule.why_undecided(1, text_of) is None and rule.why_undecided(2, text_of) is None


def test_shared_and_blank_first_tokens_leave_the_fact_undecided_whatever_is_decoded():
    shared = FirstTokenRule.of({4}, {4, 2}, text_of)
    blank = FirstTokenRule.of({3}, {2}, text_of)
    for rule, reason, tokens in ((shared, SHARED_FIRST_TOKEN, (" J",)), (blank, BLANK_FIRST_TOKEN, (" ",))):
        assert not rule.decidable
        for top in (1, 2, 3, 4):
            assert rule.decide(top) is None
            assert rule.why_undecided(top, text_of).reason == reason
            assert rule.why_undecided(top, text_of).tokens == tokens
    assert FirstTokenRule.of(set(), {2}, text_of).why_undecided(2, text_of).reason == NO_FIRST_TOKEN


@given(st.integers(0, 60), st.integers(1, 60))
def test_wilson_interval_holds_the_proportion_and_narrows_with_more_facts(successes, trials):
    successes = min(successes, trials)
    low, high = wilson_interval(successes, trials)
    assert 0.0 <= low <= successes / trials <= high <= 1.0
    low4, high4 = wilson_interval(4 * successes, 4 * trials)
    assert high4 - low4 < high - low


def test_wilson_interval_matches_published_values():
    # Wilson 95% score interval for 8 of 10 and 0 of 5 (as in standard tables).
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 5) == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_trust_needs_enough_facts_and_a_lower_end_over_the_threshold():
    assert Faithfulness(faithful=20, tested=20, undecided=0).trusted
    assert not Faithfulness(faithful=4, tested=4, undecided=0).trusted  # lower end 0.51, but 4 < 5 facts
    assert "fewer than" in Faithfulness(faithful=4, tested=4, undecided=0).why_untrusted()
    assert MIN_FAITHFULNESS_FACTS == 5 and Faithfulness(faithful=5, tested=5, undecided=0).trusted  # lower end 0.57
    # 0.60 on 20 facts: interval 0.39-0.78, its lower end under 0.5.
    twelve_of_twenty = Faithfulness(faithful=12, tested=20, undecided=3)
    assert not twelve_of_twenty.trusted and "lower end" in twelve_of_twenty.why_untrusted()
    assert twelve_of_twenty.describe() == "0.60 [0.39-0.78] n=20"
    assert Faithfulness(0, 0, 7).describe() == "n/a n=0" and not Faithfulness(0, 0, 7).trusted


def test_object_rank_counts_the_wrong_first_tokens_scored_above_every_accepted_one():
    scores = {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.1}.__getitem__
    assert object_rank(scores, accepted={1, 3}, wrong={2, 4}) == 2  # only token 2 beats the best accepted (0.7)
    assert object_rank(scores, accepted={2}, wrong={1, 3, 4}) == 1
    assert object_rank(scores, accepted={1}, wrong={1, 2, 3}) == 3  # a token that starts an accepted answer is not wrong
    assert object_rank(scores, accepted=set(), wrong={1, 2}) == 3  # no accepted first token: below every wrong one
