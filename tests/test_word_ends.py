"""Which next tokens carry a ranked answer on: judged as generation matching reads the text, in any tokenizer."""

from __future__ import annotations

import math

import pytest
import torch

from factcheck.says.ranking import CandidateTrie, TrieShape
from factcheck.says.word_ends import TokenWordEnds

# A sentencepiece-style vocabulary: "▁" marks a word's leading space, which decoding a word alone drops.
WORDS = ["<unk>", "▁a", "▁8", "▁9", "5", ",", ".", "▁Paris", "ian", "▁New", "▁York", "▁City", "▁and", "▁is", "-", "▁million"]


@pytest.fixture(scope="module")
def word_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel({word: i for i, word in enumerate(WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>")


def token(word: str) -> int:
    return WORDS.index(word)


def test_a_token_reads_as_it_continues_text_with_its_leading_space(word_tokenizer):
    assert word_tokenizer.decode([token("▁City")]) == "City"  # alone, the space is dropped
    ends = TokenWordEnds(word_tokenizer)
    assert ends.text(token("▁City")) == " City"
    assert ends.text(token("ian")) == "ian"
    assert ends.text(len(WORDS) + 3) == ""  # an id past the vocabulary (a model's padded embedding) adds nothing


@pytest.mark.parametrize("answer, next_word, goes_on", [
    ("8", "5", True),  # "85" does not say 8
    ("8", ",", False), ("8", ".", False),  # "8," and "8." do
    ("8", "▁million", True),  # "8 million" is not 8
    ("Paris", "ian", True), ("Paris", ",", False), ("Paris", "▁and", False), ("Paris", "▁is", False),
    ("New York", "▁City", True),  # a name goes on into a longer name
    ("Paris", "-", False),  # a bare hyphen decides nothing yet: the next token would
])
def test_a_next_token_carries_an_answer_on_where_generation_matching_reads_it_so(word_tokenizer, answer, next_word, goes_on):
    assert TokenWordEnds(word_tokenizer).goes_on(answer, token(next_word)) == goes_on


def test_the_mass_going_on_sums_the_carrying_tokens_not_skipped(word_tokenizer):
    ends = TokenWordEnds(word_tokenizer)
    probabilities = torch.full((len(WORDS),), 0.01, dtype=torch.float64)
    probabilities[token("5")] = 0.5
    probabilities[token(",")] = 0.3
    logprobs = (probabilities / probabilities.sum()).log()
    carrying = [t for t in range(len(WORDS)) if ends.goes_on("8", t)]
    assert token("5") in carrying and token(",") not in carrying
    expected = float(logprobs[carrying].exp().sum())
    assert ends.mass_going_on("8", logprobs, set()) == pytest.approx(expected, rel=1e-9)
    # A token leading into a longer candidate is left to the trie (counted there or not at all).
    skipped = float(logprobs[token("5")].exp())
    assert ends.mass_going_on("8", logprobs, {token("5")}) == pytest.approx(expected - skipped, rel=1e-9)


def test_a_right_answer_the_model_goes_on_from_does_not_rank_first(word_tokenizer):
    # "8" is right, "9" wrong. The model says "8" more often than "9", but after "8" it almost always goes on
    # with "5" ("85", no candidate); after "9" it stops. It says 9 more often than 8: the ranking must say so.
    def logprobs_of(weights: dict[str, float]) -> torch.Tensor:
        probabilities = torch.full((len(WORDS),), 1e-9, dtype=torch.float64)
        for word, weight in weights.items():
            probabilities[token(word)] = weight
        return (probabilities / probabilities.sum()).log()

    after = {(): logprobs_of({"▁8": 0.6, "▁9": 0.4}), (token("▁8"),): logprobs_of({"5": 0.9, ".": 0.1}),
             (token("▁9"),): logprobs_of({".": 0.9, "5": 0.1})}
    trie = CandidateTrie(["8", "9"], [True, False], TrieShape.of(((token("▁8"),), (token("▁9"),))), after[()],
                         margin_runs=None, word_ends=TokenWordEnds(word_tokenizer))
    while nodes := trie.nodes_to_run(4):
        for node in nodes:
            trie.learn(node, [], after[node].float(), torch.tensor(0.0))
            trie.runs += 1
    ranked = trie.candidates()
    assert [c.text for c in ranked] == ["9", "8"] and all(c.exact for c in ranked)
    scores = {c.text: c.logprob for c in ranked}
    assert scores["8"] == pytest.approx(float(after[()][token("▁8")]) + math.log(1 - math.exp(float(after[(token("▁8"),)][token("5")]))), abs=1e-4)
    # Without judging word ends, the bare log-probability ranks "8" first.
    bare = CandidateTrie(["8", "9"], [True, False], TrieShape.of(((token("▁8"),), (token("▁9"),))), after[()], margin_runs=None)
    assert bare.nodes_to_run(4) == [] and bare.candidates()[0].text == "8"


def test_past_the_head_tokens_the_commonest_rules_judge_the_rest(word_tokenizer, monkeypatch):
    from factcheck.says import word_ends

    monkeypatch.setattr(word_ends, "HEAD_TOKENS", 1)
    ends = TokenWordEnds(word_tokenizer)
    probabilities = torch.full((len(WORDS),), 1e-9, dtype=torch.float64)
    probabilities[token(",")] = 0.5  # the head: judged by full matching, and not carrying "8" on
    probabilities[token("5")] = 0.3  # a word character after a number: a commonest rule
    probabilities[token("▁million")] = 0.2  # a scale word: a rule of full matching only, missed past the head
    logprobs = (probabilities / probabilities.sum()).log()
    mass = ends.mass_going_on("8", logprobs, set())
    assert mass == pytest.approx(0.3, abs=1e-6)
    monkeypatch.setattr(word_ends, "HEAD_TOKENS", len(WORDS))
    assert ends.mass_going_on("8", logprobs, set()) == pytest.approx(0.5, abs=1e-6)
