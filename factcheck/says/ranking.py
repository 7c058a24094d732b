"""Rank a fact's candidate answers without scoring every candidate in full: exact verdicts.

A relation may offer a thousand candidate names per fact, each a few tokens
long. One fact's candidates form a trie of token ids. A prefix's
log-probability (as a continuation of the prompt) bounds every candidate below
it from above, and it only falls as tokens are added. A trie node is run (its
last token fed, which gives all its children's log-probabilities at once) only
while its bound clears the bar of its candidates' class. For an exact margin
the bar is that class's best exact score so far (right or wrong answers); past
MARGIN_RUNS runs per fact it is the best exact score of either class, which is
all the ranking verdict needs (the losing class's best score may then stay a
bound). Bars only rise and bounds only fall, so a candidate left behind stays
behind: when no node is left to run, the best candidate is exact and so is the
verdict.

A candidate is said only where the model ends it there: "8" going on into "85", "Paris" into "Parisian"
or "New York" into "New York City" says another answer, as generation matching reads it. A bare
log-probability would also rank a wrong "1" at least as high as a right "11", whatever the model says. So a
candidate's score is that of saying it and then not going on: log P(c) + log(1 - sum of P(t | c) over the
next tokens t that carry it on). Those are the next tokens of longer candidates of the other class, and
the tokens that generation matching reads as carrying the answer on (`WordEnds`, factcheck.says.word_ends).
Going on into a longer answer of its own class keeps it in its class: a right answer and its longer alias
are not set against each other. A candidate's own node runs once to know that; until then its score is a
bound.

Nodes on a right answer's path run first (the right answers are few, and their
exact score is the bar for the many wrong ones), then nodes that end a candidate
(which make it exact and raise a bar), then best bound first; a few per fact and
round, all facts' nodes of a round in one packed pass. The first rounds share
greedy generation's passes. Which nodes a fact runs depends on that fact alone,
so results do not depend on which facts share a pack. Greedy generation walks
the likeliest path already; its steps count as runs of the nodes on that path.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from factcheck.model.packing import PASS_TOKENS, PackedSequence, SlotRange, Token, slot_ranges

Prefix = tuple[int, ...]

# Node runs per fact spent on the margin: past them, only nodes that could change the ranking verdict
# run, and the margin may be a bound (FactOutcome.margin_is_exact). A relation of a thousand names
# needs about 100 runs per fact for exact margins.
MARGIN_RUNS = 16
# Trie nodes one fact runs per round: NODES_PER_ROUND in the first rounds, then twice as many each
# round, up to MAX_NODES_PER_ROUND. More per round means fewer passes (each reads every weight once,
# and a pack's last facts would otherwise run alone) but more nodes that a higher bar would have spared.
# The first rounds ride along generation's steps (factcheck.says.saycheck), in passes that run anyway.
NODES_PER_ROUND = 2
STEADY_ROUNDS = 3
MAX_NODES_PER_ROUND = 256
# Dropping unused cache slots copies the rest; it pays once this many (and a quarter of the cache) are unused.
MIN_SLOTS_TO_DROP = 256


@dataclass(frozen=True)
class Candidate:
    """A candidate answer's log-probability as a continuation of the prompt.

    `exact` is False for a multi-token candidate that was not scored in full:
    its logprob is then that of its longest scored prefix, an upper bound at or
    below its class's best exact score (or, once the fact's margin runs are
    spent, the best exact score of either class): it cannot change the ranking
    verdict.
    """

    text: str
    logprob: float
    correct: bool
    exact: bool = True
    first_token: int | None = None  # the candidate's first token id as a continuation of the prompt


class WordEnds(Protocol):
    """Which next tokens carry an answer on into a longer word, number or name."""

    def mass_going_on(self, answer: str, logprobs: torch.Tensor, skip: set[int]) -> float:
        """The probability, under next-token `logprobs` right after `answer`, of a token (not in `skip`) that carries it on."""
        ...


@dataclass(frozen=True)
class PromptPlace:
    """Where one fact's prompt lies in a packed sequence."""

    context: int
    visible: list[SlotRange]  # the slot ranges holding the prompt's tokens
    next_position: int  # position id of the first token after the prompt


