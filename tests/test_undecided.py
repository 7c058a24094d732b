"""On the embedded SmolLM2: numbers and names with initials are undecided, never hidden by a shared or blank first token.

The suites are the project's own (`suites/science/element_atomic_number.json`,
`suites/culture/book_author.json`). Which facts cannot be decided is worked
out here independently, from the tokenizer alone: the first token of
" " + answer after the fact's prompt, compared across the relation's answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factcheck.knows.know_rules import BLANK_FIRST_TOKEN, SHARED_FIRST_TOKEN, is_blank
from factcheck.session import FactcheckSession, Settings
from factcheck.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent.parent / "suites"
ATOMIC_NUMBERS = SUITES / "science" / "element_atomic_number.json"
BOOK_AUTHORS = SUITES / "culture" / "book_author.json"


def first_token(model, prompt: str, answer: str) -> int:
    prompt_ids = model.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = model.tokenizer(f"{prompt} {answer}", add_special_tokens=False)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids
    return ids[len(prompt_ids)]


@pytest.fixture(scope="module")
def runs(smollm2):
    session = FactcheckSession(Settings(), progress=lambda message: None)
    session.use_model(smollm2)
    result = {}
    for path in (ATOMIC_NUMBERS, BOOK_AUTHORS):
        suite = load_suite(path)
        run = session.run(suite)
        run.asked.update(range(len(suite.facts)))
        result[path.stem] = run
    return result


def expected_reason(model, run, record) -> str | None:
    """Why the fact's first token cannot decide, from the tokenizer alone (None: it decides). A wrong answer the
    model generated counts as one more wrong answer."""
    prompt = record.outcome.prompt
    answers = record.fact.answers
    others = [o for o in run.suite.objects if o not in answers]
    if not record.outcome.generation_pass and record.outcome.generated.strip():
        others.append(record.outcome.generated.strip())
    accepted = {first_token(model, prompt, a) for a in answers}
    wrong = {first_token(model, prompt, o) for o in others}
    deciding = {t for t in accepted - wrong if not is_blank(model.tokenizer.decode([t]))}
    if deciding:
        return None
    return BLANK_FIRST_TOKEN if all(is_blank(model.tokenizer.decode([t])) for t in accepted) else SHARED_FIRST_TOKEN


@pytest.mark.slow
def test_every_atomic_number_is_undecided_by_its_blank_first_token(smollm2, runs):
    run = runs["element_atomic_number"]
    tested = [r for r in run.asked_records() if not r.outcome.is_training]
    assert len(tested) == 17
    for record in tested:
        assert expected_reason(smollm2, run, record) == BLANK_FIRST_TOKEN, record.fact
        assert record.undecided is not None and record.undecided.reason == BLANK_FIRST_TOKEN
        assert record.undecided.tokens == (" ",)
        assert record.know_pass is None and record.verdict is None
        assert record.to_dict()["know_undecided"]["reason"] == BLANK_FIRST_TOKEN
    # Faithfulness rests on no fact at all: the relation is untrusted, not 1.00.
    assert run.lre.faithfulness.tested == 0 and not run.lre.trusted


@pytest.mark.slow
def test_book_authors_with_shared_initials_are_undecided_and_nothing_is_hidden_by_them(smollm2, runs):
    run = runs["book_author"]
    tested = [r for r in run.asked_records() if not r.outcome.is_training]
    reasons = {r.fact.subject: expected_reason(smollm2, run, r) for r in tested}
    # J. D. Salinger, J. K. Rowling and J. M. Barrie all start with " J"; George Eliot and George Orwell with " George".
    assert {s for s, reason in reasons.items() if reason == SHARED_FIRST_TOKEN} >= {
        "The Catcher in the Rye", "Harry Potter and the Philosopher's Stone", "Peter Pan", "Middlemarch", "Animal Farm"}
    said_right_and_decided = 0
    for record in tested:
        reason = reasons[record.fact.subject]
        if reason is not None:
            assert record.undecided is not None and record.undecided.reason == reason, record.fact
            assert record.know_pass is None and record.verdict is None
            assert record.undecided.shared_with, "a shared first token names the wrong candidates it starts"
        elif record.undecided is None:
            assert record.lre_decodes_object is (record.know.top_tokens[0][0] in {
                smollm2.tokenizer.decode([first_token(smollm2, record.outcome.prompt, a)]) for a in record.fact.answers})
            said_right_and_decided += record.outcome.generation_pass
        if record.verdict == "hidden":
            assert reason is None and record.undecided is None
    # Faithfulness counts only the decided facts the model says right.
    assert run.lre.faithfulness.tested == said_right_and_decided
