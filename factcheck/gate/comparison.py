"""Compare a run with a baseline: which facts regressed, which were fixed, and whether the comparison is fair.

A fact the baseline said right and the candidate does not is a regression,
split by the know-check (LRE): `suppressed` when the object is still decoded
from the subject's hidden state (the knowledge is there, the output lost it),
`forgotten` when it is gone from both. Without a know-check result the split
is unknown and the class is `regressed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

from factcheck.fact_result import FactResult, TemplateResult, combine_verdicts
from factcheck.gate.baseline import Baseline, BaselineFact

SUPPRESSED = "suppressed"
FORGOTTEN = "forgotten"
REGRESSED = "regressed"  # said right before, not now; know-check unavailable, so not split
FIXED = "fixed"
STILL_RIGHT = "still_right"
STILL_WRONG = "still_wrong"
NEW = "new"
REMOVED = "removed"
CHANGED = "changed"

REGRESSION_KINDS = (SUPPRESSED, FORGOTTEN, REGRESSED)
KINDS = (SUPPRESSED, FORGOTTEN, REGRESSED, FIXED, STILL_RIGHT, STILL_WRONG, NEW, REMOVED, CHANGED)


@dataclass(frozen=True)
class FactChange:
    """One fact's class against the baseline. `current` is the run's result (None for removed facts)."""

    relation: str
    subject: str
    object: str
    kind: str
    baseline: BaselineFact | None
    current: FactResult | None
    note: str = ""

    @property
    def is_regression(self) -> bool:
        return self.kind in REGRESSION_KINDS


@dataclass(frozen=True)
class RelationAccuracy:
    """Say-accuracy of one relation: baseline facts said right vs candidate facts said right."""

    relation: str
    baseline_right: int
    baseline_total: int
    candidate_right: int
    candidate_total: int

    @property
    def baseline_accuracy(self) -> float | None:
        return self.baseline_right / self.baseline_total if self.baseline_total else None

    @property
    def candidate_accuracy(self) -> float | None:
        return self.candidate_right / self.candidate_total if self.candidate_total else None

    @property
    def delta(self) -> float | None:
        before, after = self.baseline_accuracy, self.candidate_accuracy
        return None if before is None or after is None else after - before


@dataclass(frozen=True)
class SuiteChange:
    relation: str
    baseline_hash: str
    candidate_hash: str


@dataclass(frozen=True)
class SettingsChange:
    """A relation asked with other prompt settings than the baseline's (from the command line or the ini file)."""

    relation: str
    differences: tuple[tuple[str, Any, Any], ...]  # (setting, in the baseline, in this run)

    def describe(self) -> str:
        return ", ".join(f"{name} {before} -> {after}" for name, before, after in self.differences)


# Settings written only where they are not their default: a run that does not name one had the default.
_UNNAMED_SETTINGS = {"know_check": "on"}


