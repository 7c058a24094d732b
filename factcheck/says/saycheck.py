"""What the model says: greedy generation and candidate ranking for every fact of a relation.

All facts of a relation run together. Prompts that share demonstrations share
a token prefix; that prefix runs once and its key/value tensors serve every
pack. A pack puts many facts' prompts into one sequence (factcheck.model.packing),
then generates and scores candidates in that same sequence: no padding and
no per-fact copies of the prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from factcheck.answer_text import answer_key, spellings
from factcheck.errors import FactcheckError
from factcheck.model.language_model import LanguageModel, left_pad
from factcheck.model.packing import PASS_TOKENS, PackedSequence, Token, common_prefix_length
from factcheck.says.matching import a_cut_may_hide_an_answer, matching_answer
from factcheck.says.ranking import LOWEST_LOGPROB, MARGIN_RUNS, Candidate, CandidateTrie, PromptPlace, TrieShape, round_requests, run_nodes, settle  # Candidate: part of this module's results
from factcheck.says.word_ends import TokenWordEnds, word_ends_for
from factcheck.settings import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, DEFAULT_SHOTS
from factcheck.suites.prompts import TEXT_SEPARATOR, demonstrations_for, distractor_lead, phrase_prompt, subject_token_index
from factcheck.suites.suite import DistractorSettings, Fact, Suite


@dataclass(frozen=True)
class SayOptions:
    shots: int = DEFAULT_SHOTS
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    batch_size: int = DEFAULT_BATCH_SIZE
    template_index: int = 0
    distractor: DistractorSettings | None = None  # check distracted prompts instead of plain ones
    margin_runs: int | None = MARGIN_RUNS  # node runs per fact spent on an exact margin (None: no limit)


class ModelOutputError(FactcheckError, RuntimeError):
    """The model's outputs cannot be scored (NaN)."""


@dataclass
class FactOutcome:
    """Everything the say-check learned about one fact."""

    fact: Fact
    prompt: str
    is_training: bool
    generated: str
    matched_answer: str | None
    candidates: list[Candidate]  # best first
    subject_states: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> (hidden,)
    answer_first_token_probabilities: dict[int, float] = field(default_factory=dict)  # accepted first token -> the model's next-token probability
    greedy_first_token: int | None = None  # the model's own next token after the prompt (where its generated answer starts)
    answer_separator: str = TEXT_SEPARATOR  # what comes between the prompt and an answer (chat prompts: nothing)
    question: str = ""  # the question after the demonstrations, as the failure text shows it
    demonstration_count: int | None = None
    cut_may_hide_the_answer: bool = False  # the token limit cut generation where an answer had begun and could go on

    @property
    def generation_pass(self) -> bool:
        return self.matched_answer is not None

    @property
    def ranking_pass(self) -> bool:
        """The best candidate is right, and there was a wrong one to beat (with none, ranking decides nothing). A right
        and a wrong answer scored exactly alike is no win: their order is only that of sorting (a collapsed model
        that scores every candidate alike passed the facts whose answer sorts first)."""
        tied = self.margin_is_exact and self.margin == 0
        return bool(self.candidates) and self.candidates[0].correct and self.has_wrong_candidate and not tied

    @property
    def has_wrong_candidate(self) -> bool:
        return any(not c.correct for c in self.candidates)

    @property
    def margin(self) -> float | None:
        """Log-probability of the best right candidate minus that of the best wrong one.

        When the ranking left the leading class's best score a bound (see
        factcheck.says.ranking), that class counts with its best exact score, so a
        margin that is not exact lies between zero and the true margin.
        """
        right = [c for c in self.candidates if c.correct]
        wrong = [c for c in self.candidates if not c.correct]
        if not right or not wrong:
            return None
        leading, other = (right, wrong) if self.candidates[0].correct else (wrong, right)
        leading_score = max((c.logprob for c in leading if c.exact), default=leading[0].logprob)
        difference = leading_score - other[0].logprob
        return difference if self.candidates[0].correct else -difference

    @property
    def margin_is_exact(self) -> bool:
        """Whether the margin is exact; otherwise it bounds the true margin towards zero
        (from below for a passing fact, from above for a failing one)."""
        right = next((c for c in self.candidates if c.correct), None)
        wrong = next((c for c in self.candidates if not c.correct), None)
        return right is not None and wrong is not None and right.exact and wrong.exact


@dataclass
class _Row:
    """One fact's prompt, tokenized."""

    index: int
    fact: Fact
    prompt: str
    ids: list[int]
    subject_token: int
    is_training: bool
    candidates: list[str]
    separator: str  # between the prompt and an answer
    question: str
    demonstration_count: int


