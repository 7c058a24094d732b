"""Per-fact records as a session makes them: the verdicts, the say- and know-outcomes behind them, what a failure
shows, and each relation's run; a record becomes a FactResult, which the reports read."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cached_property

from factcheck.fact_result import DistractedSummary, FactResult, KnowResult, RankedCandidate, SayResult, TemplateResult, combine_verdicts, passes
from factcheck.knows.know_rules import Undecided
from factcheck.knows.knowcheck import KnowOutcome, verdict_class
from factcheck.reports.run_summary import LreInfo, RelationSummary
from factcheck.says.matching import answer_named_later, begins_like_an_answer, qualifier
from factcheck.says.saycheck import FactOutcome, SayOptions
from factcheck.suites.suite import Fact, Suite

TOP_CANDIDATES_SHOWN = 5


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
        return passes(self.require, self.say_pass, self.know_pass)

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
            prompt=o.prompt,
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
            template=(phrasings[0].template or self.suite.templates[0]) if len(phrasings) == 1 else None,
        )

    def template_result(self) -> TemplateResult:
        """What the report and the baseline keep of this record's own template."""
        o = self.outcome
        return TemplateResult(
            template=self.template or self.suite.templates[0], say_pass=self.phrasing_say_pass,
            generation_pass=o.generation_pass, ranking_pass=o.ranking_pass, generated=o.generated,
            margin=None if o.margin is None else round(o.margin, 6), know_pass=self.phrasing_know_pass,
            verdict=self.phrasing_verdict, prompt=o.prompt,
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
        elif not self.lre_trusted:
            # What it decodes is shown, but it is no verdict: the report's know_pass is null.
            result = (f"none (it {'decodes' if self.lre_decodes_object else 'does not decode'} the object, but the "
                      "relation's LRE is untrusted: no knows/says class)")
        else:
            result = "PASS" if self.lre_decodes_object else "FAIL"
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
        """Per-fact data for pytest's user_properties (and so for --junitxml); a value the fact does not have is left
        out (JUnit writes every value as text: None would read "None")."""
        data = self.to_dict()
        return [
            (f"factcheck_{key}", json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value)
            for key, value in data.items() if value is not None
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
        where = "the last chat turn, " if shown.suite.phrasing.chat else ""
        expected = repr(o.fact.object) + (f" (aliases: {', '.join(map(repr, o.fact.aliases))})" if o.fact.aliases else "")
        failing = "is not said" if not self.say_pass else f"fails the '{self.require}' requirement"
        qualifying = None if o.generation_pass else qualifier(o.generated, o.fact.answers)
        unexplained = not o.generation_pass and not o.cut_may_hide_the_answer and not qualifying
        begun = begins_like_an_answer(o.generated, o.fact.answers) if unexplained else None
        lines = [
            f"fact {self.suite.relation_id}[{o.fact.subject}] {failing} ({self.say_check} check; verdict: {self._verdict_text()})",
            *([f"  {regression}"] if regression else []),
            *self._template_lines(),
            f"  prompt     : {question!r}  ({where}after {demos} demonstration{'s' if demos != 1 else ''})",
            f"  expected   : {expected}",
            f"  generated  : {o.generated!r}  -> generation {'PASS' if o.generation_pass else 'FAIL'}"
            + ("  (cut by the token limit where the answer could go on: raise --factcheck-max-new-tokens)"
               if o.cut_may_hide_the_answer and not o.generation_pass else "")
            + (f"  (qualified by {qualifying!r} after the answer: an answer followed by another answer, a doubt, a correction, "
               "a contrast or a question is not said)" if qualifying else "")
            + (f"  (begins with {begun!r}, but what follows carries it on into another name or number, or hedges, corrects "
               "or denies it: see the README's matching rules; give a longer answer that is right as an alias)" if begun else "")
            + (f"  (names {later!r} later, not as its answer: generation judges the answer the text begins with)"
               if unexplained and not begun and (later := answer_named_later(o.generated, o.fact.answers)) else ""),
            f"  ranking    : {'PASS' if o.ranking_pass else 'FAIL'}"
            + ("" if o.has_wrong_candidate else " (no wrong candidate to rank against: the relation's other objects are "
                                                 "all this one; ranking needs facts with other objects)")
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
    the know-outcomes (in the order of the relation run's `computed` facts)."""

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
    prompt: str = "text"  # text or chat prompts
    know_check: bool = True  # False: the run was told to skip the know-check (--factcheck-lre off)
    asked: set[int] = field(default_factory=set)
    computed: tuple[int, ...] | None = None  # the suite's fact indices that ran, in order (None: every fact)

    @property
    def fact_indices(self) -> tuple[int, ...]:
        return tuple(range(len(self.suite.facts))) if self.computed is None else self.computed

    # The first template's pass: the lens, the distracted prompts and the fact's detailed results come from it. Its
    # lists hold the computed facts in order (`fact_indices`): all of the suite's unless part of it ran.
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
        """One record per computed fact (its first template's, holding the others'), in the suite's order, made once
        (so is each record's result)."""
        first, *others = [self._phrasing_records(phrasing) for phrasing in self.phrasings]
        return [
            dataclasses.replace(record, other_phrasings=tuple(other[position] for other in others))
            for position, record in enumerate(first)
        ]

    @cached_property
    def _positions(self) -> dict[int, int]:
        """Fact index -> its place in `records`."""
        return {fact_index: position for position, fact_index in enumerate(self.fact_indices)}

    def has_fact(self, index: int) -> bool:
        return index in self._positions

    def record(self, index: int) -> FactRecord:
        return self.records[self._positions[index]]

    def asked_records(self) -> list[FactRecord]:
        return [self.record(i) for i in sorted(self.asked)]

    def summary(self, lens: tuple = ()) -> RelationSummary:
        """The run as the reports need it (`lens`: heatmaps of its hidden facts, drawn by the caller)."""
        records = self.asked_records()
        suite = self.suite
        return RelationSummary(
            relation_id=suite.relation_id, relation=suite.relation, path=str(suite.path), content_hash=suite.content_hash,
            shots=self.options.shots, max_new_tokens=self.options.max_new_tokens, prompt=self.prompt,
            know_check=self.know_check, results=tuple(r.result for r in records), indices=tuple(sorted(self.asked)),
            lre=self.lre, lre_skipped=self.lre_skipped,
            templates=tuple(p.template for p in self.phrasings),
            other_lres=tuple(p.lre for p in self.phrasings[1:]),
            other_lres_skipped=tuple(p.lre_skipped for p in self.phrasings[1:]),
            min_accuracy=suite.settings.min_accuracy, distracted=self.distracted is not None,
            evidence={r.fact.subject: tuple(r.hidden_phrasing().evidence()) for r in records if r.verdict == "hidden"},
            lens=tuple(lens),
            suite_facts=tuple((fact.subject, fact.object) for fact in suite.facts),
        )


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def _probability(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _margin_text(outcome) -> str:
    if outcome.margin_is_exact:
        return f"{outcome.margin:+.3f}"
    # A bounded margin errs towards zero: the fact passes or fails by at least this much.
    return f"{'>=' if outcome.ranking_pass else '<='} {outcome.margin:+.3f}"
