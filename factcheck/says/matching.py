"""Does a generated answer say the expected object? Normalised, alias-aware, at a word boundary."""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

_WHITESPACE = re.compile(r"\s+")
# Quotes and leading punctuation a model may put before its answer ("'Paris'", "*Paris*").
_LEADING_NOISE = " \t\"'`*_([{“‘«"


def normalise(text: str) -> str:
    """Unicode-compatibility fold, case fold, collapse whitespace, trim."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE.sub(" ", folded).strip()


def _is_word_char(char: str) -> bool:
    # Combining marks count: case folding turns "İ" into "i" + a combining dot.
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def matching_answer(generated: str, answers: Sequence[str]) -> str | None:
    """The first answer that the generated text starts with, ending at a word boundary; else None.

    "Paris, France" says "Paris"; "Parisian" and "not Paris" do not.
    """
    said = normalise(generated).lstrip(_LEADING_NOISE)
    for answer in answers:
        expected = normalise(answer)
        if not expected or not said.startswith(expected):
            continue
        following = said[len(expected) : len(expected) + 1]
        # A boundary is needed only where the answer ends in a word character ("U.S." may end anywhere).
        if not following or not (_is_word_char(expected[-1]) and _is_word_char(following)):
            return answer
    return None
