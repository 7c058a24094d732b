"""Malformed input, kept as files: every bad suite or baseline is refused with a message naming the file and a JSON pointer.

`tests/data/bad_suites/` holds one malformed suite per file, named after its
problem; `_expected.json` there maps each file name to the JSON pointer the
rejection must name and a fragment of its message. Files whose names start
with `_` are not part of the corpus. `tests/data/bad_baselines/` is the same
for baseline files.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factcheck.suites import suite as suite_module
from factcheck.gate.baseline import BaselineError, load_baseline
from factcheck.display import visible_controls
from factcheck.suites.prompts import build_prompt, subject_token_index
from factcheck.says.saycheck import SayOptions, run_relation
from factcheck.suites.suite import MAX_JSON_DEPTH, Fact, Suite, SuiteError, load_suite, parse_suite

DATA = Path(__file__).resolve().parent / "data"
BAD_SUITES = DATA / "bad_suites"
BAD_BASELINES = DATA / "bad_baselines"
BAD_REPORTS = DATA / "bad_reports"  # read by `factcheck diff`; `_valid.json` is the report they each break once


def corpus(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("_"))


def expectations(folder: Path) -> dict[str, dict[str, str]]:
    return json.loads((folder / "_expected.json").read_text(encoding="utf-8"))


SUITE_FILES = corpus(BAD_SUITES)
BASELINE_FILES = corpus(BAD_BASELINES)
REPORT_FILES = corpus(BAD_REPORTS)

VALID = {
    "relation": "country capital city",
    "templates": ["The capital city of {subject} is"],
    "facts": [
        {"subject": "France", "object": "Paris", "aliases": ["Paris, France"], "tags": ["europe"]},
        {"subject": "Japan", "object": "Tokyo"},
        {"subject": "Peru", "object": "Lima"},
    ],
    "settings": {"shots": 2, "lre": {"layer": 1}},
}


def valid_bytes() -> bytes:
    return (json.dumps(VALID, indent=2) + "\n").encode("utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the corpus itself ---------------------------------------------------------------------------


def test_every_corpus_file_has_an_expectation_and_vice_versa():
    for folder, files in ((BAD_SUITES, SUITE_FILES), (BAD_BASELINES, BASELINE_FILES), (BAD_REPORTS, REPORT_FILES)):
        assert sorted(p.name for p in files) == sorted(expectations(folder)), folder
    assert len(SUITE_FILES) >= 40
    assert all(path.suffix == ".json" for path in SUITE_FILES + BASELINE_FILES)


def test_the_corpus_base_document_is_valid(tmp_path):
    """Each bad file is this valid document with one thing broken, so each rejection has one cause."""
    path = tmp_path / "country_capital.json"
    path.write_bytes(valid_bytes())
    assert load_suite(path).facts[0] == Fact("France", "Paris", aliases=("Paris, France",), tags=("europe",))


# ---- every bad suite file is refused, naming the file and the pointer ---------------------------


@pytest.mark.parametrize("path", SUITE_FILES, ids=[p.name for p in SUITE_FILES])
def test_bad_suite_file_is_rejected_with_file_and_pointer(path):
    assert_refused_naming_file_and_pointer(load_suite, SuiteError, path, expectations(BAD_SUITES)[path.name])


def assert_refused_naming_file_and_pointer(load, error_class, path: Path, expected: dict[str, str]) -> str:
    """`load(path)` raises `error_class` naming the file, the one expected pointer and message, and leaves the file as
    it was; returns the error's text."""
    before = sha256(path)
    with pytest.raises(error_class) as caught:
        load(path)
    error = caught.value
    assert error.path == str(path)
    assert [pointer for pointer, _ in error.problems] == [expected["pointer"]], error.problems
    assert expected["message"] in error.problems[0][1]
    assert str(error).startswith(visible_controls(f"{path}: {expected['pointer'] or '/'}: "))  # escaped where unprintable
    assert sha256(path) == before  # reading never touches the file
    return str(error)


# ---- huge files ------------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: takes no disk space, and no time to write
        handle.truncate(suite_module.MAX_SUITE_BYTES + 1)

    def no_reading(self):
        raise AssertionError(f"{self} was read although it is over the limit")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert caught.value.path == str(path)
    assert caught.value.problems == [
        ("", f"file is {suite_module.MAX_SUITE_BYTES + 1:,} bytes; factcheck reads JSON files of at most "
             f"{suite_module.MAX_SUITE_BYTES:,} bytes here (a suite can be split into several files)")
    ]


def test_large_generated_suite_is_refused_over_the_limit_and_loads_under_it(tmp_path, monkeypatch):
    document = {
        "relation": "number successor",
        "templates": ["The number after {subject} is"],
        "facts": [{"subject": str(n), "object": str(n + 1)} for n in range(20_000)],
    }
    path = tmp_path / "number_successor.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    size = path.stat().st_size
    assert size > 400_000
    monkeypatch.setattr(suite_module, "MAX_SUITE_BYTES", size - 1)
    with pytest.raises(SuiteError, match="of at most"):
        load_suite(path)
    monkeypatch.setattr(suite_module, "MAX_SUITE_BYTES", size)
    assert len(load_suite(path).facts) == 20_000


@pytest.mark.parametrize("entry, reader", [("{}", "baseline"), ("[]", "suite"), ("1", "baseline"), ('""', "report")])
def test_a_file_under_the_size_cap_holding_millions_of_small_values_is_refused_before_it_is_parsed(tmp_path, monkeypatch,
                                                                                                   entry, reader):
    # The 36th pass: a 10 MB baseline of "{}" entries took 1.1 GB and 25 s to parse; one near the cap, 28 GB.
    from factcheck.gate.baseline import BaselineError, load_baseline
    from factcheck.results import ReportError, load as load_report

    count = suite_module.MAX_JSON_CONTAINERS + 1 if entry in ("{}", "[]") else suite_module.MAX_JSON_VALUES
    path = tmp_path / "many.json"
    path.write_text('{"factcheck_baseline_version": 2, "facts": {"lang/plural": [' + ",".join([entry] * count) + "]}}")
    monkeypatch.setattr(json, "loads", lambda *args, **kwargs: pytest.fail("the file was parsed"))
    load = {"baseline": load_baseline, "suite": load_suite, "report": load_report}[reader]
    with pytest.raises((SuiteError, BaselineError, ReportError), match=r"the file holds some [\d,]+ objects and arrays and [\d,]+ commas, "
                                                          r"far more than any factcheck file needs"):
        load(path)


# ---- deep nesting: a SuiteError whatever the depth and wherever the caller is -------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_document(where: str, depth: int) -> str:
    value = _nested(depth)
    if where == "relation":
        return '{"relation": %s, "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b"}]}' % value
    if where == "unknown_key":
        return '{"colour": %s, "relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b"}]}' % value
    if where == "aliases":
        return '{"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b", "aliases": %s}]}' % value
    if where == "lre_layer":
        return '{"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b"}], "settings": {"lre": {"layer": %s}}}' % value
    raise ValueError(where)


def _at_stack_depth(frames: int, call):
    """Run `call` with `frames` extra Python frames below it (pytest's own depth varies between runs)."""
    return call() if frames == 0 else _at_stack_depth(frames - 1, call)


@pytest.mark.parametrize("where", ["relation", "unknown_key", "aliases", "lre_layer"])
def test_deep_nesting_is_always_a_suite_error(tmp_path, where):
    # Before the depth limit, documents nested just under the parser's limit parsed,
    # then made schema validation or its error message hit the recursion limit.
    path = tmp_path / "deep.json"
    limit = sys.getrecursionlimit()
    # The dangerous depths form a narrow band just under the recursion limit, whose place depends on
    # the caller's own stack depth: sweep across it.
    for depth in (MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 1, 500, *range(limit - 200, limit + 10), 100_000):
        path.write_text(_deep_document(where, depth), encoding="utf-8")
        for frames in (0, 100):
            try:
                _at_stack_depth(frames, lambda: load_suite(path))
            except SuiteError as error:
                assert error.path == str(path) and error.problems
                str(error)
            else:  # pragma: no cover - every one of these documents is invalid
                pytest.fail(f"depth {depth} at {where} loaded")


