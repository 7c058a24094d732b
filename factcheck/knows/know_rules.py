"""What a know-verdict may claim: whether a decoded first token can decide a fact, and how far a
relation's faithfulness can be trusted. Plain Python (no torch), shared by the know-check, the LRE
metrics, `factcheck tune`, the reports and the gate.

An LRE decodes one token: the next token at the prompt's end. Its top-1 says which object it
decodes only when that token starts the object and no wrong candidate of the relation. It cannot
decide when every accepted answer starts with a token that is
* blank: whitespace or punctuation only (" " before every number in a digit-splitting tokenizer,
  " (" or '"'), or
* shared: also the first token of a wrong candidate (" J" for J. D. Salinger and J. K. Rowling,
  " the" for "the United States" and "the United Kingdom"), or of the wrong answer the model itself
  generated (" Norwegian" of "Norwegian krona" for "Norwegian krone": the model says the token the
  LRE would decode and goes wrong after it, where the LRE does not reach).
Such a fact is undecided. When only some accepted answers' first tokens decide (an alias that starts
apart), the LRE decides the fact unless its top-1 is one of the undeciding tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Collection

BLANK_FIRST_TOKEN = "blank_first_token"
SHARED_FIRST_TOKEN = "shared_first_token"
DECODED_TOKEN_SHARED = "decoded_token_shared"
NO_FIRST_TOKEN = "no_first_token"  # the tokenizer merges every accepted answer with the prompt
UNDECIDED_REASONS = (BLANK_FIRST_TOKEN, SHARED_FIRST_TOKEN, DECODED_TOKEN_SHARED, NO_FIRST_TOKEN)

# A relation's know-verdicts are trusted when the lower end of its faithfulness interval reaches this
# and it rests on at least MIN_FAITHFULNESS_FACTS facts.
MIN_TRUSTED_FAITHFULNESS = 0.5
MIN_FAITHFULNESS_FACTS = 5
WILSON_Z = 1.959964  # two-sided 95%

UNDECIDED_HINT = (
    "to decide them, give the object an alias that starts apart (\"Salinger\", \"Beatles\"), move a shared leading "
    "word into the template (\"... lead singer of the\"), or write numbers as words"
)
UNDECIDED_MEANING = (
    "undecided = the LRE's one decoded token cannot tell the object apart: the answer's first token is blank or "
    "punctuation, also starts a wrong candidate or the wrong answer the model generated, or does not exist apart "
    "from the prompt (no class, not in faithfulness)"
)


def is_blank(token_text: str) -> bool:
    """Whitespace or punctuation only: no letter or digit to tell one object from another. A token that
    decodes to U+FFFD (part of a multi-byte character) is not blank: it is part of a letter."""
    return "\ufffd" not in token_text and not any(character.isalnum() for character in token_text)


@dataclass(frozen=True)
class Undecided:
    """Why the first token cannot decide a fact, and the tokens involved."""

    reason: str  # one of UNDECIDED_REASONS
    tokens: tuple[str, ...]  # the undeciding first tokens, as text
    shared_with: tuple[str, ...] = ()  # a few wrong answers that start with them

    def describe(self) -> str:
        tokens = ", ".join(repr(t) for t in self.tokens)
        others = f" ({', '.join(self.shared_with)})" if self.shared_with else ""
        if self.reason == BLANK_FIRST_TOKEN:
            return f"the answer's first token {tokens} is blank or punctuation: it starts any answer of this shape"
        if self.reason == SHARED_FIRST_TOKEN:
            shared = ", ".join(repr(t) for t in self.tokens if not is_blank(t))
            blank = ", ".join(repr(t) for t in self.tokens if is_blank(t))
            return f"the answer's first token {shared} also starts wrong answers{others}" + (f"; {blank} is blank" if blank else "")
        if self.reason == NO_FIRST_TOKEN:
            return "no accepted answer has a first token of its own after this prompt (the tokenizer merges them)"
        if all(is_blank(t) for t in self.tokens):
            return f"the LRE decodes {tokens}, a blank token that starts an accepted answer of any shape"
        return f"the LRE decodes {tokens}, which starts an accepted answer and wrong answers{others}"

    def to_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "tokens": list(self.tokens), "shared_with": list(self.shared_with)}


@dataclass(frozen=True)
class FirstTokenRule:
    """One fact's accepted and wrong first tokens (token ids), split into those that decide and those that do not."""

    deciding: frozenset[int]  # start an accepted answer, no wrong candidate, and are not blank
    undeciding: frozenset[int]  # start an accepted answer but cannot tell it apart
    blank: frozenset[int]  # the accepted first tokens that are blank (all undeciding)

    @classmethod
    def of(cls, accepted: Collection[int], wrong: Collection[int], text_of: Callable[[int], str]) -> FirstTokenRule:
        accepted, wrong = frozenset(accepted), frozenset(wrong)
        blank = frozenset(t for t in accepted if is_blank(text_of(t)))
        deciding = accepted - wrong - blank
        return cls(deciding=deciding, undeciding=accepted - deciding, blank=blank)

    @property
    def decidable(self) -> bool:
        return bool(self.deciding)

    def decide(self, top1: int) -> bool | None:
        """Whether a top-1 token means the fact's object; None when the token cannot tell."""
        if not self.deciding or top1 in self.undeciding:
            return None
        return top1 in self.deciding

    def why_undecided(self, top1: int, text_of: Callable[[int], str], shared_with: tuple[str, ...] = ()) -> Undecided | None:
        """The reason `decide(top1)` is None, or None when it decides."""
        if self.decide(top1) is not None:
            return None
        if self.deciding:  # an alias decides, but the decoded token is one of those that do not
            return Undecided(DECODED_TOKEN_SHARED, (text_of(top1),), shared_with)
        if not self.undeciding:
            return Undecided(NO_FIRST_TOKEN, ())
        tokens = tuple(text_of(t) for t in sorted(self.undeciding))
        if self.undeciding <= self.blank:
            return Undecided(BLANK_FIRST_TOKEN, tokens)
        return Undecided(SHARED_FIRST_TOKEN, tokens, shared_with)


