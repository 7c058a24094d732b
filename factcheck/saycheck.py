"""What the model says: greedy generation and candidate ranking for every fact of a relation.

All facts of a relation run together. Prompts that share demonstrations share
a token prefix; that prefix runs once and its key/value tensors are reused for
every batch. Each batch builds its own cache object from those tensors: the
transformers cache is mutated by every pass, and sharing one object between
passes would silently corrupt the later ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from transformers import DynamicCache

from .matching import matching_answer
from .model import LanguageModel, left_pad
from .prompts import DEFAULT_SHOTS, build_prompt, demonstrations_for, distractor_lead, subject_token_index, wrong_object
from .suite import DistractorSettings, Fact, Suite

DEFAULT_MAX_NEW_TOKENS = 8
DEFAULT_BATCH_SIZE = 16


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
    # Facts outside the training set share all their demonstrations, hence one long prefix.
    groups = [[r for r in rows if not r.is_training], [r for r in rows if r.is_training]]
    outcomes: dict[int, FactOutcome] = {}
    for group in groups:
        if group:
            outcomes.update(_run_group(model, group, options, capture_layers))
    return [outcomes[i] for i in range(len(rows))]


def _common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for position in range(length):
        token = first[position]
        if any(s[position] != token for s in sequences):
            return position
    return length


def _cache_from(model: LanguageModel, tensors: list[tuple[torch.Tensor, torch.Tensor]] | None) -> DynamicCache:
    """A fresh cache object over existing key/value tensors (which later passes never modify)."""
    if tensors is None:
        return DynamicCache(config=model.config)
    return DynamicCache(ddp_cache_data=tensors, config=model.config)


def _snapshot(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


@torch.no_grad()
def _run_group(
    model: LanguageModel, group: list[_Row], options: SayOptions, capture_layers: Sequence[int]
) -> dict[int, FactOutcome]:
    # Keep every subject token in the suffix, so its state is captured in the suffix pass.
    prefix_length = min(_common_prefix_length([r.ids for r in group]), min(r.subject_token for r in group))
    prefix_ids = group[0].ids[:prefix_length]
    prefix_tensors = None
    if prefix_length:
        prefix_cache = DynamicCache(config=model.config)
        model.model(
            input_ids=torch.tensor([prefix_ids], device=model.device),
            cache=prefix_cache,
            use_cache=True,
            logits_to_keep=1,
        )
        prefix_tensors = _snapshot(prefix_cache)

    # Batch suffixes of equal length only: padding between the shared prefix and
    # a suffix would shift sliding attention windows (Gemma 3) and makes results
    # depend on what else is in the batch.
    by_length: dict[int, list[_Row]] = {}
    for row in group:
        by_length.setdefault(len(row.ids) - prefix_length, []).append(row)
    outcomes: dict[int, FactOutcome] = {}
    for _, same_length in sorted(by_length.items()):
        for start in range(0, len(same_length), options.batch_size):
            batch = same_length[start : start + options.batch_size]
            outcomes.update(_run_batch(model, batch, prefix_length, prefix_tensors, options, capture_layers))
    return outcomes


def _expand(tensors, batch_size: int):
    if tensors is None:
        return None
    return [(k.expand(batch_size, -1, -1, -1), v.expand(batch_size, -1, -1, -1)) for k, v in tensors]


def _run_batch(model, batch, prefix_length, prefix_tensors, options, capture_layers) -> dict[int, FactOutcome]:
    device = model.device
    suffixes = left_pad([r.ids[prefix_length:] for r in batch], model.tokenizer.pad_token_id, device)
    size = len(batch)
    attention = torch.cat(
        [torch.ones((size, prefix_length), dtype=torch.long, device=device), suffixes.attention_mask], dim=1
    )
    positions = suffixes.position_ids + prefix_length
    cache = _cache_from(model, _expand(prefix_tensors, size))
    with model.capture_blocks(capture_layers) as captured:
        output = model.model(
            input_ids=suffixes.input_ids,
            attention_mask=attention,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    subject_states = [
        {
            layer: captured[layer][row, suffixes.padded_index(row, r.subject_token - prefix_length)].clone()
            for layer in capture_layers
        }
        for row, r in enumerate(batch)
    ]
    prompt_logprobs = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1)
    prompt_tensors = _snapshot(cache)  # the prompts' keys/values, before generation extends them
    generated = _greedy_continue(model, cache, prompt_logprobs, attention, positions[:, -1], options.max_new_tokens)
    scores = _score_candidates(model, batch, prompt_logprobs, prompt_tensors, attention, positions[:, -1], options)

    outcomes = {}
    for row, r in enumerate(batch):
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
    return outcomes


def _greedy_continue(model, cache, first_logprobs, attention, last_positions, max_new_tokens) -> list[str]:
    """Greedy continuation of every row, stopping at a newline, end of text or the token limit.

    Rows that have stopped leave the batch (their cache rows are dropped), so
    one long answer does not make every other row run to the token limit.
    """
    tokenizer = model.tokenizer
    tokens: list[list[int]] = [[] for _ in range(first_logprobs.shape[0])]
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    active = list(range(len(tokens)))  # batch rows still generating, in batch order
    next_tokens = first_logprobs.argmax(dim=-1)
    positions = last_positions
    for step in range(max_new_tokens):
        going_on = []  # slots (indexes into `active`) that continue
        for slot, (row, token) in enumerate(zip(active, next_tokens.tolist())):
            if token in stop_ids:
                continue
            tokens[row].append(token)
            if "\n" not in tokenizer.decode([token]):
                going_on.append(slot)
        if not going_on or step == max_new_tokens - 1:
            break
        if len(going_on) < len(active):
            keep = torch.tensor(going_on, device=attention.device)
            cache = _cache_from(model, [(k.index_select(0, keep), v.index_select(0, keep)) for k, v in _snapshot(cache)])
            attention, positions, next_tokens = attention[keep], positions[keep], next_tokens[keep]
            active = [active[slot] for slot in going_on]
        attention = torch.cat([attention, torch.ones((len(active), 1), dtype=attention.dtype, device=attention.device)], dim=1)
        positions = positions + 1
        output = model.model(
            input_ids=next_tokens[:, None],
            attention_mask=attention,
            position_ids=positions[:, None],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        next_tokens = output.logits[:, -1, :].argmax(dim=-1)
    texts = [tokenizer.decode(row_tokens, skip_special_tokens=True) for row_tokens in tokens]
    return [text.split("\n", 1)[0] for text in texts]


def answer_tokens(model: LanguageModel, prompt: str, prompt_ids: list[int], answers: Sequence[str]) -> list[list[int] | None]:
    """Token ids of each answer as a continuation of `prompt` (" " + answer, encoded together with the prompt).

    Prompt and answer are tokenized as one text and split where the prompt's
    characters end, so the answer's leading space lands wherever this
    tokenizer puts it. None where the tokenizer merged prompt and answer
    across the boundary (the prompt's own tokens then differ).
    """
    full_ids, full_offsets = model.tokenize([f"{prompt} {answer}" for answer in answers])
    split: list[list[int] | None] = []
    boundary = len(prompt)
    for ids, offsets in zip(full_ids, full_offsets):
        inside = sum(1 for _, end in offsets if end <= boundary)
        split.append(ids[inside:] if ids[:inside] == prompt_ids and len(ids) > inside else None)
    return split


def _needs_full_score(bound: float, correct: bool, exact_scores: list[tuple[float, bool]]) -> bool:
    """Whether a multi-token candidate must be scored in full.

    Its first token's log-probability bounds its total from above. A candidate
    whose bound is below the best exact score of its own class (right or wrong)
    cannot change the ranking verdict or the margin.
    """
    class_scores = [score for score, is_right in exact_scores if is_right == correct]
    return bound > max(class_scores, default=float("-inf"))


def _score_candidates(model, batch, prompt_logprobs, prompt_tensors, attention, last_positions, options):
    """(log-probability, correct, exact) of each candidate after its fact's prompt.

    Single-token candidates are exact from the prompt's own logits. Multi-token
    ones are scored in full only where they could matter (see
    `_needs_full_score`); one round suffices, since scoring more candidates only
    raises the thresholds.
    """
    scores: list[dict[str, tuple[float, bool, bool, int]]] = [{} for _ in batch]
    pending: list[tuple[int, str, list[int]]] = []  # (row, candidate, tokens) to score in full
    for row, r in enumerate(batch):
        multi_token: list[tuple[str, list[int]]] = []
        for text, tokens in zip(r.candidates, answer_tokens(model, r.prompt, r.ids, r.candidates)):
            correct = text in r.fact.answers
            if tokens is None:
                score, first_token = _score_full_sequence(model, r.prompt, text)
                scores[row][text] = (score, correct, True, first_token)
            elif len(tokens) == 1:
                scores[row][text] = (float(prompt_logprobs[row, tokens[0]]), correct, True, tokens[0])
            else:
                multi_token.append((text, tokens))
        exact = [(score, correct) for score, correct, _, _ in scores[row].values()]
        for text, tokens in multi_token:
            bound, correct = float(prompt_logprobs[row, tokens[0]]), text in r.fact.answers
            full = _needs_full_score(bound, correct, exact)
            scores[row][text] = (bound, correct, False, tokens[0])  # exact once scored in full below
            if full:
                pending.append((row, text, tokens))

    chunk = max(1, options.batch_size * 4)
    for start in range(0, len(pending), chunk):
        part = pending[start : start + chunk]
        rows = torch.tensor([row for row, _, _ in part], device=model.device)
        width = max(len(tokens) - 1 for _, _, tokens in part)
        inputs = torch.full((len(part), width), model.tokenizer.pad_token_id, dtype=torch.long, device=model.device)
        answer_mask = torch.zeros((len(part), width), dtype=attention.dtype, device=model.device)
        for i, (_, _, tokens) in enumerate(part):
            inputs[i, : len(tokens) - 1] = torch.tensor(tokens[:-1])
            answer_mask[i, : len(tokens) - 1] = 1
        tensors = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in prompt_tensors]
        positions = last_positions.index_select(0, rows)[:, None] + 1 + torch.arange(width, device=model.device)[None, :]
        output = model.model(
            input_ids=inputs,
            attention_mask=torch.cat([attention.index_select(0, rows), answer_mask], dim=1),
            position_ids=positions,
            cache=_cache_from(model, tensors),
            use_cache=True,
        )
        logprobs = torch.log_softmax(output.logits.float(), dim=-1)
        for i, (row, text, tokens) in enumerate(part):
            following = sum(float(logprobs[i, j, tokens[j + 1]]) for j in range(len(tokens) - 1))
            first, correct, _, first_token = scores[row][text]
            scores[row][text] = (first + following, correct, True, first_token)
    return scores


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