def test_nesting_is_refused_at_the_depth_limit_with_its_pointer(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(_deep_document("aliases", 100), encoding="utf-8")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    (pointer, message), = caught.value.problems
    assert pointer == "/facts/0/aliases" + "/0" * (MAX_JSON_DEPTH - 3)  # the container at depth MAX_JSON_DEPTH
    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in message


def test_deep_document_in_memory_is_a_suite_error():
    document = {"relation": "r", "templates": ["{subject} is"], "facts": [{"subject": "a", "object": "b"}]}
    value: list = []
    for _ in range(5000):
        value = [value]
    document["facts"][0]["aliases"] = value
    with pytest.raises(SuiteError, match="nested more than"):
        parse_suite(document, "memory.json")


def test_deep_baseline_is_a_baseline_error(tmp_path):
    path = tmp_path / "baseline.json"
    limit = sys.getrecursionlimit()
    for depth in (MAX_JSON_DEPTH, *range(limit - 200, limit + 10, 3)):
        path.write_text('{"factcheck_baseline_version": 1, "model": {"name": "m", "fingerprint": "f"}, '
                        '"suites": {"r": {"content_hash": "h", "path": "r.json"}}, "facts": {"r": {"a": %s}}}' % _nested(depth),
                        encoding="utf-8")
        with pytest.raises(BaselineError):
            load_baseline(path)


# ---- random bytes, and damaged copies of a valid file -----------------------------------------------


@st.composite
def damaged_files(draw) -> bytes:
    """A valid suite file's bytes with a few byte-level edits, or re-encoded, or with junk around it."""
    data = bytearray(valid_bytes())
    kind = draw(st.sampled_from(["edit", "encode", "wrap"]))
    if kind == "encode":
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig", "utf-7"]))
        text = data.decode("utf-8").replace("Lima", draw(st.sampled_from(["Lima", "Lim\u00e1", "\u5229\u9a6c", "L\u0131ma"])))
        return text.encode(encoding, errors="replace")
    if kind == "wrap":
        before = draw(st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\x00", b"\xff", b" ", b"[", b"{"]))
        after = draw(st.sampled_from([b"", b"\x00", b"\n\n", b"]", b"}", b",", b"\xc3", valid_bytes()]))
        return before + bytes(data) + after
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if not data:
            break
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if action == "flip":
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        elif action == "truncate":
            del data[position:]
        else:
            end = min(len(data), position + draw(st.integers(min_value=1, max_value=40)))
            data[end:end] = data[position:end]
    return bytes(data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(damaged_files(), st.binary(max_size=64)))
def test_damaged_file_bytes_load_or_raise_suite_error(tmp_path, raw):
    path = tmp_path / "damaged.json"
    path.write_bytes(raw)
    try:
        loaded = load_suite(path)
    except SuiteError as error:
        assert error.path == str(path) and error.problems
        assert all(pointer == "" or pointer.startswith("/") for pointer, _ in error.problems)
        str(error)
    else:
        assert isinstance(loaded, Suite) and loaded.facts and loaded.templates
        assert all(fact.subject.strip() and fact.object.strip() for fact in loaded.facts)


# ---- subjects that could vanish from the prompt ------------------------------------------------------

# Valid but awkward subjects and objects: combining marks, joiners inside emoji,
# scripts without spaces, right-to-left text, no-break spaces, braces.
AWKWARD = [
    ("Cafe\u0301", "cup"),
    ("\U0001F469\u200D\U0001F52C", "scientist"),
    ("\u6771\u4eac", "\u65e5\u672c"),
    ("\u0645\u0635\u0631", "\u0627\u0644\u0642\u0627\u0647\u0631\u0629"),
    ("New\u00a0York", "United States"),
    ("{subject}", "braces"),
    ("A\u200bB", "zero width inside"),
    ("\u0130stanbul", "Turkey"),
    ("x", "y"),
]


def awkward_suite(tmp_path) -> Suite:
    document = {
        "relation": "awkward",
        "templates": ["Q: {subject}? A:"],
        "facts": [{"subject": s, "object": o} for s, o in AWKWARD],
    }
    return parse_suite(document, tmp_path / "awkward.json")


def assert_subject_tokens_inside_subjects(tokenizer, suite: Suite, shots: int) -> None:
    facts = suite.facts
    for fact in facts:
        demonstrations = [d for d in facts[:shots] if d.subject != fact.subject]
        prompt = build_prompt("", suite.templates[0], fact.subject, demonstrations)
        encoding = tokenizer(prompt.text, add_special_tokens=False, return_offsets_mapping=True)
        index = subject_token_index(prompt.text, fact.subject, encoding["offset_mapping"])
        start, end = encoding["offset_mapping"][index]
        subject_start = prompt.text.rindex(fact.subject)
        assert start < subject_start + len(fact.subject) and end > subject_start, (fact.subject, prompt.text[start:end])


def test_awkward_subjects_are_found_in_their_prompts_and_every_fact_runs(tmp_path, tiny_llama, tiny_tokenizer):
    suite = awkward_suite(tmp_path)
    assert_subject_tokens_inside_subjects(tiny_tokenizer, suite, shots=3)
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=3, max_new_tokens=2, batch_size=4))
    assert [o.fact for o in outcomes] == list(suite.facts)
    assert all(len(o.candidates) == len(suite.objects) for o in outcomes)


@pytest.mark.slow
def test_awkward_subjects_are_found_with_the_smollm2_tokenizer(tmp_path, smollm2):
    assert_subject_tokens_inside_subjects(smollm2.tokenizer, awkward_suite(tmp_path), shots=3)


def test_subject_token_is_the_subjects_even_when_the_template_repeats_it(tiny_tokenizer):
    prompt = build_prompt("<|bos|>", "{subject} is", "is", [Fact("France", "Paris")])
    assert prompt.text == "<|bos|>France is Paris\nis is"
    encoding = tiny_tokenizer(prompt.text, add_special_tokens=False, return_offsets_mapping=True)
    index = subject_token_index(prompt.text, "is", encoding["offset_mapping"], prompt.subject_end)
    subject_start = len("<|bos|>France is Paris\n")
    start, end = encoding["offset_mapping"][index]
    assert start < subject_start + 2 and end > subject_start, prompt.text[start:end]


def test_the_lre_finds_a_subject_that_is_a_word_of_the_template_where_the_say_check_does(tiny_llama, tmp_path):
    """"is" as the subject of "The past tense of {subject} is": the LRE's training and query sites must take the
    question's "is", not the template's last one, exactly as the say-check's rows do."""
    from factcheck.knows.lre import query_sites, training_sites

    facts = [Fact("go", "went"), Fact("is", "was"), Fact("see", "saw")]
    template = "The past tense of {subject} is"
    training = facts[:2]
    for site, fact in zip(training_sites(tiny_llama, template, training), training):
        prompt = build_prompt(tiny_llama.bos_text, template, fact.subject, training)
        ids, offsets = tiny_llama.tokenize([prompt.text])
        assert site.subject_index == subject_token_index(prompt.text, fact.subject, offsets[0], prompt.subject_end)
        start, end = offsets[0][site.subject_index]
        assert end <= prompt.subject_end, (fact.subject, prompt.text[start:end])
    [site] = query_sites(tiny_llama, template, training, ["is"])
    assert site.subject_index < len(site.token_ids) - 1  # not the template's final " is"


# ---- bad baselines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BASELINE_FILES, ids=[p.name for p in BASELINE_FILES])
def test_bad_baseline_file_is_rejected_with_file_pointer_and_fix(path):
    message = assert_refused_naming_file_and_pointer(load_baseline, BaselineError, path, expectations(BAD_BASELINES)[path.name])
    assert "to fix:" in message


def test_a_number_of_thousands_of_digits_is_named_without_pythons_advice(tmp_path, capsys):
    from factcheck.cli import main

    # Past 4,300 digits Python's own message advised sys.set_int_max_str_digits(), which no user of a file can call.
    text = (BAD_REPORTS / "_valid.json").read_text(encoding="utf-8")
    path = tmp_path / "report.json"
    path.write_text(text.replace('"factcheck_report_version": 2,', '"factcheck_report_version": 2' + "0" * 5000 + ",", 1), encoding="utf-8")
    assert main(["diff", str(BAD_REPORTS / "_valid.json"), str(path)]) == 2
    error = capsys.readouterr().err
    assert "a whole number of 5,001 digits, far past any count or setting factcheck reads" in error and "sys." not in error


@pytest.mark.parametrize("path", REPORT_FILES, ids=[p.name for p in REPORT_FILES])
def test_bad_report_file_is_rejected_by_diff_with_file_pointer_and_fix(path):
    from factcheck.gate.diff import load_results

    load_results(BAD_REPORTS / "_valid.json")  # the report each file breaks once reads
    message = assert_refused_naming_file_and_pointer(load_results, BaselineError, path, expectations(BAD_REPORTS)[path.name])
    assert "to fix: regenerate the report" in message


# ---- the whole corpus through pytest -------------------------------------------------------------------


def _project_files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.name != "junit.xml"
    }


def test_pytest_reports_every_bad_file_runs_the_good_suite_and_modifies_nothing(pytester, tiny_llama_folder, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path_factory.mktemp("cache")))  # LREs go there, not into the user's cache
    pytester.makeini(
        f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 2\nfactcheck_shots = 2\n"
    )
    suites = pytester.path / "suites"
    suites.mkdir()
    for path in SUITE_FILES:
        shutil.copyfile(path, suites / path.name)
    good_facts = [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima"), ("Italy", "Rome"), ("Kenya", "Nairobi")]
    (suites / "country_capital.json").write_text(json.dumps({
        "relation": "country capital city",
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in good_facts],
    }), encoding="utf-8")
    before = _project_files(pytester.path)

    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", f"--junitxml={junit}")

    assert _project_files(pytester.path) == before
    expected = expectations(BAD_SUITES)
    cases = {case.get("name"): case for case in ElementTree.parse(junit).iter("testcase")}
    for path in SUITE_FILES:
        case = cases[f"{path.stem}[invalid suite]"]
        failure = case.find("failure")
        assert failure is not None, path.name
        pointer = visible_controls(expected[path.name]["pointer"])  # a lone surrogate is shown as its escape
        assert f"suites/{path.name}: {pointer or '/'}: " in failure.text, path.name
    good = [name for name in cases if name.startswith("country_capital[")]
    assert sorted(good) == sorted(f"country_capital[{s}]" for s, _ in good_facts)
    for name in good:
        case = cases[name]
        assert case.find("error") is None and case.find("skipped") is None
        failure = case.find("failure")
        # Passed, or failed as a fact the model does not say (not a crash, not a suite problem).
        assert failure is None or "is not said" in (failure.text or ""), (failure.text or "")[-2000:]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(SUITE_FILES) + len(good_facts)
    assert "errors" not in outcomes and "error" not in outcomes
    result.stdout.fnmatch_lines(["*invalid fact suite*", "*country_capital*5*"])


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO and a link to /dev/zero, each named like a JSON file: reading either naively hangs or never ends."""
    import os

    fifo = folder / "pipe.json"
    os.mkfifo(fifo)
    zero = folder / "zero.json"
    zero.symlink_to("/dev/zero")
    return {"a FIFO (named pipe)": fifo, "a character device": zero}


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
def test_fifos_and_devices_are_refused_by_every_reader_without_being_read(tmp_path):
    from factcheck.gate.diff import load_results
    from factcheck.results import ReportError, load

    for kind, path in special_files(tmp_path).items():
        with pytest.raises(SuiteError, match=re.escape(f"not a regular file (it is {kind}); give the path of a JSON file")):
            load_suite(path)
        with pytest.raises(BaselineError, match="not a regular file"):
            load_baseline(path)
        with pytest.raises(BaselineError, match="not a regular file"):
            load_results(path)  # factcheck diff
        with pytest.raises(ReportError, match="not a regular file"):
            load(path)  # the DataFrame loader


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
def test_import_and_tune_folders_with_a_fifo_name_it_and_go_on(tmp_path):
    from factcheck.knows.tune import suite_paths
    from factcheck.suites.importer import import_paths

    source = tmp_path / "paper"
    source.mkdir()
    special_files(source)
    report = import_paths([source], tmp_path / "out")
    assert sorted(path.name for path, _ in report.failures) == ["pipe.json", "zero.json"]
    assert all("not a regular file" in message for _, message in report.failures)
    passed_over = []
    assert all(path.is_file() for path in suite_paths([str(source)], passed_over))
    assert sorted(path.name for path in passed_over) == ["pipe.json", "zero.json"]
    with pytest.raises(SuiteError, match="not a regular file"):  # named on the command line: refused, with why
        load_suite(source / "pipe.json")


def _folder_with(root, name: str, make_entry):
    folder = root / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / name).unlink(missing_ok=True)
    make_entry(folder / name)
    return folder


def _index_naming_a_fifo_shard(index):
    # Sharded weights in a subfolder, named by the index: one shard is a FIFO, which loading would wait on forever.
    (index.parent / "sub").mkdir()
    os.mkfifo(index.parent / "sub" / "model-1.safetensors")
    index.write_text(json.dumps({"weight_map": {"lm_head.weight": "sub/model-1.safetensors"}}), encoding="utf-8")


@pytest.mark.parametrize("make, expected", [
    (lambda root: _folder_with(root, "config.json", os.mkfifo), "config.json is a FIFO (named pipe), not a regular file"),
    (lambda root: _folder_with(root, "model.safetensors", lambda path: path.symlink_to("/dev/zero")),
     "model.safetensors is a character device, not a regular file"),
    (lambda root: root / "nonexistent" / "model", "no such file or folder"),
    (lambda root: (root / "notes.txt", (root / "notes.txt").write_text("hi"))[0], "is a file, not a model folder or a .gguf file"),
    (lambda root: (root / "empty", (root / "empty").mkdir())[0], "has no config.json (it holds nothing)"),
    (lambda root: _folder_with(root, "config.json", lambda path: path.symlink_to(path)), "config.json is a link that leads nowhere"),
    (lambda root: (root / "model.gguf", os.mkfifo(root / "model.gguf"))[0], "is a FIFO (named pipe), not a regular file"),
    (lambda root: _folder_with(root, "model.safetensors.index.json", _index_naming_a_fifo_shard),
     "sub/model-1.safetensors is a FIFO (named pipe), not a regular file"),
    (lambda root: "~no-such-user-here/model", "there is no user 'no-such-user-here' on this machine"),
    (lambda root: "~no-such-user-here/model.gguf", "there is no user 'no-such-user-here' on this machine"),
    (lambda root: _folder_with(root, "model.safetensors.index.json", lambda index: index.write_text(
        json.dumps({"weight_map": {"lm_head.weight": "a" * 300 + ".safetensors"}}))), "cannot be looked up (File name too long)"),
])
def test_a_model_path_that_is_no_model_says_what_was_expected(tmp_path, make, expected):
    from factcheck.model.language_model import ModelLoadError, load_model

    with pytest.raises(ModelLoadError, match=re.escape(expected)) as caught:
        load_model(str(make(tmp_path)))
    assert "a folder holding config.json, the tokenizer and weights as *.safetensors, a .gguf file" in str(caught.value)
    assert "hub" in str(caught.value)


def test_a_model_folder_with_a_huge_config_or_tokenizer_file_is_refused_before_reading_it(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    os.truncate(folder / "tokenizer.json", 300 * 2**20)  # sparse: no disk used, but read whole it would fill memory
    with pytest.raises(ModelLoadError, match=r"tokenizer.json is 300 MiB, more than the 256 MiB"):
        load_model(str(folder))
    # The 33rd pass: a chat template one folder down, which transformers reads whole too.
    shutil.rmtree(folder)
    shutil.copytree(tiny_llama_folder, folder)
    (folder / "additional_chat_templates").mkdir()
    (folder / "additional_chat_templates" / "tool_use.jinja").touch()
    os.truncate(folder / "additional_chat_templates" / "tool_use.jinja", 300 * 2**20)
    with pytest.raises(ModelLoadError, match=r"additional_chat_templates/tool_use.jinja is 300 MiB, more than the 256 MiB"):
        load_model(str(folder))


@pytest.mark.parametrize("stored_as", ["int8", "bool", "int64"])
def test_weight_matrices_stored_as_integers_without_a_quantization_config_are_refused(tmp_path, tiny_llama_folder, stored_as):
    # The 46th pass: a quantized export whose scales were dropped loaded as a float32 model of the integers, garbage
    # under a fingerprint of its own. A norm of ones stored as int8 is the same model and still loads.
    import torch
    from safetensors.torch import load_file, save_file

    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    norm_of_ones = "model.layers.0.input_layernorm.weight"
    assert torch.equal(weights[norm_of_ones], torch.ones_like(weights[norm_of_ones]))
    weights[norm_of_ones] = weights[norm_of_ones].to(torch.int8)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert load_model(str(folder)).fingerprint == load_model(str(tiny_llama_folder)).fingerprint
    matrix = "model.layers.1.self_attn.q_proj.weight"
    weights[matrix] = (weights[matrix] * 100).to(getattr(torch, stored_as))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    stored = {"int8": "I8", "bool": "BOOL", "int64": "I64"}[stored_as]
    with pytest.raises(ModelLoadError, match=rf"stores the weight matrix '{re.escape(matrix)}' as {stored} and config.json "
                                             r"has no quantization_config.*float32, bfloat16 or float16"):
        load_model(str(folder))
    # The 48th pass: a file transformers does not read holds no weights of the model; a Mixture-of-Experts model's
    # fused experts carry no ".weight" in their names.
    weights[matrix] = load_file(tiny_llama_folder / "model.safetensors")[matrix]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    save_file({"lm_head.weight": torch.zeros(4, 4, dtype=torch.int8)}, folder / "model.int8.safetensors")
    assert load_model(str(folder)).fingerprint == load_model(str(tiny_llama_folder)).fingerprint
    weights["model.layers.0.mlp.experts.gate_up_proj"] = torch.zeros(2, 4, 4).to(getattr(torch, stored_as))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"stores the weight matrix 'model.layers.0.mlp.experts.gate_up_proj' as"):
        load_model(str(folder))


def test_a_tokenizer_saved_with_its_training_dropout_is_refused(tmp_path, tiny_llama_folder):
    # The 33rd pass: BPE dropout 0.5 tokenized "France is" three ways in three runs, under one fingerprint.
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    document = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    assert document["model"]["type"] == "BPE"
    document["model"]["dropout"] = 0.5
    (folder / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"tokenizer.json's model has dropout 0.5.*set \"dropout\" to null"):
        load_model(str(folder))
    document["model"]["dropout"] = None
    (folder / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    assert load_model(str(folder)).hidden_size > 0


def test_json_files_transformers_never_reads_are_not_read_at_load(tmp_path, tiny_llama_folder, monkeypatch):
    # The 33rd pass: every *.json of the folder was parsed and held (trainer_state.json, eval_results.json), each up to
    # the 256 MiB cap: two of 100 MB took 2.45 GB.
    from factcheck.model.language_model import load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    (folder / "trainer_state.json").write_text('{"log_history": []}', encoding="utf-8")
    real_read_text = Path.read_text
    read = []
    monkeypatch.setattr(Path, "read_text", lambda self, *args, **kwargs: read.append(self.name) or real_read_text(self, *args, **kwargs))
    load_model(str(folder))
    assert "config.json" in read and "trainer_state.json" not in read


def test_weights_that_lack_parameters_the_config_asks_for_are_refused_not_started_at_random(tmp_path, tiny_llama_folder, capfd,
                                                                                            caplog):
    from factcheck.model.language_model import ModelLoadError, load_model

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    del weights["model.norm.weight"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its weights lack 1 parameter\(s\) that its config.json asks for "
                                             r"\(model\.norm\.weight\).*num_hidden_layers"):
        load_model(str(folder))
    assert "LOAD REPORT" not in capfd.readouterr().err + caplog.text  # transformers' table of it, above the message, was noise
    # One block more than the weights hold is said before the model is built.
    shutil.rmtree(folder)
    shutil.copytree(tiny_llama_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] += 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=rf"asks for {config['num_hidden_layers']} blocks, and its weights hold "
                                             rf"{config['num_hidden_layers'] - 1}"):
        load_model(str(folder))


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json"])
def test_a_model_file_nested_too_deeply_is_one_message_naming_it(tmp_path, tiny_llama_folder, name):
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    document = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps(document)[:-1] + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ModelLoadError, match=rf"{name} is nested too deeply to read"):
        load_model(str(folder))


def test_a_config_asking_for_far_more_blocks_than_the_weights_hold_is_refused_before_the_model_is_built(tmp_path, tiny_llama_folder,
                                                                                                   monkeypatch):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    held = config["num_hidden_layers"]
    config["num_hidden_layers"] = 200_000  # built, this would take all memory, or hours
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=rf"asks for 200000 blocks, and its weights hold {held} blocks; check that config.json"):
        load_model(str(folder))
    # Another architecture's word for the count (BART's decoder_layers), or a multimodal model's text_config (the 37th
    # pass: 20,000 BART blocks were built first, 148 s and 2.9 GB).
    for stated in ({"decoder_layers": 200_000}, {"text_config": {"num_hidden_layers": 200_000}}):
        (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": held, **stated}))
        with pytest.raises(ModelLoadError, match=rf"asks for 200000 blocks, and its weights hold {held} blocks"):
            load_model(str(folder))
    # Positions past any model's (GPT-J builds a table for each when it is made: 200 million took 8 GB).
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": held, "max_position_embeddings": 2**31}))
    with pytest.raises(ModelLoadError, match=r"its config.json's max_position_embeddings is 2,147,483,648, far past any model's"):
        load_model(str(folder))
    (folder / "config.json").write_text(json.dumps(config))
    # An index that claims every block the config asks for is checked against the tensors its files hold.
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as opened:
        claimed = {name: "model.safetensors" for name in opened.keys()}
    claimed.update({name.replace(".layers.0.", f".layers.{block}."): "model.safetensors"
                    for name in list(claimed) if ".layers.0." in name for block in range(held, 200_000, 997)})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": claimed}))
    with pytest.raises(ModelLoadError, match=rf"asks for 200000 blocks, and its weights hold {held} blocks; check that config.json"):
        load_model(str(folder))
    (folder / "model.safetensors.index.json").unlink()
    # One stray weight of the last block asked for holds no 200,000 blocks (the 36th pass: 20,000 were built first).
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    stray = {**weights, "model.layers.199999.input_layernorm.weight": weights["model.layers.0.input_layernorm.weight"].clone()}
    save_file(stray, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=rf"asks for 200000 blocks, and its weights hold {held + 1} blocks \(numbered up "
                                             r"to 199999\); check that config.json"):
        load_model(str(folder))
    # Weights that name no block at all still hold a weight per block.
    save_file({name: tensor for name, tensor in weights.items() if ".layers." not in name}, folder / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"asks for 200000 blocks, and its weights hold \d+ weights in all"):
        load_model(str(folder))


@pytest.mark.parametrize("name, content, words", [
    # Each was blamed on the weights, dropped without a word (the generation config, and with it the stop tokens) or
    # a traceback: the file is named.
    ("tokenizer.json", "[1, 2, 3]", "tokenizer.json holds list, not a JSON object"),
    ("tokenizer.json", "null", "tokenizer.json holds null, not a JSON object"),
    ("tokenizer_config.json", "[]", "tokenizer_config.json holds list, not a JSON object"),
    ("generation_config.json", '{"eos_token_id": [2, ', "generation_config.json is not valid JSON (Expecting value"),
    ("generation_config.json", '{"max_new_tokens": 0}', "generation_config.json cannot be used (ValueError: `max_new_tokens`"),
    ("tokenizer.json", '{"version": "1.0"}', "its tokenizer cannot be loaded (KeyError"),
    ("model.safetensors.index.json", '{"weight_map": {}}', "model.safetensors.index.json names no weight file"),
    ("model.safetensors.index.json", '{"weight_map": {"lm_head.weight": "/etc/passwd"}}',
     "its index names weights outside the folder ('/etc/passwd')"),
    ("model.safetensors.index.json", '{"weight_map": {"lm_head.weight": "../other/model.safetensors"}}',
     "its index names weights outside the folder"),
])
def test_a_damaged_tokenizer_generation_config_or_index_is_named_not_blamed_on_the_weights(tmp_path, tiny_llama_folder,
                                                                                          name, content, words):
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    (folder / name).write_text(content, encoding="utf-8")
    with pytest.raises(ModelLoadError) as caught:
        load_model(str(folder))
    assert words in str(caught.value) and "weights are damaged" not in str(caught.value), str(caught.value)


def _small_gguf(path, block_count: int, blocks, add_metadata=lambda writer: None, width: int = 4, architecture: str = "llama"):
    """A GGUF file of the norm weights of `blocks` (a count, or the blocks' numbers) whose header claims `block_count`,
    with more metadata added."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_block_count(block_count)
    add_metadata(writer)
    for block in range(blocks) if isinstance(blocks, int) else blocks:
        writer.add_tensor(f"blk.{block}.attn_norm.weight", np.ones(width, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("block_count, blocks, held", [(3000, 2, "2 blocks;"), (1, 2, "2 blocks;"),
                                                     (3000, [0, 2999], r"2 blocks \(numbered up to 2999\)")])
def test_a_gguf_block_count_its_tensors_do_not_hold_is_refused_before_loading(tmp_path, block_count, blocks, held, monkeypatch):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # 3,000 blocks claimed for 2 took transformers minutes to hours (also with a tensor of the last one, the 36th
    # pass); 1 would drop a block silently.
    path = _small_gguf(tmp_path / "model.gguf", block_count, blocks=blocks)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=rf"llama.block_count is {block_count}, and its tensors hold {held}"):
        load_model(str(path))


def test_a_part_of_a_split_gguf_is_named_as_such_with_the_merge_to_make_not_called_damaged(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # gguf-split's first part holds some of the blocks: it was called "damaged: download it again" (the same file).
    def split_keys(writer):
        writer.add_uint16("split.no", 0)
        writer.add_uint16("split.count", 2)
        writer.add_int32("split.tensors.count", 4)

    path = _small_gguf(tmp_path / "model-00001-of-00002.gguf", 4, blocks=2, add_metadata=split_keys)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=r"it is part 1 of 2 of a split GGUF model .*llama-gguf-split --merge") as caught:
        load_model(str(path))
    assert "damaged" not in str(caught.value)


def test_a_gguf_tokenizer_that_cannot_be_built_is_named_not_blamed_on_the_weights(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    # A sentencepiece ("llama") vocabulary without its scores failed in transformers' tokenizer build, and the message
    # said the weights were damaged.
    def vocabulary_without_scores(writer):
        writer.add_tokenizer_model("llama")
        writer.add_token_list(["<unk>", "<s>", "</s>", "a", "b"])

    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, add_metadata=vocabulary_without_scores)
    with pytest.raises(ModelLoadError, match=r"its tokenizer cannot be built from the GGUF file's metadata "
                                             r"\(tokenizer.ggml.\*: KeyError: 'scores'\)") as caught:
        load_model(str(path))
    assert "weights" not in str(caught.value)


@pytest.mark.parametrize("edit", ["offset into another tensor", "type of another block size"])
def test_a_gguf_tensor_whose_data_does_not_follow_the_one_before_it_is_refused(tmp_path, monkeypatch, edit):
    import struct

    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # The 42nd pass: block 5's query weights pointed at block 4's bytes, or a Q4_1 tensor relabelled Q4_0, loaded as
    # another model without a word (llama.cpp refuses both).
    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, width=64)  # 256 bytes each: past the 32 of padding
    data = bytearray(path.read_bytes())
    def type_at(name: bytes) -> int:  # past its name, its dimension count and its one dimension
        return data.index(name) + len(name) + 4 + 8

    if edit == "offset into another tensor":
        struct.pack_into("<Q", data, type_at(b"blk.1.attn_norm.weight") + 4, 0)  # where blk.0's data is
    else:
        struct.pack_into("<I", data, type_at(b"blk.0.attn_norm.weight"), 1)  # F16 for F32: half the bytes
    path.write_bytes(bytes(data))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=r"its tensor blk\.1\.attn_norm\.weight starts at byte \d+ of the tensor data, "
                                             r"where blk\.0\.attn_norm\.weight before it \((?:F32, 256|F16, 128) bytes\) ends at "
                                             r"\d+ \(llama.cpp refuses such a file") as caught:
        load_model(str(path))
    assert "damaged or was edited" in str(caught.value)


