"""Tests of `factcheck import`: LRE paper-format relation files -> factcheck suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factcheck.suites import importer
from factcheck.cli import main
from factcheck.suites.importer import ImportFormatError, decode_escapes, import_file, import_paths, snake_case
from factcheck.suites.suite import SuiteError, load_suite

LRE_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lre-relations"


def paper(**overrides):
    """A small valid paper-format document; keyword arguments replace its fields."""
    document = {
        "name": "country capital city",
        "prompt_templates": ["The capital city of {} is", "The capital of {} is"],
        "prompt_templates_zs": ["The capital of {} is the city of"],
        "properties": {"relation_type": "factual", "domain_name": "country", "range_name": "city", "symmetric": False},
        "samples": [{"subject": "Canada", "object": "Ottawa"}, {"subject": "Peru", "object": "Lima"}],
    }
    document.update(overrides)
    return document


def write(path: Path, document) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


# --- unicode escapes -------------------------------------------------------------------------

def test_decode_escapes_handles_single_escapes_and_surrogate_pairs():
    # Python "\\u00ed" is the six characters backslash-u-0-0-e-d, as in the dataset.
    assert decode_escapes("Bras\\u00edlia") == "Brasília"
    assert decode_escapes("Bogot\\u00E1") == "Bogotá"
    assert decode_escapes("smile \\ud83d\\ude00") == "smile \U0001F600"
    assert decode_escapes("AC\\DC and \\u12") == "AC\\DC and \\u12"  # not a full escape: left as written
    with pytest.raises(ValueError, match="unpaired surrogate"):
        decode_escapes("bad \\ud83d alone")


def test_double_escaped_unicode_is_decoded_in_the_written_suite(tmp_path):
    source = write(tmp_path / "in.json", paper(
        prompt_templates=["La capitale de {} est"],
        samples=[{"subject": "Brazil", "object": "Bras\\u00edlia"}, {"subject": "Colombia", "object": "Bogot\\u00e1"}],
    ))
    result = import_file(source, tmp_path / "out")
    suite = load_suite(result.output)
    assert [f.object for f in suite.facts] == ["Brasília", "Bogotá"]
    assert "\\u" not in result.output.read_text(encoding="utf-8")


# --- templates, names, categories --------------------------------------------------------------

def test_templates_get_subject_placeholder_and_unusable_ones_are_skipped(tmp_path):
    source = write(tmp_path / "in.json", paper(prompt_templates=[
        "The capital of {} is",
        "no placeholder here",
        "{} and {} twice",
        "{subject} already has one, plus {}",
        "The capital of {} is",  # repeat of the first
        "  {}'s capital is  ",
        # Read as the paper's str.format fills them: "{{" is a brace, "{0}" the slot, "{x}" a field it could not fill.
        "The {{y}} of {} is",
        "{0} lies in",
        "The {x} of {} is",
        "An open { brace and {}",
    ]))
    result = import_file(source, tmp_path / "out")
    assert load_suite(result.output).templates == ("The capital of {subject} is", "{subject}'s capital is",
                                                   "The {y} of {subject} is", "{subject} lies in")
    assert result.templates_skipped == 6


def test_no_usable_template_is_an_error_naming_file_and_pointer(tmp_path):
    source = write(tmp_path / "in.json", paper(prompt_templates=["nothing to fill", "{} {}"]))
    with pytest.raises(ImportFormatError) as caught:
        import_file(source, tmp_path / "out")
    assert f"{source}: /prompt_templates:" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_output_path_category_and_description(tmp_path):
    source = write(tmp_path / "company_ceo.json", paper(
        name="Company CEO",
        properties={"relation_type": "Factual", "domain_name": "company", "range_name": "person", "symmetric": True},
    ))
    result = import_file(source, tmp_path / "out")
    assert result.output == tmp_path / "out" / "factual" / "company_ceo.json"
    suite = load_suite(result.output)
    assert (suite.relation, suite.category) == ("Company CEO", "factual")
    assert "company -> person" in suite.description and "company_ceo.json" in suite.description
    assert "symmetric" in suite.description


# Also a device name of Windows: "con.json" opens the console there, and a checkout of the suites fails.
@pytest.mark.parametrize("name", ["Skip", "xfail", "CON", "nul", "Com1", "lpt9"])
def test_a_relation_named_like_a_pytest_mark_gets_a_file_name_that_is_not_one(tmp_path, name):
    result = import_file(write(tmp_path / "in.json", paper(name=name, properties={"relation_type": "factual"})), tmp_path / "out")
    assert result.output.name == f"{name.lower()}_relation.json"
    assert load_suite(result.output).relation == name


@pytest.mark.parametrize("properties", [{"relation_type": "trivia"}, {}])
def test_unknown_or_missing_relation_type_goes_to_other(tmp_path, properties):
    document = paper(properties=properties)
    source = write(tmp_path / "in.json", document)
    result = import_file(source, tmp_path / "out")
    assert result.output == tmp_path / "out" / "other" / "country_capital_city.json"
    assert load_suite(result.output).category == "other"


def test_snake_case():
    assert snake_case("country capital city") == "country_capital_city"
    assert snake_case("  Person (lead) singer-of band ") == "person_lead_singer_of_band"
    assert snake_case("Café Owner") == "cafe_owner"


# --- samples: duplicates, one-to-many, drops --------------------------------------------------

def test_duplicates_dropped_and_one_to_many_merged_into_aliases(tmp_path):
    samples = [
        {"subject": "Queen", "object": "Freddie Mercury"},
        {"subject": "Queen", "object": "Freddie Mercury"},   # exact duplicate
        {"subject": "Queen", "object": "Brian May"},         # second object -> alias
        {"subject": "Oasis", "object": "Liam Gallagher"},
        {"subject": " Queen ", "object": "Brian May "},      # duplicate once stripped
        {"subject": "Queen", "object": "Roger Taylor"},      # third object -> alias
        {"subject": "Queen", "object": "Brian May"},         # duplicate of an alias
    ]
    source = write(tmp_path / "in.json", paper(samples=samples))
    result = import_file(source, tmp_path / "out")
    facts = load_suite(result.output).facts
    assert [(f.subject, f.object, f.aliases) for f in facts] == [
        ("Queen", "Freddie Mercury", ("Brian May", "Roger Taylor")),
        ("Oasis", "Liam Gallagher", ()),
    ]
    assert (result.samples_in, result.facts_out, result.duplicates, result.merged, result.dropped) == (7, 2, 3, 2, 0)


def test_a_subject_or_object_with_decomposed_accents_is_the_one_already_seen(tmp_path):
    samples = [
        {"subject": "Z\u00fcrich", "object": "Switzerland"},
        {"subject": "Zu\u0308rich", "object": "Suisse"},                # the same subject -> alias
        {"subject": "Zu\u0308rich", "object": "Switzerland"},           # duplicate
        {"subject": "Z\u00fcrich", "object": "Suisse\u0301"},            # another object: an alias
        {"subject": "Gen\u00e8ve", "object": "Sui\u0300sse"},
        {"subject": "Gene\u0300ve", "object": "Sui\u0300sse"},          # duplicate in NFC
    ]
    result = import_file(write(tmp_path / "in.json", paper(samples=samples)), tmp_path / "out")
    facts = load_suite(result.output).facts
    assert [(f.subject, f.object, f.aliases) for f in facts] == [
        ("Z\u00fcrich", "Switzerland", ("Suisse", "Suisse\u0301")), ("Gen\u00e8ve", "Sui\u0300sse", ())]
    assert (result.samples_in, result.facts_out, result.duplicates, result.merged, result.dropped) == (6, 2, 2, 2, 0)


def test_unusable_samples_are_dropped_and_counted(tmp_path):
    samples = [
        {"subject": "Peru", "object": "Lima"},
        {"subject": "", "object": "Nowhere"},
        {"subject": "Chile", "object": "   "},
        {"subject": "Bell\x07", "object": "Ring"},       # raw control character
        {"subject": "Null", "object": "a\\u0000b"},      # control character once decoded
        {"subject": "Tab", "object": "a\tb"},
        {"subject": "Half", "object": "x\\ud800"},       # unpaired surrogate escape
    ]
    source = write(tmp_path / "in.json", paper(samples=samples))
    result = import_file(source, tmp_path / "out")
    assert [f.subject for f in load_suite(result.output).facts] == ["Peru"]
    assert (result.samples_in, result.facts_out, result.dropped) == (7, 1, 6)


def test_all_samples_unusable_is_an_error(tmp_path):
    source = write(tmp_path / "in.json", paper(samples=[{"subject": " ", "object": "x"}]))
    with pytest.raises(ImportFormatError, match="/samples: no usable samples"):
        import_file(source, tmp_path / "out")


# --- malformed input ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "pointer", "words"),
    [
        ('{"name": "x", ', "/", "invalid JSON"),
        ("[1, 2]", "/", "expected a JSON object"),
        (json.dumps({k: v for k, v in paper().items() if k != "samples"}), "/", "'samples'"),
        (json.dumps(paper(samples={"Canada": "Ottawa"})), "/samples", "expected a list"),
        (json.dumps(paper(samples=[{"subject": "Canada", "object": "Ottawa"}, {"subject": 7, "object": "x"}])), "/samples/1/subject", "expected a string"),
        (json.dumps(paper(samples=[{"subject": "Canada"}])), "/samples/0", "'object'"),
        (json.dumps(paper(samples=["Canada"])), "/samples/0", "expected an object"),
        (json.dumps(paper(prompt_templates=[None])), "/prompt_templates/0", "expected a string"),
        (json.dumps(paper(name="")), "/name", "non-empty string"),
        (json.dumps(paper(name="bad \\udc00 name")), "/name", "unpaired surrogate"),
        (json.dumps(paper(properties=["factual"])), "/properties", "expected an object"),
    ],
)
def test_malformed_input_names_file_and_pointer(tmp_path, content, pointer, words):
    source = write(tmp_path / "bad.json", content)
    with pytest.raises(SuiteError) as caught:
        import_file(source, tmp_path / "out")
    message = str(caught.value)
    assert f"{source}: {pointer}:" in message
    assert words in message
    assert not (tmp_path / "out").exists()


def test_suite_is_validated_before_anything_is_written(tmp_path, monkeypatch):
    def reject(document, path):
        raise SuiteError(path, [("/facts", "rejected for the test")])

    monkeypatch.setattr(importer, "parse_suite", reject)
    source = write(tmp_path / "in.json", paper())
    with pytest.raises(SuiteError, match="rejected for the test"):
        import_file(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_conversion_the_suite_check_refuses_is_named_in_the_input_not_the_unwritten_output(tmp_path):
    # "Fra\u200bnce" is France written with a zero-width space: two samples, one subject. The error names the input
    # file and its samples, not the suite that was never written.
    samples = [{"subject": "Germany", "object": "Berlin"}, {"subject": "France", "object": "Paris"},
               {"subject": "Fra\u200bnce", "object": "Paris"}]
    source = write(tmp_path / "in.json", paper(samples=samples))
    with pytest.raises(ImportFormatError) as caught:
        import_file(source, tmp_path / "out")
    assert caught.value.path == str(source)
    assert caught.value.problems[0][0] == "/samples/2/subject" and "already appears at /samples/1 " in caught.value.problems[0][1]
    assert "nothing was written to" in caught.value.problems[0][1] and not (tmp_path / "out").exists()
    # An alias came from a later sample of the same subject: that sample is named.
    samples = [{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}, {"subject": "France", "object": "\u201c\u201d"}]
    with pytest.raises(ImportFormatError) as caught:
        import_file(write(tmp_path / "alias.json", paper(samples=samples)), tmp_path / "out")
    assert caught.value.problems[0][0] == "/samples/2/object"


# --- folders and the CLI -----------------------------------------------------------------------

def test_folder_import_reports_a_bad_file_and_imports_the_rest(tmp_path, capsys):
    src = tmp_path / "src"
    write(src / "factual" / "capitals.json", paper())
    write(src / "linguistic" / "deep" / "antonyms.json", paper(
        name="adjective antonym", properties={"relation_type": "linguistic"},
        prompt_templates=["The opposite of {} is"], samples=[{"subject": "hot", "object": "cold"}],
    ))
    bad = write(src / "factual" / "broken.json", paper(samples="oops"))
    write(src / "README.md", "not json, not imported")
    out = tmp_path / "out"

    assert main(["import", str(src), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: /samples:" in captured.err
    assert "imported 2 file(s), 3 facts" in captured.out
    assert load_suite(out / "factual" / "country_capital_city.json").relation == "country capital city"
    assert load_suite(out / "linguistic" / "adjective_antonym.json").facts[0].object == "cold"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "factual/country_capital_city.json", "linguistic/adjective_antonym.json",
    ]
    # The description names the file relative to the folder given.
    assert "factual/capitals.json" in load_suite(out / "factual" / "country_capital_city.json").description


def test_cli_succeeds_with_exit_code_zero_and_prints_counts(tmp_path, capsys):
    source = write(tmp_path / "in.json", paper(samples=[
        {"subject": "Canada", "object": "Ottawa"}, {"subject": "Canada", "object": "Ottawa"}, {"subject": "", "object": "x"},
    ]))
    assert main(["import", str(source), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "3 samples in, 1 facts out, 1 duplicates dropped, 0 merged into aliases, 1 dropped" in out


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    source = write(tmp_path / "in.json", paper())
    out = tmp_path / "out"
    target = out / "factual" / "country_capital_city.json"
    assert main(["import", str(source), "--out", str(out)]) == 0
    first = target.read_text(encoding="utf-8")

    write(source, paper(samples=[{"subject": "Canada", "object": "Toronto"}]))
    capsys.readouterr()
    assert main(["import", str(source), "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == first

    assert main(["import", str(source), "--out", str(out), "--force"]) == 0
    assert [f.object for f in load_suite(target).facts] == ["Toronto"]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary files left


def test_two_inputs_with_one_relation_name_do_not_overwrite_each_other(tmp_path):
    first = write(tmp_path / "a.json", paper())
    second = write(tmp_path / "b.json", paper(samples=[{"subject": "Chile", "object": "Santiago"}]))
    report = import_paths([first, second], tmp_path / "out", force=True)
    assert [r.source for r in report.results] == [first]
    assert len(report.failures) == 1 and report.failures[0][0] == second
    assert "both give" in report.failures[0][1]
    assert [f.subject for f in load_suite(tmp_path / "out" / "factual" / "country_capital_city.json").facts] == ["Canada", "Peru"]


def test_output_folder_inside_source_folder_is_not_reimported(tmp_path):
    src = tmp_path / "src"
    write(src / "capitals.json", paper())
    out = src / "suites"
    assert main(["import", str(src), "--out", str(out)]) == 0
    assert main(["import", str(src), "--out", str(out), "--force"]) == 0  # suites under out/ are skipped


def test_an_input_that_is_its_own_output_is_never_replaced_even_with_force(tmp_path):
    source = write(tmp_path / "factual" / "country_capital_city.json", paper())
    before = source.read_bytes()
    report = import_paths([source], tmp_path, force=True)
    assert not report.results and "is the file being imported" in report.failures[0][1]
    assert source.read_bytes() == before


def test_an_output_that_is_another_input_of_the_same_import_is_never_replaced(tmp_path):
    # cc.json becomes factual/country_capital_city.json under --out, which is the next input (another relation).
    first = write(tmp_path / "paper" / "cc.json", paper())
    second = write(tmp_path / "paper" / "factual" / "country_capital_city.json", paper(name="country language"))
    before = second.read_bytes()
    report = import_paths([first, second], tmp_path / "paper", force=True)
    assert second.read_bytes() == before
    assert any("is another file this import reads" in message for _, message in report.failures), report.failures
    # The folder itself as the input: its files lie inside --out, and the message says so.
    report = import_paths([tmp_path / "paper"], tmp_path, force=True)
    assert second.read_bytes() == before
    nothing = import_paths([tmp_path / "paper"], tmp_path / "paper")
    assert not nothing.results and "passed over: they lie inside --out" in nothing.failures[0][1]


def test_a_link_loop_in_an_imported_folder_is_a_failure_naming_it_and_the_rest_imports(tmp_path):
    src = tmp_path / "src"
    write(src / "capitals.json", paper())
    (src / "loop.json").symlink_to("loop.json")
    report = import_paths([src], tmp_path / "out")
    assert [r.source.name for r in report.results] == ["capitals.json"]
    assert len(report.failures) == 1 and "loop.json" in report.failures[0][1]


def test_folder_links_in_an_imported_folder_are_followed_and_one_that_loops_is_named(tmp_path):
    # Path.rglob does not enter folder links: a linked folder of relations was left out without a word.
    write(tmp_path / "real" / "factual" / "capitals.json", paper())
    src = tmp_path / "src"
    src.mkdir()
    (src / "linked").symlink_to(tmp_path / "real")
    (src / "loop").symlink_to(".")
    report = import_paths([src], tmp_path / "out")
    assert [r.source.relative_to(src).as_posix() for r in report.results] == ["linked/factual/capitals.json"]
    assert len(report.failures) == 1 and "loop: a folder link that leads back to a folder already read" in report.failures[0][1]


def test_cli_missing_source_and_missing_out(tmp_path, capsys):
    assert main(["import", str(tmp_path / "absent.json"), "--out", str(tmp_path / "out")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["import", str(tmp_path), "--out", str(tmp_path / "out")]) == 1  # a folder with no .json
    assert "no .json files found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["import", str(tmp_path)])
    assert caught.value.code == 2


# --- the real dataset -------------------------------------------------------------------------

def test_import_whole_lre_dataset(tmp_path):
    if not LRE_DATA.is_dir():
        pytest.skip(f"LRE dataset not found at {LRE_DATA}")
    sources = sorted(LRE_DATA.rglob("*.json"))
    out = tmp_path / "suites"
    report = import_paths([LRE_DATA], out)
    assert report.failures == []
    assert len(report.results) == len(sources) == 47

    # The README documents 11,089 samples before deduplication; every one is accounted for.
    assert sum(r.samples_in for r in report.results) == 11089
    for r in report.results:
        assert r.samples_in == r.facts_out + r.duplicates + r.merged + r.dropped

    by_source = {r.source: r for r in report.results}
    facts_per_category: dict[str, int] = {}
    for source in sources:
        raw = json.loads(source.read_text(encoding="utf-8"))
        result = by_source[source]
        suite = load_suite(result.output)
        # Independent count: one fact per distinct stripped subject; one answer per distinct stripped pair.
        subjects = {s["subject"].strip() for s in raw["samples"]}
        pairs = {(s["subject"].strip(), s["object"].strip()) for s in raw["samples"]}
        assert len(suite.facts) == len(subjects), source.name
        assert sum(len(f.answers) for f in suite.facts) == len(pairs), source.name
        assert suite.category == source.parent.name  # the dataset's folders are its categories
        assert result.output.parent == out / suite.category
        for fact in suite.facts:
            assert "\\" not in fact.subject and all("\\" not in a for a in fact.answers)
        facts_per_category[suite.category] = facts_per_category.get(suite.category, 0) + len(suite.facts)

    assert set(facts_per_category) == {"factual", "linguistic", "commonsense", "bias"}
    assert sum(facts_per_category.values()) == sum(r.facts_out for r in report.results)
    capitals = load_suite(out / "factual" / "country_capital_city.json")
    assert {"Brasília", "Bogotá"} <= set(capitals.objects)
    assert capitals.templates[0] == "The capital city of {subject} is"


def test_a_full_disk_is_named_with_the_output_folder_and_the_fix(tmp_path, capsys, monkeypatch):
    import errno

    import factcheck.suites.importer as importer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importer, "write_json_atomic", full)
    source = write(tmp_path / "in.json", paper())
    assert main(["import", str(source), "--out", str(tmp_path / "out")]) == 1
    assert (f"in.json: cannot be imported into {tmp_path / 'out'}: no space left on its device; free space there, or give "
            "another --out") in capsys.readouterr().err


def test_a_file_or_folder_in_the_way_of_the_output_is_named_with_the_fix(tmp_path, capsys):
    source = write(tmp_path / "in.json", paper())
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "factual").write_text("a file where the category folder goes")
    assert main(["import", str(source), "--out", str(tmp_path / "a")]) == 1
    assert f"{tmp_path / 'a' / 'factual'} is a file where a folder goes; remove it, or give another --out" in capsys.readouterr().err
    (tmp_path / "c").write_text("a file where --out goes")
    assert main(["import", str(source), "--out", str(tmp_path / "c")]) == 1
    assert f"{tmp_path / 'c'} is a file where a folder goes" in capsys.readouterr().err
    (tmp_path / "b" / "factual" / "country_capital_city.json").mkdir(parents=True)
    assert main(["import", str(source), "--out", str(tmp_path / "b"), "--force"]) == 1
    err = capsys.readouterr().err
    assert "country_capital_city.json is a folder where the suite file goes; remove it, or give another --out" in err
    assert ".tmp" not in err
