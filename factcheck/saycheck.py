"""What the model says: greedy generation and candidate ranking for every fact of a relation.

All facts of a relation run together. Prompts that share demonstrations share
a token prefix; that prefix runs once and its key/value tensors serve every
pack. A pack puts many facts' prompts into one sequence (factcheck.packing),
then generates and scores candidates in that same sequence: no padding and
no per-fact copies of the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from transformers import DynamicCache

from .matching import matching_answer
from .model import LanguageModel, left_pad
from .packing import PackedSequence, Token, common_prefix_length, slot_ranges
from .prompts import DEFAULT_SHOTS, build_prompt, demonstrations_for, distractor_lead, subject_token_index, wrong_object
from .suite import DistractorSettings, Fact, Suite

DEFAULT_MAX_NEW_TOKENS = 8
# Facts per packed pass at most. On a CPU each pass reads every weight whatever its size, so fewer,
# fuller passes win; 64 holds most suites in one pack.
DEFAULT_BATCH_SIZE = 64
# New tokens per packed pass: attention over a packed pass grows with its square, the fixed cost
# of a pass (one read of the weights) with the number of passes.
PACK_TOKENS = 1024


@dataclass(frozen=True)
class SayOptions:
    shots: int = DEFAULT_SHOTS
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    batch_size: int = DEFAULT_BATCH_SIZE
    template_index: int = 0
    distractor: DistractorSettings | None = None  # check distracted prompts instead of plain ones


@dataclass(frozen=True)
class Candidate:
    """A candidate answer's log-probability as a continuation of the prompt.

    `exact` is False for a multi-token candidate that was not scored in full:
    its logprob is then its first token's, an upper bound that already lies
    below the best right and the best wrong candidate.
    """

    text: str
    logprob: float
    correct: bool
    exact: bool = True
    first_token: int | None = None  # the candidate's first token id as a continuation of the prompt


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

    @property
    def generation_pass(self) -> bool:
        return self.matched_answer is not None

    @property
    def ranking_pass(self) -> bool:
        return bool(self.candidates) and self.candidates[0].correct

    @property
    def margin(self) -> float | None:
        """Log-probability of the best right candidate minus that of the best wrong one."""
        right = [c.logprob for c in self.candidates if c.correct]
        wrong = [c.logprob for c in self.candidates if not c.correct]
        if not right or not wrong:
            return None
        return max(right) - max(wrong)


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


def candidate_answers(suite: Suite, fact: Fact) -> list[str]:
    """The relation's objects plus this fact's aliases, without repeats."""
    return list(dict.fromkeys([*suite.objects, *fact.aliases]))


def run_relation(
    model: LanguageModel,
    suite: Suite,
    options: SayOptions = SayOptions(),
    capture_layers: Sequence[int] = (),
) -> list[FactOutcome]:
    """Say-check every fact of `suite`; returns outcomes in the suite's fact order."""
    template = suite.templates[options.template_index]
    training = {fact.subject for fact in suite.facts[: options.shots]}
    leads = [""] * len(suite.facts)
    if options.distractor is not None:
        d = options.distractor
        leads = [distractor_lead(d.statement, d.repeat, f.subject, wrong_object(suite.facts, f)) for f in suite.facts]
    prompts = [
        build_prompt(model.bos_text, template, fact.subject, demonstrations_for(suite.facts, fact.subject, options.shots), leads[i])
        for i, fact in enumerate(suite.facts)
    ]
    ids, offsets = model.tokenize([p.text for p in prompts])
    rows = [
        _Row(
            index=i,
            fact=fact,
            prompt=prompts[i].text,
            ids=ids[i],
            subject_token=subject_token_index(prompts[i].text, fact.subject, offsets[i], prompts[i].subject_end),
            is_training=fact.subject in training,
            candidates=candidate_answers(suite, fact),
        )
        for i, fact in enumerate(suite.facts)
    ]
    # Facts outside the training set share all their demonstrations, hence one long prefix; a
    # training fact's prompt shares the part of it before that fact's own demonstration line.
    test_rows = [r for r in rows if not r.is_training]
    prefix = _SharedPrefix.of(test_rows or rows)
    outcomes = _run_rows(model, rows, prefix, options, capture_layers)
    return [outcomes[i] for i in range(len(rows))]


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
    """Consecutive rows, at most `max_rows` and about PACK_TOKENS prompt tokens per pack."""
    packs: list[list[_Row]] = []
    tokens = 0
    for row in rows:
        length = len(row.ids) - reused[row.index]
        if not packs or len(packs[-1]) >= max_rows or tokens + length > PACK_TOKENS:
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
    for pack in _packs(rows, reused, options.batch_size):
        results, prefix_tensors = _run_pack(model, pack, [reused[r.index] for r in pack], prefix.ids, prefix_tensors, options, capture_layers)
        outcomes.update(results)
    return outcomes


@dataclass(frozen=True)
class _Prompt:
    """Where one row's prompt lies in a packed sequence."""

    context: int
    visible: list[tuple[int, int]]  # the slot ranges holding the prompt's tokens (prefix part, own part)
    next_position: int  # position id of the first token after the prompt