def test_gguf_metadata_giving_a_config_transformers_refuses_is_named_as_such_not_as_the_tokenizer(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    # The 42nd pass: llama.rope.dimension_count 7 failed in the config transformers builds before the tokenizer, and
    # the message blamed the tokenizer.
    def odd_rotary_dimension(writer):
        writer.add_embedding_length(32)
        writer.add_head_count(4)
        writer.add_rope_dimension_count(7)
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(["a", "b", "ab"])
        writer.add_token_merges(["a b"])

    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, add_metadata=odd_rotary_dimension)
    with pytest.raises(ModelLoadError, match=r"its GGUF metadata gives a model config transformers refuses \(ValueError: RoPE "
                                             r"requires an even rotary dimension") as caught:
        load_model(str(path))
    assert "tokenizer" not in str(caught.value)


@pytest.mark.parametrize("rope, said", [
    (lambda writer: writer.add_rope_freq_base(0.0), r"llama.rope.freq_base is 0.0, and a rotary base frequency must be a positive"),
    (lambda writer: writer.add_rope_freq_base(float("nan")), r"llama.rope.freq_base is nan"),
    (lambda writer: (writer.add_rope_scaling_type(__import__("gguf").RopeScalingType.YARN), writer.add_rope_scaling_factor(4.0)),
     r"asks for 'yarn' RoPE scaling \(llama.rope.scaling.type\), which transformers' GGUF loader does not read"),
    # The 50th pass: a factor alone, or old convert.py's key, is linear scaling to llama.cpp; transformers dropped it.
    (lambda writer: writer.add_rope_scaling_factor(4.0), r"llama.rope.scaling.factor is 4.0, linear RoPE scaling as llama.cpp reads it"),
    (lambda writer: writer.add_float32("llama.rope.scale_linear", 4.0), r"llama.rope.scale_linear is 4.0, linear RoPE scaling")])
