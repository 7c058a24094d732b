"""Suite text shown to a reader (the HTML report, markdown for a CI summary): bidirectional controls are written out
as escapes, so that text from a suite file cannot reorder what is shown around it ("\\u202etxt.exe")."""

from __future__ import annotations

import re

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def bidi_visible(text: str) -> str:
    """`text` with each bidirectional control written as its escape (U+202E as the six characters \\u202e)."""
    return BIDI_CONTROLS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


# Control characters (C0, DEL, C1) and line and paragraph separators act on a terminal or a log rather than show (an
# escape sequence erases a line, a newline forges one); bidirectional controls reorder what is shown around them.
TERMINAL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An unpaired surrogate (JSON may escape one: "\ud800") is no text: printing it in UTF-8 raises.
_UNPRINTABLE = re.compile(f"{TERMINAL_CONTROLS.pattern}|{BIDI_CONTROLS.pattern}|[\ud800-\udfff]")


def is_utf8_text(text: str) -> bool:
    """Whether `text` can be written as UTF-8: a path or an argument with bytes that are no UTF-8 (legal on Linux)
    comes in with surrogate escapes, which safetensors and the tokenizers cannot take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def visible_controls(text: str) -> str:
    """`text` with each character above, and each unpaired surrogate, written as its escape (ESC as the four
    characters \\x1b, a newline as \\n)."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


# What a line of the CLI's output may not hold: the controls above but its own newlines and tabs.
_NOT_FOR_A_TERMINAL = re.compile(f"(?![\n\t]){_UNPRINTABLE.pattern}")


def terminal_text(text: str) -> str:
    """`text` as `visible_controls` writes it, but with its newlines and tabs kept: lines the CLI prints, which may
    hold a model's or a suite's name ("m\\x1b[31m", a carriage return that overwrites the line)."""
    return _NOT_FOR_A_TERMINAL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
