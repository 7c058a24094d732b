"""Import relation files in the LRE paper's format into factcheck suites.

The paper's files ("Linearity of Relation Decoding in Transformer Language
Models", Hernandez et al.) hold one relation each::

    {"name": "country capital city",
     "prompt_templates": ["The capital city of {} is", ...],
     "prompt_templates_zs": [...],
     "properties": {"relation_type": "factual", "domain_name": "country",
                    "range_name": "city", "symmetric": false},
     "samples": [{"subject": "Canada", "object": "Ottawa"}, ...]}

Conversion rules (each one chosen so the output passes `parse_suite`):

- `relation` is `name`; `category` is `properties.relation_type` when it is one
  of the suite categories, else "other"; `description` names the domain, the
  range and the source file.
- `templates` are `prompt_templates` read as the paper's code fills them
  (Python's `str.format` with the subject): `{}` (or `{0}`) becomes `{subject}`
  and `{{`/`}}` become `{`/`}`. A template without exactly one such slot (or
  with another field, `{x}`, or already holding `{subject}`) is skipped and
  counted; if none is left the file is rejected. The zero-shot templates
  (`prompt_templates_zs`) are not kept: the suite format has no field for them.
- Strings are decoded from double-escaped unicode: a literal `\\u00ed` (with its
  backslash) becomes `í`, and an escaped surrogate pair becomes one character.
  Only `\\uXXXX` is decoded; any other backslash is left as written.
- Subjects and objects are stripped of surrounding whitespace. A sample whose
  subject or object is then empty, holds a control character or a line break,
  holds an unpaired surrogate escape, or has no visible character (only format
  characters such as U+200B or combining marks) is dropped and counted.
- Output file names are the snake-cased relation name: only `a-z`, `0-9` and
  `_`, so a name like `../../x` or `/etc/passwd` cannot leave OUT; a name
  that gives an empty or overlong (over 120 characters) file name is rejected.
- An exact repeat of a (subject, object) pair is dropped and counted.
- One-to-many relations are merged, because a suite allows each subject once:
  the first object seen for a subject becomes the fact's `object`, and every
  further distinct object for that subject becomes one of its `aliases`, in the
  order seen. The checker counts any alias as a right answer, which is the
  meaning of "the subject has several objects".

So for every file: samples in = facts out + duplicates + merged + dropped.

Each output is validated with `parse_suite` and written atomically to
`OUT/<category>/<snake_cased_name>.json`; an existing file is only replaced
when `force` is set. Importing many files goes on past a bad one and reports it.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from factcheck.cache import write_json_atomic
from factcheck.suites.folders import json_files_below
from factcheck.suites.suite import PLACEHOLDER, SuiteError, _answer_text_problem, parse_suite, read_json_document
from factcheck.types import RESERVED_MARKS

CATEGORIES = ("factual", "linguistic", "commonsense", "bias")
# Output file names are `<snake_case(name)>.json`; most file systems allow 255 bytes per name.
MAX_FILE_STEM = 120

# A high+low surrogate pair first (it stands for one character), then any single escape.
_UNICODE_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})"
)
# C0 controls (tab and newline included: they would break a one-line prompt), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ImportFormatError(SuiteError):
    """An input file that is not a usable paper-format relation; names the file and the JSON pointer."""


@dataclass
class ImportResult:
    """What importing one file did."""

    source: Path
    output: Path
    relation: str
    category: str
    samples_in: int = 0
    facts_out: int = 0
    duplicates: int = 0
    merged: int = 0
    dropped: int = 0
    templates_skipped: int = 0
    fact_samples: list[int] = field(default_factory=list)  # each fact's first sample, by index in the input
    alias_samples: list[list[int]] = field(default_factory=list)  # each fact's aliases' samples, in order

    def summary(self) -> str:
        line = (
            f"{self.source} -> {self.output}: {self.samples_in} samples in, {self.facts_out} facts out, "
            f"{self.duplicates} duplicates dropped, {self.merged} merged into aliases, {self.dropped} dropped"
        )
        if self.templates_skipped:
            line += f", {self.templates_skipped} templates skipped"
        return line


@dataclass
class ImportReport:
    """Results of an import run: the files written and the files that failed (path, message)."""

    results: list[ImportResult] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def decode_escapes(text: str) -> str:
    """Turn literal `\\uXXXX` sequences into the characters they name; ValueError on an unpaired surrogate."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            high, low = int(match.group(1), 16), int(match.group(2), 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        code = int(match.group(3), 16)
        if 0xD800 <= code <= 0xDFFF:
            # A lone surrogate cannot be written as UTF-8, so the string is unusable.
            raise ValueError(f"unpaired surrogate escape \\u{match.group(3)}")
        return chr(code)

    return _UNICODE_ESCAPE.sub(replace, text)


