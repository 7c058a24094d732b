"""Per-fact records: the verdicts, what a failure shows, the per-relation table and the JSON report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .cache import write_json_atomic
from .saycheck import FactOutcome, SayOptions
from .suite import Fact, Suite

if TYPE_CHECKING:
    from .session import FactcheckSession

TOP_CANDIDATES_SHOWN = 5
REPORT_VERSION = 1


@dataclass
class FactRecord:
    suite: Suite
    outcome: FactOutcome
    say_check: str
    regression: str | None = None  # set by the baseline gate when this fact regressed

    @property
    def fact(self) -> Fact:
        return self.outcome.fact

    @property
    def say_pass(self) -> bool:
        return self.outcome.ranking_pass if self.say_check == "ranking" else self.outcome.generation_pass

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
            "say_check": self.say_check,
            "say_pass": self.say_pass,
            "top_candidates": [
                {"text": c.text, "logprob": round(c.logprob, 6), "exact": c.exact} for c in o.candidates[:TOP_CANDIDATES_SHOWN]
            ],
        }

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
        lines = [
            f"fact {self.suite.relation_id}[{o.fact.subject}] is not said ({self.say_check} check)",
            *([f"  {self.regression}"] if self.regression else []),
            f"  prompt     : {last_line!r}  (after {demos} demonstration{'s' if demos != 1 else ''})",
            f"  expected   : {expected}",
            f"  generated  : {o.generated!r}  -> generation {'PASS' if o.generation_pass else 'FAIL'}",
            f"  ranking    : {'PASS' if o.ranking_pass else 'FAIL'}"
            + (f", margin {o.margin:+.3f} (best right minus best wrong log-probability)" if o.margin is not None else ""),
            "  top candidates (log-probability; * right answer, <= first token only, an upper bound):",
        ]
        for candidate in o.candidates[:TOP_CANDIDATES_SHOWN]:
            mark = "*" if candidate.correct else " "
            bound = "  " if candidate.exact else "<="
            lines.append(f"   {mark} {bound}{candidate.logprob:9.3f}  {candidate.text}")
        if o.is_training:
            lines.append("  (training fact: checked with the other demonstrations only)")
        return "\n".join(lines)


@dataclass
class RelationRun:
    suite: Suite
    options: SayOptions
    say_check: str
    outcomes: list[FactOutcome]
    seconds: float
    asked: set[int] = field(default_factory=set)

    def record(self, index: int) -> FactRecord:
        return FactRecord(suite=self.suite, outcome=self.outcomes[index], say_check=self.say_check)


def summary_lines(runs: list[RelationRun]) -> list[str]:
    """The per-relation table: facts run, said right by generation and by ranking."""
    header = f"{'relation':<32} {'facts':>5} {'generation':>12} {'ranking':>12} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    totals = [0, 0, 0]
    for run in sorted(runs, key=lambda r: r.suite.relation_id):
        asked = [run.outcomes[i] for i in sorted(run.asked)]
        if not asked:
            continue
        generation = sum(o.generation_pass for o in asked)
        ranking = sum(o.ranking_pass for o in asked)
        totals = [totals[0] + len(asked), totals[1] + generation, totals[2] + ranking]
        lines.append(
            f"{run.suite.relation_id:<32} {len(asked):>5} {_fraction(generation, len(asked)):>12} "
            f"{_fraction(ranking, len(asked)):>12} {run.seconds:>8.1f}"
        )
    lines.append("-" * len(header))
    lines.append(f"{'all relations':<32} {totals[0]:>5} {_fraction(totals[1], totals[0]):>12} {_fraction(totals[2], totals[0]):>12}")
    return lines


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
                                            "relation": run.suite.relation, "shots": run.options.shots}
                   for run in runs},
        "facts": [run.record(i).to_dict() for run in runs for i in sorted(run.asked)],
    }


def write_report(path: Path, session: FactcheckSession) -> Path:
    write_json_atomic(path, report_document(session))
    return path
