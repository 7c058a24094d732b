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
# Facts per forward pass. On a CPU each pass reads every weight whatever its size, so fewer, fuller
# passes win; 64 holds a whole suite's test facts in one batch.
DEFAULT_BATCH_SIZE = 64


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
    prefix = _SharedPrefix.of(model, test_rows or rows)
    outcomes = _run_rows(model, rows, prefix, options, capture_layers)
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


@dataclass(frozen=True)
class _SharedPrefix:
    """A token prefix run once; its keys/values serve every prompt that starts with some or all of it."""

    ids: list[int]
    tensors: list[tuple[torch.Tensor, torch.Tensor]] | None

    @classmethod
    @torch.no_grad()
    def of(cls, model: LanguageModel, rows: list[_Row]) -> _SharedPrefix:
        # Keep every subject token out of the prefix, so its state is captured in the suffix pass.
        length = min(_common_prefix_length([r.ids for r in rows]), min(r.subject_token for r in rows))
        if not length:
            return cls([], None)
        cache = DynamicCache(config=model.config)
        ids = rows[0].ids[:length]
        model.model(input_ids=torch.tensor([ids], device=model.device), cache=cache, use_cache=True, logits_to_keep=1)
        return cls(ids, _snapshot(cache))

    def usable_length(self, row: _Row) -> int:
        """How many of the row's first tokens can come from this prefix."""
        length = min(_common_prefix_length([row.ids, self.ids]), row.subject_token) if self.ids else 0
        # A sliding-window layer (Gemma 3) may keep only the prefix's last tokens: then only all of it is usable.
        whole = all(keys.shape[-2] == len(self.ids) for keys, _ in self.tensors or [])
        return length if length == len(self.ids) or whole else 0

    def tensors_for(self, length: int) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        if not length:
            return None
        if length == len(self.ids):
            return self.tensors
        return [(keys[:, :, :length], values[:, :, :length]) for keys, values in self.tensors]


def has_sliding_window(model: LanguageModel) -> bool:
    """Whether some attention layer sees only a window of recent cache slots (Gemma 3, Mistral)."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        return any("sliding" in str(kind) for kind in layer_types)
    return getattr(config, "sliding_window", None) is not None and getattr(config, "use_sliding_window", True) is not False


@torch.no_grad()
def _run_rows(
    model: LanguageModel, rows: list[_Row], prefix: _SharedPrefix, options: SayOptions, capture_layers: Sequence[int]
) -> dict[int, FactOutcome]:
    reused = {row.index: prefix.usable_length(row) for row in rows}
    outcomes: dict[int, FactOutcome] = {}
    if not has_sliding_window(model):
        # Any rows batch together: a row masks the prefix slots past what it shares and its suffix
        # is padded up to the longest, with its own position ids. Fewer, fuller passes: on a CPU
        # each pass costs a read of every weight whatever its size.
        # Test facts (short suffixes after the whole prefix) and training facts (long ones) batch
        # apart, so that short rows are not padded to long ones.
        for group in ([r for r in rows if not r.is_training], [r for r in rows if r.is_training]):
            ordered = sorted(group, key=lambda row: (len(row.ids) - reused[row.index], row.index))
            for start in range(0, len(ordered), options.batch_size):
                batch = ordered[start : start + options.batch_size]
                reused_here = [reused[r.index] for r in batch]
                outcomes.update(_run_batch(model, batch, reused_here, len(prefix.ids), prefix.tensors, options, capture_layers))
        return outcomes
    # A sliding window counts cache slots, so masked slots or padding between prefix and suffix would
    # shift it: batch only rows that reuse the same prefix length and have suffixes of equal length.
    shapes: dict[tuple[int, int], list[_Row]] = {}
    for row in rows:
        shapes.setdefault((reused[row.index], len(row.ids) - reused[row.index]), []).append(row)
    for (length, _), same_shape in sorted(shapes.items()):
        tensors = prefix.tensors_for(length)
        for start in range(0, len(same_shape), options.batch_size):
            batch = same_shape[start : start + options.batch_size]
            outcomes.update(_run_batch(model, batch, [length] * len(batch), length, tensors, options, capture_layers))
    return outcomes


def _expand(tensors, batch_size: int):
    if tensors is None:
        return None
    return [(k.expand(batch_size, -1, -1, -1), v.expand(batch_size, -1, -1, -1)) for k, v in tensors]


def _run_batch(model, batch, reused, prefix_length, prefix_tensors, options, capture_layers) -> dict[int, FactOutcome]:
    """One pass over the batch's suffixes; row i takes its first reused[i] tokens from the prefix of
    `prefix_length` tokens held in `prefix_tensors` (the prefix's later slots are masked for it)."""
    device = model.device
    suffixes = left_pad([r.ids[length:] for r, length in zip(batch, reused)], model.tokenizer.pad_token_id, device)
    size = len(batch)
    prefix_mask = [[1] * length + [0] * (prefix_length - length) for length in reused]
    attention = torch.cat([torch.tensor(prefix_mask, dtype=torch.long, device=device).reshape(size, prefix_length), suffixes.attention_mask], dim=1)
    positions = suffixes.position_ids + torch.tensor(reused, device=device)[:, None]
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
            layer: captured[layer][row, suffixes.padded_index(row, r.subject_token - reused[row])].clone()
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


def _score_candidates(model, batch, prompt_logprobs, prompt_tensors, attention, last_positions, options):
    """(log-probability, correct, exact, first token) of each candidate after its fact's prompt.

    Single-token candidates are exact from the prompt's own logits. Multi-token
    ones are scored in full only where they could matter (see
    `_class_bars`), in two rounds: first, per fact, the right and the
    wrong candidate with the best first token, which sets each class's bar;
    then the others whose bound still clears it. Two rounds suffice, since
    scoring more candidates only raises the bars.
    """
    scores: list[dict[str, tuple[float, bool, bool, int]]] = [{} for _ in batch]
    multi_token: list[list[tuple[str, list[int]]]] = [[] for _ in batch]
    for row, r in enumerate(batch):
        for text, tokens in zip(r.candidates, answer_tokens(model, r.prompt, r.ids, r.candidates)):
            correct = text in r.fact.answers
            if tokens is None:
                score, first_token = _score_full_sequence(model, r.prompt, text)
                scores[row][text] = (score, correct, True, first_token)
            elif len(tokens) == 1:
                scores[row][text] = (float(prompt_logprobs[row, tokens[0]]), correct, True, tokens[0])
            else:
                # The first token's log-probability bounds the whole candidate's from above.
                scores[row][text] = (float(prompt_logprobs[row, tokens[0]]), correct, False, tokens[0])
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
    _score_in_full(model, leaders, scores, prompt_tensors, attention, last_positions, options)
    bars = [_class_bars(row_scores) for row_scores in scores]  # raised by the leaders' exact scores
    rest = [
        (row, text, tokens) for row, candidates in enumerate(multi_token) for text, tokens in candidates if worth_scoring(row, text, bars)
    ]
    _score_in_full(model, rest, scores, prompt_tensors, attention, last_positions, options)
    return scores


def _score_in_full(model, pending, scores, prompt_tensors, attention, last_positions, options) -> None:
    """Replace the first-token bound of each (row, candidate, tokens) in `pending` by its exact score."""
    chunk = max(1, min(options.batch_size * 4, 256))
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
