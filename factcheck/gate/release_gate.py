"""The release gate of one test run: a baseline read once, each fact judged once as it runs, one comparison at the end.

The pytest plugin asks it which facts to expect wrong (strict xfail), whether a
fact that just ran regressed, and for the end-of-run comparison and its text;
`record` writes this run's verdicts as the new baseline. Importable without torch.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from factcheck.fact_result import FactResult, combine_verdicts, passes
from factcheck.gate.baseline import Baseline, BaselineError, BaselineFact, build_baseline, parse_baseline, read_document, write_baseline
from factcheck.gate.comparison import Comparison, FactChange, SettingsChange, compare, fact_change, settings_differences
from factcheck.suites.suite import LFS_POINTER_PROBLEM, SUITES_FOLDER, json_pointer, link_leading_nowhere


class ReleaseGate:
    def __init__(self, baseline: Baseline):
        self.baseline = baseline
        self._judged: dict[tuple[str, str], FactChange] = {}

    def entry(self, relation: str, subject: str, obj: str) -> BaselineFact | None:
        """The fact's baseline entry, or None when it has none or its expected object changed since."""
        entry = self.baseline.facts.get(relation, {}).get(subject)
        return None if entry is None or entry.object != obj else entry

    def expected_wrong(self, relation: str, subject: str, obj: str, check: str, templates: Sequence[str], mode: str,
                       require: str = "says") -> bool:
        """Failing in the baseline as this run will judge it: said by `check`, the say-check the run decides the fact
        by, under the `templates` it asks (combined by `mode`) where the baseline kept a verdict per template, and
        with its know-verdict as the `require` mode asks. Such a fact runs as a strict xfail, so that a fix shows until
        re-recorded."""
        entry = self.entry(relation, subject, obj)
        if entry is None:
            return False
        said_before = entry.said_under(check)
        shared = [said_before[t] for t in templates if t in said_before]
        said = combine_verdicts(mode, shared) if shared else entry.said_by(check)
        return not passes(require, bool(said), entry.know_pass)

    def judge(self, result: FactResult) -> FactChange:
        """The fact's class against the baseline, decided here once and reused by the comparison."""
        change = self._judged[result.key] = fact_change(self.baseline, result)
        return change

    def regressions_judged(self) -> list[FactChange]:
        """The facts judged so far that regressed, whatever hooks did to their test reports afterwards."""
        return [change for change in self._judged.values() if change.is_regression]

    def comparison(self, model_info: Mapping[str, Any], suites_info: Mapping[str, Mapping[str, Any]],
                   results: Iterable[FactResult]) -> Comparison:
        return compare(self.baseline, model_info, suites_info, results, judged=self._judged)


def comparison_lines(comparison: Comparison) -> list[tuple[str, str | None]]:
    """The comparison as terminal lines, each with its colour (None: plain): warnings, regressions, then the rest."""
    regressions = comparison.regressions
    lines: list[tuple[str, str | None]] = [(f"WARNING: {warning}", "yellow") for warning in comparison.warnings()]
    lines.append((f"regressions: {len(regressions)}", "red" if regressions else None))
    lines += [(f"  {c.kind:<10} {c.relation}[{c.subject}] (expected {c.object!r}) {c.note}", "red") for c in regressions]
    for kind in ("fixed", "new", "changed"):
        changes = comparison.of(kind)
        if changes:
            lines.append((f"{kind}: {len(changes)}", None))
            lines += [(f"  {c.relation}[{c.subject}] {c.note}", None) for c in changes]
    return lines


def readable_for_update(path: Path):
    """The baseline at `path`, parsed; BaselineError (naming the file and the fix) when it cannot be updated."""
    try:
        return parse_baseline(read_document(path), path)
    except BaselineError as error:
        if error.problems == [("", LFS_POINTER_PROBLEM)]:  # its message gives the fix: fetch it, never record over it
            raise
        raise BaselineError(error.path, error.problems, fix="it is not updated, so that no fact recorded in it is lost: "
                            "fix the file (or restore it from version control), or move it away to record a new one") from None


