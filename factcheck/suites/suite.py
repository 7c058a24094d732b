"""Fact suites: JSON files validated against the shipped schema and turned into typed objects.

Every rejection is a `SuiteError` that names the file, the JSON pointer of the
bad value and what was expected, so a user can fix it without reading code.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import json
import math
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any

import jsonschema

from factcheck.cache import file_kind
from factcheck.errors import JsonFileError
from factcheck.answer_text import LEADING_NOISE, answer_key, normalise, without_invisible

PLACEHOLDER = "{subject}"
MAX_SUITE_BYTES = 20 * 1024 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")  # C0, DEL and C1 (U+0085 ends a line)
_SURROGATES = re.compile("[\ud800-\udfff]")
# Characters str.splitlines() breaks at that _CONTROL_CHARS lets through (tab is not one of them).
_LINE_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")
# Far deeper than any suite (5 levels) or baseline (4 levels) needs, far shallower than Python's recursion limit.
MAX_JSON_DEPTH = 20
MAX_INTEGER_DIGITS = 4300  # Python's own limit; below it the schema names the field (a count or a setting has a few)
# Parsed, a JSON object takes some 300 bytes and a value in an array 8 or more: a 10 MB file of "{}," took 1.1 GB. The
# counts of their marks in the bytes (an upper bound) are capped far past real files' (a report of 724 facts holds
# 12,043 objects and arrays and 39,760 commas), so that no file under the size cap can take gigabytes.
MAX_JSON_CONTAINERS = 2_000_000
MAX_JSON_VALUES = 10_000_000
# Byte order marks of encodings that are not UTF-8, longest first (UTF-32-LE starts like UTF-16-LE).
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class SuiteError(JsonFileError):
    """A suite file that cannot be used; lists each problem as (pointer, message)."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]], fix: str = ""):
        super().__init__(path, problems, fix)


@dataclass(frozen=True)
class Fact:
    subject: str
    object: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def answers(self) -> tuple[str, ...]:
        """Every string that counts as a right answer: the object, then its aliases."""
        return (self.object, *self.aliases)


@dataclass(frozen=True)
class LreSettings:
    layer: int | str | None = None
    beta: float | None = None
    rank: int | None = None
    n_train: int | None = None


@dataclass(frozen=True)
class DistractorSettings:
    statement: str  # holds {subject} and {wrong}
    repeat: int = 1


@dataclass(frozen=True)
class SuiteSettings:
    shots: int | None = None
    max_new_tokens: int | None = None
    say_check: str | None = None
    templates: str | None = None  # all, any or first: see factcheck.types.TEMPLATE_MODES
    prompt: str | None = None  # text or chat: see factcheck.types.PROMPT_STYLES
    system: str | None = None  # a chat prompt's system message
    min_accuracy: float | None = None
    markers: tuple[str, ...] = ()
    lre: LreSettings = field(default_factory=LreSettings)
    distractor: DistractorSettings | None = None


@dataclass(frozen=True)
class Suite:
    path: Path
    relation: str
    templates: tuple[str, ...]
    facts: tuple[Fact, ...]
    settings: SuiteSettings
    category: str | None
    content_hash: str
    description: str = ""
    # The project's root folder, where the plugin collected the suite: the id is read from the path below it, so that
    # a folder named `suites` above the project (a checkout under ~/suites/) never enters it.
    key_root: Path | None = None

    @property
    def relation_id(self) -> str:
        """The relation's identifier in reports, baselines and summaries: its path (see suite_key), below `key_root`
        where the suite lies under it."""
        if self.key_root is not None:
            below = os.path.relpath(os.path.abspath(self.path), os.path.abspath(self.key_root))
            if not below.startswith(".."):
                return suite_key(below)
        return suite_key(self.path)

    @property
    def name(self) -> str:
        """The file name without extension: test ids (`name[subject]`) and the relation's marker."""
        return self.path.name.removesuffix(".json")

    @property
    def objects(self) -> tuple[str, ...]:
        """The relation's distinct objects, in first-seen order (the ranking candidates)."""
        return tuple(dict.fromkeys(fact.object for fact in self.facts))

    def render(self, subject: str, template_index: int = 0) -> str:
        return render(self.templates[template_index], subject)

    def phrased(self, template_index: int, prompt: str | None = None) -> Suite:
        """The suite asked under its template `template_index` (and as `prompt`, text or chat, when given): that
        template comes first (where the say-check and the LRE read it), the others follow; path, facts and content
        hash stay the suite's."""
        chosen = self.templates[template_index]
        settings = self.settings if prompt is None else replace(self.settings, prompt=prompt)
        return replace(self, templates=(chosen, *(t for t in self.templates if t != chosen)), settings=settings)

    @property
    def phrasing(self):
        """How this suite's facts are asked: its first template, as text or chat (a factcheck.suites.prompts.Phrasing)."""
        from factcheck.suites.prompts import Phrasing  # prompts imports this module

        return Phrasing(self.templates[0], chat=self.settings.prompt == "chat", system=self.settings.system)