def test_gguf_rope_metadata_transformers_would_misread_is_refused(tmp_path, monkeypatch, rope, said):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # The 42nd pass: a base frequency of 0 made every score NaN (blamed on the weights); a YaRN scaling was dropped and
    # the model ran unscaled under the plain one's fingerprint.
    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, add_metadata=rope)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(path))
    # The 51st pass: gpt-oss's YaRN keys, which transformers 5 reads wrongly (a "damaged tokenizer"), are refused too.
    if "yarn" in said:
        path = _small_gguf(tmp_path / "oss.gguf", 2, blocks=2, add_metadata=rope, architecture="gpt-oss")
        with pytest.raises(ModelLoadError, match=said.replace("llama", "gpt-oss")):
            load_model(str(path))


def test_a_gguf_header_with_counts_past_any_real_models_is_refused_before_it_is_read(tmp_path, monkeypatch):
    # The 35th pass: a 16 MB file of two million empty token strings took 3.5 GB and 88 s before its message.
    import gguf

    from factcheck.model.language_model import GGUF_LARGEST_ARRAY, ModelLoadError, load_model

    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, add_metadata=lambda writer: writer.add_token_list([""] * (GGUF_LARGEST_ARRAY + 1)))
    monkeypatch.setattr(gguf, "GGUFReader", lambda *args, **kwargs: pytest.fail("the header was read whole"))
    with pytest.raises(ModelLoadError, match=rf"its GGUF header holds an array of {GGUF_LARGEST_ARRAY + 1:,} values"):
        load_model(str(path))
    # A real-sized vocabulary is read as before (the default model's file is scanned in the model tests).
    small = _small_gguf(tmp_path / "small.gguf", 2, blocks=2, add_metadata=lambda writer: writer.add_token_list(["a", "b"]))
    from factcheck.model.language_model import _gguf_header_too_large

    assert _gguf_header_too_large(small) is None
    # Many arrays each under the bound, and arrays nested deeper than any model's: the review of the 35th pass.
    many = _small_gguf(tmp_path / "many.gguf", 2, blocks=2, add_metadata=lambda writer: [
        writer.add_array(f"x.array{index}", [0] * GGUF_LARGEST_ARRAY) for index in range(5)])
    assert "in all" in _gguf_header_too_large(many)
    nested = _small_gguf(tmp_path / "nested.gguf", 2, blocks=2, add_metadata=lambda writer: writer.add_array("x.deep", [[[1]]]))
    assert "nested 3 deep" in _gguf_header_too_large(nested)
    # A string past any chat template (the 37th pass: transformers read a 300 MB one into 13 GB).
    from factcheck.model.language_model import GGUF_LONGEST_STRING

    long = _small_gguf(tmp_path / "long.gguf", 2, blocks=2,
                       add_metadata=lambda writer: writer.add_chat_template("x" * (GGUF_LONGEST_STRING + 1)))
    assert _gguf_header_too_large(long) == f"a string of {GGUF_LONGEST_STRING + 1:,} bytes"