def settings_differences(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[tuple[str, Any, Any], ...]:
    """The prompt settings two runs of a suite differ in (none where either side did not keep them)."""
    if not before or not after:
        return ()
    before, after = {**_UNNAMED_SETTINGS, **before}, {**_UNNAMED_SETTINGS, **after}
    return tuple((name, before.get(name), after.get(name)) for name in sorted(set(before) | set(after))
                 if name in before and name in after and before[name] != after[name])


@dataclass
class Comparison:
    baseline_model: dict[str, Any]
    candidate_model: dict[str, Any]
    changes: list[FactChange]  # sorted by relation, then subject
    relations: list[RelationAccuracy]  # sorted by relation
    suite_changes: list[SuiteChange] = field(default_factory=list)
    settings_changes: list[SettingsChange] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # baseline relations with no fact in this run
    # A relation not run whose suite, unchanged, ran under another relation id new to the baseline (moved or renamed):
    # baseline relation -> this run's.
    moved: Mapping[str, str] = field(default_factory=dict)
    base_incomplete: str | None = None  # why the base report's run was partial (None: it completed, or a baseline)
    candidate_incomplete: str | None = None  # why the candidate's run was partial: it cannot pass a gate
    # `factcheck diff` compares two whole runs: there a fact the base said right that the candidate did not check
    # (skipped by a mark, deselected) fails the gate; a run's own gate leaves a selection's other facts alone.
    require_checked: bool = False
    require_every_relation: bool = True  # with require_checked: a base relation the candidate did not run fails too
    # The candidate report's suites: relation -> every subject its suite holds, asked or not (from a report's
    # `subjects`). In a suite changed since the base, a fact it still holds and did not check was left out, not removed.
    candidate_suite_subjects: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The base report's suites in the same way: a fact its suite held that it did not check (a selection) is new here.
    base_suite_subjects: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # relation -> (facts said right in the baseline under a template this run did not ask, those templates): a run of
    # `--factcheck-templates first` leaves them uncompared.
    templates_not_asked: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)

    def of(self, *kinds: str) -> list[FactChange]:
        return [change for change in self.changes if change.kind in kinds]

    @property
    def regressions(self) -> list[FactChange]:
        return self.of(*REGRESSION_KINDS)

    @property
    def fixes(self) -> list[FactChange]:
        return self.of(FIXED)

    def counts(self) -> dict[str, int]:
        """Facts per class, every class present (zero when none)."""
        result = dict.fromkeys(KINDS, 0)
        for change in self.changes:
            result[change.kind] += 1
        return result

    @cached_property
    def _index(self) -> dict[tuple[str, str], FactChange]:
        return {(change.relation, change.subject): change for change in self.changes}

    def lookup(self, relation: str, subject: str) -> FactChange | None:
        """The class of one fact (for a per-fact test report), or None when it is in neither side."""
        return self._index.get((relation, subject))

    @property
    def model_mismatch(self) -> bool:
        return self.baseline_model.get("fingerprint") != self.candidate_model.get("fingerprint")

    @property
    def unchecked_said_right(self) -> list[FactChange]:
        """Facts the base said right, in a relation the candidate ran, that it did not check: with the same suite, or
        with a changed suite that still holds them."""
        changed = {change.relation for change in self.suite_changes}
        return [c for c in self.of(REMOVED) if c.baseline is not None and c.baseline.say_pass
                and (c.relation not in changed or c.subject in self.candidate_suite_subjects.get(c.relation, ()))]

    @property
    def unchecked_by_the_base(self) -> list[FactChange]:
        """Facts the candidate checked that the base's suite held and the base did not check (it ran a selection, or
        was stopped): they count as new, compared with nothing."""
        return [c for c in self.of(NEW) if c.subject in self.base_suite_subjects.get(c.relation, ())]

    @property
    def relations_not_run_said_right(self) -> list[str]:
        """Where every relation must run (`require_every_relation`): the base's relations with a fact it said right of
        which the candidate ran no fact (a suite deselected, removed, unreadable, or moved: its id is its path)."""
        if not (self.require_checked and self.require_every_relation):
            return []
        said_right = {row.relation for row in self.relations if row.baseline_right}
        return [relation for relation in self.not_run if relation in said_right]

    def within_budget(self, budget: int = 0) -> bool:
        """A partial candidate run never passes: the facts it did not run may have regressed."""
        if self.candidate_incomplete or (self.require_checked and self.unchecked_said_right) or self.relations_not_run_said_right:
            return False
        return len(self.regressions) <= budget

    def warnings(self) -> list[str]:
        """Everything that makes this comparison less than like-for-like, in plain words."""
        lines: list[str] = []
        if self.candidate_incomplete:
            lines.append(f"the candidate run is incomplete ({self.candidate_incomplete}): the facts it did not run are "
                         "not compared, so it cannot pass; run its suites to the end")
        if self.require_checked and self.unchecked_said_right:
            shown = ", ".join(f"{c.relation}[{c.subject}]" for c in self.unchecked_said_right[:3])
            lines.append(f"{len(self.unchecked_said_right)} fact(s) the base said right were not checked by the candidate "
                         f"({shown}{' ...' if len(self.unchecked_said_right) > 3 else ''}), although its suite is the "
                         "same: skipped by a mark or deselected, so they cannot pass; run every fact")
        if self.relations_not_run_said_right:
            missing = self.relations_not_run_said_right
            lines.append(f"{len(missing)} relation(s) with facts the base said right were not run by the candidate "
                         f"({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): deselected, removed, moved to "
                         "another path or unreadable, so they cannot pass; run every suite, or pass --only-relations-run "
                         "to compare only the relations the candidate ran")
        if self.base_incomplete:
            lines.append(f"the base run is incomplete ({self.base_incomplete}): facts it did not run count as new")
        if self.unchecked_by_the_base:
            shown = ", ".join(f"{c.relation}[{c.subject}]" for c in self.unchecked_by_the_base[:3])
            lines.append(f"{len(self.unchecked_by_the_base)} fact(s) the candidate checked were in the base's suites but not "
                         f"checked by the base ({shown}{' ...' if len(self.unchecked_by_the_base) > 3 else ''}): they count "
                         "as new, compared with nothing; diff against a base report of a whole run")
        if self.model_mismatch:
            before, after = self.baseline_model, self.candidate_model
            lines.append(
                f"the baseline was recorded for another model: {before.get('name')!r} (fingerprint {before.get('fingerprint')}), "
                f"this run is {after.get('name')!r} (fingerprint {after.get('fingerprint')}); "
                "the differences below are between two models"
            )
        for change in self.suite_changes:
            changed = sum(1 for c in self.changes if c.relation == change.relation and c.kind == CHANGED)
            # A fact deleted from the suite is named: deleting a regressed fact would otherwise pass without a word.
            in_the_suite = self.candidate_suite_subjects.get(change.relation)
            dropped = [c.subject for c in self.of(REMOVED) if c.relation == change.relation and c.baseline is not None
                       and c.baseline.say_pass and in_the_suite is not None and c.subject not in in_the_suite]
            gone = (f"; {len(dropped)} fact(s) the base said right are no longer in it ({', '.join(dropped[:3])}"
                    f"{' ...' if len(dropped) > 3 else ''}): not compared" if dropped else "")
            lines.append(
                f"suite {change.relation} changed since the baseline (content hash {change.baseline_hash} -> {change.candidate_hash}): "
                f"{changed} fact(s) with a changed object are not compared; the others are{gone}"
            )
        for change in self.settings_changes:
            lines.append(f"suite {change.relation} ran with other settings than the baseline's ({change.describe()}): "
                         "its differences may come from the settings, not the model; run with the baseline's settings, "
                         "or re-record it")
        unsplit = len(self.of(REGRESSED))
        if unsplit:
            lines.append(
                f"{unsplit} regression(s) could not be split into suppressed/forgotten: the know-check (LRE) result is "
                "unavailable, undecided or untrusted"
            )
        for relation, (count, templates) in self.templates_not_asked.items():
            lines.append(f"suite {relation}: {count} fact(s) said right in the baseline under template(s) this run did not "
                         f"ask ({', '.join(map(repr, templates[:2]))}{' ...' if len(templates) > 2 else ''}): regressions "
                         "under them are not compared; run every template (--factcheck-templates all) to gate them")
        named = set(self.relations_not_run_said_right)
        if set(self.not_run) - named:
            lines.append(f"relations in the baseline but not run: {', '.join(r for r in self.not_run if r not in named)}")
        for before, now in self.moved.items():
            lines.append(f"the suite of {before} ran, unchanged, as {now} (moved or renamed): its facts count as new, compared "
                         "with nothing; record the baseline again (--factcheck-update-baseline) to gate on them")
        if self.unchecked_said_right and not self.require_checked:  # a run's own gate of a selection: said, not failed
            shown = ", ".join(f"{c.relation}[{c.subject}]" for c in self.unchecked_said_right[:3])
            lines.append(f"{len(self.unchecked_said_right)} fact(s) the baseline holds as said right were not checked by this "
                         f"run ({shown}{' ...' if len(self.unchecked_said_right) > 3 else ''}): deselected or skipped, so the "
                         "gate did not judge them; run every fact to gate them")
        return lines