@dataclass(frozen=True)
class TrieShape:
    """The trie of a candidate list's token ids: the part that facts with the same candidates share."""

    tokens: tuple[Prefix | None, ...]  # each candidate's token ids after the prompt (None: scored apart)
    children: dict[Prefix, list[int]]  # prefix -> the next tokens of candidates that extend it
    below: dict[Prefix, list[int]]  # prefix -> the candidates that extend it
    first_tokens: list[int]
    ending_at: dict[Prefix, list[int]]  # a candidate's whole token path -> the candidates it is

    @classmethod
    def of(cls, tokens: tuple[Prefix | None, ...]) -> TrieShape:
        children: dict[Prefix, list[int]] = {}
        below: dict[Prefix, list[int]] = {}
        for index, candidate_tokens in enumerate(tokens):
            for length in range(1, len(candidate_tokens or ())):
                prefix = candidate_tokens[:length]
                next_tokens = children.setdefault(prefix, [])
                if candidate_tokens[length] not in next_tokens:
                    next_tokens.append(candidate_tokens[length])
                below.setdefault(prefix, []).append(index)
        ending_at: dict[Prefix, list[int]] = {}
        for index, candidate_tokens in enumerate(tokens):
            if candidate_tokens:
                ending_at.setdefault(candidate_tokens, []).append(index)
        return cls(tokens, children, below, sorted({t[0] for t in tokens if t}), ending_at)