def _run_pack(model, pack, reused, prefix_ids, prefix_tensors, options, capture_layers):
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
        _Prompt(context, [(0, length), (result.slots[start], result.slots[end - 1] + 1)], len(r.ids))
        for r, length, context, (start, end) in zip(pack, reused, contexts, spans)
    ]
    subject_states = [
        {layer: result.captured[layer][start + r.subject_token - length].clone() for layer in capture_layers}
        for r, length, (start, _) in zip(pack, reused, spans)
    ]
    if prefix_tensors is None and prefix_ids:
        prefix_tensors = [(layer.keys[:, :, : len(prefix_ids)], layer.values[:, :, : len(prefix_ids)]) for layer in sequence.cache.layers]
    prompt_logprobs = torch.log_softmax(result.logits.float(), dim=-1)
    scores = _score_candidates(model, sequence, pack, prompt_logprobs, prompts)
    generated = _greedy_continue(model, sequence, prompts, prompt_logprobs, options.max_new_tokens)

    outcomes = {}
    for row, r in enumerate(pack):
        ranked = sorted(
            (Candidate(text, *scores[row][text]) for text in r.candidates),
            key=lambda c: (-c.logprob, not c.exact, c.text),
        )
        outcomes[r.index] = FactOutcome(
            fact=r.fact,
            prompt=r.prompt,
            is_training=r.is_training,
            generated=generated[row],
            matched_answer=matching_answer(generated[row], r.fact.answers),
            candidates=ranked,
            subject_states=subject_states[row],
        )
    return outcomes, prefix_tensors


def _greedy_continue(model, sequence: PackedSequence, prompts: list[_Prompt], first_logprobs, max_new_tokens) -> list[str]:
    """Greedy continuation of every prompt, stopping at a newline, end of text or the token limit.

    Rows that have stopped leave the pass, so one long answer does not make
    every other row run to the token limit.
    """
    tokenizer = model.tokenizer
    tokens: list[list[int]] = [[] for _ in prompts]
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    active = list(range(len(prompts)))  # rows still generating
    next_tokens = first_logprobs.argmax(dim=-1).tolist()
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
        next_tokens = sequence.run(step_tokens, keep=range(len(active))).logits.argmax(dim=-1).tolist()
    texts = [tokenizer.decode(row_tokens, skip_special_tokens=True) for row_tokens in tokens]
    return [text.split("\n", 1)[0] for text in texts]


def answer_tokens(model: LanguageModel, prompt: str, prompt_ids: list[int], answers: Sequence[str]) -> list[list[int] | None]:
    """Token ids of each answer as a continuation of `prompt` (" " + answer, encoded together with the prompt).

    Prompt and answer are tokenized as one text and split where the prompt's
    characters end, so the answer's leading space lands wherever this
    tokenizer puts it. None where the tokenizer merged prompt and answer
    across the boundary (the prompt's own tokens then differ).

    Only the prompt's last line is tokenized with each answer when the prompt's
    own tokens split at that line's start (checked here: the text before it
    and the line tokenize to the prompt's tokens): a relation may have a
    thousand candidates per fact, and the demonstrations above are the same
    for each of them.
    """
    line_start = prompt.rfind("\n") + 1
    if line_start:
        head_ids, tail_ids = model.tokenize([prompt[:line_start], prompt[line_start:]])[0]
        if head_ids + tail_ids == prompt_ids:
            return _split_answers(model, prompt[line_start:], tail_ids, answers)
    return _split_answers(model, prompt, prompt_ids, answers)


def _split_answers(model: LanguageModel, prompt: str, prompt_ids: list[int], answers: Sequence[str]) -> list[list[int] | None]:
    full_ids, full_offsets = model.tokenize([f"{prompt} {answer}" for answer in answers])
    split: list[list[int] | None] = []
    boundary = len(prompt)
    for ids, offsets in zip(full_ids, full_offsets):
        inside = sum(1 for _, end in offsets if end <= boundary)
        split.append(ids[inside:] if ids[:inside] == prompt_ids and len(ids) > inside else None)
    return split


def _class_bars(scores: dict[str, tuple[float, bool, bool, int]]) -> dict[bool, float]:
    """The best exact score among one fact's right candidates (True) and among its wrong ones (False).

    A multi-token candidate's first-token log-probability bounds its total from
    above; one whose bound does not clear its own class's bar cannot change the
    ranking verdict or the margin, so it need not be scored in full.
    """
    bars = {True: float("-inf"), False: float("-inf")}
    for score, correct, exact, _ in scores.values():
        if exact and score > bars[correct]:
            bars[correct] = score
    return bars