def classify(base: BaselineFact, result: FactResult) -> tuple[str, str]:
    """The class of a fact present in both, and a note. Where both sides asked it under several templates, a template
    the baseline said it under and this run does not is a regression even when the fact's combined verdict holds."""
    said = result.say_pass
    said_under = base.said_under(result.say.check)  # template -> said in the baseline, by this run's say-check
    shared = shared_templates(said_under, result)
    regressed = [t for t in shared if said_under[t.template] and not t.say_pass]
    if regressed:
        return _template_regression(regressed, result)
    if shared:
        # The baseline kept a verdict per template: judge the templates both asked, by this run's mode and say-check,
        # so that a changed mode, check or template set since the baseline is not taken for a change of the model.
        mode = result.template_mode or "all"
        before = combine_verdicts(mode, [said_under[t.template] for t in shared])
        now = combine_verdicts(mode, [t.say_pass for t in shared])
        if not before and now:
            return FIXED, ""
        return (STILL_RIGHT, "") if now else (STILL_WRONG, "")
    # Like for like, had the run's say-check changed since; a candidate whose check is not known says the same by
    # either check, and is compared with the base's own verdict.
    said_before = base.said_by(result.say.check) if result.say.check_known else base.say_pass
    if said_before and not said:
        know = result.know_pass
        if know is None:
            return REGRESSED, _why_not_split(result)
        return (SUPPRESSED, "the LRE still decodes the object") if know else (FORGOTTEN, "the LRE does not decode the object either")
    if not said_before and said:
        return FIXED, ""
    return (STILL_RIGHT, "") if said else (STILL_WRONG, "")


