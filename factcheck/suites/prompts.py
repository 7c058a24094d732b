"""Few-shot prompts and the subject's token position within them.

Text prompts follow the LRE paper: BOS, then one line per demonstration
("<template with subject> <object>"), then the template for the queried
subject; the answer follows after a space. Chat prompts go through the
model's own chat template: each demonstration is a user turn (the template
with its subject) answered by an assistant turn (its object), then the
question as the last user turn, and the answer is the assistant's reply.
A fact is never among its own demonstrations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from factcheck.errors import FactcheckError, SettingError
from factcheck.suites.suite import PLACEHOLDER, Fact, render



class SubjectNotFound(FactcheckError, ValueError):
    pass


TEXT_SEPARATOR = " "  # what comes between a text prompt and its answer
CHAT_SEPARATOR = ""  # most chat templates start the assistant's reply right after the opening of its turn
REPLY_PROBE = "factcheck-reply-probe"  # an assistant reply that no template changes, to find where replies start


@dataclass(frozen=True)
class Prompt:
    text: str
    subject: str
    demonstrations: tuple[Fact, ...]
    subject_end: int  # character offset where the question's subject ends (the template may repeat its words later)
    answer_separator: str = TEXT_SEPARATOR  # what comes between the prompt and an answer
    question: str = ""  # the question asked after the demonstrations (a distractor's lead included)

    @property
    def demonstration_count(self) -> int:
        """The demonstrations the prompt shows (a fact is never its own)."""
        return sum(d.subject != self.subject for d in self.demonstrations)


@dataclass(frozen=True)
class Phrasing:
    """How a relation's facts are asked: a template, as few-shot text or through the model's chat template (with an
    optional system message)."""

    template: str
    chat: bool = False
    system: str | None = None

    def cache_text(self, chat_template: str | None = None) -> str:
        """What the LRE cache keys on: the template alone for text prompts (the key they always had); for chat prompts
        also the system message and the model's chat template, which the model's fingerprint does not cover."""
        if not self.chat:
            return self.template
        rendered_by = hashlib.sha256((chat_template or "").encode()).hexdigest()[:16]
        return json.dumps({"template": self.template, "prompt": "chat", "system": self.system, "chat_template": rendered_by})


def as_phrasing(template: str | Phrasing) -> Phrasing:
    return template if isinstance(template, Phrasing) else Phrasing(template)


class ChatRenderer(Protocol):
    bos_text: str
    chat_reply_separator: str

    def chat_text(self, messages: list[dict[str, str]]) -> str: ...


def reply_separator(prompt_text: str, conversation_text: str) -> str:
    """What a chat template writes between the opening of the assistant's turn and the reply itself (Llama-2's
    "[/INST] reply" puts a space there), from `prompt_text` (a conversation ending with that opening) and
    `conversation_text` (the same conversation answered with REPLY_PROBE). Only whitespace counts: anything else
    there (a reasoning block, another opening) is the model's to generate, so the reply is taken to start at once."""
    if not conversation_text.startswith(prompt_text):
        return CHAT_SEPARATOR
    between = conversation_text[len(prompt_text):conversation_text.find(REPLY_PROBE, len(prompt_text))]
    return between if between.isspace() and REPLY_PROBE in conversation_text else CHAT_SEPARATOR


def phrase_prompt(model: ChatRenderer, template: str | Phrasing, subject: str, demonstrations: Sequence[Fact], lead: str = "") -> Prompt:
    """The prompt for `subject` under `template` (a plain template is asked as text)."""
    phrasing = as_phrasing(template)
    if phrasing.chat:
        return build_chat_prompt(model.chat_text, phrasing, subject, demonstrations, lead, model.chat_reply_separator)
    return build_prompt(model.bos_text, phrasing.template, subject, demonstrations, lead)


def build_chat_prompt(render_chat: Callable[[list[dict[str, str]]], str], phrasing: Phrasing, subject: str,
                      demonstrations: Sequence[Fact], lead: str = "", separator: str = CHAT_SEPARATOR) -> Prompt:
    """Demonstrations as earlier user/assistant turns, the question as the last user turn; `render_chat` is the model's
    chat template (ending with the opening of the assistant's turn), `separator` what it writes before a reply."""
    template = phrasing.template
    messages = [{"role": "system", "content": phrasing.system}] if phrasing.system else []
    for demonstration in demonstrations:
        if demonstration.subject != subject:
            messages += [{"role": "user", "content": render(template, demonstration.subject)},
                         {"role": "assistant", "content": demonstration.object}]
    question = lead + render(template, subject)
    messages.append({"role": "user", "content": question})
    text = render_chat(messages)
    start = text.rfind(question)
    if start < 0:
        raise SettingError(f"the model's chat template changed the question {question!r} (it is not in the rendered "
                              f"prompt {text[-300:]!r}); ask this model with text prompts (prompt: text)")
    after_subject = len(template) - template.index(PLACEHOLDER) - len(PLACEHOLDER)
    return Prompt(text=text, subject=subject, demonstrations=tuple(demonstrations),
                  subject_end=start + len(question) - after_subject, answer_separator=separator, question=question)


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
    return Prompt(text=text, subject=subject, demonstrations=tuple(demonstrations), subject_end=len(text) - after_subject,
                  question=lines[-1])


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


def distractor_lead(statement: str, repeat: int, subject: str, wrong: str) -> str:
    """A false statement about the subject, repeated, to put before the question."""
    sentence = statement.replace("{subject}", subject).replace("{wrong}", wrong).strip()
    return (sentence + " ") * repeat