def test_a_gguf_special_token_id_past_its_vocabulary_is_named_before_loading(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    def a_lying_end_of_sequence(writer):
        writer.add_token_list(["<s>", "a", "b"])
        writer.add_eos_token_id(4000000000)

    # An end-of-sequence id past the vocabulary failed in the tokenizer's build and was blamed on the weights.
    path = _small_gguf(tmp_path / "model.gguf", 1, blocks=1, add_metadata=a_lying_end_of_sequence)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=r"tokenizer.ggml.eos_token_id is 4000000000, and its vocabulary "
                                             r"\(tokenizer.ggml.tokens\) holds 3 tokens"):
        load_model(str(path))


@pytest.mark.parametrize("key", ["token_type", "scores"])
def test_a_gguf_array_of_one_value_per_token_that_is_not_the_vocabularys_length_is_refused(tmp_path, monkeypatch, key):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    def short(writer):
        writer.add_token_list(["<s>", "a", "b", "c"])
        writer.add_token_types([3, 1]) if key == "token_type" else writer.add_token_scores([0.0, -1.0])

    # The 38th pass: transformers pairs token_type with the tokens only as far as the shorter goes; a short one made 14
    # of the default model's 17 control tokens plain text, silently (another fingerprint, suite text no longer guarded).
    path = _small_gguf(tmp_path / "model.gguf", 1, blocks=1, add_metadata=short)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=rf"tokenizer.ggml.{key} holds 2 values, and its vocabulary "
                                             r"\(tokenizer.ggml.tokens\) 4 tokens: one for each token"):
        load_model(str(path))


@pytest.mark.parametrize("merges, said", [
    (["a b"], "holds 1 merges, which make 1 of its 3 plain tokens"), (["a b", "ab c", "abc"], "holds 'abc', not two tokens joined"),
    (None, "is missing"), (["ab c", "b c", "a b"], "holds 3 merges, which make 3 of its 3 plain tokens, 1 of them joining what no "
                                                  "earlier merge made"),
    (["a b", "ab c", "b c", "dup"], "goes with a vocabulary that lists 1 plain token(s) twice")])
def test_a_gguf_bpe_vocabulary_whose_merges_do_not_make_its_tokens_is_refused(tmp_path, monkeypatch, merges, said):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    def vocabulary(writer):
        writer.add_tokenizer_model("gpt2")
        twice = merges is not None and "dup" in merges  # the 40th pass: "bc" listed twice, read with one id
        writer.add_token_list(["<s>", "a", "b", "c", "ab", "abc", "bc"] + (["bc"] if twice else []))
        writer.add_token_types([3, 1, 1, 1, 1, 1, 1] + ([1] if twice else []))
        if merges is not None:
            writer.add_token_merges([merge for merge in merges if merge != "dup"])

    # The 39th pass: merges cut to 100 of the default model's 48,900 loaded without a word, the tokenizer splitting
    # every word into letters; a merge of one token or three failed blamed on the weights.
    path = _small_gguf(tmp_path / "model.gguf", 1, blocks=1, add_metadata=vocabulary)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=rf"its metadata tokenizer.ggml.merges {re.escape(said)}"):
        load_model(str(path))
    # Merges that make every plain token pass this check (the default model's are checked in the model tests).
    from gguf import GGUFReader

    from factcheck.model.language_model import _gguf_merges_problem

    merges = ["a b", "ab c", "b c"]  # read by `vocabulary` when it is called
    whole = _small_gguf(tmp_path / "whole.gguf", 1, blocks=1, add_metadata=vocabulary)
    assert _gguf_merges_problem(GGUFReader(whole)) is None


