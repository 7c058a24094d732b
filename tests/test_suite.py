"""Suite files: valid ones become typed objects; every rejection names file, JSON pointer and what was expected."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factcheck.suites import suite as suite_module
from factcheck.suites.suite import Fact, LreSettings, Suite, SuiteError, SuiteSettings, load_suite, parse_suite, suite_schema

VALID = {
    "relation": "country capital city",
    "description": "Capitals of countries.",
    "category": "factual",
    "templates": ["The capital city of {subject} is", "{subject}'s capital is"],
    "facts": [
        {"subject": "France", "object": "Paris"},
        {"subject": " India ", "object": "New Delhi ", "aliases": ["Delhi"], "tags": ["hard", "asia"]},
        {"subject": "Myanmar", "object": "Naypyidaw", "tags": ["hard"]},
        {"subject": "Italy", "object": "Rome"},
        {"subject": "Vatican City", "object": "Rome"},
    ],
    "settings": {
        "shots": 4,
        "max_new_tokens": 8,
        "say_check": "ranking",
        "min_accuracy": 0.5,
        "markers": ["geography"],
        "lre": {"layer": 5, "beta": 2.5, "rank": None, "n_train": 3},
    },
}


def valid() -> dict:
    return copy.deepcopy(VALID)


def write(tmp_path: Path, document, name: str = "country_capital.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def rejection(tmp_path: Path, document=None, *, raw: bytes | None = None) -> SuiteError:
    """Load a file holding `document` (or `raw` bytes) and return the SuiteError it must raise."""
    path = tmp_path / "bad.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    error = caught.value
    assert error.path == str(path)
    assert error.problems, "a rejection lists at least one problem"
    for pointer, message in error.problems:
        assert pointer == "" or pointer.startswith("/")
        assert f"{path}: {pointer or '/'}: {message}" in str(error)
    return error


def pointers(error: SuiteError) -> list[str]:
    return [pointer for pointer, _ in error.problems]


def message_at(error: SuiteError, pointer: str) -> str:
    matches = [message for p, message in error.problems if p == pointer]
    assert matches, f"no problem at {pointer}; got {error.problems}"
    return matches[0]


# ---- valid suites ------------------------------------------------------------------------


def test_valid_suite_round_trip(tmp_path):
    path = write(tmp_path, VALID)
    loaded = load_suite(path)
    assert isinstance(loaded, Suite)
    assert loaded.path == path
    assert loaded.relation_id == "country_capital"
    assert loaded.relation == "country capital city"
    assert loaded.description == "Capitals of countries."
    assert loaded.category == "factual"
    assert loaded.templates == ("The capital city of {subject} is", "{subject}'s capital is")
    assert loaded.facts[0] == Fact("France", "Paris")
    assert loaded.facts[1] == Fact("India", "New Delhi", aliases=("Delhi",), tags=("hard", "asia"))
    assert loaded.facts[1].answers == ("New Delhi", "Delhi")
    assert loaded.objects == ("Paris", "New Delhi", "Naypyidaw", "Rome")
    assert loaded.settings == SuiteSettings(
        shots=4, max_new_tokens=8, say_check="ranking", min_accuracy=0.5, markers=("geography",),
        lre=LreSettings(layer=5, beta=2.5, rank=None, n_train=3),
    )
    assert loaded.render("India", 1) == "India's capital is"
    assert loaded.render("France") == "The capital city of France is"
    # The same content gives the same hash; any change gives another.
    assert load_suite(write(tmp_path, VALID, "copy.json")).content_hash == loaded.content_hash
    changed = valid()
    changed["facts"][0]["object"] = "Lyon"
    assert parse_suite(changed, path).content_hash != loaded.content_hash


def test_minimal_suite_gets_defaults(tmp_path):
    minimal = {"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b"}]}
    loaded = load_suite(write(tmp_path, minimal))
    assert loaded.settings == SuiteSettings()
    assert loaded.category is None and loaded.description == ""
    assert loaded.facts == (Fact("a", "b"),)


def test_template_may_hold_other_braces(tmp_path):
    document = valid()
    document["templates"] = ["In {year} the capital of {subject} is"]
    assert load_suite(write(tmp_path, document)).render("France") == "In {year} the capital of France is"


def test_integral_floats_become_ints(tmp_path):
    document = valid()
    document["settings"] = {"shots": 2.0, "min_accuracy": 1, "lre": {"layer": 3.0, "rank": 4.0, "beta": 1}}
    loaded = load_suite(write(tmp_path, document))
    assert loaded.settings.shots == 2 and type(loaded.settings.shots) is int
    assert type(loaded.settings.lre.layer) is int and type(loaded.settings.lre.rank) is int
    assert type(loaded.settings.min_accuracy) is float and type(loaded.settings.lre.beta) is float


def test_layer_may_be_emb(tmp_path):
    document = valid()
    document["settings"] = {"lre": {"layer": "emb"}}
    assert load_suite(write(tmp_path, document)).settings.lre.layer == "emb"


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(VALID).encode())
    assert load_suite(path).relation == "country capital city"


def test_schema_ships_with_the_package():
    schema = suite_schema()
    assert schema["required"] == ["relation", "templates", "facts"]
    assert schema["additionalProperties"] is False


# ---- rejections: the file as a whole -------------------------------------------------------


def test_invalid_json_gives_line_and_column(tmp_path):
    error = rejection(tmp_path, raw=b'{\n  "relation": "r",\n  "templates": ["{subject}"]\n  "facts": []\n}')
    assert pointers(error) == [""]
    assert "invalid JSON at line 4, column 3" in error.problems[0][1]


def test_nan_is_not_json(tmp_path):
    error = rejection(tmp_path, raw=json.dumps(VALID).replace('"min_accuracy": 0.5', '"min_accuracy": NaN').encode())
    assert "NaN is not valid JSON" in error.problems[0][1]


def test_duplicate_json_keys(tmp_path):
    text = json.dumps(VALID).replace('{"subject": "France", "object": "Paris"}', '{"subject": "France", "object": "Paris", "object": "Lyon"}')
    error = rejection(tmp_path, raw=text.encode())
    assert "key 'object' appears twice" in error.problems[0][1]


def test_non_utf8_bytes(tmp_path):
    raw = json.dumps(VALID).replace("Paris", "Par\u00eds").encode("latin-1")
    error = rejection(tmp_path, raw=raw)
    message = error.problems[0][1]
    position = raw.index(b"\xed")
    assert "not UTF-8" in message and "b'\\xed'" in message and f"byte {position}:" in message


def test_too_large_file(tmp_path, monkeypatch):
    path = write(tmp_path, VALID)
    monkeypatch.setattr(suite_module, "MAX_SUITE_BYTES", 100)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert caught.value.path == str(path)
    assert pointers(caught.value) == [""]
    assert "of at most 100 bytes" in caught.value.problems[0][1]
    monkeypatch.setattr(suite_module, "MAX_SUITE_BYTES", path.stat().st_size)
    assert load_suite(path).relation == "country capital city"


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError) as caught:
        load_suite(tmp_path / "absent.json")
    assert caught.value.path == str(tmp_path / "absent.json")
    assert "cannot read the file" in caught.value.problems[0][1]


def test_top_level_must_be_an_object(tmp_path):
    error = rejection(tmp_path, [VALID])
    assert message_at(error, "").startswith("expected object, got list")


# ---- rejections: shapes and types ---------------------------------------------------------


@pytest.mark.parametrize(
    "pointer, value, expected",
    [
        ("/relation", 3, "expected string, got int 3"),
        ("/templates", "The capital city of {subject} is", "expected array, got str"),
        ("/templates/0", None, "expected string, got NoneType null"),
        ("/facts", {"subject": "France"}, "expected array, got dict"),
        ("/facts/2", "Myanmar", "expected object, got str"),
        ("/facts/0/object", ["Paris"], "expected string, got list"),
        ("/facts/1/aliases", "Delhi", "expected array, got str"),
        ("/facts/1/aliases/0", 7, "expected string, got int"),
        ("/settings/shots", "4", "expected integer, got str"),
        ("/settings/shots", True, "expected integer, got bool"),
        ("/settings/min_accuracy", 1.5, "1.5 is greater than the maximum of 1"),
        ("/settings/say_check", "vibes", "'vibes' is not one of ['generation', 'ranking']"),
        ("/settings/lre/layer", -1, 'expected integer from 0 to 4096 or "emb", got -1'),
        ("/settings/lre/beta", 0, "less than or equal to the minimum of 0"),
        ("/category", "trivia", "is not one of"),
        ("/facts/1/tags/0", "two words", "does not match"),
    ],
)
def test_wrong_values_are_named_by_pointer(tmp_path, pointer, value, expected):
    document = valid()
    *parents, last = [int(p) if p.isdigit() else p for p in pointer.strip("/").split("/")]
    target = document
    for part in parents:
        target = target[part]
    target[last] = value
    error = rejection(tmp_path, document)
    assert pointers(error) == [pointer]
    assert expected in message_at(error, pointer)


@pytest.mark.parametrize("field", ["relation", "templates", "facts"])
def test_missing_top_level_field(tmp_path, field):
    document = valid()
    del document[field]
    error = rejection(tmp_path, document)
    assert message_at(error, "") == f"missing required field: '{field}'"


@pytest.mark.parametrize("field", ["subject", "object"])
def test_missing_fact_field(tmp_path, field):
    document = valid()
    del document["facts"][3][field]
    error = rejection(tmp_path, document)
    assert message_at(error, "/facts/3") == f"missing required field: '{field}'"


@pytest.mark.parametrize(
    "where, pointer, allowed",
    [
        ((), "/colour", "category, description, facts, relation, settings, templates"),
        (("facts", 1), "/facts/1/colour", "aliases, object, subject, tags"),
        (("settings",), "/settings/colour", "distractor, lre, markers, max_new_tokens, min_accuracy, prompt, say_check, shots, system, templates"),
        (("settings", "lre"), "/settings/lre/colour", "beta, layer, n_train, rank"),
    ],
)
def test_unknown_key_points_at_the_key(tmp_path, where, pointer, allowed):
    document = valid()
    target = document
    for part in where:
        target = target[part]
    target["colour"] = "blue"
    error = rejection(tmp_path, document)
    assert pointers(error) == [pointer]
    assert message_at(error, pointer) == f"unknown key 'colour'; allowed keys here: {allowed}"


def test_unknown_key_with_slash_is_escaped_in_the_pointer(tmp_path):
    document = valid()
    document["a/b~c"] = 1
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/a~1b~0c"]


def test_several_problems_are_all_reported(tmp_path):
    document = valid()
    document["relation"] = 1
    document["facts"][0]["object"] = 2
    document["settings"]["shots"] = -1
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/facts/0/object", "/relation", "/settings/shots"]


# ---- rejections: content ------------------------------------------------------------------


def test_template_without_placeholder(tmp_path):
    document = valid()
    document["templates"][1] = "The capital of {country} is"
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/templates/1"]
    assert message_at(error, "/templates/1") == "template 'The capital of {country} is' has no {subject} placeholder"


def test_template_with_two_placeholders(tmp_path):
    document = valid()
    document["templates"][0] = "{subject} is the capital of {subject}"
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/templates/0"]
    assert message_at(error, "/templates/0") == "template must hold {subject} exactly once, found 2"


@pytest.mark.parametrize("field", ["templates", "facts"])
def test_empty_lists(tmp_path, field):
    document = valid()
    document[field] = []
    error = rejection(tmp_path, document)
    assert pointers(error) == [f"/{field}"]
    assert "should be non-empty" in message_at(error, f"/{field}")


@pytest.mark.parametrize("subject, expected", [("", "should be non-empty"), ("   ", "expected a non-empty string, got only whitespace"), ("\t\n", "only whitespace")])
def test_empty_or_blank_subject(tmp_path, subject, expected):
    document = valid()
    document["facts"][2]["subject"] = subject
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/facts/2/subject"]
    assert expected in message_at(error, "/facts/2/subject")


def test_blank_alias(tmp_path):
    document = valid()
    document["facts"][1]["aliases"].append(" ")
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/facts/1/aliases/1"]


def test_duplicate_subject_with_different_object(tmp_path):
    document = valid()
    document["facts"].append({"subject": "France ", "object": "Lyon"})
    error = rejection(tmp_path, document)
    assert pointers(error) == ["/facts/5/subject"]
    message = message_at(error, "/facts/5/subject")
    assert "'France' already appears at /facts/0" in message
    assert "'Paris' vs 'Lyon'" in message and "aliases" in message


def test_duplicate_subject_with_same_object(tmp_path):
    document = valid()
    document["facts"].append({"subject": "India", "object": " New Delhi"})  # equal after stripping
    error = rejection(tmp_path, document)
    assert message_at(error, "/facts/5/subject") == "subject 'India' already appears at /facts/1 again; remove the duplicate"


def test_a_subject_written_with_decomposed_accents_is_the_same_subject(tmp_path):
    document = valid()
    document["facts"] += [{"subject": "Z\u00fcrich", "object": "Switzerland"}, {"subject": "Zu\u0308rich", "object": "Switzerland"}]
    error = rejection(tmp_path, document)
    assert message_at(error, "/facts/6/subject") == ("subject 'Z\u00fcrich' already appears at /facts/5 (written with "
                                                     "other Unicode code points: its accents composed otherwise, or invisible "
                                                     "characters) again; remove the duplicate")


def test_a_subject_with_an_invisible_character_is_the_same_subject(tmp_path):
    for invisible in ("\u200b", "\u200d", "\u00ad", "\ufeff", "\u2060"):
        document = valid()
        document["facts"].append({"subject": "Ind" + invisible + "ia", "object": "New Delhi"})
        error = rejection(tmp_path, document)
        assert message_at(error, "/facts/5/subject").startswith("subject 'India' already appears at /facts/1 (written with other")


def test_an_answer_of_only_quotes_or_brackets_is_refused_naming_it(tmp_path):
    for answer in ("*", '"', "(", "«„", "_:_"):
        document = valid()
        document["facts"][0]["object"] = answer
        document["facts"][1]["aliases"] = [answer]
        rejected = rejection(tmp_path, document)
        assert pointers(rejected) == ["/facts/0/object", "/facts/1/aliases/0"], answer
        assert "answers are compared without the ones they start with" in message_at(rejected, "/facts/0/object")
    document = valid()
    document["facts"][0]["subject"] = "*"  # a subject is not an answer
    document["facts"][0]["object"] = "(500) Days of Summer"
    load_suite(write(tmp_path, document))


def test_a_distractor_statement_needs_both_placeholders_and_is_checked_in_linear_time(tmp_path):
    import time

    for statement in ("{subject} is in Europe.", "It is {wrong}.", "{subject}" * 300_000):
        document = valid()
        document["settings"] = {"distractor": {"statement": statement}}
        start = time.perf_counter()
        rejected = rejection(tmp_path, document)
        assert time.perf_counter() - start < 5  # the schema's pattern took the square of the length: 22 s at 270 KB
        assert "needs both {subject} and {wrong}" in message_at(rejected, "/settings/distractor/statement")
    for statement in ("{wrong}, not {subject}", "{subject} is in {wrong}."):
        document = valid()
        document["settings"] = {"distractor": {"statement": statement}}
        load_suite(write(tmp_path, document))


def test_a_distractor_needs_a_visible_one_line_statement_and_another_object(tmp_path):
    for statement in ("{subject} is in {wrong}.\nReally", "{subject}\u0000 is in {wrong}."):
        document = valid()
        document["settings"] = {"distractor": {"statement": statement}}
        assert pointers(rejection(tmp_path, document)) == ["/settings/distractor/statement"]
    document = valid()
    document["settings"] = {"distractor": {"statement": "{subject} is in {wrong}."}}
    for fact in document["facts"]:
        fact["object"] = "Europe"
        fact.pop("aliases", None)
    assert "every object here is one of each fact's own answers" in message_at(rejection(tmp_path, document), "/settings/distractor")
    # Objects that differ only in case or compatibility form are one answer; an alias counts as an answer.
    for fact, object_ in zip(document["facts"], ["Europe", "EUROPE", "europe", "Ｅｕｒｏｐｅ"]):
        fact["object"] = object_
    assert pointers(rejection(tmp_path, document)) == ["/settings/distractor"]
    document["facts"][1]["object"] = "Asia"
    document["facts"][0]["aliases"] = ["Asia"]
    assert pointers(rejection(tmp_path, document)) == ["/facts/0"]
    assert "one of this fact's answers ('Europe', or an alias)" in message_at(rejection(tmp_path, document), "/facts/0")
    # Spellings generation reads as one answer are one: "5 km" and "5km", "J. K. Rowling" and "J.K. Rowling".
    for spelled in (["5 km", "5km", "5 km", "5km", "5 km"], ["J. K. Rowling", "J.K. Rowling"] * 2 + ["J.K. Rowling"]):
        for fact, object_ in zip(document["facts"], spelled):
            fact["object"] = object_
            fact.pop("aliases", None)
        assert pointers(rejection(tmp_path, document)) == ["/settings/distractor"]


@pytest.mark.parametrize(
    "pointer",
    ["/facts/0/subject", "/facts/3/object", "/facts/1/aliases/0", "/templates/0", "/relation", "/description"],
)
@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\x7f", "\ud83d"])
def test_control_characters_and_lone_surrogates(tmp_path, pointer, bad):
    document = valid()
    *parents, last = [int(p) if p.isdigit() else p for p in pointer.strip("/").split("/")]
    target = document
    for part in parents:
        target = target[part]
    target[last] = target[last] + bad
    # A lone surrogate can only be written as a JSON escape.
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert pointers(caught.value) == [pointer]
    message = message_at(caught.value, pointer)
    assert ("surrogate" if bad == "\ud83d" else "control characters") in message


def test_tabs_and_newlines_are_not_control_characters(tmp_path):
    document = valid()
    document["templates"] = ["Q: capital of {subject}?\nA:"]
    document["description"] = "line one\n\tline two"
    assert load_suite(write(tmp_path, document)).templates == ("Q: capital of {subject}?\nA:",)


# ---- property: anything in, a Suite or a SuiteError out ------------------------------------

# Text that mixes ordinary characters with the awkward ones: controls, lone surrogates, braces, pointer syntax.
TEXT = st.one_of(
    st.text(alphabet=st.one_of(st.characters(), st.sampled_from("\x00\x1b\ud800\udfff{}~/ ")), max_size=12),
    st.sampled_from(["{subject}", "{subject} is", " ", "", "\x00", "\ud800", "emb", "ranking", "hard", "a/b", "~"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(TEXT, st.sampled_from(sorted(VALID) + ["subject", "object", "lre", "layer"])), children, max_size=4),
    ),
    max_leaves=20,
)


def _assert_loads_or_rejects(document) -> None:
    try:
        loaded = parse_suite(document, "generated.json")
    except SuiteError as error:
        assert error.path == "generated.json"
        assert error.problems
        assert all(isinstance(p, str) and isinstance(m, str) and m for p, m in error.problems)
        str(error)
    else:
        assert isinstance(loaded, Suite)
        assert loaded.facts and loaded.templates


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_document_loads_or_raises_suite_error(document):
    _assert_loads_or_rejects(document)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


def _at(document, path):
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated_suites(draw):
    document = valid()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["text", "replace", "delete", "add_key", "duplicate"]))
        paths = [p for p in _paths(document) if p]
        if action == "text":
            # Only string leaves: the shape stays valid, so the checks after the schema run too.
            paths = [p for p in paths if isinstance(_at(document, p), str)]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent = _at(document, path[:-1])
        if action == "text":
            parent[path[-1]] = draw(TEXT)
        elif action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add_key" and isinstance(parent, dict):
            parent[draw(TEXT)] = draw(JSON_VALUES)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_suites())
def test_mutated_suites_load_or_raise_suite_error(document):
    _assert_loads_or_rejects(document)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), mutated_suites().map(lambda d: json.dumps(d).encode())))
def test_any_file_bytes_load_or_raise_suite_error(tmp_path, raw):
    path = tmp_path / "generated.json"
    path.write_bytes(raw)
    try:
        loaded = load_suite(path)
    except SuiteError as error:
        assert error.path == str(path) and error.problems
    else:
        assert isinstance(loaded, Suite)
