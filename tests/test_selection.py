"""A run of part of a relation computes only the facts it asks, once the relation's faithfulness is known from a whole
run, and gives each of them the verdicts a whole run gives (through pytest's -k: tests/test_plugin.py)."""

from __future__ import annotations

import json
import os
import warnings

import pytest

from factcheck.cache import FactcheckWarning
from factcheck.knows.faithfulness_cache import faithfulness_directory
from factcheck.settings import Settings
from test_session import quiet_session, suite_of


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """An empty cache: whether a faithfulness is stored must not depend on other tests."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FACTCHECK_CACHE", str(folder))
    return folder


def said_and_known(record):
    result = record.result
    know = result.know
    return (result.subject, result.say.generated, result.say.generation_pass, result.say.ranking_pass, result.verdict,
            None if know is None else (know.passed, know.trusted, know.decodes_object, know.top_tokens[0][0]))


def test_part_of_a_relation_runs_alone_once_a_whole_run_stored_its_faithfulness(tiny_llama, tmp_path, own_cache):
    suite = suite_of(tmp_path)
    first = quiet_session(tiny_llama, Settings(shots=2)).run(suite, wanted={3})
    assert first.computed is None, "no faithfulness stored yet: the whole relation runs"
    assert len(list(faithfulness_directory().glob("*.json"))) == 1
    part = quiet_session(tiny_llama, Settings(shots=2)).run(suite, wanted={3, 0})
    assert part.computed == (0, 3)
    assert [outcome.fact.subject for outcome in part.outcomes] == ["France", "Germany"]
    assert part.lre.faithfulness == first.lre.faithfulness
    for index in (0, 3):
        assert said_and_known(part.record(index)) == said_and_known(first.record(index))
        assert part.record(index).result.say.margin == pytest.approx(first.record(index).result.say.margin, abs=1e-4)


def test_asking_a_fact_the_part_did_not_compute_runs_the_whole_relation_and_keeps_what_was_asked(tiny_llama, tmp_path, own_cache):
    suite = suite_of(tmp_path)
    quiet_session(tiny_llama, Settings(shots=2)).run(suite)
    session = quiet_session(tiny_llama, Settings(shots=2))
    session.run(suite, wanted={4})
    session.record_for(suite, 4)
    record = session.record_for(suite, 1)
    assert session.runs()[0].computed is None and record.fact.subject == "Italy"
    assert [r.fact.subject for r in session.all_records()] == ["Italy", "Spain"]


@pytest.mark.parametrize("change", ["a fact", "the shots", "the say-check"])
def test_a_stored_faithfulness_serves_only_the_same_suite_and_options(tiny_llama, tmp_path, own_cache, change):
    quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path))
    suite, settings = suite_of(tmp_path), Settings(shots=2)
    if change == "a fact":
        suite = suite_of(tmp_path, max_new_tokens=4)  # another suite content
    elif change == "the shots":
        settings = Settings(shots=3)
    else:
        settings = Settings(shots=2, say_check="ranking")
    assert quiet_session(tiny_llama, settings).run(suite, wanted={4}).computed is None


def test_without_an_lre_part_of_a_relation_always_runs_alone(tiny_llama, tmp_path, own_cache):
    part = quiet_session(tiny_llama, Settings(shots=2, lre="off")).run(suite_of(tmp_path), wanted={4})
    assert part.computed == (4,) and part.lre is None and [o.fact.subject for o in part.outcomes] == ["Spain"]


@pytest.mark.parametrize("damage", ['{"format": "factcheck-faithfulness/1"', "[1, 2]", "counts", "huge", "fifo", "more than the suite",
                                    "a folder"])
def test_a_damaged_faithfulness_entry_is_said_removed_and_the_relation_runs_whole(tiny_llama, tmp_path, own_cache, damage):
    suite = suite_of(tmp_path)
    quiet_session(tiny_llama, Settings(shots=2)).run(suite)
    (entry,) = faithfulness_directory().glob("*.json")
    if damage == "counts":  # well-formed JSON whose counts cannot be: more faithful facts than tested ones
        document = json.loads(entry.read_text())
        entry.write_text(json.dumps(document | {"faithful": document["tested"] + 1}))
    elif damage == "huge":  # whole numbers too large for a float (the faithfulness interval)
        document = json.loads(entry.read_text())
        entry.write_text(json.dumps(document | {"faithful": 10**300, "tested": 10**300}))
    elif damage == "more than the suite":  # counts no run of this 6-fact suite can give
        document = json.loads(entry.read_text())
        entry.write_text(json.dumps(document | {"faithful": 40, "tested": 40}))
    elif damage == "a folder":  # it was never removed: every selection ran its relation whole, and said so again
        entry.unlink()
        (entry / "inside").mkdir(parents=True)
    elif damage == "fifo":  # opening it would wait forever
        entry.unlink()
        os.mkfifo(entry)
    else:
        entry.write_text(damage)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        part = quiet_session(tiny_llama, Settings(shots=2)).run(suite, wanted={4})
    said = [str(w.message) for w in caught if issubclass(w.category, FactcheckWarning)]
    assert part.computed is None and len(said) == 1 and str(entry) in said[0] and "runs whole" in said[0]
    assert json.loads(entry.read_text())["format"] == "factcheck-faithfulness/1"  # rewritten by the whole run