def _tiny_model_with(tmp_path, tiny_llama_folder, name: str, **fields):
    """A copy of the tiny model whose JSON file `name` has `fields` set."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    document = json.loads((folder / name).read_text(encoding="utf-8"))
    (folder / name).write_text(json.dumps({**document, **fields}), encoding="utf-8")
    return folder


def test_weights_of_more_blocks_than_the_config_asks_for_are_refused(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    held = json.loads((tiny_llama_folder / "config.json").read_text())["num_hidden_layers"]
    # One block fewer: transformers drops the last block's weights with a log line.
    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "config.json", num_hidden_layers=held - 1)
    with pytest.raises(ModelLoadError, match=rf"its weights hold blocks up to {held - 1} and its config asks for {held - 1}"):
        load_model(str(folder))


def test_a_weight_held_by_two_shards_is_refused_whatever_the_index_names(tmp_path, tiny_llama_folder, monkeypatch):
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # The 38th pass: transformers reads every shard and keeps the copy it read last, whatever the index names: a
    # stray shard's model.norm.weight of 100.0 loaded silently (another fingerprint).
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(weights)
    first, second = names[: len(names) // 2], names[len(names) // 2 :]
    save_file({name: weights[name] for name in first}, folder / "model-00001-of-00002.safetensors", metadata={"format": "pt"})
    save_file({**{name: weights[name] for name in second}, first[0]: weights[first[0]] * 100},
              folder / "model-00002-of-00002.safetensors", metadata={"format": "pt"})
    index = {name: "model-00001-of-00002.safetensors" for name in first} | {name: "model-00002-of-00002.safetensors" for name in second}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}), encoding="utf-8")
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=rf"its weight {re.escape(first[0])} is held by 2 weight files "
                                             r"\(model-00001-of-00002.safetensors, model-00002-of-00002.safetensors\)"):
        load_model(str(folder))
    # The 39th pass: a stale model.safetensors beside the index, which transformers reads instead of the shards.
    save_file({name: weights[name] for name in second}, folder / "model-00002-of-00002.safetensors", metadata={"format": "pt"})
    save_file({**weights, first[0]: weights[first[0]] * 100}, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its folder holds model.safetensors and an index naming other weight files "
                                             r"\(model-00001-of-00002.safetensors, model-00002-of-00002.safetensors\); "
                                             r"transformers reads model.safetensors alone"):
        load_model(str(folder))
    monkeypatch.undo()
    intact = load_model(str(tiny_llama_folder)).fingerprint
    # The shards as a model's own: it loads.
    (folder / "model.safetensors").unlink()
    assert load_model(str(folder)).fingerprint == intact
    # One file named two ways by the index ("x" and "./x", the 40th pass) is one holder.
    index = {name: ("./" if position % 2 else "") + "model-00002-of-00002.safetensors" if name in second
             else "model-00001-of-00002.safetensors" for position, name in enumerate(names)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}), encoding="utf-8")
    assert load_model(str(folder)).fingerprint == intact
    # A copy that transformers does not read (no index; it reads model.safetensors) is no second holder.
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"):
        (folder / shard).unlink()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    shutil.copy(folder / "model.safetensors", folder / "consolidated.safetensors")
    assert load_model(str(folder)).fingerprint == intact


def test_a_tokenizer_that_turns_plain_text_into_no_tokens_is_refused_at_load(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    # The 38th pass: an empty vocabulary loaded without a word; each fact then failed blaming its subject ("no token
    # covers subject 'snow'").
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    document = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    document["model"].update(vocab={}, merges=[])
    (folder / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"its tokenizer turns plain text \('The capital city of France is Paris.'\) "
                                             r"into no tokens \(an empty vocabulary\?\): replace its tokenizer files"):
        load_model(str(folder))


def test_a_tokenizer_of_more_tokens_than_the_weights_embed_is_refused_at_load(tmp_path, tiny_llama_folder):
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, load_model

    # Another model's tokenizer beside these weights: every prompt failed with an IndexError in the embedding.
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.resize_token_embeddings(100)
    model.save_pretrained(folder)
    with pytest.raises(ModelLoadError, match=r"its tokenizer's vocabulary has \d+ tokens and its weights embed 100 "
                                             r"\(config.json's vocab_size 100\): the tokenizer files belong to another model"):
        load_model(str(folder))


@pytest.mark.parametrize("damage", ["truncated", "bad header", "shapes"])
def test_damaged_weights_are_one_message_naming_the_model(tmp_path, tiny_llama_folder, damage):
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = folder / "model.safetensors"
    if damage == "truncated":  # a partial download
        weights.write_bytes(weights.read_bytes()[:100_000])
    elif damage == "bad header":
        weights.write_bytes((10**12).to_bytes(8, "little") + weights.read_bytes()[8:])
    else:
        config = json.loads((folder / "config.json").read_text())
        config["intermediate_size"] *= 2
        (folder / "config.json").write_text(json.dumps(config))
    said = (r"weights whose shapes do not fit its config.json: model\.layers\.\{0, 1\}\.mlp\.\w+_proj\.weight: ckpt" if damage == "shapes"
            else r"its weights are damaged \(a truncated download\?\) or do not fit its config.json")
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(folder))


def test_pickled_weights_are_refused_with_the_conversion_not_unpickled(tmp_path, monkeypatch):
    import pickle

    from factcheck.model.language_model import ModelLoadError, load_model

    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": 1}))
    monkeypatch.setattr(pickle, "load", lambda *args, **kwargs: pytest.fail("unpickled"))
    with pytest.raises(ModelLoadError, match=r"pickled weights .* does not unpickle .*save_pretrained"):
        load_model(str(folder))
    # The 33rd pass: another *.safetensors beside them (training arguments, a folder so named) let transformers
    # unpickle pytorch_model.bin.
    (folder / "training_args.safetensors").write_bytes(b"")
    (folder / "model.safetensors").mkdir()
    with pytest.raises(ModelLoadError, match=r"pickled weights .* does not unpickle"):
        load_model(str(folder))


def test_weights_are_read_from_safetensors_only_even_with_a_pickle_beside_them(tmp_path, tiny_llama_folder, monkeypatch):
    import shutil

    import torch

    from factcheck.model.language_model import load_model

    folder = tmp_path / "both"
    shutil.copytree(tiny_llama_folder, folder)
    torch.save({"lm_head.weight": torch.zeros(1)}, folder / "pytorch_model.bin")
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("unpickled"))
    assert load_model(str(folder)).hidden_size > 0


def test_a_missing_model_fails_each_fact_with_the_message_not_an_internal_error(pytester, tmp_path, monkeypatch):
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "capital.json").write_text(json.dumps(
        {"relation": "capital", "templates": ["The capital of {subject} is"],
         "facts": [{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}]}))
    (pytester.path / "suites" / "second.json").write_text(json.dumps(
        {"relation": "second", "templates": ["{subject} is in"], "facts": [{"subject": "Lima", "object": "Peru"}]}))
    from factcheck.model import language_model

    calls = []
    original = language_model.check_model_location
    monkeypatch.setattr(language_model, "check_model_location", lambda spec, *rest: calls.append(spec) or original(spec, *rest))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", f"--factcheck-model={tmp_path / 'nowhere'}",
                                          "--factcheck-report=r.json")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and out.count("no such file or folder") >= 3
    assert len(calls) == 1  # one attempt to load, not one per relation


def test_torch_that_cannot_be_imported_fails_each_fact_showing_its_traceback_once(pytester, monkeypatch):
    # The 53rd pass: `import torch` raising (a CUDA build missing a library) printed its whole traceback for every fact
    # (580 lines each: Python does not remember a failed import, and the error was raised in each fact's setup).
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "capital.json").write_text(json.dumps(
        {"relation": "capital", "templates": ["The capital of {subject} is"],
         "facts": [{"subject": s, "object": o} for s, o in [("France", "Paris"), ("Peru", "Lima"), ("Chile", "Santiago")]]}))
    shadow = pytester.path / "shadow" / "torch"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise OSError("libcudnn.so.9: cannot open shared object file")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suites")
    output = result.stdout.str()
    result.assert_outcomes(failed=3)
    assert "ERROR at setup" not in output and output.count('raise OSError("libcudnn') == 1, output[-3000:]
    failures = output.split("short test summary info")[0]  # under CI=true the summary repeats each message whole
    assert failures.count("(the same error as for suites/capital.json::capital[France]") == 2 and "INTERNALERROR" not in output
    # The 54th pass: that one traceback was 870 lines, mostly pytest's and pluggy's frames above the fact's own.
    assert "_pytest/runner.py" not in output and "pluggy/_callers.py" not in output and "def runtest(self)" in output, output[-3000:]
    recording = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suites", "--factcheck-update-baseline",
                                              "--factcheck-baseline=b.json").stdout.str()
    assert "factcheck: baseline NOT updated: no fact was checked;" in recording and not (pytester.path / "b.json").exists()
    # The error is raised again for each later use of the session, with the traceback of its first raise: raised as it
    # stood, each raise added its own frames to those of every earlier one.
    (pytester.path / "test_session_again.py").write_text(
        "import traceback\n"
        "from factcheck_pytest.plugin import _run\n"
        "def test_session_again(pytestconfig):\n"
        "    lengths = []\n"
        "    for _ in range(4):\n"
        "        try:\n"
        "            _run(pytestconfig).session\n"
        "        except OSError as error:\n"
        "            lengths.append(len(traceback.extract_tb(error.__traceback__)))\n"
        "    assert len(lengths) == 4 and len(set(lengths[1:])) == 1, lengths\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_session_again.py").assert_outcomes(passed=1)


def test_a_file_with_a_name_near_the_file_systems_limit_is_written_atomically(tmp_path):
    from factcheck.cache import temporary_prefix, write_bytes_atomic

    path = tmp_path / ("r" * 250 + ".json")  # 255 bytes: the hidden temporary beside it used to pass the limit
    write_bytes_atomic(path, b"{}")
    assert path.read_bytes() == b"{}" and [p.name for p in tmp_path.iterdir()] == [path.name]
    assert len(temporary_prefix("é" * 300).encode("utf-8")) < 255 - 20 and len(temporary_prefix("🙂" * 100).encode("utf-8")) < 255 - 20
    # A name that is no UTF-8 (its bytes kept as surrogates) is written as given: it was a UnicodeEncodeError after
    # the work was done (degrade --out, tune --write, lens --png, a report).
    odd = tmp_path / os.fsdecode(b"r_bad\xff\xfename.json")
    write_bytes_atomic(odd, b"{}")
    assert odd.read_bytes() == b"{}" and os.fsencode(temporary_prefix("\udcff" * 200)).startswith(b".\xff")


def test_a_special_token_the_vocabulary_lacks_is_refused_at_load(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    # A bos_token that is no token of the vocabulary is added past the embedding rows: every prompt failed.
    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "tokenizer_config.json", bos_token="<no-such-token>")
    with pytest.raises(ModelLoadError, match=r"its bos_token '<no-such-token>' is not in its vocabulary \(id \d+, past the "
                                             r"\d+ tokens its weights embed\).*set bos_token in tokenizer_config.json"):
        load_model(str(folder))


@pytest.mark.parametrize("field, value", [("hidden_act", "nosuchact"), ("dtype", "bogus"), ("vocab_size", "64"),
                                          ("rope_parameters", {"rope_type": "yarn"})])
def test_a_config_field_transformers_rejects_is_named_not_blamed_on_the_tokenizer_or_the_weights(tmp_path, tiny_llama_folder,
                                                                                               field, value):
    from factcheck.model.language_model import ModelLoadError, load_model

    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "config.json", **{field: value})
    with pytest.raises(ModelLoadError, match=r"its config.json cannot be used \(.+\); fix the field it names") as caught:
        load_model(str(folder))
    assert "tokenizer" not in str(caught.value) and "damaged" not in str(caught.value)


def test_a_gguf_file_named_in_capitals_is_read_as_one(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    upper = tmp_path / "MODEL.GGUF"
    upper.write_bytes(b"not gguf")
    with pytest.raises(ModelLoadError, match="its GGUF header cannot be read .*GGUF magic"):  # not "a file, not a model folder"
        load_model(str(upper))


def _unreachable(*args, **kwargs):
    raise OSError("Name or service not known")


def test_a_hub_id_with_no_network_is_refused_at_once_naming_the_local_hub_cache(tmp_path, monkeypatch):
    from factcheck.model.language_model import ModelLoadError, load_model

    monkeypatch.setattr("socket.create_connection", _unreachable)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelLoadError, match=r"the hub \(https://huggingface.co\) cannot be reached from here and the "
                                             r"model is not in the local hub cache"):
        load_model("someorg/nosuchmodel")  # said at once: transformers' own retries took a minute or more


def test_a_hub_id_in_the_local_hub_cache_loads_with_no_network(tmp_path, monkeypatch, tiny_llama_folder):
    import huggingface_hub.constants
    from factcheck.model.language_model import load_model

    snapshot = tmp_path / "hub" / "models--someorg--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_llama_folder, snapshot)
    (tmp_path / "hub" / "models--someorg--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--someorg--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr("socket.create_connection", _unreachable)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    model = load_model("someorg/tiny")
    assert model.name == "someorg/tiny" and model.num_layers == 2


def test_transformers_load_report_is_shown_for_a_model_that_loads(tmp_path, tiny_llama_folder, caplog):
    import torch
    from safetensors.torch import load_file, save_file

    from factcheck.model.language_model import load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    weights["extra_head.weight"] = torch.zeros(2, 2)  # a key no parameter takes, and no block: the model loads
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    load_model(str(folder))
    report = caplog.text
    assert "LOAD REPORT" in report and "extra_head.weight" in report


def test_a_config_naming_pickled_weights_beside_safetensors_is_refused(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    # transformers read adapter_model.bin (torch.load) before model.safetensors: a pickle, and other weights.
    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "config.json", transformers_weights="adapter_model.bin")
    (folder / "adapter_model.bin").write_bytes(b"not read")
    with pytest.raises(ModelLoadError, match=r"names the weights 'adapter_model.bin' \(transformers_weights\), which are no "
                                             r"safetensors file: factcheck does not unpickle weights"):
        load_model(str(folder))


def test_weights_of_parameters_the_config_turns_off_are_refused_not_dropped(tmp_path, tiny_llama_folder):
    import torch
    from safetensors.torch import load_file, save_file

    from factcheck.model.language_model import ModelLoadError, load_model

    # Biases under attention_bias: false were dropped with transformers' LOAD REPORT, and the model ran without them.
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    width = weights["model.layers.0.self_attn.q_proj.weight"].shape[0]
    weights["model.layers.0.self_attn.q_proj.bias"] = torch.full((width,), 5.0)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its weights hold 1 parameter\(s\) that its config.json leaves out "
                                             r"\(model.layers.0.self_attn.q_proj.bias\).*attention_bias"):
        load_model(str(folder))


def test_weights_of_modules_the_architecture_has_not_are_refused_but_old_rotary_buffers_are_not(tmp_path, tiny_llama_folder):
    import torch
    from safetensors.torch import load_file, save_file

    from factcheck.model.language_model import ModelLoadError, load_model

    # A Qwen3 checkpoint's q_norm/k_norm under a Llama config.json were dropped with transformers' LOAD REPORT only.
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    head = json.loads((folder / "config.json").read_text())
    head_width = head["hidden_size"] // head["num_attention_heads"]
    weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(head_width // 2)  # older transformers saved it
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    load_model(str(folder))
    for block in (0, 1):
        for norm in ("q_norm", "k_norm"):
            weights[f"model.layers.{block}.self_attn.{norm}.weight"] = torch.full((head_width,), 3.0)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its weights hold 4 parameter\(s\) that its config.json leaves out "
                                             r"\(model.layers.0.self_attn.k_norm.weight, .* architectures and model_type"):
        load_model(str(folder))


@pytest.mark.parametrize("architecture", ["bloom", "falcon with alibi", "falcon"])
def test_a_model_with_alibi_position_biases_is_refused_naming_why(tiny_tokenizer, architecture):
    import transformers

    from factcheck.model.language_model import LanguageModel, ModelLayoutError

    # BLOOM and ALiBi Falcon (falcon-rw-1b) loaded, then every fact failed with transformers' "too many values to
    # unpack": their position biases are built from a 2-D attention mask, factcheck's packed passes give a 4-D one.
    sizes = dict(vocab_size=len(tiny_tokenizer), hidden_size=32, num_attention_heads=4)
    if architecture == "bloom":
        model = transformers.BloomForCausalLM(transformers.BloomConfig(n_layer=2, n_head=4, **{**sizes, "num_attention_heads": 4}))
    else:
        model = transformers.FalconForCausalLM(transformers.FalconConfig(num_hidden_layers=2, alibi=architecture != "falcon", **sizes))
    if architecture == "falcon":
        assert LanguageModel(model.eval(), tiny_tokenizer, name="falcon").num_layers == 2  # rotary Falcon runs
        return
    with pytest.raises(ModelLayoutError, match=r"adds ALiBi position biases to its attention, .* use one with rotary or learned positions"):
        LanguageModel(model.eval(), tiny_tokenizer, name=architecture)


@pytest.mark.parametrize("field, value, said", [
    ("rope_theta", 0.0, "rope_theta is 0.0, and it must be a finite positive number"),
    ("rope_theta", -10000.0, "rope_theta is -10000.0"),
    ("rms_norm_eps", -1.0, "rms_norm_eps is -1.0, and a norm's epsilon must be a finite number from 0 to 1"),
    # The 45th pass: an epsilon of 1e30 loaded, and every fact generated the same text.
    ("rms_norm_eps", 1e30, "rms_norm_eps is 1e+30, and a norm's epsilon must be a finite number from 0 to 1"),
    ("rope_scaling", {"rope_type": "yarn", "factor": 2.0, "attention_factor": "NaN"}, "attention_factor is nan"),
    ("rope_scaling", {"rope_type": "linear", "factor": -2.0}, "factor is -2.0, and it must be a finite positive number"),
    ("sliding_window", 0, "sliding_window is 0, and a window must hold at least one token"),
    ("final_logit_softcapping", "NaN", "final_logit_softcapping is nan")])
def test_a_config_number_that_breaks_every_pass_is_refused_naming_the_field(tmp_path, tiny_llama_folder, field, value, said):
    from factcheck.model.language_model import ModelLoadError, load_model

    # The 43rd pass: these loaded, then every score was NaN (blamed on the weights), or a window of no token let the
    # model see none of its prompt and every fact generated the same text.
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    if field == "rope_theta":  # where this transformers keeps it
        config["rope_parameters"] = {**config.get("rope_parameters", {"rope_type": "default"}), field: value}
    else:
        config[field] = value
    (folder / "config.json").write_text(json.dumps(config).replace('"NaN"', "NaN"))
    with pytest.raises(ModelLoadError, match=f"its config.json's {re.escape(said)}"):
        load_model(str(folder))


def test_a_scale_of_granite_or_cohere_that_blinds_the_model_is_refused():
    import transformers

    from factcheck.model.language_model import _config_number_that_breaks_the_model

    # The 45th pass: Granite's embedding_multiplier 0 and Cohere's logit_scale 0 loaded, and every fact generated the
    # same text; logits_scaling 0 made every score infinite.
    for config, key in ((transformers.GraniteConfig(embedding_multiplier=0.0), "embedding_multiplier"),
                        (transformers.GraniteConfig(logits_scaling=0.0), "logits_scaling"),
                        (transformers.CohereConfig(logit_scale=0.0), "logit_scale"),
                        (transformers.CohereConfig(logit_scale=-0.5), "logit_scale"),
                        (transformers.OlmoConfig(clip_qkv=0.0), "clip_qkv")):  # the 46th pass
        assert f"{key} is " in (_config_number_that_breaks_the_model(config) or ""), key
    assert _config_number_that_breaks_the_model(transformers.GraniteConfig()) is None
    assert _config_number_that_breaks_the_model(transformers.CohereConfig()) is None
    assert _config_number_that_breaks_the_model(transformers.OlmoConfig(clip_qkv=8.0)) is None
    longrope = transformers.Phi3Config(rope_scaling={"type": "longrope", "short_factor": [0.0] * 48, "long_factor": [1.0] * 48,
                                                     "original_max_position_embeddings": 4096}, max_position_embeddings=8192)
    assert "short_factor holds 0.0" in (_config_number_that_breaks_the_model(longrope) or "")


def test_a_sliding_window_a_config_turns_off_is_not_refused(tiny_tokenizer):
    import transformers

    from factcheck.model.language_model import _config_number_that_breaks_the_model

    # The 44th pass: Qwen1.5-MoE's and Qwen2-MoE's released configs turn their window off (`use_sliding_window: false`),
    # and transformers then writes 0 for it: the 43rd pass's check refused every such model, naming a field the file
    # does not hold.
    moe = transformers.Qwen2MoeConfig(use_sliding_window=False, sliding_window=32768, num_hidden_layers=2)
    assert moe.sliding_window == 0 and _config_number_that_breaks_the_model(moe) is None
    used = transformers.Qwen2MoeConfig(use_sliding_window=True, sliding_window=0, num_hidden_layers=2)
    assert "sliding_window is 0" in (_config_number_that_breaks_the_model(used) or "")
    mistral = transformers.MistralConfig(sliding_window=0, num_hidden_layers=2)
    assert "sliding_window is 0" in (_config_number_that_breaks_the_model(mistral) or "")


def _gguf_with_key_weights(path, epsilon: float = 1e-5, kv_heads: int = 2):
    """A small GGUF file of 4 heads of 8 values, whose first block's key weights hold 2 key/value heads."""
    import numpy as np

    def metadata(writer):
        writer.add_embedding_length(32)
        writer.add_head_count(4)
        writer.add_head_count_kv(kv_heads)
        writer.add_layer_norm_rms_eps(epsilon)
        writer.add_tensor("blk.0.attn_k.weight", np.zeros((16, 32), dtype=np.float32))

    return _small_gguf(path, 2, blocks=2, add_metadata=metadata)