def first_tokens(candidates: Sequence[Candidate], correct: bool) -> set[int]:
    """The first token ids of the right (or the wrong) candidates, where the tokenizer gives one."""
    return {c.first_token for c in candidates if c.correct == correct and c.first_token is not None}


def wrong_object(facts: Sequence[Fact], fact: Fact) -> str:
    """A deterministic wrong answer for `fact`: the next fact's object (cyclically) that is not an accepted answer."""
    start = facts.index(fact)
    # Compared as generation and ranking read answers: "delhi" is Delhi.
    accepted = {answer_key(answer) for answer in fact.answers}
    for offset in range(1, len(facts)):
        candidate = facts[(start + offset) % len(facts)].object
        if answer_key(candidate) not in accepted:
            return candidate
    return ""


def candidate_answers(suite: Suite, fact: Fact, object_forms: Sequence[str] | None = None) -> list[str]:
    """The relation's objects plus this fact's aliases, each in every spelling generation accepts as it ("J.K.
    Rowling" for "J. K. Rowling"), without repeats. `object_forms`: `spelled(suite.objects)`, when already made."""
    if object_forms is None:
        object_forms = spelled(suite.objects)
    return list(dict.fromkeys([*object_forms, *spelled(fact.aliases)]))


def spelled(answers: Sequence[str]) -> list[str]:
    """Every spelling of each answer, without repeats."""
    return list(dict.fromkeys(form for answer in answers for form in spellings(answer)))


def run_relation(
    model: LanguageModel,
    suite: Suite,
    options: SayOptions = SayOptions(),
    capture_layers: Sequence[int] = (),
    only: Sequence[int] | None = None,
) -> list[FactOutcome]:
    """Say-check the facts of `suite` (those at the indices `only`, when given); returns their outcomes in the order of
    the suite's facts. A fact's prompt and candidates are the same whichever other facts run with it."""
    training = {fact.subject for fact in suite.facts[: options.shots]}
    chosen = list(range(len(suite.facts))) if only is None else sorted(set(only))
    if not chosen:
        return []
    prompts = _prompts(model, suite, options, chosen)
    ids, offsets = model.tokenize([p.text for p in prompts])
    object_forms = spelled(suite.objects)  # once per relation: a thousand objects, each fact's candidates
    rows = [
        _Row(
            index=i,
            fact=suite.facts[i],
            prompt=prompts[k].text,
            ids=ids[k],
            subject_token=subject_token_index(prompts[k].text, suite.facts[i].subject, offsets[k], prompts[k].subject_end),
            is_training=suite.facts[i].subject in training,
            candidates=candidate_answers(suite, suite.facts[i], object_forms),
            separator=prompts[k].answer_separator,
            question=prompts[k].question,
            demonstration_count=prompts[k].demonstration_count,
        )
        for k, i in enumerate(chosen)
    ]
    # Facts outside the training set share all their demonstrations, hence one long prefix; a
    # training fact's prompt shares the part of it before that fact's own demonstration line.
    test_rows = [r for r in rows if not r.is_training]
    prefix = _SharedPrefix.of(test_rows or rows)
    outcomes = _run_rows(model, rows, prefix, options, capture_layers)
    return [outcomes[row.index] for row in rows]


def _prompts(model: LanguageModel, suite: Suite, options: SayOptions, chosen: Sequence[int]):
    """The prompts of the facts at the indices `chosen`, in that order."""
    phrasing = suite.phrased(options.template_index).phrasing if options.template_index else suite.phrasing
    lead = lambda fact: ""  # noqa: E731
    if options.distractor is not None:
        d = options.distractor
        lead = lambda fact: distractor_lead(d.statement, d.repeat, fact.subject, wrong_object(suite.facts, fact))  # noqa: E731
    return [phrase_prompt(model, phrasing, suite.facts[i].subject, demonstrations_for(suite.facts, suite.facts[i].subject,
                                                                                      options.shots), lead(suite.facts[i]))
            for i in chosen]


def prompts_too_long(model: LanguageModel, suite: Suite, options: SayOptions, shown: int = 5) -> list[tuple[str, str]]:
    """(JSON pointer, message) for the facts (at most `shown`) whose prompt and the tokens generated after it do not fit
    the positions the model was built for: past them a model with learned positions fails, and any other answers
    from positions it never saw."""
    limit = model.context_length
    if limit is None or not suite.facts:
        return []
    prompts = _prompts(model, suite, options, range(len(suite.facts)))
    lengths = [len(ids) for ids in model.tokenize([p.text for p in prompts])[0]]
    over = [(i, n) for i, n in enumerate(lengths) if n + options.max_new_tokens > limit]
    return [(f"/facts/{i}", f"its prompt is {n} tokens: with the {options.max_new_tokens} tokens generated after it, more than "
                            f"the model's {limit} positions")
            for i, n in over[:shown]]