class CandidateTrie:
    """One fact's candidates, the prefixes run so far and what they tell."""

    def __init__(
        self,
        texts: Sequence[str],
        correct: Sequence[bool],
        shape: TrieShape,
        first_logprobs: torch.Tensor,
        scored_apart: dict[int, tuple[float, int]] | None = None,
        margin_runs: int | None = MARGIN_RUNS,
        word_ends: WordEnds | None = None,
    ):
        """`shape`: the candidates' token trie (`scored_apart`: index -> (exact log-probability,
        first token) for those without tokens); `first_logprobs`: the log-probabilities over the
        vocabulary of the token after the prompt; `margin_runs`: node runs spent on an exact margin
        (None: no limit); `word_ends`: which tokens carry an answer on (None: only those leading into
        a longer candidate of the other class)."""
        self.texts = list(texts)
        self.correct = list(correct)
        self.tokens = shape.tokens
        self.children = shape.children
        self.below = shape.below
        self.word_ends = word_ends
        self._next_by_class: dict[int, tuple[list[int], set[int]]] = {}  # see next_tokens_by_class
        # The candidates whose score needs their own node's run: what follows them may carry them on. Without
        # `word_ends`, only those that a longer candidate of the other class extends.
        if word_ends is None:
            needs_stop = {i for indices in shape.ending_at.values() for i in indices if self.next_tokens_by_class(i)[0]}
            self.ending_at = {prefix: ending for prefix, indices in shape.ending_at.items()
                              if (ending := [i for i in indices if i in needs_stop])}
        else:
            needs_stop = {i for i, tokens in enumerate(self.tokens) if tokens}
            self.ending_at = shape.ending_at
        self.needs_stop = needs_stop
        self.stops: dict[int, float] = {}  # such a candidate, once its node ran -> log P(not going on)
        self.scored_apart = dict(scored_apart or {})
        first_tokens = shape.first_tokens
        self.known: dict[Prefix, float] = dict(zip([(t,) for t in first_tokens], first_logprobs[first_tokens].tolist()))
        self.slots: dict[Prefix, list[int]] = {(): []}  # prefix -> cache slots of its tokens, once run
        self.depth = [1 if t else 0 for t in self.tokens]  # each candidate's longest prefix in `known`
        self.bars = {True: float("-inf"), False: float("-inf")}
        self.margin_runs = margin_runs
        self.runs = 0  # nodes run for this fact (generation steps not counted)
        # The candidates not yet exact nor left behind, by the node they wait on (the longest prefix of theirs
        # that is known): they share its bound, so a round weighs nodes, not candidates.
        self.open_at: dict[Prefix, list[int]] = {}
        for index in range(len(self.texts)):
            if self.is_exact(index):
                self._raise_bar(index)
            else:
                self.open_at.setdefault(self.tokens[index][:1], []).append(index)

    def is_exact(self, index: int) -> bool:
        tokens = self.tokens[index]
        if tokens is None:
            return True
        # A candidate that may go on is exact once its own node ran (what follows it is then known).
        return self.depth[index] == len(tokens) and (index not in self.needs_stop or index in self.stops)

    def logprob(self, index: int) -> float:
        """The candidate's exact score, or its longest known prefix's log-probability (an upper bound)."""
        tokens = self.tokens[index]
        if tokens is None:
            return self.scored_apart[index][0]
        return self.known[tokens[: self.depth[index]]] + (self.stops.get(index, 0.0) if self.depth[index] == len(tokens) else 0.0)

    def bar(self, correct: bool) -> float:
        """What a candidate of this class must beat to matter.

        For an exact margin: its class's best exact score so far (the right (True)
        or the wrong (False) candidates). Once the margin's runs are spent, only
        the verdict: the best exact score of either class.
        """
        if self._past_margin_runs():
            return max(self.bars.values())
        return self.bars[correct]

    def _past_margin_runs(self) -> bool:
        return self.margin_runs is not None and self.runs >= self.margin_runs

    def _verdict_settled(self) -> bool:
        """Whether every open candidate is of the class of the best exact score: none of the other class
        can overtake it, so the ranking's first candidate's class is known (its exact score may not be)."""
        leading = self.bars[True] > self.bars[False]
        return all(self.correct[i] == leading for members in self.open_at.values() for i in members)

    def has_open(self) -> bool:
        """Whether some candidate may still need a node run."""
        return bool(self.open_at)

    def nodes_to_run(self, limit: int) -> list[Prefix]:
        """Up to `limit` prefixes worth running (each holds a candidate whose bound clears its class's
        bar): right answers' paths first, then the nodes that end a candidate (its run makes the candidate
        exact, which raises a bar), then by bound."""
        self._leave_behind()
        if self._past_margin_runs() and self._verdict_settled():
            self.open_at = {}
        priority: dict[Prefix, tuple[bool, bool, float, Prefix]] = {}
        for node, members in self.open_at.items():
            holds_right = any(self.correct[i] for i in members)
            ends_one = any(len(self.tokens[i]) == len(node) for i in members)
            priority[node] = (not holds_right, not ends_one, -self.known[node], node)
        return sorted(priority, key=priority.__getitem__)[:limit]

    def _leave_behind(self) -> None:
        """Drop the open candidates whose bound (their node's log-probability) no longer clears their class's bar."""
        bars = {True: self.bar(True), False: self.bar(False)}
        lowest, highest = min(bars.values()), max(bars.values())
        for node in list(self.open_at):
            bound = self.known[node]
            if bound <= lowest:
                del self.open_at[node]
            elif bound <= highest:
                kept = [i for i in self.open_at[node] if bound > bars[self.correct[i]]]
                if kept:
                    self.open_at[node] = kept
                else:
                    del self.open_at[node]

    def learn(self, prefix: Prefix, slots: list[int], logits: torch.Tensor, log_normalizer: torch.Tensor) -> None:
        """Record that `prefix` ran in `slots`, its next-token `logits` normalized by `log_normalizer`."""
        self.slots[prefix] = slots
        next_tokens = self.children.get(prefix, [])
        next_logprobs = (logits[next_tokens].float() - log_normalizer).clamp_min(LOWEST_LOGPROB).tolist()
        ending_here = self.ending_at.get(prefix, [])
        # Once per node, not per candidate; normalised again in double precision: 1 - P(going on) is tiny where the
        # model is sure to go on, and a normaliser's float32 rounding would be most of it.
        logprobs = torch.log_softmax(logits.double(), -1) if ending_here else None
        for index in ending_here:
            self.stops[index] = self._stop_logprob(index, logprobs)
            if self.is_exact(index):
                self._raise_bar(index)
        base = self.known[prefix]
        for token, logprob in zip(next_tokens, next_logprobs):
            self.known[prefix + (token,)] = base + logprob
        for index in self.below.get(prefix, []):
            if self.depth[index] == len(prefix):
                self.depth[index] += 1
                if self.is_exact(index):
                    self._raise_bar(index)
        # This node's open candidates now wait on their next node, or are exact.
        for index in self.open_at.pop(prefix, []):
            if not self.is_exact(index):
                self.open_at.setdefault(self.tokens[index][: self.depth[index]], []).append(index)

    def next_tokens_by_class(self, index: int) -> tuple[list[int], set[int]]:
        """The next tokens after candidate `index` that lead into a longer candidate of the other class (always
        counted as going on), and those that lead into one of its own class (never counted). Made when first asked
        for: most candidates of a large relation never need them."""
        if index not in self._next_by_class:
            path = self.tokens[index]
            longer = self.below.get(path, []) if path else []
            other = {self.tokens[j][len(path)] for j in longer if self.correct[j] != self.correct[index]}
            own = {self.tokens[j][len(path)] for j in longer if self.correct[j] == self.correct[index]}
            self._next_by_class[index] = (sorted(other), own)
        return self._next_by_class[index]

    def _stop_logprob(self, index: int, logprobs: torch.Tensor) -> float:
        """log P(not going on) after candidate `index`, given the next-token `logprobs` after its last token."""
        other, own = self.next_tokens_by_class(index)
        going_on = float(logprobs[other].exp().sum()) if other else 0.0
        if self.word_ends is not None:
            counted = set(other) | own
            going_on += self.word_ends.mass_going_on(self.texts[index], logprobs, counted)
        return _log_one_minus(going_on)

    def learn_along(self, path: Prefix, slots: list[int], logits: torch.Tensor, log_normalizer: torch.Tensor) -> None:
        """Take a generation step that ran `path` (the tokens generated so far) as a run of that node, if it is one."""
        if (path in self.children or path in self.ending_at) and path in self.known and path not in self.slots:
            self.learn(path, slots, logits, log_normalizer)

    def slots_in_use(self) -> set[int]:
        """The slots that the next nodes to run see: those of their parents."""
        return {slot for node in self.open_at for slot in self.slots[node[:-1]]}

    def renumber_slots(self, new_index: list[int]) -> None:
        """Follow a `PackedSequence.keep_only`; prefixes that lost a slot can no longer be extended."""
        self.slots = {
            prefix: [new_index[slot] for slot in slots] for prefix, slots in self.slots.items() if all(new_index[slot] >= 0 for slot in slots)
        }

    def candidates(self) -> list[Candidate]:
        """Every candidate, best first (an exact score before an equal bound, then by text)."""
        ranked = [
            Candidate(text, self.logprob(i), self.correct[i], self.is_exact(i), self._first_token(i)) for i, text in enumerate(self.texts)
        ]
        return sorted(ranked, key=lambda c: (-c.logprob, not c.exact, c.text))

    def _first_token(self, index: int) -> int | None:
        tokens = self.tokens[index]
        return tokens[0] if tokens is not None else self.scored_apart[index][1]

    def _raise_bar(self, index: int) -> None:
        correct = self.correct[index]
        self.bars[correct] = max(self.bars[correct], self.logprob(index))


