"""Per-fact records: the verdicts, what a failure shows, the per-relation table and the JSON report."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

from factcheck import __version__
from factcheck.cache import write_json_atomic
from factcheck.fact_result import DistractedSummary, FactResult, KnowResult, RankedCandidate, SayResult, TemplateResult, combine_verdicts
from factcheck.knows.know_rules import UNDECIDED_HINT, UNDECIDED_MEANING, Undecided
from factcheck.knows.knowcheck import KnowOutcome, verdict_class
from factcheck.reports.run_summary import LreInfo, RelationSummary, RunSummary
from factcheck.says.saycheck import FactOutcome, SayOptions
from factcheck.suites.suite import Fact, Suite
from factcheck.types import REPORT_VERSION, VERDICTS

TOP_CANDIDATES_SHOWN = 5
PATHS_NAMED = 4  # an LRE decode path used by this many relations or fewer lists them by name


@dataclass(frozen=True)
class DistractedResult:
    outcome: FactOutcome
    know: KnowOutcome | None
    say_check: str

    @property
    def say_pass(self) -> bool:
        return self.outcome.ranking_pass if self.say_check == "ranking" else self.outcome.generation_pass


@dataclass(frozen=True, eq=False)
class FactRecord:
    """One fact of a run with everything the run computed for it; `result` is its typed summary."""

    suite: Suite
    outcome: FactOutcome
    say_check: str
    know: KnowOutcome | None = None  # None: no LRE for this relation, or a training fact
    require: str = "says"
    distracted: DistractedResult | None = None
    lre_trusted: bool | None = None  # whether the template's LRE is faithful enough to class facts (None: no LRE)
    template: str | None = None  # the template this record asked under (None: the suite's first)
    # The same fact under the suite's other templates, and how the fact's verdicts combine theirs (factcheck.types.TEMPLATE_MODES)
    other_phrasings: tuple[FactRecord, ...] = ()
    template_mode: str = "all"

    @property
    def fact(self) -> Fact:
        return self.outcome.fact

    @property
    def phrasings(self) -> tuple[FactRecord, ...]:
        """This record and the same fact's records under the other templates, in the suite's order."""
        return (self, *self.other_phrasings)

    @property
    def phrasing_say_pass(self) -> bool:
        """Said under this record's own template."""
        return self.outcome.ranking_pass if self.say_check == "ranking" else self.outcome.generation_pass

    @property
    def say_pass(self) -> bool:
        """The fact's say-verdict: its templates' verdicts combined by the template mode."""
        return bool(combine_verdicts(self.template_mode, [r.phrasing_say_pass for r in self.phrasings]))

    @property
    def lre_decodes_object(self) -> bool | None:
        """What the LRE's top token says about the object, where its first token decides (None: undecided,
        no LRE, or a training fact: training facts shaped the LRE, so decoding them is no evidence)."""
        if self.know is None or self.outcome.is_training:
            return None
        return self.know.decodes_object

    @property
    def distracted_know_pass(self) -> bool | None:
        """The know-verdict on the distracted prompt, with the same conditions as `know_pass`."""
        d = self.distracted
        if d is None or d.know is None or self.outcome.is_training or not self.lre_trusted:
            return None
        return d.know.decodes_object

    @property
    def model_first_token_probability(self) -> float | None:
        """The model's own next-token probability of the answer token the evidence is about: the accepted first
        token the LRE scores highest (else the model's likeliest accepted first token)."""
        probabilities = self.outcome.answer_first_token_probabilities
        if self.know is not None and self.know.object_token_id in probabilities:
            return probabilities[self.know.object_token_id]
        return max(probabilities.values(), default=None)

    @property
    def decoded_answer(self) -> str:
        """The accepted answer whose first token the LRE decodes on top (the object when it decodes none)."""
        top = None if self.know is None else self.know.object_token_id
        if self.know is not None and self.know.top1_is_answer:
            return next((c.text for c in self.outcome.candidates if c.correct and c.first_token == top), self.fact.object)
        return self.fact.object

    def evidence(self) -> list[str]:
        """What a reader needs to judge a know-verdict (above all a claim of stored-but-not-said), as sentences."""
        know, outcome = self.know, self.outcome
        if know is None or outcome.is_training:
            return []
        token = "-" if know.object_token is None else repr(know.object_token)
        return [
            f"the answer's first token {token} in the LRE's decoding: rank {_or_dash(know.object_vocab_rank)} of the vocabulary, "
            f"probability {_probability(know.object_probability)}; rank {know.object_rank} among the candidates' first tokens",
            f"the model's own probability of that token: {_probability(self.model_first_token_probability)}; "
            f"the ranking check {'ranks the object first' if outcome.ranking_pass else 'does not rank the object first'}",
        ]

    @property
    def undecided(self) -> Undecided | None:
        if self.know is None or self.outcome.is_training:
            return None
        return self.know.undecided

    @property
    def phrasing_know_pass(self) -> bool | None:
        """The know-verdict under this record's own template: decided, and that template's LRE trusted."""
        return self.lre_decodes_object if self.lre_trusted else None

    @property
    def know_pass(self) -> bool | None:
        """The know-verdict that counts: its templates' verdicts (where they have one) combined by the template mode."""
        return combine_verdicts(self.template_mode, [r.phrasing_know_pass for r in self.phrasings])

    @property
    def verdict(self) -> str | None:
        know = self.know_pass
        return None if know is None else verdict_class(self.say_pass, know)

    @property
    def phrasing_verdict(self) -> str | None:
        know = self.phrasing_know_pass
        return None if know is None else verdict_class(self.phrasing_say_pass, know)

    def hidden_phrasing(self) -> FactRecord:
        """The template whose evidence backs a 'hidden' verdict: the first that is stored and not said on its own
        (this record where none is)."""
        return next((r for r in self.phrasings if r.phrasing_verdict == "hidden"), self)

    @property
    def failing_phrasings(self) -> list[FactRecord]:
        """The templates under which the fact is not said (or, for a know requirement, not decoded)."""
        return [r for r in self.phrasings if not r._passes_alone()]

    def _passes_alone(self) -> bool:
        return dataclasses.replace(self, other_phrasings=()).passed

    @property
    def passed(self) -> bool:
        """Whether the test passes under the `require` mode (facts without a know-verdict are judged by what they say)."""
        know = self.know_pass
        if self.require == "says" or know is None:
            return self.say_pass
        if self.require == "knows":
            return know
        if self.require == "both":
            return self.say_pass and know
        return self.say_pass == know  # agree

    @cached_property
    def result(self) -> FactResult:
        """What the report, the baseline and the gate keep of this fact; built once."""
        o = self.outcome
        mode, phrasings = self.template_mode, self.phrasings
        say = SayResult(
            check=self.say_check,
            generation_pass=bool(combine_verdicts(mode, [r.outcome.generation_pass for r in phrasings])),
            ranking_pass=bool(combine_verdicts(mode, [r.outcome.ranking_pass for r in phrasings])),
            generated=o.generated,
            margin=None if o.margin is None else round(o.margin, 6),
            margin_exact=o.margin_is_exact,
            top_candidates=tuple(RankedCandidate(c.text, round(c.logprob, 6), c.exact) for c in o.candidates[:TOP_CANDIDATES_SHOWN]),
            first_token_probability=self.model_first_token_probability,
        )
        know_result = None
        # The decoding shown is the first template's that has an LRE; trust and the decode combine the templates whose
        # LRE is trusted (all of them where none is), as the know-verdict does.
        source = next((r for r in phrasings if r.know is not None), None)
        if source is not None:
            trusted = [r for r in phrasings if r.lre_trusted]
            judged = trusted or [r for r in phrasings if r.know is not None]
            know = source.know
            know_result = KnowResult(
                passed=self.know_pass,
                trusted=bool(trusted) if any(r.lre_trusted is not None for r in phrasings) else None,
                decodes_object=combine_verdicts(mode, [r.lre_decodes_object for r in judged]),
                undecided=source.undecided,
                top_tokens=tuple(know.top_tokens),
                object_rank=know.object_rank,
                object_vocab_rank=know.object_vocab_rank,
                object_probability=know.object_probability,
            )
        distracted = None
        if self.distracted is not None:
            distracted = DistractedSummary(self.distracted.outcome.generated, self.distracted.say_pass, self.distracted_know_pass)
        return FactResult(
            relation=self.suite.relation_id,
            subject=o.fact.subject,
            object=o.fact.object,
            say=say,
            know=know_result,
            verdict=self.verdict,
            training=o.is_training,
            aliases=tuple(o.fact.aliases),
            tags=tuple(o.fact.tags),
            distracted=distracted,
            templates=tuple(r.template_result() for r in phrasings) if len(phrasings) > 1 else (),
            template_mode=mode if len(phrasings) > 1 else None,
        )

    def template_result(self) -> TemplateResult:
        """What the report and the baseline keep of this record's own template."""
        o = self.outcome
        return TemplateResult(
            template=self.template or self.suite.templates[0], say_pass=self.phrasing_say_pass,
            generation_pass=o.generation_pass, ranking_pass=o.ranking_pass, generated=o.generated,
            margin=None if o.margin is None else round(o.margin, 6), know_pass=self.phrasing_know_pass,
            verdict=self.phrasing_verdict,
        )

    def to_dict(self) -> dict[str, object]:
        """The fact's entry of the JSON report."""
        return self.result.to_dict()

    def _know_lines(self) -> list[str]:
        know = self.know
        decoded = ", ".join(f"{t!r} {p:.2f}" for t, p in know.top_tokens)
        if self.outcome.is_training:
            result = "not scored"
        elif self.undecided is not None:
            result = f"UNDECIDED: {self.undecided.describe()}"
        else:
            result = "PASS" if self.lre_decodes_object else "FAIL"
            if not self.lre_trusted:
                result += " (the relation's LRE is untrusted: no knows/says class)"
        lines = [f"  LRE decodes: {decoded}  -> know {result}"]
        evidence = self.evidence()
        if evidence:
            lines.append("  evidence for 'stored but not said':" if self.phrasing_verdict == "hidden" else "  evidence:")
            lines += [f"    {sentence}" for sentence in evidence]
        return lines

    def _verdict_text(self) -> str:
        if self.verdict is not None:
            return self.verdict
        if self.know is None:
            return "no know-check"
        if self.outcome.is_training:
            return "none for a training fact"
        if self.undecided is not None:
            return f"undecided ({self.undecided.reason.replace('_', ' ')})"
        return "none: the relation's LRE is untrusted"

    def _template_lines(self) -> list[str]:
        """Under several templates: which phrasings the fact passes and fails under (the details below are the first
        failing one's)."""
        if len(self.phrasings) < 2:
            return []
        passing = sum(r._passes_alone() for r in self.phrasings)
        rule = {"all": "every template must pass", "any": "one template suffices"}.get(self.template_mode, self.template_mode)
        lines = [f"  templates  : passes under {passing} of {len(self.phrasings)} ({rule}; details below: the first failing one)"]
        for r in self.phrasings:
            know = {True: ", know PASS", False: ", know FAIL", None: ""}[r.phrasing_know_pass]
            lines.append(f"    {'PASS' if r._passes_alone() else 'FAIL'} {r.template or self.suite.templates[0]!r} -> "
                         f"{r.outcome.generated!r}{know}")
        return lines

    def user_properties(self) -> list[tuple[str, object]]:
        """Per-fact data for pytest's user_properties (and so for --junitxml)."""
        data = self.to_dict()
        return [
            (f"factcheck_{key}", json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value)
            for key, value in data.items()
        ]

    def explain(self, regression: str | None = None) -> str:
        """The failure report: one screen that says why (`regression`: the gate's note when the fact regressed)."""
        # Under several templates the details are those of the first template the fact fails under.
        shown = next(iter(self.failing_phrasings), self)
        o = shown.outcome
        question, demos = o.question, o.demonstration_count
        if demos is None:  # an outcome made without its prompt's parts: each demonstration takes the template's lines
            question_lines = (shown.template or self.suite.templates[0]).count("\n") + 1
            lines = o.prompt.split("\n")
            demos = max(0, len(lines) // question_lines - 1)
            question = "\n".join(lines[-question_lines:])
        where = "the last chat turn, " if o.answer_separator == "" else ""
        expected = repr(o.fact.object) + (f" (aliases: {', '.join(map(repr, o.fact.aliases))})" if o.fact.aliases else "")
        failing = "is not said" if not self.say_pass else f"fails the '{self.require}' requirement"
        lines = [
            f"fact {self.suite.relation_id}[{o.fact.subject}] {failing} ({self.say_check} check; verdict: {self._verdict_text()})",
            *([f"  {regression}"] if regression else []),
            *self._template_lines(),
            f"  prompt     : {question!r}  ({where}after {demos} demonstration{'s' if demos != 1 else ''})",
            f"  expected   : {expected}",
            f"  generated  : {o.generated!r}  -> generation {'PASS' if o.generation_pass else 'FAIL'}",
            f"  ranking    : {'PASS' if o.ranking_pass else 'FAIL'}"
            + (f", margin {_margin_text(o)} (best right minus best wrong log-probability)" if o.margin is not None else ""),
            "  top candidates (log-probability; * right answer, <= scored in part, an upper bound):",
        ]
        for candidate in o.candidates[:TOP_CANDIDATES_SHOWN]:
            mark = "*" if candidate.correct else " "
            bound = "  " if candidate.exact else "<="
            lines.append(f"   {mark} {bound}{candidate.logprob:9.3f}  {candidate.text}")
        if shown.know is not None:
            lines += shown._know_lines()
        if o.is_training:
            lines.append("  (training fact: checked with the other demonstrations only; not scored as knowledge)")
        return "\n".join(lines)


@dataclass
class PhrasingRun:
    """A relation's facts asked under one of its templates: the say-outcomes and, where that template has an LRE,
    the know-outcomes."""

    template: str
    outcomes: list[FactOutcome]
    knows: list[KnowOutcome] | None = None
    lre: LreInfo | None = None
    lre_skipped: str | None = None  # why this template has no LRE although the know-check is on
    distracted: list[DistractedResult] | None = None


@dataclass
class RelationRun:
    suite: Suite
    options: SayOptions
    say_check: str
    phrasings: list[PhrasingRun]  # the suite's first template first
    seconds: float
    require: str = "says"
    template_mode: str = "all"
    asked: set[int] = field(default_factory=set)

    # The first template's pass: the lens, the distracted prompts and the fact's detailed results come from it.
    @property
    def outcomes(self) -> list[FactOutcome]:
        return self.phrasings[0].outcomes

    @property
    def knows(self) -> list[KnowOutcome] | None:
        return self.phrasings[0].knows

    @property
    def lre(self) -> LreInfo | None:
        return self.phrasings[0].lre

    @property
    def lre_skipped(self) -> str | None:
        return self.phrasings[0].lre_skipped

    @property
    def distracted(self) -> list[DistractedResult] | None:
        return self.phrasings[0].distracted

    def _phrasing_records(self, phrasing: PhrasingRun) -> list[FactRecord]:
        return [
            FactRecord(
                suite=self.suite,
                outcome=outcome,
                say_check=self.say_check,
                know=None if phrasing.knows is None else phrasing.knows[index],
                require=self.require,
                distracted=None if phrasing.distracted is None else phrasing.distracted[index],
                lre_trusted=None if phrasing.lre is None else phrasing.lre.trusted,
                template=phrasing.template,
                template_mode=self.template_mode,
            )
            for index, outcome in enumerate(phrasing.outcomes)
        ]

    @cached_property
    def records(self) -> list[FactRecord]:
        """One record per fact (its first template's, holding the others'), made once (so is each record's result)."""
        first, *others = [self._phrasing_records(phrasing) for phrasing in self.phrasings]
        return [
            dataclasses.replace(record, other_phrasings=tuple(other[index] for other in others))
            for index, record in enumerate(first)
        ]

    def record(self, index: int) -> FactRecord:
        return self.records[index]

    def asked_records(self) -> list[FactRecord]:
        return [self.records[i] for i in sorted(self.asked)]

    def summary(self, lens: tuple = ()) -> RelationSummary:
        """The run as the reports need it (`lens`: heatmaps of its hidden facts, drawn by the caller)."""
        records = self.asked_records()
        suite = self.suite
        return RelationSummary(
            relation_id=suite.relation_id, relation=suite.relation, path=str(suite.path), content_hash=suite.content_hash,
            shots=self.options.shots, results=tuple(r.result for r in records), indices=tuple(sorted(self.asked)),
            lre=self.lre, lre_skipped=self.lre_skipped,
            templates=tuple(p.template for p in self.phrasings),
            other_lres=tuple(p.lre for p in self.phrasings[1:]),
            other_lres_skipped=tuple(p.lre_skipped for p in self.phrasings[1:]),
            min_accuracy=suite.settings.min_accuracy, distracted=self.distracted is not None,
            evidence={r.fact.subject: tuple(r.hidden_phrasing().evidence()) for r in records if r.verdict == "hidden"},
            lens=tuple(lens),
            suite_facts=tuple((fact.subject, fact.object) for fact in suite.facts),
        )


def undecided_count(results: Sequence[FactResult]) -> int:
    return sum(is_undecided(r) for r in results)


def is_undecided(result: FactResult) -> bool:
    return result.know is not None and result.know.undecided is not None


def summary_lines(summary: RunSummary) -> list[str]:
    """The per-relation table: facts run, said right (generation, ranking), the four knows-vs-says classes,
    the facts whose first token cannot decide, and the LRE's faithfulness with its 95% interval."""
    relations = summary.relations
    width = _relation_width(relations)
    # The consistency column (share of facts said alike under each template) where any relation has several templates.
    several = any(len(relation.templates) > 1 for relation in relations)
    header = (
        f"{'relation':<{width}} {'facts':>5} {'generation':>11} {'ranking':>11} "
        + " ".join(f"{v:>10}" for v in (*VERDICTS, "undecided"))
        + (f" {'consistent':>11}" if several else "")
        + f"  {'LRE faithfulness [95%] n':<24}"
    )
    template_lines = []
    lines = [header, "-" * len(header)]
    warnings = []
    totals = {"facts": 0, "generation": 0, "ranking": 0, **{v: 0 for v in VERDICTS}, "undecided": 0}
    for relation in relations:
        results = relation.results
        if not results:
            continue
        relation_id, lre = relation.relation_id, relation.lre
        classes = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
        undecided = undecided_count(results)
        generation = sum(r.say.generation_pass for r in results)
        ranking = sum(r.say.ranking_pass for r in results)
        for key, value in (("facts", len(results)), ("generation", generation), ("ranking", ranking), *classes.items(), ("undecided", undecided)):
            totals[key] += value
        faith = "-"
        lres = [info for _, info, _ in relation.template_lres if info is not None]
        class_cells = [f"{classes[v]:>10}" if lres else f"{'-':>10}" for v in VERDICTS]
        if lre is not None:
            faith = lre.faithfulness.describe()
            if not lre.trusted:
                faith += " untrusted"
        # A further template's trusted LRE still classes the facts (by that template's know-verdicts).
        if lre is not None and not any(info.trusted for info in lres):
            class_cells = [f"{'-':>10}"] * len(VERDICTS)
            all_undecided = lre.faithfulness.tested == 0 and lre.faithfulness.undecided > 0
            remedy = "make its first tokens decide: see the hint below" if all_undecided else "try `factcheck tune`, or add facts"
            warnings.append(
                f"! {relation_id}: LRE (layer {lre.layer}) untrusted: {lre.faithfulness.why_untrusted()}; "
                f"its facts are not classed and their regressions not split ({remedy})"
            )
        if relation.lre_skipped:
            warnings.append(f"! {relation_id}: {relation.lre_skipped}")
        if undecided:
            reasons = Counter(r.know.undecided.reason.replace("_", " ") for r in results if is_undecided(r))
            warnings.append(
                f"! {relation_id}: {undecided} fact(s) undecided ("
                + ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items())) + ")"
            )
        consistent_cell = ""
        if several:
            judged = [r.consistent for r in results if r.consistent is not None]
            consistent_cell = f" {_fraction(sum(judged), len(judged)):>11}" if judged else f" {'-':>11}"
            template_lines += _template_lines(relation)
        lines.append(
            f"{relation_id:<{width}} {len(results):>5} {_fraction(generation, len(results)):>11} "
            f"{_fraction(ranking, len(results)):>11} " + " ".join(class_cells) + f" {undecided:>10}{consistent_cell}  {faith}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'all relations':<{width}} {totals['facts']:>5} {_fraction(totals['generation'], totals['facts']):>11} "
        f"{_fraction(totals['ranking'], totals['facts']):>11} " + " ".join(f"{totals[v]:>10}" for v in (*VERDICTS, "undecided"))
    )
    if template_lines:
        lines.append("per template (a fact's verdicts combine its templates' by the templates setting: all, any or first):")
        lines += template_lines
    lines.append("classes: known = stored and said, hidden = stored not said, unfaithful = said not decodable, unknown = neither"
                 " (training facts have none); " + UNDECIDED_MEANING)
    paths = lre_paths_line(relations)
    if paths:
        lines.append(paths)
    if totals["undecided"]:
        warnings.append(f"  undecided facts: {UNDECIDED_HINT}")
    return lines + warnings