def record(path: Path, model_info: Mapping[str, Any], suites_info: Mapping[str, Mapping[str, Any]],
           results: Iterable[FactResult], root: Path | None = None,
           suite_facts: Mapping[str, Mapping[str, str]] | None = None) -> tuple[Path, int, list[str]]:
    """Write this run's verdicts as the baseline at `path`; returns the path, how many facts were kept from it, and
    the relations dropped from it because their suite file is gone (removed or moved: a moved suite is another
    relation, recorded under its new path).

    Suite paths are written relative to the baseline's folder, which does not move with the folder pytest runs from.
    When the file holds the same model, what this run did not check keeps its recorded entry: relations not run
    whose suite file still exists (see `_suite_exists`; `root`: the run's root folder), and within a relation that
    ran, facts left out by a selection (`-k`, `-m`) that the suite still has with the same object (`suite_facts`:
    relation -> subject -> object of every fact of the suites that ran). A file that is not a valid baseline is never
    replaced (it may hold other facts): BaselineError says what is wrong."""
    folder = Path(os.path.abspath(path)).parent
    document = build_baseline(model_info, suites_info, results, root=folder)
    places = [folder, *([Path(root)] if root is not None else []), Path.cwd()]
    with _updating_alone(path):
        return _merge_and_write(path, document, suite_facts or {}, places)


# How long a recording run waits for another one recording into the same folder (a write takes well under a second;
# a run stopped while holding the lock, SIGSTOP or a debugger, would hold it for ever).
LOCK_WAIT_SECONDS = 120.0