# The least probability of not going on that a score holds: a model sure of a longer candidate leaves a finite score.
_LEAST_STOP_LOGPROB = -100.0
# A token the model rules out (a logit of -inf: a masked token, or float16 below -65,504) scores this, not -inf: margins
# and candidates' scores stay finite numbers, which a JSON report can hold (it had held -Infinity, which no JSON reader
# takes).
LOWEST_LOGPROB = -1e30


def _log_one_minus(probability: float) -> float:
    """log(1 - probability), floored at _LEAST_STOP_LOGPROB."""
    if probability >= 1.0:
        return _LEAST_STOP_LOGPROB
    return max(math.log1p(-probability), _LEAST_STOP_LOGPROB)


def round_limit(round_number: int) -> int:
    """How many nodes one fact runs in round `round_number` (from 0)."""
    return min(NODES_PER_ROUND << max(0, round_number - STEADY_ROUNDS + 1), MAX_NODES_PER_ROUND)


def round_requests(tries: Sequence[CandidateTrie], round_number: int, running: dict[int, Prefix] | None = None) -> list[tuple[int, Prefix]]:
    """Every fact's nodes for this round, as (row, node); `running`: row -> the node its generation step runs in this
    same pass (learned from that step, not run twice)."""
    running = running or {}
    return [(row, node) for row, trie in enumerate(tries) for node in trie.nodes_to_run(round_limit(round_number))
            if node != running.get(row)]