def _template_lines(relation: RelationSummary) -> list[str]:
    """Each template of a relation asked under several: facts said under it, and its LRE's faithfulness."""
    if len(relation.templates) < 2:
        return []
    lines = []
    for index, (template, lre, skipped) in enumerate(relation.template_lres):
        said = [next(t.say_pass for t in r.templates if t.template == template) for r in relation.results if r.templates]
        faith = skipped or ("no LRE" if lre is None else lre.faithfulness.describe() + ("" if lre.trusted else " untrusted"))
        lines.append(f"  {relation.relation_id} #{index + 1} {template!r}: said {_fraction(sum(said), len(said))}, LRE {faith}")
    return lines


def lre_paths_line(relations: Sequence[RelationSummary]) -> str | None:
    """How each relation's LRE was decoded: W from the cache, W estimated now, or exactly without W."""
    paths: dict[str, list[str]] = {}
    for relation in sorted(relations, key=lambda r: r.relation_id):
        lre = relation.lre
        if lre is None:
            continue
        if lre.decode == "implicit":
            path = "without W, decodes cached" if lre.cache_hit else "without W (Jacobian-vector products, exact)"
        else:
            path = "W cached" if lre.cache_hit else "W estimated"
        paths.setdefault(path, []).append(relation.relation_id)
    if not paths:
        return None
    parts = [f"{path}: {len(ids)}" + (f" ({', '.join(ids)})" if len(ids) <= PATHS_NAMED else "") for path, ids in paths.items()]
    return "LRE decode: " + "; ".join(parts)


