"""A relation's faithfulness on disk, so that a run of a few of its facts (`-k France`, node ids) classes them as a
run of the whole relation would, without asking the model the others.

A fact's know-verdict counts only where its relation's LRE is trusted, and
trust is the faithfulness over all the relation's test facts: every one of
them generated and decoded. A whole-relation run stores that count here; a
later run of part of the relation reads it back. The file name is a hash of
everything the count depends on: the model (fingerprint, dtype, device), the
suite's whole content, the template and prompt kind, the options that shape
the prompts and their checks, and factcheck's own code, so that a changed
matching rule or a new release never reads an old count. Entries are small
JSON files, written atomically; one that does not check out is discarded with
a warning and the relation runs whole.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from factcheck.cache import cache_root, discard_entry, store_or_warn, warn, write_json_atomic
from factcheck.knows.know_rules import Faithfulness
from factcheck.suites.suite import Suite, SuiteError, read_json_document

FORMAT = "factcheck-faithfulness/1"
MAX_ENTRY_BYTES = 4096
MAX_FACTS = 10**9  # more facts than any suite holds: a larger count is a forged or damaged entry


def faithfulness_directory() -> Path:
    return cache_root() / "faithfulness"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of factcheck's Python sources: any change to how facts are asked, matched or decoded makes new keys."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def faithfulness_key(model, suite: Suite, template_index: int, options, say_check: str) -> str:
    """The key of `suite`'s faithfulness asked under its template `template_index` (`suite` is phrased by the
    caller: that template first) with the say options `options` (a factcheck.says.saycheck.SayOptions)."""
    from factcheck.model.language_model import library_versions  # the caller has a model: torch is loaded already

    document = {
        "format": FORMAT,
        "code": code_digest(),
        "libraries": library_versions(),
        "model": model.fingerprint,
        "dtype": str(model.dtype),
        "device": str(getattr(model.device, "type", model.device)),
        "suite": suite.content_hash,
        "template_index": template_index,
        "phrasing": suite.phrasing.cache_text(model.chat_template if suite.phrasing.chat else None),
        "shots": options.shots,
        "max_new_tokens": options.max_new_tokens,
        "batch_size": options.batch_size,
        "margin_runs": options.margin_runs,
        "say_check": say_check,
    }
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def entry_path(key: str) -> Path:
    return faithfulness_directory() / f"{key}.json"


def load_faithfulness(key: str, most_facts: int = MAX_FACTS) -> Faithfulness | None:
    """The stored faithfulness for `key`, or None where there is none (or it was damaged: then said and removed).
    `most_facts`: the relation's facts, which its tested and undecided facts together cannot pass."""
    path = entry_path(key)
    try:
        if not path.exists():
            return None
    except OSError:  # e.g. a file where the cache folder should be
        return None
    try:
        document = read_json_document(path, max_bytes=MAX_ENTRY_BYTES)  # regular files only, size-capped, strict JSON
        return _parse(document, key, most_facts)
    except (SuiteError, ValueError) as error:
        problem = error.problems[0][1] if isinstance(error, SuiteError) else str(error)
        warn(f"factcheck: discarding the damaged faithfulness cache entry {path} ({problem}); the relation runs whole")
        discard_entry(path)
        return None


def _parse(document, key: str, most_facts: int = MAX_FACTS) -> Faithfulness:
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("key") != key:
        raise ValueError(f"not a {FORMAT} entry for this key")
    counts = [document.get(name) for name in ("faithful", "tested", "undecided")]
    if not all(type(count) is int and 0 <= count <= MAX_FACTS for count in counts) or counts[0] > counts[1]:
        raise ValueError(f"counts {counts} are not faithful <= tested and undecided, all whole numbers from 0 to {MAX_FACTS:,}")
    if counts[1] + counts[2] > most_facts:
        raise ValueError(f"counts {counts} hold more test facts than the relation's {most_facts}")
    return Faithfulness(*counts)


def save_faithfulness(key: str, faithfulness: Faithfulness) -> None:
    """Keep `faithfulness` for later runs of part of its relation; an unwritable cache is said once and skipped."""
    path = entry_path(key)
    document = {"format": FORMAT, "key": key, "faithful": faithfulness.faithful, "tested": faithfulness.tested,
                "undecided": faithfulness.undecided}
    store_or_warn(lambda: write_json_atomic(path, document), "relation faithfulness", path.parent)
