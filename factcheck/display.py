"""Suite text shown to a reader (the HTML report, markdown for a CI summary): bidirectional controls are written out
as escapes, so that text from a suite file cannot reorder what is shown around it ("\\u202etxt.exe")."""

from __future__ import annotations

import re

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def bidi_visible(text: str) -> str:
    """`text` with each bidirectional control written as its escape (U+202E as the six characters \\u202e)."""
    return BIDI_CONTROLS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
