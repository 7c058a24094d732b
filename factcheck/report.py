"""Per-fact records: the verdicts, what a failure shows, the per-relation table and the JSON report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .cache import write_json_atomic
from .knowcheck import VERDICTS, KnowOutcome, verdict_class
from .saycheck import FactOutcome, SayOptions
from .suite import Fact, Suite

if TYPE_CHECKING:
    from .session import FactcheckSession

TOP_CANDIDATES_SHOWN = 5
REPORT_VERSION = 1
REQUIRE_MODES = ("says", "knows", "both", "agree")


@dataclass(frozen=True)
class DistractedResult:
    outcome: FactOutcome
    know: KnowOutcome | None
    say_check: str

    @property
    def say_pass(self) -> bool:
        return self.outcome.ranking_pass if self.say_check == "ranking" else self.outcome.generation_pass


@dataclass
class FactRecord:
    suite: Suite
    outcome: FactOutcome
    say_check: str
    know: KnowOutcome | None = None  # None: no LRE for this relation, or a training fact
    require: str = "says"
    distracted: DistractedResult | None = None
    regression: str | None = None  # set by the baseline gate when this fact regressed

    @property
    def fact(self) -> Fact:
        return self.outcome.fact

    @property
    def say_pass(self) -> bool:
        return self.outcome.ranking_pass if self.say_check == "ranking" else self.outcome.generation_pass

    @property
    def know_pass(self) -> bool | None:
        # Training facts shaped the LRE: decoding them is no evidence of knowledge.
        if self.know is None or self.outcome.is_training:
            return None
        return self.know.know_pass

    @property
    def verdict(self) -> str | None:
        know = self.know_pass
        return None if know is None else verdict_class(self.say_pass, know)

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

    def to_dict(self) -> dict[str, object]:
        o = self.outcome
        return {
            "relation": self.suite.relation_id,
            "subject": o.fact.subject,
            "object": o.fact.object,
            "aliases": list(o.fact.aliases),
            "tags": list(o.fact.tags),
            "training": o.is_training,
            "generated": o.generated,
            "generation_pass": o.generation_pass,
            "ranking_pass": o.ranking_pass,
            "margin": None if o.margin is None else round(o.margin, 6),
            "margin_exact": o.margin_is_exact,
            "say_check": self.say_check,
            "say_pass": self.say_pass,
            "top_candidates": [
                {"text": c.text, "logprob": round(c.logprob, 6), "exact": c.exact} for c in o.candidates[:TOP_CANDIDATES_SHOWN]
            ],
            "know_pass": self.know_pass,
            "verdict": self.verdict,
            "lre_top_tokens": [] if self.know is None else [{"token": t, "probability": p} for t, p in self.know.top_tokens],
            "lre_object_rank": None if self.know is None else self.know.object_rank,
            **({"distracted": self._distracted_dict()} if self.distracted is not None else {}),
        }

    def _distracted_dict(self) -> dict[str, object]:
        d = self.distracted
        know = None if d.know is None or self.outcome.is_training else d.know.know_pass
        return {"generated": d.outcome.generated, "say_pass": d.say_pass, "know_pass": know}

    def user_properties(self) -> list[tuple[str, object]]:
        """Per-fact data for pytest's user_properties (and so for --junitxml)."""
        data = self.to_dict()
        return [(f"factcheck_{key}", json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value) for key, value in data.items()]

    def explain(self) -> str:
        """The failure report: one screen that says why."""
        o = self.outcome
        demos = len(o.prompt.split("\n")) - 1
        last_line = o.prompt.rsplit("\n", 1)[-1]
        expected = repr(o.fact.object) + (f" (aliases: {', '.join(map(repr, o.fact.aliases))})" if o.fact.aliases else "")
        failing = "is not said" if not self.say_pass else f"fails the '{self.require}' requirement"
        lines = [
            f"fact {self.suite.relation_id}[{o.fact.subject}] {failing} ({self.say_check} check; verdict: {self.verdict or 'no know-check'})",
            *([f"  {self.regression}"] if self.regression else []),
            f"  prompt     : {last_line!r}  (after {demos} demonstration{'s' if demos != 1 else ''})",
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
        if self.know is not None:
            decoded = ", ".join(f"{t!r} {p:.2f}" for t, p in self.know.top_tokens)
            knows = {True: "PASS", False: "FAIL", None: "not scored"}[self.know_pass]
            lines.append(f"  LRE decodes: {decoded}  -> know {knows} (expected object ranks {self.know.object_rank} among the candidates)")
        if o.is_training:
            lines.append("  (training fact: checked with the other demonstrations only; not scored as knowledge)")
        return "\n".join(lines)


@dataclass(frozen=True)
class LreInfo:
    """How a relation's LRE was made and how far its know-verdicts can be trusted."""

    layer: int | str
    beta: float
    rank: int | None
    n_train: int
    faithfulness: float | None
    faithfulness_tested: int
    trusted: bool
    cache_hit: bool
    lre: object = field(default=None, compare=False, repr=False)  # the Lre itself, for the lens

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer, "beta": self.beta, "rank": self.rank, "n_train": self.n_train,
            "faithfulness": None if self.faithfulness is None else round(self.faithfulness, 6),
            "faithfulness_tested": self.faithfulness_tested, "trusted": self.trusted, "cache_hit": self.cache_hit,
        }