@pytest.mark.parametrize("edit, said", [
    ({"epsilon": -1.0}, r"llama.attention.layer_norm_rms_epsilon is -1.0, and a norm's epsilon"),
    ({"epsilon": float("nan")}, r"llama.attention.layer_norm_rms_epsilon is nan"),
    # The 47th pass: one past 1 drowned the states (every fact generated one text), refused in config.json only.
    ({"epsilon": 2.0}, r"llama.attention.layer_norm_rms_epsilon is 2.0, and a norm's epsilon must be a finite number from 0 to 1"),
    ({"kv_heads": 9}, r"gives 9 key/value heads \(llama.attention.head_count_kv\) of 8 values each \(llama.attention.head_count 4, "
                      r"embedding_length 32\), and its tensor blk.0.attn_k.weight holds 16 rows, not 72")])
def test_gguf_metadata_that_breaks_every_pass_or_misfits_the_key_weights_is_refused(tmp_path, monkeypatch, edit, said):
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    from factcheck.model.language_model import ModelLoadError, _gguf_number_problem, load_model

    # The 44th pass: an epsilon of -1 in a GGUF file loaded and every score was NaN, blamed on the weights; key/value
    # heads the key weights do not hold gave numpy's "cannot reshape array of size ..." alone.
    path = _gguf_with_key_weights(tmp_path / "model.gguf", **edit)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("the model was built"))
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(path))
    assert _gguf_number_problem(GGUFReader(_gguf_with_key_weights(tmp_path / "whole.gguf")), "llama") is None


def _gguf_facts(architecture, blocks=2, rope_factor_tensors=(), **numbers):
    from factcheck.model.language_model import GgufFacts

    named = {key.replace("__", "."): value for key, value in numbers.items()}
    return GgufFacts(architecture, blocks, named, list(rope_factor_tensors))


@pytest.mark.parametrize("architecture, blocks, scalar", [("gemma2", 46, 8), ("gemma2", 26, 16), ("gemma3", 62, 8), ("gemma3", 34, 16)])
def test_a_gemma_gguf_gets_the_query_scale_llama_cpp_gives_it(architecture, blocks, scalar):
    import transformers

    from factcheck.model.language_model import fit_config_to_the_gguf_file

    # The 47th pass: GGUF has no key for Gemma's query_pre_attn_scalar, and transformers kept its default of 256: a
    # Gemma-2-27B file (46 blocks; width / heads = 144) ran with another attention scale than llama.cpp gives it,
    # 39 of 40 facts generating another text. Here 4 heads of 16 values in a width of 32.
    kind = transformers.Gemma2Config if architecture == "gemma2" else transformers.Gemma3TextConfig
    config = kind(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_hidden_layers=blocks)
    fit_config_to_the_gguf_file("m.gguf", config, _gguf_facts(architecture, blocks, embedding_length=32,
                                                              attention__head_count=4, attention__key_length=16))
    assert config.query_pre_attn_scalar == scalar