def run_nodes(sequence: PackedSequence, tries: Sequence[CandidateTrie], prompts: Sequence[PromptPlace],
              requests: Sequence[tuple[int, Prefix]], alongside: Sequence[Token] = ()) -> tuple[list[int], torch.Tensor | None]:
    """Run the trie nodes `requests` ((row, node): each a context of its own that sees its fact's prompt and the slots
    of its own earlier tokens) and learn from them, in passes of at most PASS_TOKENS tokens. `alongside`: other tokens
    (a generation step's) that share the first pass, which reads every weight once for both; returns their slots and
    logits."""
    alongside = list(alongside)
    done = 0
    along_slots: list[int] = []
    along_logits = None
    while done < len(requests) or (alongside and along_logits is None):
        part = requests[done : done + max(PASS_TOKENS - len(alongside), 1)]
        tokens = list(alongside)
        for row, node in part:
            parent_slots = tries[row].slots[node[:-1]]
            context = sequence.new_context([*prompts[row].visible, *slot_ranges(parent_slots)])
            tokens.append(Token(context, node[-1], prompts[row].next_position + len(node) - 1))
        result = sequence.run(tokens, keep=range(len(tokens)))
        logits = result.logits.float()
        log_normalizers = torch.logsumexp(logits, dim=-1)
        if alongside:
            along_slots, along_logits = result.slots[: len(alongside)], logits[: len(alongside)]
        for j, (row, node) in enumerate(part, start=len(alongside)):
            trie = tries[row]
            trie.runs += 1
            trie.learn(node, trie.slots[node[:-1]] + [result.slots[j]], logits[j], log_normalizers[j])
        done += len(part)
        alongside = []
    return along_slots, along_logits


def settle(sequence: PackedSequence, tries: Sequence[CandidateTrie], prompts: Sequence[PromptPlace], first_round: int = 0) -> int:
    """Run trie nodes, round by round from `first_round` (the rounds before it ran alongside generation), until every
    fact's ranking verdict is exact (and its margin, within the fact's margin runs). Returns the number of nodes run."""
    prompts = list(prompts)
    runs = 0
    for round_number in itertools.count(first_round):
        requests = round_requests(tries, round_number)
        if not requests:
            return runs
        runs += len(requests)
        prompts = _drop_unused_slots(sequence, tries, prompts)
        # All of a round's passes finish before any fact picks its next nodes: results must not depend on packing.
        run_nodes(sequence, tries, prompts, requests)


def _drop_unused_slots(sequence: PackedSequence, tries: Sequence[CandidateTrie], prompts: list[PromptPlace]) -> list[PromptPlace]:
    """Keep only the slots that nodes still to run may see, once enough of the cache is of no further use.

    Finished facts' prompts and generated tokens, and nodes that have no
    candidate left to extend, would otherwise widen every pass's mask (and
    its attention, where tiling does not pay: factcheck.model.packed_attention).
    """
    in_use: set[int] = set()
    for trie, prompt in zip(tries, prompts):
        if trie.has_open():
            in_use.update(slot for start, end in prompt.visible for slot in range(start, end))
            in_use.update(trie.slots_in_use())
    unused = sequence.length - len(in_use)
    if unused < max(MIN_SLOTS_TO_DROP, sequence.length // 4):
        return prompts
    new_index = sequence.keep_only(sorted(in_use))
    for trie in tries:
        trie.renumber_slots(new_index)
    renumbered = []
    for trie, prompt in zip(tries, prompts):
        # A finished fact's prompt is gone and never seen again.
        visible = [(new_index[start], new_index[end - 1] + 1) for start, end in prompt.visible if end > start] if trie.has_open() else []
        renumbered.append(PromptPlace(prompt.context, visible, prompt.next_position))
    return renumbered
