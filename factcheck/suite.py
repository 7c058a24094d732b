"""Fact suites: JSON files validated against the shipped schema and turned into typed objects.

Every rejection is a `SuiteError` that names the file, the JSON pointer of the
bad value and what was expected, so a user can fix it without reading code.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

PLACEHOLDER = "{subject}"
MAX_SUITE_BYTES = 20 * 1024 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


class SuiteError(ValueError):
    """A suite file that cannot be used; lists each problem as (pointer, message)."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {pointer or '/'}: {message}" for pointer, message in problems]
        super().__init__("\n".join(lines))


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

    @property
    def relation_id(self) -> str:
        """Identifier used in test ids and markers: the file name without extension."""
        return self.path.name.removesuffix(".json")

    @property
    def objects(self) -> tuple[str, ...]:
        """The relation's distinct objects, in first-seen order (the ranking candidates)."""
        return tuple(dict.fromkeys(fact.object for fact in self.facts))

    def render(self, subject: str, template_index: int = 0) -> str:
        return render(self.templates[template_index], subject)


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


def read_json_document(path: Path, max_bytes: int | None = None) -> Any:
    """Parse a JSON file strictly (UTF-8, no duplicate keys, no NaN), raising SuiteError on any problem.

    `max_bytes` defaults to the module's MAX_SUITE_BYTES, read at call time.
    """
    if max_bytes is None:
        max_bytes = MAX_SUITE_BYTES
    try:
        size = path.stat().st_size
    except OSError as error:
        raise SuiteError(path, [("", f"cannot read the file: {error.strerror or error}")]) from None
    if size > max_bytes:
        raise SuiteError(path, [("", f"file is {size:,} bytes; suites are limited to {max_bytes:,} bytes (split it into several files)")])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SuiteError(path, [("", f"not UTF-8 text (byte {error.start}: {raw[error.start:error.start + 1]!r}); save the file as UTF-8")]) from None

    def reject_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=reject_constant)
    except _DuplicateKey as error:
        raise SuiteError(path, [("", f"key {error.key!r} appears twice in one object; keep one")]) from None
    except json.JSONDecodeError as error:
        raise SuiteError(path, [("", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}")]) from None
    except (ValueError, RecursionError) as error:
        raise SuiteError(path, [("", f"invalid JSON: {error}")]) from None


def _describe_schema_error(error: jsonschema.ValidationError) -> tuple[str, str]:
    pointer = json_pointer(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = unknown[0] if unknown else "?"
        return pointer + json_pointer([key]), f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}"
    if error.validator == "pattern" and error.schema.get("pattern") == "\\{subject\\}":
        return pointer, f"template {error.instance!r} has no {PLACEHOLDER} placeholder"
    if error.validator == "pattern" and error.schema.get("pattern") == "\\S":
        return pointer, "expected a non-empty string, got only whitespace"
    if error.validator == "required":
        return pointer, f"missing required field: {error.message.split(' is a required')[0]}"
    if error.validator == "oneOf" and isinstance(error.validator_value, list):
        expected = " or ".join(_describe_alternative(option) for option in error.validator_value)
        return pointer, f"expected {expected}, got {json.dumps(error.instance)[:60]}"
    if error.validator == "type":
        return pointer, f"expected {error.validator_value}, got {type(error.instance).__name__} {json.dumps(error.instance)[:60]}"
    return pointer, error.message[:300]


def _describe_alternative(schema: Any) -> str:
    if not isinstance(schema, dict):
        return json.dumps(schema)
    if "const" in schema:
        return json.dumps(schema["const"])
    text = str(schema.get("type", "value"))
    if "minimum" in schema:
        text += f" >= {schema['minimum']}"
    if "maximum" in schema:
        text += f" <= {schema['maximum']}"
    return text


def _text_problem(value: str) -> str | None:
    if _CONTROL_CHARS.search(value):
        return "contains control characters; remove them"
    if _SURROGATES.search(value):
        return "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), which is not text; remove it"
    return None


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
        for key in ("subject", "object"):
            if problem := _text_problem(fact[key]):
                problems.append((f"/facts/{index}/{key}", problem))
        for position, alias in enumerate(fact.get("aliases", ())):
            if problem := _text_problem(alias):
                problems.append((f"/facts/{index}/aliases/{position}", problem))
        key = fact["subject"].strip()
        if key in first_seen:
            earlier, earlier_object = first_seen[key]
            if earlier_object != fact["object"].strip():
                detail = f"with a different object ({earlier_object!r} vs {fact['object']!r}); put extra answers in 'aliases'"
            else:
                detail = "again; remove the duplicate"
            problems.append((f"/facts/{index}/subject", f"subject {key!r} already appears at /facts/{earlier} {detail}"))
        else:
            first_seen[key] = (index, fact["object"].strip())
    return problems


def _as_int(value: Any) -> int | None:
    # JSON Schema counts 2.0 as an integer; the typed objects hold a real int.
    return None if value is None else int(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_suite(document: Any, path: str | Path) -> Suite:
    """Validate a parsed JSON document and build a Suite, or raise SuiteError."""
    path = Path(path)
    validator = jsonschema.Draft202012Validator(suite_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
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