def test_gguf_fields_transformers_leaves_out_are_given_back_or_the_file_refused():
    import transformers

    from factcheck.model.language_model import ModelLoadError, fit_config_to_the_gguf_file

    # The 48th pass: a StarCoder2 file's RoPE base (1e5 to 1e6) ran as 10,000; a Phi-3 file's partial rotary (Phi-4-mini
    # rotates 96 of 128 values) ran on all of them; Qwen3's head size fell back to 128; LongRoPE factor tensors were
    # dropped whole, under the plain file's fingerprint. Each changed every generated text.
    coder = transformers.Starcoder2Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2)
    fit_config_to_the_gguf_file("m.gguf", coder, _gguf_facts("starcoder2", embedding_length=32, attention__head_count=4,
                                                             rope__freq_base=100000.0))
    assert coder.rope_parameters["rope_theta"] == 100000.0
    phi = transformers.Phi3Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=4)
    fit_config_to_the_gguf_file("m.gguf", phi, _gguf_facts("phi3", embedding_length=32, attention__head_count=4,
                                                           rope__dimension_count=4))
    assert phi.rope_parameters["partial_rotary_factor"] == 0.5
    qwen = transformers.Qwen3Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2)
    fit_config_to_the_gguf_file("m.gguf", qwen, _gguf_facts("qwen3", embedding_length=32, attention__head_count=4,
                                                            attention__key_length=16))
    assert qwen.head_dim == 16
    with pytest.raises(ModelLoadError, match=r"holds LongRoPE factors \(rope_factors_long.weight\), which transformers' GGUF "
                                             r"loader drops.*Give the model as a folder"):
        fit_config_to_the_gguf_file("m.gguf", transformers.Phi3Config(), _gguf_facts("phi3", rope_factor_tensors=["rope_factors_long.weight"]))
    llama = transformers.LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2)
    with pytest.raises(ModelLoadError, match=r"llama.rope.dimension_count is 4 of 8 values per head \(a partial rotary\), which "
                                             r"transformers' llama model does not take"):
        fit_config_to_the_gguf_file("m.gguf", llama, _gguf_facts("llama", embedding_length=32, attention__head_count=4,
                                                                 rope__dimension_count=4))
    # Any other field the config holds otherwise than the file says is refused, naming both.
    other = transformers.LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2)
    with pytest.raises(ModelLoadError, match=r"builds its config with 2 where the file's metadata llama.attention.head_count_kv says 1"):
        fit_config_to_the_gguf_file("m.gguf", other, _gguf_facts("llama", embedding_length=32, attention__head_count=4,
                                                                 attention__head_count_kv=1))
    # The 49th pass: Qwen2-MoE's expert sizes (a correct file was refused, its metadata blamed) and Gemma 2's soft caps.
    moe = transformers.Qwen2MoeConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2)
    fit_config_to_the_gguf_file("m.gguf", moe, _gguf_facts("qwen2moe", expert_feed_forward_length=48,
                                                           expert_shared_feed_forward_length=64))
    assert (moe.moe_intermediate_size, moe.shared_expert_intermediate_size) == (48, 64)
    gemma = transformers.Gemma2Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    fit_config_to_the_gguf_file("m.gguf", gemma, _gguf_facts("gemma2", attn_logit_softcapping=3.0, final_logit_softcapping=2.0))
    assert (gemma.attn_logit_softcapping, gemma.final_logit_softcapping) == (3.0, 2.0)
    same = transformers.LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)
    fit_config_to_the_gguf_file("m.gguf", same, _gguf_facts("llama", embedding_length=32, attention__head_count=4,
                                                            attention__head_count_kv=2, rope__dimension_count=8,
                                                            attention__layer_norm_rms_epsilon=9.999999747378752e-06))


def _tiny_llama_as_gguf(folder, path, extra_tensors=()):
    """The tiny Llama of `folder` written as llama.cpp's converter writes a GGUF file: its metadata, its byte-level BPE
    vocabulary, and its weights under GGUF's names (queries and keys in llama.cpp's rotary order)."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    vocabulary = json.loads((folder / "tokenizer.json").read_text())
    heads, kv_heads, layers = config["num_attention_heads"], config["num_key_value_heads"], config["num_hidden_layers"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_embedding_length(config["hidden_size"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_file_type(0)
    tokens = sorted(vocabulary["model"]["vocab"], key=vocabulary["model"]["vocab"].get)
    special = {token["id"] for token in vocabulary["added_tokens"]}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if index in special else 1 for index in range(len(tokens))])
    writer.add_token_merges([merge if isinstance(merge, str) else " ".join(merge) for merge in vocabulary["model"]["merges"]])
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)

    def rotary_order(weight, count):
        return weight.reshape(count, 2, weight.shape[0] // count // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)

    for name, weight in load_file(folder / "model.safetensors").items():
        weight = weight.float().numpy()
        if name.endswith("q_proj.weight"):
            weight = rotary_order(weight, heads)
        if name.endswith("k_proj.weight"):
            weight = rotary_order(weight, kv_heads)
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), np.ascontiguousarray(weight))
    for name, weight in extra_tensors:
        writer.add_tensor(name, weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_gguf_architecture_transformers_cannot_load_is_named_not_called_damaged(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    # The 49th pass: phi2, olmo, mpt, command-r files were "damaged or edited: download or convert it again".
    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2, architecture="phi2")
    with pytest.raises(ModelLoadError, match=r"its GGUF architecture 'phi2' is one transformers cannot load from a GGUF file "
                                             r"\(factcheck reads GGUF files through it; the file is not damaged\)"):
        load_model(str(path))


def test_a_big_endian_gguf_file_is_named_with_its_conversion_not_called_damaged(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    # The 50th pass: gguf-convert-endian's output was "damaged or edited: download or convert it again".
    path = _small_gguf(tmp_path / "model.gguf", 2, blocks=2)
    data = bytearray(path.read_bytes())
    data[4:8] = int.from_bytes(data[4:8], "little").to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"it is a big-endian GGUF file.*the file is not damaged.*gguf-convert-endian FILE little"):
        load_model(str(path))


def test_a_gguf_file_whose_tensors_the_loader_skips_is_refused(tmp_path, tiny_llama_folder):
    import numpy as np
    import torch

    from factcheck.model.language_model import ModelLoadError, load_model

    # The 49th pass: Llama 3.1's RoPE scaling is a tensor of a GGUF file (rope_freqs.weight), which transformers skips
    # without a word: the model ran unscaled, under the fingerprint of the file without it.
    plain = load_model(str(_tiny_llama_as_gguf(tiny_llama_folder, tmp_path / "plain.gguf")))
    folder = load_model(str(tiny_llama_folder))
    encoded = folder.encode([folder.bos_text + "The capital city of France is"])
    torch.testing.assert_close(plain.forward(encoded).logits, folder.forward(encoded).logits, atol=1e-4, rtol=1e-4)
    scaled = _tiny_llama_as_gguf(tiny_llama_folder, tmp_path / "scaled.gguf",
                                 extra_tensors=[("rope_freqs.weight", np.ones(4, dtype=np.float32))])
    with pytest.raises(ModelLoadError, match=r"transformers' GGUF loader skips 1 of its tensors \(rope_freqs.weight \(Llama 3's "
                                             r"RoPE scaling\)\): the model would run without them.*Give the model as a folder"):
        load_model(str(scaled))


def _tokenizer_edited(tmp_path, tiny_llama_folder, edit):
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_folder, folder)
    document = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    edit(document)
    (folder / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_a_tokenizer_that_grows_text_crashes_or_adds_tokens_past_the_embedding_is_refused_at_load(tmp_path, tiny_llama_folder):
    from factcheck.model.language_model import ModelLoadError, load_model

    rows = json.loads((tiny_llama_folder / "config.json").read_text())["vocab_size"]
    cases = [
        # Each space written as two million letters: a short prompt took all the machine's memory.
        (lambda t: t.update(normalizer={"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": " "}, "content": "ab" * 1_000_000}]}),
         r"tokenizer.json's normalizer \(Replace\) writes 2,000,000 characters"),
        # A pattern that exhausts the regex engine: a Rust panic, past `except Exception`, per fact.
        (lambda t: t.update(pre_tokenizer={"type": "Split", "pattern": {"Regex": r"((\w|\s)*)*\d"}, "behavior": "Isolated",
                                           "invert": False}),
         r"its tokenizer crashed on a prompt \(PanicException: .*\): its tokenizer.json .* is broken"),
        # A plain added token past the rows: every prompt holding its text was an IndexError.
        (lambda t: t["added_tokens"].append({"id": rows, "content": "capital city", "single_word": False, "lstrip": False,
                                             "rstrip": False, "normalized": True, "special": False}),
         rf"its tokenizer adds the token 'capital city' with id {rows}, past the {rows} tokens its weights embed"),
    ]
    for edit, expected in cases:
        folder = _tokenizer_edited(tmp_path, tiny_llama_folder, edit)
        with pytest.raises(ModelLoadError, match=expected):
            load_model(str(folder))
        shutil.rmtree(folder)


def test_a_model_folders_own_code_that_is_not_run_is_said(tmp_path, tiny_llama_folder):
    from factcheck.cache import FactcheckWarning
    from factcheck.model.language_model import load_model

    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "config.json",
                              auto_map={"AutoModelForCausalLM": "modeling_mine.MineForCausalLM"})
    with pytest.warns(FactcheckWarning, match=r"brings its own code .*'modeling_mine.MineForCausalLM'.*which is not run"):
        load_model(str(folder))


def test_a_gguf_header_that_cannot_be_read_is_called_damaged(tmp_path):
    from factcheck.model.language_model import ModelLoadError, load_model

    path = _small_gguf(tmp_path / "model.gguf", 1, blocks=1)
    data = bytearray(path.read_bytes())
    data[8:16] = (2**40).to_bytes(8, "little")  # the tensor count: far more than the file holds, or any model has
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"its GGUF header holds 1,099,511,627,776 tensors .* the file is damaged"):
        load_model(str(path))
    data[8:16] = (1000).to_bytes(8, "little")  # more than the file holds
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"its GGUF header cannot be read \(.*\); the file is no GGUF file, or is damaged"):
        load_model(str(path))


def test_quantized_weights_whose_library_is_missing_are_not_called_damaged(tmp_path, tiny_llama_folder):
    import importlib.util

    from factcheck.model.language_model import ModelLoadError, load_model

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed")
    folder = _tiny_model_with(tmp_path, tiny_llama_folder, "config.json",
                              quantization_config={"quant_method": "bitsandbytes", "load_in_8bit": True})
    with pytest.raises(ModelLoadError, match=r"it needs a library that is not installed .*bitsandbytes.*quantization_config") as caught:
        load_model(str(folder))
    assert "damaged" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another owner takes root")
def test_a_file_replaced_keeps_its_owner_where_the_process_may_give_it(tmp_path):
    from factcheck.cache import write_bytes_atomic

    # tune --write (or a baseline, a report) as root in a CI container made a mounted checkout's suite root's.
    path = tmp_path / "suite.json"
    path.write_text("{}")
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o664)
    write_bytes_atomic(path, b'{"a": 1}')
    assert (path.stat().st_uid, path.stat().st_gid, path.stat().st_mode & 0o777) == (65534, 65534, 0o664)
    assert path.read_bytes() == b'{"a": 1}'
    # The 35th pass: tune --write has a writer of its own (it loads the new text before replacing the suite).
    from factcheck.knows.tune import write_choice

    path.write_text('{"relation": "capital", "templates": ["The capital of {subject} is"], "facts": ['
                    '{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}]}')
    assert write_choice(path, 3, 2.0) is True
    assert (path.stat().st_uid, path.stat().st_gid, path.stat().st_mode & 0o777) == (65534, 65534, 0o664)