SUITES_FOLDER = "suites"


def suite_key(path: PurePath | str) -> str:
    """A suite file's identifier: its path below the innermost folder named `suites`, with forward slashes
    and without '.json' ('geography/country_capital'), so that two files of the same name in different
    folders are two relations; the file name alone for a file in no `suites` folder."""
    parts = PurePath(path).parts
    below = [i for i, part in enumerate(parts[:-1]) if part == SUITES_FOLDER]
    tail = parts[below[-1] + 1 :] if below else parts[-1:]
    return "/".join(tail).removesuffix(".json")


def render(template: str, subject: str) -> str:
    # str.replace, not str.format: templates may hold other braces.
    return template.replace(PLACEHOLDER, subject)


@lru_cache(maxsize=None)
def suite_schema() -> dict[str, Any]:
    text = resources.files("factcheck.schemas").joinpath("suite.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def json_pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def link_leading_nowhere(path: Path) -> Path | None:
    """The link on the way to `path` (itself or a folder above it) that leads nowhere for now: git-annex or DVC content
    not fetched, a share not mounted; None for none. OSError where the file system cannot tell."""
    return next((step for step in (path, *path.parents) if step.is_symlink() and not step.exists()), None)


def _a_link_leading_nowhere(path: Path) -> str:
    """What to add where a file cannot be found because a link on its way leads nowhere."""
    try:
        link = link_leading_nowhere(path)
    except OSError:
        return ""
    if link is None:
        return ""
    return (f" ({link} is a link to {os.readlink(link)}, which is not there: fetch its content (`git annex get`, "
            "`dvc pull`) or mount its share, or remove the link)")


GIT_LFS_POINTERS = ("version https://git-lfs.github.com/spec/", "version https://hawser.github.com/spec/")  # today's, and git-lfs's first
LFS_POINTER_PROBLEM = ("the file is a Git LFS pointer, not its content: this checkout did not fetch its Git LFS objects; run "
                       "`git lfs pull` (in CI, check out with LFS: `lfs: true`), then run again")


def read_json_document(path: Path, max_bytes: int | None = None) -> Any:
    """Parse a JSON file strictly (UTF-8, no duplicate keys, no NaN), raising SuiteError on any problem.

    `max_bytes` defaults to the module's MAX_SUITE_BYTES, read at call time.
    Nesting deeper than MAX_JSON_DEPTH is refused, so that no later step
    (schema validation, error messages) can hit Python's recursion limit.
    """
    if max_bytes is None:
        max_bytes = MAX_SUITE_BYTES
    too_big = f"factcheck reads JSON files of at most {max_bytes:,} bytes here (a suite can be split into several files)"
    try:
        status = path.stat()  # follows links: a link to /dev/zero is the device
    except OSError as error:
        raise SuiteError(path, [("", f"cannot read the file: {error.strerror or error}{_a_link_leading_nowhere(path)}")]) from None
    if not stat.S_ISREG(status.st_mode):
        # A FIFO would block forever and a device (/dev/zero) never ends: only regular files are read.
        raise SuiteError(path, [("", f"not a regular file (it is {file_kind(status.st_mode)}); give the path of a JSON file")])
    if status.st_size > max_bytes:
        raise SuiteError(path, [("", f"file is {status.st_size:,} bytes; {too_big}")])
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)  # the cap holds even for a file that grows while it is read
    except OSError as error:
        raise SuiteError(path, [("", f"cannot read the file: {error.strerror or error}")]) from None
    if len(raw) > max_bytes:
        raise SuiteError(path, [("", f"file is over {max_bytes:,} bytes; {too_big}")])
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_JSON_CONTAINERS or containers + raw.count(b",") > MAX_JSON_VALUES:
        raise SuiteError(path, [("", f"the file holds some {containers:,} objects and arrays and {raw.count(b','):,} commas, far "
                                     "more than any factcheck file needs (reading it would take gigabytes of memory); it is "
                                     "damaged, or was made so: restore it (a large suite can be split into several files)")])
    text = _decode_utf8(path, raw)
    if not text.strip():
        raise SuiteError(path, [("", "invalid JSON: the file is empty")])
    if text.startswith(GIT_LFS_POINTERS):
        raise SuiteError(path, [("", LFS_POINTER_PROBLEM)])

    def reject_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")

    def finite_float(literal: str) -> float:
        # 1e400 is valid JSON but reads as infinity: a beta or threshold of inf would poison every result after it.
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"the number {literal} is out of range (it reads as infinity); write a finite number")
        return value

    def whole_number(literal: str) -> int:
        # Past 4,300 digits Python's own message advises sys.set_int_max_str_digits(), which no user of a file can set.
        if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise ValueError(f"a whole number of {len(literal.lstrip('-')):,} digits, far past any count or setting factcheck "
                             f"reads (at most {MAX_INTEGER_DIGITS:,} digits); write the number the file should hold")
        return int(literal)

    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=reject_constant,
                              parse_float=finite_float, parse_int=whole_number)
    except _DuplicateKey as error:
        raise SuiteError(path, [("", f"key {error.key!r} appears twice in one object; keep one")]) from None
    except json.JSONDecodeError as error:
        raise SuiteError(path, [("", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}")]) from None
    except RecursionError:
        raise SuiteError(path, [("", f"invalid JSON: nested too deeply to parse (at most {MAX_JSON_DEPTH} levels are allowed)")]) from None
    except ValueError as error:
        raise SuiteError(path, [("", f"invalid JSON: {error}")]) from None
    if problem := _depth_problem(document):
        raise SuiteError(path, [problem])
    return document


def _decode_utf8(path: Path, raw: bytes) -> str:
    """The file's text; a SuiteError that names the likely encoding when it is not UTF-8."""
    for bom, encoding in _FOREIGN_BOMS:
        if raw.startswith(bom):
            raise SuiteError(path, [("", f"not UTF-8 text: the file starts with a {encoding} byte order mark; save the file as UTF-8")])
    if b"\x00" in raw:
        # JSON text never holds a raw NUL byte (in a string it must be escaped as \u0000); UTF-16/32 text is full of them.
        position = raw.index(b"\x00")
        raise SuiteError(path, [("", f"not UTF-8 text (byte {position} is NUL; UTF-16 or UTF-32 without a byte order mark?); save the file as UTF-8")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SuiteError(path, [("", f"not UTF-8 text (byte {error.start}: {raw[error.start:error.start + 1]!r}); save the file as UTF-8")]) from None


def _depth_problem(document: Any, limit: int | None = None) -> tuple[str, str] | None:
    """(pointer, message) for the first container nested deeper than `limit` levels, found without recursion."""
    limit = MAX_JSON_DEPTH if limit is None else limit
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        else:
            continue
        if len(parts) >= limit:
            return json_pointer(parts), f"nested more than {limit} levels deep; factcheck files need at most 5"
        stack.extend((child, parts + (key,)) for key, child in reversed(children))
    return None


# Errors taken from a schema check, of which 20 are shown: a small file of many bad entries (a megabyte of `{}`)
# would otherwise build millions of errors, gigabytes of them, before any is shown.
_MOST_SCHEMA_ERRORS = 200


def first_schema_errors(validator: jsonschema.protocols.Validator, document: Any) -> list[jsonschema.ValidationError]:
    """The first _MOST_SCHEMA_ERRORS errors of `document` by `validator`, in the order it finds them."""
    return list(itertools.islice(validator.iter_errors(document), _MOST_SCHEMA_ERRORS))


def _describe_schema_error(error: jsonschema.ValidationError) -> tuple[str, str]:
    pointer = json_pointer(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = unknown[0] if unknown else "?"
        return pointer + json_pointer([key]), f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}"
    if error.validator == "pattern" and error.schema.get("pattern") == "\\{subject\\}":
        return pointer, f"template {error.instance!r} has no {PLACEHOLDER} placeholder"
    if error.validator == "pattern" and "wrong" in error.schema.get("pattern", ""):
        return pointer, (f"the distractor statement {json.dumps(error.instance)[:80]} needs both {PLACEHOLDER} and {{wrong}} "
                         "(the fact's subject and another fact's object)")
    if error.validator == "pattern" and error.schema.get("pattern") == "\\S":
        return pointer, "expected a non-empty string, got only whitespace"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        repeated = next((item for i, item in enumerate(error.instance) if item in error.instance[:i]), None)
        return pointer, f"{json.dumps(repeated)[:80]} appears more than once; keep one"
    if error.validator == "required":
        return pointer, f"missing required field: {error.message.split(' is a required')[0]}"
    if error.validator == "oneOf" and isinstance(error.validator_value, list):
        expected = " or ".join(_describe_alternative(option) for option in error.validator_value)
        return pointer, f"expected {expected}, got {json.dumps(error.instance)[:60]}"
    if error.validator == "type":
        return pointer, f"expected {error.validator_value}, got {type(error.instance).__name__} {json.dumps(error.instance)[:60]}"
    if error.validator in ("minimum", "maximum") and isinstance(error.instance, int) and len(str(error.instance)) > 40:
        # An integer of hundreds of digits (JSON sets no limit) would fill the message.
        bound = "at least" if error.validator == "minimum" else "at most"
        return pointer, (f"a number of {len(str(abs(error.instance)))} digits is out of range: expected {bound} "
                         f"{error.validator_value}")
    return pointer, error.message[:300]


def _describe_alternative(schema: Any) -> str:
    if not isinstance(schema, dict):
        return json.dumps(schema)
    if "const" in schema:
        return json.dumps(schema["const"])
    text = str(schema.get("type", "value"))
    if "minimum" in schema and "maximum" in schema:
        text += f" from {schema['minimum']} to {schema['maximum']}"
    elif "minimum" in schema:
        text += f" >= {schema['minimum']}"
    elif "maximum" in schema:
        text += f" <= {schema['maximum']}"
    return text


def _text_problem(value: str) -> str | None:
    if _CONTROL_CHARS.search(value):
        return "contains control characters; remove them"
    if _SURROGATES.search(value):
        return "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), which is not text; remove it"
    return None


def _answer_text_problem(value: str) -> str | None:
    """Problems of a subject, object or alias: one line of text with something visible in it."""
    if problem := _text_problem(value):
        return problem
    if _LINE_BREAKS.search(value.strip()):
        return "contains a line break; prompts hold one fact per line and generation stops at a newline"
    if "\t" in value:
        return "contains a tab; write a space (a tab in a prompt is a token a user never types there)"
    if value.strip() and not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        # Only format characters (U+200B ZERO WIDTH SPACE, U+FEFF), combining marks or
        # unusual spaces: a model can say nothing that matches, and a subject has no
        # visible token to locate in the prompt.
        names = ", ".join(f"U+{ord(char):04X}" for char in dict.fromkeys(value.strip()))[:120]
        return f"has no visible character (only {names}): expected a letter, digit, punctuation mark or symbol"
    return None


def _answer_only_noise(answer: str) -> str | None:
    """An answer of nothing but the quotes and brackets stripped from the start of every answer could never be said;
    one of nothing but quotes and brackets of any kind ("“”", "《》", "()") is none either."""
    quotes_and_brackets = all(char.isspace() or char in "\"'`" or unicodedata.category(char) in ("Ps", "Pe", "Pi", "Pf")
                              for char in normalise(answer))
    if answer.strip() and (not normalise(answer).lstrip(LEADING_NOISE) or quotes_and_brackets):
        return (f"{answer!r} is only quotes, brackets or emphasis marks: answers are compared without the ones they "
                "start with, so nothing of it, or only a closing mark, would be compared; write the answer in words "
                "(\"an empty list\")")
    return None


def _facts_without_a_wrong_object(facts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A distractor's {wrong} is another fact's object that is not one of this fact's answers, compared as answers
    are read ("paris" is Paris); a fact with no such object would be prompted with an empty distractor."""
    objects = {answer_key(fact["object"]) for fact in facts}
    problems = []
    for index, fact in enumerate(facts):
        answers = {answer_key(answer) for answer in [fact["object"], *fact.get("aliases", ())]}
        if not objects - answers:
            problems.append((f"/facts/{index}", f"the distractor's {{wrong}} is another fact's object, and every "
                                                f"object here is one of this fact's answers ({fact['object']!r}, or "
                                                "an alias): add facts with other objects, or remove the distractor"))
    if len(problems) == len(facts):
        return [("/settings/distractor", "{wrong} is another fact's object, and every object here is one of each "
                                         "fact's own answers (compared as answers are read: 'paris' is Paris): add "
                                         "facts with other objects, or remove the distractor")]
    return problems


def _semantic_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks the schema cannot express."""
    problems: list[tuple[str, str]] = []
    # Strings that reach prompts, answers or the content hash must be real text.
    for field_name in ("relation", "description"):
        if isinstance(document.get(field_name), str) and (problem := _text_problem(document[field_name])):
            problems.append((f"/{field_name}", problem))
    for index, template in enumerate(document["templates"]):
        if template.count(PLACEHOLDER) != 1:
            problems.append((f"/templates/{index}", f"template must hold {PLACEHOLDER} exactly once, found {template.count(PLACEHOLDER)}"))
        if problem := _text_problem(template):
            problems.append((f"/templates/{index}", problem))
    first_seen: dict[str, tuple[int, str]] = {}
    for index, fact in enumerate(document["facts"]):
        if problem := _answer_text_problem(fact["subject"]):
            problems.append((f"/facts/{index}/subject", problem))
        answers = [("object", fact["object"]), *((f"aliases/{position}", alias) for position, alias in enumerate(fact.get("aliases", ())))]
        for where, answer in answers:
            if problem := _answer_text_problem(answer) or _answer_only_noise(answer):
                problems.append((f"/facts/{index}/{where}", problem))
        # Composed and decomposed accents ("Zürich" as one code point or two), and invisible characters (a zero-width
        # space), read as one subject, and would be two baseline entries that look alike.
        key = unicodedata.normalize("NFC", without_invisible(fact["subject"]).strip())
        if key in first_seen:
            earlier, earlier_object, earlier_subject = first_seen[key]
            if earlier_object != unicodedata.normalize("NFC", fact["object"].strip()):
                detail = f"with a different object ({earlier_object!r} vs {fact['object']!r}); put extra answers in 'aliases'"
            else:
                detail = "again; remove the duplicate"
            spelled = ("" if earlier_subject == fact["subject"].strip() else
                       " (written with other Unicode code points: its accents composed otherwise, or invisible characters)")
            problems.append((f"/facts/{index}/subject", f"subject {key!r} already appears at /facts/{earlier}{spelled} {detail}"))
        else:
            first_seen[key] = (index, unicodedata.normalize("NFC", fact["object"].strip()), fact["subject"].strip())
    raw_settings = document.get("settings") or {}
    distractor = raw_settings.get("distractor")
    if isinstance(distractor, dict) and isinstance(distractor.get("statement"), str):
        if problem := _answer_text_problem(distractor["statement"]):  # it goes on the question's line
            problems.append(("/settings/distractor/statement", problem))
        else:
            problems += _facts_without_a_wrong_object(document["facts"])
    if isinstance(raw_settings.get("system"), str):
        if problem := _text_problem(raw_settings["system"]):
            problems.append(("/settings/system", problem))
        elif raw_settings.get("prompt") != "chat":
            problems.append(("/settings/system", "a system message is sent only with chat prompts; add \"prompt\": "
                                                 "\"chat\" to these settings, or remove 'system'"))
    n_train = (raw_settings.get("lre") or {}).get("n_train")
    if isinstance(n_train, int) and not isinstance(n_train, bool) and n_train > len(document["facts"]):
        problems.append((
            "/settings/lre/n_train",
            f"the LRE needs {n_train} training facts but the suite has {len(document['facts'])} facts; "
            f"set n_train to at most {len(document['facts'])} (8, the paper's, leaves facts to test) or add facts",
        ))
    return problems


def _as_int(value: Any) -> int | None:
    # JSON Schema counts 2.0 as an integer; the typed objects hold a real int.
    return None if value is None else int(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


# Keys that mark the JSON files factcheck writes: one of them given as a suite is named for what it is.
OTHER_FACTCHECK_FILES = {
    "factcheck_baseline_version": ("a factcheck baseline", "pass it with --factcheck-baseline"),
    "factcheck_report_version": ("a factcheck report", "give it to `factcheck diff` or open it with factcheck.results.load"),
}


def _other_factcheck_file(document: Any) -> tuple[str, str] | None:
    if not isinstance(document, dict):
        return None
    for key, (what, use) in OTHER_FACTCHECK_FILES.items():
        if key in document and "facts" in document and "templates" not in document:
            return ("", f"this is {what}, not a fact suite: {use}; keep it out of the suites folder (or out of the "
                        "factcheck_suites patterns)")
    return None


def parse_suite(document: Any, path: str | Path) -> Suite:
    """Validate a parsed JSON document and build a Suite, or raise SuiteError."""
    path = Path(path)
    if problem := _depth_problem(document):
        raise SuiteError(path, [problem])
    if problem := _other_factcheck_file(document):
        raise SuiteError(path, [problem])
    validator = jsonschema.Draft202012Validator(suite_schema())
    errors = sorted(first_schema_errors(validator, document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    # An empty string fails both minLength and the non-blank pattern; report it once.
    too_short = {tuple(e.absolute_path) for e in errors if e.validator == "minLength"}
    errors = [e for e in errors if not (e.validator == "pattern" and tuple(e.absolute_path) in too_short)]
    if errors:
        raise SuiteError(path, [_describe_schema_error(e) for e in errors[:20]])
    problems = _semantic_problems(document)
    if problems:
        raise SuiteError(path, problems)
    raw_settings = document.get("settings", {})
    raw_lre = raw_settings.get("lre", {})
    settings = SuiteSettings(
        shots=_as_int(raw_settings.get("shots")),
        max_new_tokens=_as_int(raw_settings.get("max_new_tokens")),
        say_check=raw_settings.get("say_check"),
        templates=raw_settings.get("templates"),
        prompt=raw_settings.get("prompt"),
        system=raw_settings.get("system"),
        min_accuracy=_as_float(raw_settings.get("min_accuracy")),
        markers=tuple(raw_settings.get("markers", ())),
        lre=LreSettings(
            layer=raw_lre.get("layer") if isinstance(raw_lre.get("layer"), str) else _as_int(raw_lre.get("layer")),
            beta=_as_float(raw_lre.get("beta")),
            rank=_as_int(raw_lre.get("rank")),
            n_train=_as_int(raw_lre.get("n_train")),
        ),
        distractor=(
            DistractorSettings(statement=raw_settings["distractor"]["statement"], repeat=_as_int(raw_settings["distractor"].get("repeat")) or 1)
            if "distractor" in raw_settings
            else None
        ),
    )
    facts = tuple(
        Fact(
            subject=f["subject"].strip(),
            object=f["object"].strip(),
            aliases=tuple(a.strip() for a in f.get("aliases", ())),
            tags=tuple(f.get("tags", ())),
        )
        for f in document["facts"]
    )
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Suite(
        path=path,
        relation=document["relation"],
        templates=tuple(document["templates"]),
        facts=facts,
        settings=settings,
        category=document.get("category"),
        content_hash=hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16],
        description=document.get("description", ""),
    )


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite file."""
    path = Path(path)
    return parse_suite(read_json_document(path), path)