@contextlib.contextmanager
def _updating_alone(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the baseline's folder while its file is read, merged and replaced: two runs
    recording other suites into one baseline at once (parallel CI jobs) would otherwise each write the file as they
    read it, and the later write would drop the other run's relations. The folder is locked, not a file beside the
    baseline, so that no lock file is left in the project. A lock held by another run is waited for, said on stderr,
    for LOCK_WAIT_SECONDS at most: then BaselineError, and the baseline is left as it is."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: runs must not record into one baseline at once
        yield
        return
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened: writing the file there will say why
        yield
        return
    try:
        _lock_or_give_up(fcntl, folder, path, LOCK_WAIT_SECONDS)
        yield
    finally:
        os.close(folder)  # closing the last descriptor releases the lock


def _lock_or_give_up(fcntl, folder: int, path: Path, wait_seconds: float) -> None:
    deadline, said = time.monotonic() + wait_seconds, False
    while True:
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                with contextlib.suppress(OSError, ValueError):
                    print(f"factcheck: waiting for another run that records into {path.parent} (it holds the folder's lock)",
                          file=sys.stderr)
                said = True
            if time.monotonic() >= deadline:
                raise BaselineError(path, [("", f"another run held its folder's lock for {wait_seconds:.0f} s (a run "
                                             "recording into it, stopped or hung), so it was not updated")],
                                    fix="record again once that run has ended") from None
            time.sleep(0.2)


def _merge_and_write(path: Path, document: dict[str, Any], suite_facts: Mapping[str, Mapping[str, str]],
                     places: Sequence[Path]) -> tuple[Path, int, list[str]]:
    kept, dropped = 0, []
    if path.is_file():
        previous = readable_for_update(path)
        dropped = sorted(relation for relation in previous.facts if relation not in document["facts"]
                         and not _suite_exists(previous.suites[relation]["path"], places))
        if previous.model.get("fingerprint") != document["model"]["fingerprint"]:
            _refuse_dropping_another_models_facts(path, previous, document, suite_facts, dropped)
        else:
            for relation, facts in previous.facts.items():
                if relation in dropped:
                    continue
                if relation not in document["facts"]:
                    document["facts"][relation] = {subject: fact.to_entry() for subject, fact in facts.items()}
                    document["suites"][relation] = previous.suites[relation]
                    continue
                in_suite = suite_facts.get(relation, {})
                unchecked = {subject: fact for subject, fact in facts.items()
                             if subject not in document["facts"][relation] and in_suite.get(subject) == fact.object}
                if unchecked:
                    templates = ({_templates_of(fact.to_entry()) for fact in unchecked.values()},
                                 {_templates_of(entry) for entry in document["facts"][relation].values()})
                    _refuse_mixing_suite_versions(path, relation, previous.suites[relation], document["suites"][relation],
                                                  len(unchecked), templates)
                    if "settings" not in previous.suites[relation]:
                        # The kept entries' settings are not known: name none rather than this run's.
                        document["suites"][relation].pop("settings", None)
                for subject, fact in unchecked.items():
                    document["facts"][relation][subject] = fact.to_entry()
                    kept += 1
    return write_baseline(path, document), kept, dropped


def _suite_exists(recorded_path: str, places: Sequence[Path]) -> bool:
    """Whether a relation's recorded suite file may still be there, so that its entries are kept: only a suite surely
    gone is dropped. A relative path was written from the baseline's folder (`places[0]`), or, before that, from
    the root folder of the run that recorded it, which depends on where pytest ran: it is looked for below each of
    `places` (the baseline's folder, this run's root, the working folder) and every folder above them. An absolute
    path whose folder is not on this machine (another checkout's), or a relation that recorded no path, is kept:
    nothing tells it is gone."""
    if recorded_path.strip() in ("", "."):  # an empty path is written as "."
        return True
    path = Path(recorded_path)
    if path.is_absolute():
        return _may_be_a_file(path) or not _may_be_a_folder(path.parent)
    folders = folders_at_and_above(places)
    # A copy of the baseline kept elsewhere (a CI job's folder) reaches the suite by a path that holds only from the
    # original's folder ("../suites/geo/cap.json"): its part from a `suites` folder on is looked for too.
    tails = [path, *(Path(*path.parts[i:]) for i, part in enumerate(path.parts) if part == SUITES_FOLDER)]
    return any(_may_be_a_file(folder / tail) for folder in folders for tail in tails)


def folders_at_and_above(places: Sequence[Path]) -> list[Path]:
    """Each of `places`, made absolute, and every folder above it, once each: where a recorded suite path may lead."""
    return list(dict.fromkeys(folder for place in places for folder in (Path(os.path.abspath(place)), *Path(os.path.abspath(place)).parents)))


def _may_be_a_file(path: Path) -> bool:
    """Path.is_file(), but True where the file system cannot tell (a name too long for it, a folder not searchable),
    and where a link on the way leads nowhere for now (git-annex or DVC content not fetched, a share not mounted)."""
    try:
        return path.is_file() or link_leading_nowhere(path) is not None
    except OSError:
        return True


def _may_be_a_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return True


def _templates_of(entry: Mapping[str, Any]) -> frozenset[str]:
    """The templates a baseline entry's fact was asked under (none named: an entry written before they were kept)."""
    return frozenset(entry.get("templates") or ([entry["template"]] if entry.get("template") else []))


def _refuse_mixing_suite_versions(path: Path, relation: str, recorded: Mapping[str, str], now: Mapping[str, str],
                                  unchecked: int, templates: tuple[set[frozenset[str]], set[frozenset[str]]] = (set(), set())) -> None:
    """A relation's entries carry one suite hash and one set of prompt settings: keeping facts recorded under an older
    version of its suite, or with other shots, prompt style, token limit or templates (`templates`: those the kept
    entries and this run's were asked under), beside facts recorded now would stamp today's on them, and a verdict that
    edit changed would later read as a change of the model. Refuse, saying how to record it whole."""
    differences = settings_differences(recorded.get("settings"), now.get("settings"))
    kept_templates, templates_now = (asked - {frozenset()} for asked in templates)
    if recorded["content_hash"] != now["content_hash"]:
        what = f"suite {relation} changed since its facts were recorded (content hash {recorded['content_hash']} -> {now['content_hash']})"
    elif differences:
        what = (f"suite {relation} runs with other settings than its facts were recorded with "
                f"({SettingsChange(relation, differences).describe()})")
    elif kept_templates and templates_now and kept_templates != templates_now:
        counts = sorted(len(asked) for asked in kept_templates), sorted(len(asked) for asked in templates_now)
        what = (f"suite {relation}'s facts are asked under other templates than they were recorded with ("
                f"{' or '.join(map(str, counts[0]))} template(s) then, {' or '.join(map(str, counts[1]))} now: "
                "--factcheck-templates differs)")
    else:
        return
    raise BaselineError(path, [(json_pointer(["suites", relation]),
                                f"{what}, and this run did not check {unchecked} of its facts, whose entries were "
                                "recorded before")],
                        fix=f"run every fact of {relation} (no -k, -m or node ids that leave some out) to re-record it")


def _refuse_dropping_another_models_facts(path: Path, previous, document: Mapping[str, Any],
                                          suite_facts: Mapping[str, Mapping[str, str]], gone: Sequence[str] = ()) -> None:
    """A baseline of another model is replaced whole, so a run that did not check all of its facts (a selection, or
    some suites only) would silently drop the others: refuse, saying how to re-record it."""
    unchecked = sum(
        1 for relation, facts in previous.facts.items() if relation not in gone for subject, fact in facts.items()
        if relation not in document["facts"]
        or (subject not in document["facts"][relation] and suite_facts.get(relation, {}).get(subject) == fact.object)
    )
    if unchecked:
        model = previous.model
        raise BaselineError(path, [("", f"it holds {unchecked} fact(s) of another model ({model.get('name')!r}, fingerprint "
                                        f"{model.get('fingerprint')}) that this run did not check, and recording this "
                                        f"model replaces the file whole, so they would be lost")],
                            fix="run every suite with no selection (-k, -m, node ids) to re-record it for this model, "
                                "or record into another file (--factcheck-baseline)")