def shared_templates(recorded: Mapping[str, bool], result: FactResult) -> list[TemplateResult]:
    """This run's templates that the baseline also recorded a verdict under (`recorded`: template -> its verdict,
    from BaselineFact.said_under; none where the baseline names no template). Where either side asked one template
    (`--factcheck-templates first`, or a suite with one) the other is compared on it: a fact may have been said under
    that template alone."""
    if not recorded:
        return []
    asked = result.templates
    if not asked and result.template is not None:
        say = result.say
        asked = (TemplateResult(template=result.template, say_pass=say.passed, generation_pass=say.generation_pass,
                                ranking_pass=say.ranking_pass, know_pass=result.know_pass),)
    if len(recorded) == 1 and len(asked) == 1:
        return []  # one template on both sides: the fact is compared as a whole
    return [t for t in asked if t.template in recorded]


def _template_regression(regressed: list[TemplateResult], result: FactResult) -> tuple[str, str]:
    """Split like a whole fact's regression, by the know-verdicts under the templates that regressed."""
    where = "said under " + ", ".join(repr(t.template) for t in regressed) + " in the baseline, not now"
    decided = [t.know_pass for t in regressed if t.know_pass is not None]
    if not decided:
        return REGRESSED, f"{where}; {_why_not_split(result)}"
    if all(decided):
        return SUPPRESSED, f"{where}; the LRE still decodes the object"
    return FORGOTTEN, f"{where}; the LRE does not decode the object either"


def _why_not_split(result: FactResult) -> str:
    know = result.know
    if know is not None and know.undecided is not None:
        undecided = know.undecided
        return f"not split: know-check undecided ({undecided.reason.replace('_', ' ')} {', '.join(map(repr, undecided.tokens))})"
    if know is not None and know.trusted is False:
        return "not split: the relation's LRE is untrusted (faithfulness too low or on too few facts)"
    return "know-check unavailable"


def templates_not_asked(base: BaselineFact, result: FactResult) -> list[str]:
    """The templates the baseline said the fact under, by this run's say-check, that this run did not ask (none where
    each side asked one template: the fact is then compared as a whole)."""
    recorded = base.said_under(result.say.check)
    asked = {t.template for t in result.templates} or ({result.template} if result.template is not None else set())
    if len(recorded) <= 1 and len(asked) <= 1:
        return []
    return [template for template, said in recorded.items() if said and template not in asked]


def fact_change(baseline: Baseline, result: FactResult) -> FactChange:
    """One fact of a run against the baseline: new, changed (another expected object), or classed by `classify`."""
    relation, subject, obj = result.relation, result.subject, result.object
    base = baseline.facts.get(relation, {}).get(subject)
    if base is None:
        return FactChange(relation, subject, obj, NEW, None, result, "not in the baseline")
    if base.object != obj:
        # A different expected answer is a different fact: comparing verdicts would mislead.
        return FactChange(relation, subject, obj, CHANGED, base, result, f"object was {base.object!r} in the baseline")
    kind, note = classify(base, result)
    return FactChange(relation, subject, obj, kind, base, result, note)