def object_rank(score: Callable[[int], float], accepted: Collection[int], wrong: Collection[int]) -> int:
    """The object's rank among the candidates' first tokens: 1 + the distinct wrong first tokens (those that start
    no accepted answer) scored above every accepted one; all of them when no accepted token exists."""
    best = max((score(t) for t in accepted), default=float("-inf"))
    return 1 + sum(score(t) > best for t in set(wrong) - set(accepted))


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (95% by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # The interval always holds p; min/max keep rounding (p = 0 or 1) from putting it outside.
    return max(0.0, min(p, centre - spread)), min(1.0, max(p, centre + spread))


@dataclass(frozen=True)
class Faithfulness:
    """A relation's faithfulness: among decided test facts the model says right, how many the LRE decodes."""

    faithful: int
    tested: int
    undecided: int  # test facts the model says right whose first token cannot decide (left out of `tested`)

    @property
    def value(self) -> float | None:
        return self.faithful / self.tested if self.tested else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.faithful, self.tested)

    @property
    def trusted(self) -> bool:
        interval = self.interval
        return self.tested >= MIN_FAITHFULNESS_FACTS and interval is not None and interval[0] >= MIN_TRUSTED_FAITHFULNESS

    def why_untrusted(self) -> str | None:
        if self.trusted:
            return None
        if self.tested < MIN_FAITHFULNESS_FACTS:
            left_out = f" ({self.undecided} more undecided)" if self.undecided else ""
            return (f"faithfulness rests on {self.tested} decided fact(s) the model says right{left_out}, "
                    f"fewer than {MIN_FAITHFULNESS_FACTS}")
        low, high = self.interval
        return (f"faithfulness {self.value:.2f} on {self.tested} facts, 95% interval {low:.2f}-{high:.2f}: "
                f"its lower end is under {MIN_TRUSTED_FAITHFULNESS}")

    def value_text(self) -> str:
        """E.g. '0.83 [0.66-0.93]' ('n/a' without facts)."""
        if not self.tested:
            return "n/a"
        low, high = self.interval
        return f"{self.value:.2f} [{low:.2f}-{high:.2f}]"

    def describe(self) -> str:
        """E.g. '0.83 [0.66-0.93] n=30'."""
        return f"{self.value_text()} n={self.tested}"