@dataclass(frozen=True)
class _SharedPrefix:
    """A token prefix that many prompts start with; it runs once, with the first pack."""

    ids: list[int]

    @classmethod
    def of(cls, rows: list[_Row]) -> _SharedPrefix:
        # Keep every subject token out of the prefix, so its state is captured with the prompt's own tokens.
        length = min(common_prefix_length([r.ids for r in rows]), min(r.subject_token for r in rows))
        return cls(rows[0].ids[:length])

    def usable_length(self, row: _Row) -> int:
        """How many of the row's first tokens can come from this prefix."""
        return min(common_prefix_length([row.ids, self.ids]), row.subject_token) if self.ids else 0


def _packs(rows: list[_Row], reused: dict[int, int], max_rows: int) -> list[list[_Row]]:
    """Consecutive rows, at most `max_rows` and about PASS_TOKENS prompt tokens per pack."""
    packs: list[list[_Row]] = []
    tokens = 0
    for row in rows:
        length = len(row.ids) - reused[row.index]
        if not packs or len(packs[-1]) >= max_rows or tokens + length > PASS_TOKENS:
            packs.append([])
            tokens = 0
        packs[-1].append(row)
        tokens += length
    return packs


@torch.no_grad()
def _run_rows(
    model: LanguageModel, rows: list[_Row], prefix: _SharedPrefix, options: SayOptions, capture_layers: Sequence[int]
) -> dict[int, FactOutcome]:
    reused = {row.index: prefix.usable_length(row) for row in rows}
    outcomes: dict[int, FactOutcome] = {}
    prefix_tensors = None  # the prefix's keys/values, from the first pack on
    memo = _TokenizationMemo(word_ends_for(model.tokenizer))
    for pack in _packs(rows, reused, options.batch_size):
        results, prefix_tensors = _run_pack(
            model, pack, [reused[r.index] for r in pack], prefix.ids, prefix_tensors, options, capture_layers, memo
        )
        outcomes.update(results)
    return outcomes


def _run_pack(model, pack, reused, prefix_ids, prefix_tensors, options, capture_layers, memo):
    """One pass over the prompts of `pack` (row i takes its first reused[i] tokens from the prefix),
    then greedy generation and candidate scoring in the same packed sequence.

    The prefix's keys/values come from `prefix_tensors`; when None, the prefix
    runs in this pass, in slots 0.., and its keys/values are returned for the
    next packs. Returns (outcomes by row index, prefix keys/values).
    """
    sequence = PackedSequence(model, prefix_tensors, len(prefix_ids) if prefix_tensors else 0)
    tokens: list[Token] = []
    if prefix_tensors is None and prefix_ids:
        context = sequence.new_context()
        tokens += [Token(context, token_id, position) for position, token_id in enumerate(prefix_ids)]
    spans: list[tuple[int, int]] = []  # each row's tokens within this pass
    contexts = []
    for r, length in zip(pack, reused):
        context = sequence.new_context([(0, length)])
        contexts.append(context)
        start = len(tokens)
        tokens += [Token(context, token_id, length + j) for j, token_id in enumerate(r.ids[length:])]
        spans.append((start, len(tokens)))
    result = sequence.run(tokens, keep=[end - 1 for _, end in spans], capture_layers=capture_layers)
    prompts = [
        PromptPlace(context, [(0, length), (result.slots[start], result.slots[end - 1] + 1)], len(r.ids))
        for r, length, context, (start, end) in zip(pack, reused, contexts, spans)
    ]
    subject_states = [
        {layer: result.captured[layer][start + r.subject_token - length].clone() for layer in capture_layers}
        for r, length, (start, _) in zip(pack, reused, spans)
    ]
    if prefix_tensors is None and prefix_ids:
        prefix_tensors = [(layer.keys[:, :, : len(prefix_ids)], layer.values[:, :, : len(prefix_ids)]) for layer in sequence.cache.layers]
    # NaN or infinite scores (float16 overflow) would rank in any order: margins of NaN passed facts, and gave no JSON
    # number. (-inf alone is a token the model rules out.)
    if torch.isnan(result.logits).any() or torch.isposinf(result.logits).any():
        overflow = "" if model.dtype == torch.float32 else ", or overflow in this dtype (try --factcheck-dtype=float32)"
        raise ModelOutputError(f"model {model.name!r} gives NaN or infinite scores for this relation's prompts: its weights "
                               f"or its config.json's numbers are damaged{overflow}; load or convert them again")
    prompt_logprobs = torch.log_softmax(result.logits.float(), dim=-1).clamp_min(LOWEST_LOGPROB)
    tries = [_candidate_trie(model, r, prompt_logprobs[row], options.margin_runs, memo) for row, r in enumerate(pack)]
    generated, rounds = _greedy_continue(model, sequence, prompts, prompt_logprobs, options.max_new_tokens, tries)
    settle(sequence, tries, prompts, first_round=rounds)

    greedy_first = prompt_logprobs.argmax(dim=-1).tolist()
    outcomes = {}
    for row, r in enumerate(pack):
        candidates = tries[row].candidates()
        accepted_first = first_tokens(candidates, correct=True)
        outcomes[r.index] = FactOutcome(
            fact=r.fact,
            prompt=r.prompt,
            is_training=r.is_training,
            generated=generated[row][0],
            matched_answer=matching_answer(generated[row][0], r.fact.answers, cut=generated[row][1]),
            cut_may_hide_the_answer=generated[row][1] and a_cut_may_hide_an_answer(generated[row][0], r.fact.answers),
            candidates=candidates,
            subject_states=subject_states[row],
            answer_first_token_probabilities={t: round(math.exp(float(prompt_logprobs[row, t])), 6) for t in accepted_first},
            greedy_first_token=greedy_first[row],
            answer_separator=r.separator,
            question=r.question,
            demonstration_count=r.demonstration_count,
        )
    return outcomes, prefix_tensors