def compare(
    baseline: Baseline,
    model_info: Mapping[str, Any],
    suites_info: Mapping[str, Mapping[str, Any]],
    results: Iterable[FactResult],
    judged: Mapping[tuple[str, str], FactChange] | None = None,
) -> Comparison:
    """Class every fact of this run against `baseline`.

    `suites_info` maps relation id -> {"content_hash", ...}; a relation missing
    from it is compared without the suite-change check. `judged` holds facts
    already classed by `fact_change` during the run (by relation and subject),
    so that no fact is classed twice. Raises ValueError when a fact appears
    twice in `results`.
    """
    judged = judged or {}
    changes: list[FactChange] = []
    seen: dict[str, set[str]] = {}
    right: dict[str, list[int]] = {}  # relation -> [said right, total] in this run
    not_asked: dict[str, tuple[int, tuple[str, ...]]] = {}
    for result in results:
        relation, subject = result.key
        subjects = seen.setdefault(relation, set())
        if subject in subjects:
            raise ValueError(f"fact {relation}[{subject}] appears twice in the results")
        subjects.add(subject)
        tally = right.setdefault(relation, [0, 0])
        tally[0] += result.say_pass
        tally[1] += 1
        change = judged.get(result.key)
        change = change if change is not None and change.current is result else fact_change(baseline, result)
        changes.append(change)
        if change.kind != CHANGED and change.baseline is not None and (unasked := templates_not_asked(change.baseline, result)):
            count, templates = not_asked.get(relation, (0, ()))
            not_asked[relation] = (count + 1, tuple(dict.fromkeys((*templates, *unasked))))

    suite_changes: list[SuiteChange] = []
    settings_changes: list[SettingsChange] = []
    for relation in sorted(seen):
        base_hash = baseline.suites.get(relation, {}).get("content_hash")
        run_hash = (suites_info.get(relation) or {}).get("content_hash")
        if base_hash and run_hash and base_hash != run_hash:
            suite_changes.append(SuiteChange(relation, base_hash, run_hash))
        differences = settings_differences(baseline.suites.get(relation, {}).get("settings"),
                                           (suites_info.get(relation) or {}).get("settings"))
        if differences:
            settings_changes.append(SettingsChange(relation, differences))
        changed_suite = any(c.relation == relation for c in suite_changes)
        # Removed only within relations that ran: a relation not run says nothing about its facts.
        for subject, base in baseline.facts.get(relation, {}).items():
            if subject not in seen[relation]:
                note = "no longer in the suite" if changed_suite else "not run (the suite still has it, or filtered out)"
                changes.append(FactChange(relation, subject, base.object, REMOVED, base, None, note))
    changes.sort(key=lambda c: (c.relation, c.subject))

    relations = []
    for relation in sorted(set(seen) | set(baseline.facts)):
        base_facts = baseline.facts.get(relation, {}).values()
        run_right, run_total = right.get(relation, [0, 0])
        relations.append(
            RelationAccuracy(relation, sum(f.say_pass for f in base_facts), len(base_facts), run_right, run_total)
        )
    return Comparison(
        baseline_model=dict(baseline.model),
        candidate_model={"name": model_info.get("name"), "fingerprint": model_info.get("fingerprint")},
        changes=changes,
        relations=relations,
        suite_changes=suite_changes,
        settings_changes=settings_changes,
        not_run=sorted(set(baseline.facts) - set(seen)),
        moved=_moved_suites(baseline, suites_info, set(baseline.facts) - set(seen), set(seen) - set(baseline.facts)),
        templates_not_asked=not_asked,
    )


def _moved_suites(baseline: Baseline, suites_info: Mapping[str, Mapping[str, Any]], not_run: set[str],
                  new: set[str]) -> dict[str, str]:
    """Baseline relations not run whose suite's content hash is that of exactly one relation new in this run."""
    moved = {}
    for relation in sorted(not_run):
        base_hash = baseline.suites.get(relation, {}).get("content_hash")
        same = [other for other in sorted(new) if base_hash and (suites_info.get(other) or {}).get("content_hash") == base_hash]
        if len(same) == 1:
            moved[relation] = same[0]
    return moved


def accuracy_by_relation(results: Iterable[FactResult]) -> dict[str, tuple[int, int]]:
    """Relation -> (facts said right, facts run)."""
    tallies: dict[str, list[int]] = {}
    for result in results:
        tally = tallies.setdefault(result.relation, [0, 0])
        tally[0] += result.say_pass
        tally[1] += 1
    return {relation: (said, total) for relation, (said, total) in sorted(tallies.items())}


def threshold_failures(
    results: Iterable[FactResult], thresholds: Mapping[str, float], unchecked: Mapping[str, int] | None = None
) -> list[tuple[str, float, float]]:
    """(relation, accuracy, threshold) for each relation whose say-accuracy is below its minimum.

    Relations with a threshold but no results were not run and are not failures. `unchecked`: how many of a
    relation's facts this run did not check (a selection, a skip): it misses its minimum only if it would even were
    they all said right, and its accuracy is then that best case.
    """
    failures = []
    for relation, (said, total) in accuracy_by_relation(results).items():
        threshold = thresholds.get(relation)
        left_out = (unchecked or {}).get(relation, 0)
        best = (said + left_out) / (total + left_out) if total else 1.0
        if threshold is not None and total and best < threshold:
            failures.append((relation, best, float(threshold)))
    return failures


def thresholds_undecided(results: Iterable[FactResult], thresholds: Mapping[str, float],
                         unchecked: Mapping[str, int]) -> list[str]:
    """The relations whose minimum accuracy the facts this run left unchecked (`unchecked`) could decide either way."""
    undecided = []
    for relation, (said, total) in accuracy_by_relation(results).items():
        threshold, left_out = thresholds.get(relation), unchecked.get(relation, 0)
        if threshold is not None and left_out and said / (total + left_out) < threshold <= (said + left_out) / (total + left_out):
            undecided.append(relation)
    return undecided