def _score_candidates(model, sequence: PackedSequence, pack: list[_Row], prompt_logprobs, prompts: list[_Prompt]):
    """(log-probability, correct, exact, first token) of each candidate after its fact's prompt.

    Single-token candidates are exact from the prompt's own logits. Multi-token
    ones are scored in full only where they could matter (see
    `_class_bars`), in two rounds: first, per fact, the right and the
    wrong candidate with the best first token, which sets each class's bar;
    then the others whose bound still clears it. Two rounds suffice, since
    scoring more candidates only raises the bars.
    """
    scores: list[dict[str, tuple[float, bool, bool, int]]] = [{} for _ in pack]
    multi_token: list[list[tuple[str, list[int]]]] = [[] for _ in pack]
    for row, r in enumerate(pack):
        split = answer_tokens(model, r.prompt, r.ids, r.candidates)
        # All first tokens' log-probabilities in one lookup: a relation may have a thousand candidates.
        first_logprobs = prompt_logprobs[row, [tokens[0] if tokens else 0 for tokens in split]].tolist()
        for text, tokens, first_logprob in zip(r.candidates, split, first_logprobs):
            correct = text in r.fact.answers
            if tokens is None:
                score, first_token = _score_full_sequence(model, r.prompt, text)
                scores[row][text] = (score, correct, True, first_token)
            elif len(tokens) == 1:
                scores[row][text] = (first_logprob, correct, True, tokens[0])
            else:
                # The first token's log-probability bounds the whole candidate's from above.
                scores[row][text] = (first_logprob, correct, False, tokens[0])
                multi_token[row].append((text, tokens))

    def worth_scoring(row: int, text: str, bars: list[dict[bool, float]]) -> bool:
        bound, correct, exact, _ = scores[row][text]
        return not exact and bound > bars[row][correct]

    bars = [_class_bars(row_scores) for row_scores in scores]
    leaders = []
    for row, candidates in enumerate(multi_token):
        for correct in (True, False):
            in_class = [(text, tokens) for text, tokens in candidates if scores[row][text][1] == correct]
            if in_class:
                text, tokens = max(in_class, key=lambda candidate: scores[row][candidate[0]][0])
                if worth_scoring(row, text, bars):
                    leaders.append((row, text, tokens))
    _score_in_full(sequence, leaders, scores, prompts)
    bars = [_class_bars(row_scores) for row_scores in scores]  # raised by the leaders' exact scores
    rest = [
        (row, text, tokens) for row, candidates in enumerate(multi_token) for text, tokens in candidates if worth_scoring(row, text, bars)
    ]
    _score_in_full(sequence, rest, scores, prompts)
    return scores


def _score_in_full(sequence: PackedSequence, pending, scores, prompts: list[_Prompt]) -> None:
    """Replace the first-token bound of each (row, candidate, tokens) in `pending` by its exact score.

    Each candidate is a context of its own that sees its fact's prompt; all of
    them, up to about PACK_TOKENS new tokens, go through one pass. Candidates
    of one fact that start with the same tokens (names: " Mary Ball ...",
    " Mary Arden ...") share those tokens' slots and logits.
    """
    pending = sorted(pending, key=lambda item: (item[0], item[2]))  # shared starts side by side
    start = 0
    while start < len(pending):
        tokens: list[Token] = []
        fed_slots: dict[tuple[int, tuple[int, ...]], list[int]] = {}  # (row, fed tokens) -> their slots, this pass
        part = []
        while start < len(pending):
            row, text, answer = pending[start]
            fed = tuple(answer[:-1])  # the last token is predicted, never fed
            shared = next((k for k in range(len(fed), 0, -1) if (row, fed[:k]) in fed_slots), 0)
            inherited = fed_slots[(row, fed[:shared])] if shared else []
            if part and len(tokens) + len(fed) - shared > PACK_TOKENS:
                break
            context = sequence.new_context([*prompts[row].visible, *slot_ranges(inherited)])
            first_slot = sequence.length + len(tokens)
            tokens += [Token(context, token_id, prompts[row].next_position + shared + j) for j, token_id in enumerate(fed[shared:])]
            slots = inherited + list(range(first_slot, first_slot + len(fed) - shared))
            for k in range(shared + 1, len(fed) + 1):
                fed_slots[(row, fed[:k])] = slots[:k]
            part.append((row, text, answer, slots))
            start += 1
        pass_start = sequence.length
        logprobs = torch.log_softmax(sequence.run(tokens, keep=range(len(tokens))).logits.float(), dim=-1)
        for row, text, answer, slots in part:
            following = sum(float(logprobs[slot - pass_start, answer[j + 1]]) for j, slot in enumerate(slots))
            first, correct, _, first_token = scores[row][text]
            scores[row][text] = (first + following, correct, True, first_token)


def _score_full_sequence(model: LanguageModel, prompt: str, answer: str) -> tuple[float, int]:
    """Slow path for a tokenizer that merges prompt and answer: score the whole text without a cache."""
    text = f"{prompt} {answer}"
    ids, offsets = model.tokenize([text])
    ids, offsets = ids[0], offsets[0]
    first_answer_token = next(i for i, (start, end) in enumerate(offsets) if end > len(prompt))
    encoded = left_pad([ids], model.tokenizer.pad_token_id, model.device)
    logits = model.forward(encoded, last_logits_only=False).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    score = sum(float(logprobs[i - 1, ids[i]]) for i in range(max(1, first_answer_token), len(ids)))
    return score, ids[first_answer_token]