def _candidate_trie(
    model: LanguageModel, r: _Row, first_logprobs: torch.Tensor, margin_runs: int | None, memo: _TokenizationMemo
) -> CandidateTrie:
    split = answer_tokens(model, r.prompt, r.ids, r.candidates, memo.answers, r.separator)
    scored_apart = {i: _score_full_sequence(model, r.prompt, text, r.separator) for i, (text, tokens) in enumerate(zip(r.candidates, split)) if tokens is None}
    key = tuple(tuple(t) if t is not None else None for t in split)
    if key not in memo.shapes:
        memo.shapes[key] = TrieShape.of(key)
    # An answer in another case or Unicode form is the same answer, as generation matching reads it ("ROME" is Rome).
    answers = {answer_key(answer) for answer in r.fact.answers}
    correct = [answer_key(text) in answers for text in r.candidates]
    return CandidateTrie(r.candidates, correct, memo.shapes[key], first_logprobs, scored_apart, margin_runs, memo.word_ends)


@dataclass
class _TokenizationMemo:
    """A relation's candidates tokenized once: its prompts mostly end alike and share the candidates."""

    word_ends: TokenWordEnds  # which next tokens carry a candidate on, judged once per (candidate, token)
    answers: dict[tuple[str, str], list[int] | None] = field(default_factory=dict)  # (prompt's end, answer) -> tokens
    shapes: dict[tuple, TrieShape] = field(default_factory=dict)  # candidates' tokens -> their trie


def _greedy_continue(
    model, sequence: PackedSequence, prompts: list[PromptPlace], first_logprobs, max_new_tokens, tries: list[CandidateTrie]
) -> tuple[list[tuple[str, bool]], int]:
    """Greedy continuation of every prompt, stopping at a newline, end of text or the token limit: (the text up to
    its first newline, whether the token limit cut it) per row, and how many rounds of candidate ranking ran along.

    Rows that have stopped leave the pass, so one long answer does not make
    every other row run to the token limit. Each step's logits also go to the
    row's candidate trie: the greedy path is where its likeliest candidates lie.
    Each step's pass also carries a round of every fact's trie nodes
    (factcheck.says.ranking): a pass costs about the same for a few more tokens.
    """
    tokenizer = model.tokenizer
    tokens: list[list[int]] = [[] for _ in prompts]
    slots: list[list[int]] = [[] for _ in prompts]  # the slots of each row's generated tokens that have run
    stop_ids = model.stop_token_ids
    active = list(range(len(prompts)))  # rows still generating
    next_tokens = first_logprobs.argmax(dim=-1).tolist()
    rounds = 0
    for step in range(max_new_tokens):
        going_on = []
        for row, token in zip(active, next_tokens):
            if token in stop_ids:
                continue
            tokens[row].append(token)
            if "\n" not in tokenizer.decode([token]):
                going_on.append(row)
        if not going_on or step == max_new_tokens - 1:
            break
        active = going_on
        step_tokens = [
            Token(prompts[row].context, tokens[row][-1], prompts[row].next_position + len(tokens[row]) - 1) for row in active
        ]
        requests = round_requests(tries, rounds, running={row: tuple(tokens[row]) for row in active})
        rounds += 1
        step_slots, logits = run_nodes(sequence, tries, prompts, requests, alongside=step_tokens)
        log_normalizers = torch.logsumexp(logits, dim=-1)
        for j, row in enumerate(active):
            slots[row].append(step_slots[j])
            tries[row].learn_along(tuple(tokens[row]), list(slots[row]), logits[j], log_normalizers[j])
        next_tokens = logits.argmax(dim=-1).tolist()
    texts = [tokenizer.decode(row_tokens, skip_special_tokens=True) for row_tokens in tokens]
    # A row that ran to the limit without a newline or a stop token was cut: its text may go on.
    return [(text.split("\n", 1)[0], len(row_tokens) == max_new_tokens and "\n" not in text)
            for text, row_tokens in zip(texts, tokens)], rounds