@dataclass
class RelationRun:
    suite: Suite
    options: SayOptions
    say_check: str
    outcomes: list[FactOutcome]
    seconds: float
    knows: list[KnowOutcome] | None = None
    lre: LreInfo | None = None
    require: str = "says"
    distracted: list[DistractedResult] | None = None
    asked: set[int] = field(default_factory=set)

    def record(self, index: int) -> FactRecord:
        return FactRecord(
            suite=self.suite,
            outcome=self.outcomes[index],
            say_check=self.say_check,
            know=None if self.knows is None else self.knows[index],
            require=self.require,
            distracted=None if self.distracted is None else self.distracted[index],
        )


def summary_lines(runs: list[RelationRun]) -> list[str]:
    """The per-relation table: facts run, said right (generation, ranking), and the four knows-vs-says classes."""
    header = (
        f"{'relation':<28} {'facts':>5} {'generation':>11} {'ranking':>11} "
        + " ".join(f"{v:>10}" for v in VERDICTS)
        + f" {'LRE faith.':>10}"
    )
    lines = [header, "-" * len(header)]
    warnings = []
    totals = {"facts": 0, "generation": 0, "ranking": 0, **{v: 0 for v in VERDICTS}}
    for run in sorted(runs, key=lambda r: r.suite.relation_id):
        records = [run.record(i) for i in sorted(run.asked)]
        if not records:
            continue
        classes = {v: sum(r.verdict == v for r in records) for v in VERDICTS}
        generation = sum(r.outcome.generation_pass for r in records)
        ranking = sum(r.outcome.ranking_pass for r in records)
        for key, value in (("facts", len(records)), ("generation", generation), ("ranking", ranking), *classes.items()):
            totals[key] += value
        faith = "-"
        if run.lre is not None:
            faith = "n/a" if run.lre.faithfulness is None else f"{run.lre.faithfulness:.2f}"
            if not run.lre.trusted:
                faith += " !"
                warnings.append(
                    f"! {run.suite.relation_id}: the LRE (layer {run.lre.layer}) is not faithful enough "
                    f"({faith.rstrip(' !')} on {run.lre.faithfulness_tested} facts); its know-verdicts are not trusted: "
                    "the relation may not be linearly decodable at this layer (try `factcheck tune`)"
                )
        lines.append(
            f"{run.suite.relation_id:<28} {len(records):>5} {_fraction(generation, len(records)):>11} "
            f"{_fraction(ranking, len(records)):>11} " + " ".join(f"{classes[v]:>10}" for v in VERDICTS) + f" {faith:>10}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'all relations':<28} {totals['facts']:>5} {_fraction(totals['generation'], totals['facts']):>11} "
        f"{_fraction(totals['ranking'], totals['facts']):>11} " + " ".join(f"{totals[v]:>10}" for v in VERDICTS)
    )
    lines.append("classes: known = stored and said, hidden = stored not said, unfaithful = said not decodable, unknown = neither"
                 " (training facts have none)")
    return lines + warnings


def distracted_lines(runs: list[RelationRun]) -> list[str]:
    """Say- and know-accuracy on plain vs distracted prompts, for relations that ask for distractors."""
    rows = []
    for run in sorted(runs, key=lambda r: r.suite.relation_id):
        if run.distracted is None:
            continue
        records = [run.record(i) for i in sorted(run.asked) if not run.outcomes[i].is_training]
        if not records:
            continue
        knows = [r for r in records if r.know_pass is not None]
        distracted_knows = [r for r in records if r.distracted.know is not None]
        rows.append(
            f"{run.suite.relation_id:<28} {_fraction(sum(r.say_pass for r in records), len(records)):>11} "
            f"{_fraction(sum(r.distracted.say_pass for r in records), len(records)):>11} "
            f"{_fraction(sum(r.know_pass for r in knows), len(knows)):>11} "
            f"{_fraction(sum(r.distracted.know.know_pass for r in distracted_knows), len(distracted_knows)):>11}"
        )
    if not rows:
        return []
    header = f"{'relation':<28} {'says':>11} {'says (dis.)':>11} {'knows':>11} {'knows (dis.)':>11}"
    return [header, "-" * len(header), *rows]


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole} {100 * part / whole:3.0f}%" if whole else "-"


def report_document(session: FactcheckSession) -> dict[str, object]:
    model = session.model
    runs = sorted(session.runs(), key=lambda r: r.suite.relation_id)
    return {
        "factcheck_report_version": REPORT_VERSION,
        "factcheck_version": __version__,
        "model": {"name": model.name, "fingerprint": model.fingerprint, "architecture": model.architecture,
                  "dtype": str(model.dtype).removeprefix("torch."), "device": str(model.device)},
        "suites": {run.suite.relation_id: {"path": str(run.suite.path), "content_hash": run.suite.content_hash,
                                            "relation": run.suite.relation, "shots": run.options.shots,
                                            "lre": None if run.lre is None else run.lre.to_dict()}
                   for run in runs},
        "facts": [run.record(i).to_dict() for run in runs for i in sorted(run.asked)],
    }


def write_report(path: Path, session: FactcheckSession) -> Path:
    from .results import validate_report

    document = report_document(session)
    validate_report(document, path)  # a report that does not match its own schema is a bug: fail before writing
    write_json_atomic(path, document)
    return path


def _margin_text(outcome) -> str:
    if outcome.margin_is_exact:
        return f"{outcome.margin:+.3f}"
    # A bounded margin errs towards zero: the fact passes or fails by at least this much.
    return f"{'>=' if outcome.ranking_pass else '<='} {outcome.margin:+.3f}"