def distracted_lines(summary: RunSummary) -> list[str]:
    """Say- and know-accuracy on plain vs distracted prompts, for relations that ask for distractors."""
    width = _relation_width(summary.relations)
    rows = []
    for relation in summary.relations:
        if not relation.distracted:
            continue
        results = [r for r in relation.results if not r.training]
        if not results:
            continue
        decided = decided_on_both(results)
        rows.append(
            f"{relation.relation_id:<{width}} {_fraction(sum(r.say_pass for r in results), len(results)):>11} "
            f"{_fraction(sum(r.distracted.say_pass for r in results), len(results)):>11} "
            f"{_fraction(sum(r.know_pass for r in decided), len(decided)):>11} "
            f"{_fraction(sum(r.distracted.know_pass for r in decided), len(decided)):>11}"
        )
    if not rows:
        return []
    header = f"{'relation':<{width}} {'says':>11} {'says (dis.)':>11} {'knows':>11} {'knows (dis.)':>11}"
    return [header, "-" * len(header), *rows]


def _relation_width(relations: Sequence[RelationSummary]) -> int:
    """The relation column fits the longest relation id (a suite's path below its `suites` folder)."""
    return max([28, *(len(relation.relation_id) for relation in relations)])


def decided_on_both(results: Sequence[FactResult]) -> list[FactResult]:
    """Facts with a know-verdict on the plain and on the distracted prompt: the two know columns compare these."""
    return [r for r in results if r.know_pass is not None and r.distracted is not None and r.distracted.know_pass is not None]


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole} {100 * part / whole:3.0f}%" if whole else "-"