def answer_tokens(
    model: LanguageModel,
    prompt: str,
    prompt_ids: list[int],
    answers: Sequence[str],
    memo: dict[tuple[str, str], list[int] | None] | None = None,
    separator: str = TEXT_SEPARATOR,
) -> list[list[int] | None]:
    """Token ids of each answer as a continuation of `prompt` (`separator` + answer, encoded together with the prompt:
    a space after a text prompt, nothing after a chat prompt).

    Prompt and answer are tokenized as one text and split where the prompt's
    characters end, so the answer's leading space lands wherever this
    tokenizer puts it. None where the tokenizer merged prompt and answer
    across the boundary (the prompt's own tokens then differ).

    Only the prompt's last word (or else its last line) is tokenized with each
    answer when the prompt's own tokens split at that word's start (checked
    here: the text before it and the word tokenize to the prompt's tokens): a
    relation may have a thousand candidates per fact, and its prompts end
    alike, so `memo` ((prompt's end, continuation) -> tokens) serves them all.
    A chat prompt ends with a newline (the opening of the assistant's turn):
    its last line is the one before that newline.
    """
    continuations = [separator + answer for answer in answers]
    body_end = len(prompt.rstrip("\n"))
    line_start = prompt.rfind("\n", 0, body_end) + 1
    for split in dict.fromkeys([prompt.rfind(" ", line_start, body_end), line_start]):
        if split <= 0:
            continue
        head_ids, tail_ids = model.tokenize([prompt[:split], prompt[split:]])[0]
        if head_ids + tail_ids == prompt_ids:
            return _split_answers_memo(model, prompt[split:], tail_ids, continuations, memo)
    return _split_answers(model, prompt, prompt_ids, continuations)


def _split_answers_memo(model, prompt_end: str, end_ids: list[int], continuations: Sequence[str], memo) -> list[list[int] | None]:
    if memo is None:
        return _split_answers(model, prompt_end, end_ids, continuations)
    missing = [text for text in dict.fromkeys(continuations) if (prompt_end, text) not in memo]
    if missing:
        for text, tokens in zip(missing, _split_answers(model, prompt_end, end_ids, missing)):
            memo[(prompt_end, text)] = tokens
    return [memo[(prompt_end, text)] for text in continuations]


def _split_answers(model: LanguageModel, prompt: str, prompt_ids: list[int], continuations: Sequence[str]) -> list[list[int] | None]:
    """The tokens of each continuation (separator and answer) after `prompt`, tokenized together with it."""
    full_ids, full_offsets = model.tokenize([prompt + text for text in continuations])
    split: list[list[int] | None] = []
    boundary = len(prompt)
    for ids, offsets in zip(full_ids, full_offsets):
        inside = sum(1 for _, end in offsets if end <= boundary)
        split.append(ids[inside:] if ids[:inside] == prompt_ids and len(ids) > inside else None)
    return split


def _score_full_sequence(model: LanguageModel, prompt: str, answer: str, separator: str = TEXT_SEPARATOR) -> tuple[float, int]:
    """Slow path for a tokenizer that merges prompt and answer: score the whole text without a cache."""
    text = prompt + separator + answer
    ids, offsets = model.tokenize([text])
    ids, offsets = ids[0], offsets[0]
    first_answer_token = next(i for i, (start, end) in enumerate(offsets) if end > len(prompt))
    encoded = left_pad([ids], model.pad_id, model.device)
    logits = model.forward(encoded, last_logits_only=False).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1).clamp_min(LOWEST_LOGPROB)
    score = sum(float(logprobs[i - 1, ids[i]]) for i in range(max(1, first_answer_token), len(ids)))
    return score, ids[first_answer_token]