def snake_case(name: str) -> str:
    """File-name form of a relation name: ASCII, lower case, words joined by '_'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


_WINDOWS_DEVICE_NAMES = frozenset(["CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))])


def _type_problems(document: Any) -> list[tuple[str, str]]:
    """Structural checks of a paper-format document, as (pointer, message) pairs."""
    if not isinstance(document, dict):
        return [("", f"expected a JSON object, got {type(document).__name__}")]
    problems: list[tuple[str, str]] = []
    for key in ("name", "prompt_templates", "samples"):
        if key not in document:
            problems.append(("", f"missing required field: {key!r}"))
    name = document.get("name")
    if "name" in document and (not isinstance(name, str) or not name.strip()):
        problems.append(("/name", f"expected a non-empty string, got {name!r}"[:120]))
    templates = document.get("prompt_templates")
    if "prompt_templates" in document:
        if not isinstance(templates, list):
            problems.append(("/prompt_templates", f"expected a list of strings, got {type(templates).__name__}"))
        else:
            for index, template in enumerate(templates):
                if not isinstance(template, str):
                    problems.append((f"/prompt_templates/{index}", f"expected a string, got {type(template).__name__}"))
    properties = document.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(("/properties", f"expected an object, got {type(properties).__name__}"))
    else:
        for key in ("relation_type", "domain_name", "range_name"):
            if key in properties and not isinstance(properties[key], str):
                problems.append((f"/properties/{key}", f"expected a string, got {type(properties[key]).__name__}"))
    samples = document.get("samples")
    if "samples" in document:
        if not isinstance(samples, list):
            problems.append(("/samples", f"expected a list of {{subject, object}} objects, got {type(samples).__name__}"))
        else:
            for index, sample in enumerate(samples):
                if not isinstance(sample, dict):
                    problems.append((f"/samples/{index}", f"expected an object, got {type(sample).__name__}"))
                    continue
                for key in ("subject", "object"):
                    if key not in sample:
                        problems.append((f"/samples/{index}", f"missing required field: {key!r}"))
                    elif not isinstance(sample[key], str):
                        problems.append((f"/samples/{index}/{key}", f"expected a string, got {type(sample[key]).__name__}"))
    return problems[:20]


def _clean(text: str) -> str | None:
    """Decoded, stripped text, or None when it cannot be used as a subject or object."""
    try:
        text = decode_escapes(text).strip()
    except ValueError:
        return None
    if not text or _CONTROL.search(text) or _answer_text_problem(text):
        # The last: a line break or nothing visible (e.g. only U+200B), which the suite loader refuses.
        return None
    return text


def convert_document(document: Any, source: str | Path, source_label: str | None = None) -> tuple[dict[str, Any], ImportResult]:
    """Convert a parsed paper-format document into a suite document (not yet validated or written).

    `source` names the file in errors; `source_label` is how the description refers to it.
    The returned result's `output` is the path relative to the output folder.
    """
    source = Path(source)
    problems = _type_problems(document)
    if problems:
        raise ImportFormatError(source, problems)

    try:
        relation = " ".join(decode_escapes(document["name"]).split())
    except ValueError as error:
        raise ImportFormatError(source, [("/name", str(error))]) from None
    if _CONTROL.search(relation):
        # Refused here, naming the input, rather than by parse_suite naming an output that was never written.
        raise ImportFormatError(source, [("/name", f"name {relation!r} contains control characters")])
    file_stem = snake_case(relation)
    # The file name becomes the relation's pytest mark: never one that skips or xfails; nor a device name of Windows
    # ("con.json" opens the console there, and a checkout on Windows fails).
    if file_stem in RESERVED_MARKS or file_stem.upper() in _WINDOWS_DEVICE_NAMES:
        file_stem += "_relation"
    if not file_stem:
        raise ImportFormatError(source, [("/name", f"name {document['name']!r} gives an empty file name")])
    if len(file_stem) > MAX_FILE_STEM:
        raise ImportFormatError(source, [("/name", f"name gives a file name of {len(file_stem)} characters; at most {MAX_FILE_STEM} are allowed")])
    properties = document.get("properties", {})
    relation_type = properties.get("relation_type", "").strip().lower()
    category = relation_type if relation_type in CATEGORIES else "other"

    templates: list[str] = []
    skipped = 0
    for raw in document["prompt_templates"]:
        try:
            template = decode_escapes(raw).strip()
        except ValueError:
            template = ""
        converted = _as_the_paper_fills_it(template)
        if converted is None or _CONTROL.search(converted) or converted in templates:
            skipped += 1
            continue
        templates.append(converted)
    if not templates:
        raise ImportFormatError(source, [("/prompt_templates", "no template holds the '{}' placeholder exactly once (and no other field)")])

    result = ImportResult(
        source=source,
        output=Path(category) / f"{file_stem}.json",
        relation=relation,
        category=category,
        samples_in=len(document["samples"]),
        templates_skipped=skipped,
    )
    # Subjects and objects compare in NFC: "Zürich" with a composed or a decomposed accent is one subject (a suite
    # refuses it twice); the first spelling seen is kept.
    facts: dict[str, dict[str, Any]] = {}  # NFC subject -> fact, in first-seen order
    fact_number: dict[str, int] = {}  # NFC subject -> its fact's place in `facts`
    for sample_index, sample in enumerate(document["samples"]):
        subject, obj = _clean(sample["subject"]), _clean(sample["object"])
        if subject is None or obj is None:
            result.dropped += 1
            continue
        key = unicodedata.normalize("NFC", subject)
        fact = facts.get(key)
        if fact is None:
            fact_number[key] = len(facts)
            facts[key] = {"subject": subject, "object": obj}
            result.fact_samples.append(sample_index)
            result.alias_samples.append([])
        elif unicodedata.normalize("NFC", obj) in {unicodedata.normalize("NFC", known) for known in (fact["object"], *fact.get("aliases", ()))}:
            result.duplicates += 1
        else:
            fact.setdefault("aliases", []).append(obj)
            result.alias_samples[fact_number[key]].append(sample_index)
            result.merged += 1
    if not facts:
        raise ImportFormatError(source, [("/samples", f"no usable samples ({result.dropped} dropped as empty or malformed)")])
    result.facts_out = len(facts)

    domain = _clean(properties.get("domain_name", "")) or "?"  # free text: unusable -> "?"
    range_ = _clean(properties.get("range_name", "")) or "?"
    description = f"{domain} -> {range_}"
    if properties.get("symmetric") is True:
        description += " (symmetric)"
    description += f". Imported from {source_label or source.name} (LRE paper format)."
    suite = {
        "relation": relation,
        "category": category,
        "description": description,
        "templates": templates,
        "facts": list(facts.values()),
    }
    return suite, result


def _input_pointer(suite_pointer: str, result: ImportResult) -> str:
    """Where a problem of the converted suite lies in the input: a fact's subject or object at its first sample, an
    alias at the sample it came from (as that sample's object), a template's among the prompt templates."""
    parts = suite_pointer.split("/")
    if len(parts) >= 3 and parts[1] == "facts" and parts[2].isdigit() and int(parts[2]) < len(result.fact_samples):
        fact = int(parts[2])
        if len(parts) >= 5 and parts[3] == "aliases" and parts[4].isdigit() and int(parts[4]) < len(result.alias_samples[fact]):
            return f"/samples/{result.alias_samples[fact][int(parts[4])]}/object"
        field_name = f"/{parts[3]}" if len(parts) >= 4 and parts[3] in ("subject", "object") else ""
        return f"/samples/{result.fact_samples[fact]}{field_name}"
    if len(parts) >= 2 and parts[1] == "templates":
        return "/prompt_templates"
    return suite_pointer


def _as_the_paper_fills_it(template: str) -> str | None:
    """The paper's template as a suite's: Python's str.format reads it there, so `{}` or `{0}` is the subject's slot and
    `{{` a brace ("The {{y}} of {} is" asks "The {y} of France is"). None where it has no slot, more than one, another
    field (`{x}`, which the paper's code could not fill), or a `{subject}` that would make a second slot."""
    import string

    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:  # a brace that opens or closes nothing
        return None
    fields = [(name, spec, conversion) for _, name, spec, conversion in parts if name is not None]
    if fields != [("", "", None)] and fields != [("0", "", None)]:
        return None
    converted = "".join(literal + (PLACEHOLDER if name is not None else "") for literal, name, _, _ in parts)
    return converted if converted.count(PLACEHOLDER) == 1 else None


def _import_one(source: Path, label: str, out_dir: Path, force: bool, claimed: dict[Path, Path],
                inputs: frozenset[Path] = frozenset()) -> ImportResult:
    document = read_json_document(source)  # strict: UTF-8, no duplicate keys, size-capped; SuiteError otherwise
    suite, result = convert_document(document, source, label)
    output = out_dir / result.output
    if output in claimed:
        raise FileExistsError(f"{source} and {claimed[output]} both give {output}; rename one of the relations")
    # Validate before touching the disk, so a bad conversion leaves nothing behind; a problem is named in the input.
    try:
        parse_suite(suite, output)
    except SuiteError as error:
        in_input = [(_input_pointer(pointer, result), re.sub(r"/facts/\d+(?:/\w+)*", lambda m: _input_pointer(m.group(), result), message))
                    for pointer, message in error.problems]
        raise ImportFormatError(source, [(pointer, f"{message} (nothing was written to {output})") for pointer, message in in_input]) from None
    if output.exists() and _resolved(output) == _resolved(source):
        raise FileExistsError(f"{output} is the file being imported, even with --force it is not replaced by its "
                              "suite: give --out another folder")
    if output.exists() and _resolved(output) in inputs:
        raise FileExistsError(f"{output} is another file this import reads, even with --force it is not replaced by "
                              f"the suite of {source}: give --out another folder")
    if output.exists() and not force:
        raise FileExistsError(f"{output} already exists (from {source}); use --force to replace it")
    write_json_atomic(output, suite)
    claimed[output] = source
    result.output = output
    return result


def import_file(source: str | Path, out_dir: str | Path, *, force: bool = False, source_label: str | None = None) -> ImportResult:
    """Convert one file and write it under `out_dir`; raises SuiteError (ImportFormatError) or OSError."""
    source = Path(source)
    return _import_one(source, source_label or source.name, Path(out_dir), force, {})


def _inputs(src: Path, out_dir: Path) -> tuple[list[tuple[Path, str]], int, list[Path]]:
    """(file, label) pairs to import from one SRC: a file as given, a folder searched recursively for *.json, its
    folder links followed; how many files were passed over as they lie inside OUT; and the folder links that loop."""
    if not src.is_dir():
        return [(src, src.name)], 0, []
    out_resolved = _resolved(out_dir)
    found, inside_out = [], 0
    files, loops = json_files_below(src)
    for path in files:
        # Skip our own earlier output when OUT lies inside SRC: those are suites, not paper files. A link that loops
        # (or leads nowhere) is kept: reading it fails with a message naming it.
        target = _resolved(path)
        if target is not None and out_resolved is not None and target.is_relative_to(out_resolved):
            inside_out += 1
            continue
        found.append((path, path.relative_to(src).as_posix()))
    return found, inside_out, loops


def _resolved(path: Path) -> Path | None:
    """`path` with its links followed; None for a link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return None


def import_paths(sources: Iterable[str | Path], out_dir: str | Path, *, force: bool = False) -> ImportReport:
    """Import every file named or found under `sources`; a failing file is recorded and the rest go on."""
    out_dir = Path(out_dir)
    report = ImportReport()
    claimed: dict[Path, Path] = {}  # output -> source, so two inputs never silently share one output
    found: list[tuple[Path, str]] = []
    for src in map(Path, sources):
        if not src.exists():
            report.failures.append((src, f"{src}: no such file or folder"))
            continue
        inputs, inside_out, loops = _inputs(src, out_dir)
        report.failures += [(loop, f"{loop}: a folder link that leads back to a folder already read (a loop): not entered")
                            for loop in loops]
        if not inputs:
            passed_over = f" ({inside_out} passed over: they lie inside --out {out_dir}, where suites are written)" if inside_out else ""
            report.failures.append((src, f"{src}: no .json files found{passed_over}"))
        found += inputs
    # Every input is known before anything is written: no output may replace a file this import has yet to read.
    every_input = frozenset(filter(None, (_resolved(path) for path, _ in found)))
    for path, label in found:
        try:
            report.results.append(_import_one(path, label, out_dir, force, claimed, every_input))
        except (SuiteError, FileExistsError) as error:
            if isinstance(error, OSError) and error.errno is not None:  # the file system's, not one of this module's
                report.failures.append((path, _output_problem(path, out_dir, error)))
            else:  # messages already name the file (and pointer)
                report.failures.append((path, str(error)))
        except OSError as error:
            report.failures.append((path, _output_problem(path, out_dir, error)))
    return report


def _output_problem(source: Path, out_dir: Path, error: OSError) -> str:
    """What kept `source` from being written into `out_dir`, and the fix."""
    where = f"{source}: cannot be imported into {out_dir}:"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where} no space left on its device; free space there, or give another --out"
    if error.errno in (errno.EEXIST, errno.ENOTDIR) and error.filename:
        blocking = Path(error.filename)
        while not blocking.exists() and blocking != blocking.parent:  # the file in the way may be a folder above
            blocking = blocking.parent
        return f"{where} {blocking} is a file where a folder goes; remove it, or give another --out"
    if error.errno == errno.EISDIR:
        return f"{where} {error.filename2 or error.filename} is a folder where the suite file goes; remove it, or give another --out"
    return f"{source}: {error}"
