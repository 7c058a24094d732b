"""Which next tokens carry a ranked answer on into a longer word, number or name, as generation matching reads it.

Ranking scores a candidate as saying it and then ending there (factcheck.says.ranking): after "8" the
token "5" carries it on ("85" does not say 8), after "Paris" the token "ian" does, after "New York" the
token " City". The HEAD_TOKENS likeliest next tokens are judged by the matching that judges generated
text: the answer followed by that token's text, is the answer said? The rest of the vocabulary, by
matching's commonest rules alone (a word character after a word, a digit after a decimal point or a
thousands separator, a name going on), over the whole vocabulary at once. On 25 sampled candidate ends
of four of SmolLM2's main-job suites that moved a score by at most 4.2e-4 (log-probability) from judging
every token by full matching (1.9e-4 with 64 head tokens).
"""

from __future__ import annotations

import math
import weakref

import torch

from factcheck.says.matching import answer_at_the_start, commonest_rules_key, goes_on_by_the_commonest_rules

HEAD_TOKENS = 16
# Past this little probability left unjudged, the rest cannot move a score.
UNJUDGED_MASS = 1e-7

_BY_TOKENIZER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def word_ends_for(tokenizer) -> TokenWordEnds:
    """The tokenizer's `TokenWordEnds`, built once: its token texts and rule masks serve every relation."""
    if tokenizer not in _BY_TOKENIZER:
        _BY_TOKENIZER[tokenizer] = TokenWordEnds(tokenizer)
    return _BY_TOKENIZER[tokenizer]


class TokenWordEnds:
    """`WordEnds` for one tokenizer; remembers each token's text and each (answer, token) judgement."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._texts: list[str] | None = None
        self._goes_on: dict[tuple[str, int], bool] = {}
        self._said_alone: dict[str, bool] = {}
        self._rule_tokens_by_key: dict[tuple[bool, ...], tuple[torch.Tensor, set[int]]] = {}  # commonest_rules_key -> tokens

    def texts(self) -> list[str]:
        """Each token's text as it continues other text ("" for a special token)."""
        if self._texts is None:
            # Decoded after a plain word and cut from it: a sentencepiece tokenizer drops a word's leading space
            # when the word is decoded alone.
            anchor = self.tokenizer.encode("a", add_special_tokens=False)
            anchor_text = self._decode(anchor)
            size = len(self.tokenizer)
            after_anchor = self.tokenizer.batch_decode([[*anchor, t] for t in range(size)], skip_special_tokens=True,
                                                       clean_up_tokenization_spaces=False)
            self._texts = [text[len(anchor_text):] if anchor and text.startswith(anchor_text) else self._decode([t])
                           for t, text in enumerate(after_anchor)]
        return self._texts

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def text(self, token: int) -> str:
        """The text that `token` adds after other text ("" for an id past the vocabulary: a model's padded embedding)."""
        texts = self.texts()
        return texts[token] if token < len(texts) else ""

    def goes_on(self, answer: str, token: int) -> bool:
        """Whether `token` right after `answer` carries the answer on, so that the text no longer starts with it (a
        qualifier such as " or" does not: generation reads qualifiers, ranking only where an answer ends)."""
        key = (answer, token)
        if key not in self._goes_on:
            text = self.text(token)
            # A line's end ends generated text before anything could carry the answer on.
            ends_the_line = not text or text[0] in "\n\r"
            self._goes_on[key] = not ends_the_line and self._can_be_said(answer) and answer_at_the_start(answer + text, [answer]) is None
        return self._goes_on[key]

    def _can_be_said(self, answer: str) -> bool:
        # An answer that matching cannot read even alone has nothing to go on from.
        if answer not in self._said_alone:
            self._said_alone[answer] = answer_at_the_start(answer, [answer]) is not None
        return self._said_alone[answer]

    def _rule_tokens(self, answer: str) -> tuple[torch.Tensor, set[int]]:
        """The tokens that carry `answer` on by the commonest rules (as an index tensor and a set). Those rules read
        only `commonest_rules_key` of the answer, so the first answer with a key stands for the rest."""
        key = commonest_rules_key(answer)
        if key not in self._rule_tokens_by_key:
            ids = [t for t, text in enumerate(self.texts()) if goes_on_by_the_commonest_rules(answer, text)]
            self._rule_tokens_by_key[key] = (torch.tensor(ids, dtype=torch.long), set(ids))
        return self._rule_tokens_by_key[key]

    def mass_going_on(self, answer: str, logprobs: torch.Tensor, skip: set[int]) -> float:
        if not self._can_be_said(answer):
            return 0.0
        head_logprobs, head_tokens = torch.topk(logprobs, min(HEAD_TOKENS, logprobs.shape[-1]))
        mass = 0.0
        judged = 0.0
        head = head_tokens.tolist()
        for logprob, token in zip(head_logprobs.tolist(), head):
            if 1.0 - judged < UNJUDGED_MASS:
                return mass
            probability = math.exp(logprob)
            judged += probability
            if token not in skip and self.goes_on(answer, token):
                mass += probability
        # The rest: the rule tokens' probability, less that of the head's and the skipped ones among them.
        rule_ids, rule_set = self._rule_tokens(answer)
        rule_ids = rule_ids[rule_ids < logprobs.shape[-1]]
        tail = float(logprobs[rule_ids].double().exp().sum()) if len(rule_ids) else 0.0
        judged_apart = {t for t in (*head, *skip) if t in rule_set and t < logprobs.shape[-1]}
        if judged_apart:
            tail -= float(logprobs[sorted(judged_apart)].double().exp().sum())
        return mass + max(tail, 0.0)