def report_document(summary: RunSummary, incomplete: str | None = None) -> dict[str, object]:
    """The JSON report; `incomplete` says why the run's results are partial (the key is absent otherwise)."""
    model = summary.model
    return {
        "factcheck_report_version": REPORT_VERSION,
        "factcheck_version": __version__,
        **({"incomplete": incomplete} if incomplete else {}),
        "model": {"name": model.name, "fingerprint": model.fingerprint, "architecture": model.architecture,
                  "dtype": model.dtype, "device": model.device},
        "suites": {relation.relation_id: {"path": relation.path, "content_hash": relation.content_hash,
                                          "relation": relation.relation, "shots": relation.shots,
                                          "lre": None if relation.lre is None else relation.lre.to_dict(),
                                          "undecided": undecided_count(relation.results),
                                          **_templates_entry(relation)}
                   for relation in summary.relations},
        "facts": [result.to_dict() for result in summary.results],
    }


def _templates_entry(relation: RelationSummary) -> dict[str, object]:
    """A relation asked under several templates: each template's LRE, and how consistent its facts' verdicts are."""
    if len(relation.templates) < 2:
        return {}
    return {
        "templates": [{"template": template, "lre": None if lre is None else lre.to_dict(), "lre_skipped": skipped}
                      for template, lre, skipped in relation.template_lres],
        "consistency": consistency(relation.results),
    }


def consistency(results: Sequence[FactResult]) -> float | None:
    """Share of the facts asked under several templates whose say-verdict is the same under each (None: no such fact)."""
    judged = [r.consistent for r in results if r.consistent is not None]
    return round(sum(judged) / len(judged), 6) if judged else None


def write_report(path: Path, summary: RunSummary, incomplete: str | None = None) -> Path:
    from factcheck.results import validate_report

    document = report_document(summary, incomplete)
    validate_report(document, path)  # a report that does not match its own schema is a bug: fail before writing
    write_json_atomic(path, document)
    return path


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def _probability(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _margin_text(outcome) -> str:
    if outcome.margin_is_exact:
        return f"{outcome.margin:+.3f}"
    # A bounded margin errs towards zero: the fact passes or fails by at least this much.
    return f"{'>=' if outcome.ranking_pass else '<='} {outcome.margin:+.3f}"
