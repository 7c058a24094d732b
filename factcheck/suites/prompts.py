"""Few-shot prompts and the subject's token position within them.

The format follows the LRE paper: BOS, then one line per demonstration
("<template with subject> <object>"), then the template for the queried
subject. A fact is never among its own demonstrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from factcheck.errors import FactcheckError
from factcheck.suites.suite import PLACEHOLDER, Fact, render



class SubjectNotFound(FactcheckError, ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    text: str
    subject: str
    demonstrations: tuple[Fact, ...]
    subject_end: int  # character offset where the question's subject ends (the template may repeat its words later)


def demonstrations_for(facts: Sequence[Fact], subject: str, shots: int) -> tuple[Fact, ...]:
    """The first `shots` facts of the relation, skipping the queried subject itself.

    Facts among the first `shots` (the training facts) therefore see the other
    shots - 1; every other fact sees the same `shots` demonstrations, so their
    prompts share one prefix.
    """
    chosen = [fact for fact in facts[:shots] if fact.subject != subject]
    return tuple(chosen)


def build_prompt(bos: str, template: str, subject: str, demonstrations: Sequence[Fact], lead: str = "") -> Prompt:
    """`lead` goes right before the question (a distractor); the subject's last occurrence stays in the question."""
    lines = [f"{render(template, d.subject)} {d.object}" for d in demonstrations if d.subject != subject]
    lines.append(lead + render(template, subject))
    text = bos + "\n".join(lines)
    after_subject = len(template) - template.index(PLACEHOLDER) - len(PLACEHOLDER)
    return Prompt(text=text, subject=subject, demonstrations=tuple(demonstrations), subject_end=len(text) - after_subject)


def subject_token_index(text: str, subject: str, offsets: Sequence[tuple[int, int]], end: int | None = None) -> int:
    """Index of the last token of the subject's last occurrence in `text` (ending by `end`), from the tokenizer's offsets.

    Pass `end` = `Prompt.subject_end` so that words of the template after the
    placeholder are never taken for the subject.
    """
    start = text.rfind(subject, 0, len(text) if end is None else end)
    if start < 0:
        raise SubjectNotFound(f"subject {subject!r} does not occur in the prompt {text!r}")
    end = start + len(subject)
    last = None
    for index, (token_start, token_end) in enumerate(offsets):
        if token_end > token_start and token_start < end and token_end > start:
            last = index
    if last is None:
        raise SubjectNotFound(f"no token covers subject {subject!r} in the prompt {text!r}")
    return last


def wrong_object(facts: Sequence[Fact], fact: Fact) -> str:
    """A deterministic wrong answer for `fact`: the next fact's object (cyclically) that is not an accepted answer."""
    start = facts.index(fact)
    accepted = set(fact.answers)
    for offset in range(1, len(facts)):
        candidate = facts[(start + offset) % len(facts)].object
        if candidate not in accepted:
            return candidate
    return ""


def distractor_lead(statement: str, repeat: int, subject: str, wrong: str) -> str:
    """A false statement about the subject, repeated, to put before the question."""
    sentence = statement.replace("{subject}", subject).replace("{wrong}", wrong).strip()
    return (sentence + " ") * repeat
