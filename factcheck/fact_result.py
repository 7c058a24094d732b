"""One fact's result, typed and frozen: what it says, what it knows, its class, and which suite it came from.

Built once per fact from the run's outcomes (`factcheck.reports.report.FactRecord.result`);
the JSON report, the baseline, the gate and `factcheck diff` read only this. Importable
without torch. `to_dict` gives the fact's entry of the JSON report (format version 2) and
`from_dict` reads one back; a baseline's entries, which keep fewer fields, read back too,
with the fields they do not keep as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from factcheck.knows.know_rules import Undecided  # torch-free, like this module


@dataclass(frozen=True)
class RankedCandidate:
    text: str
    logprob: float
    exact: bool  # False: scored in part, the log-probability is an upper bound


@dataclass(frozen=True)
class SayResult:
    """What the model says: its greedy answer and how it ranks the candidate answers."""

    check: str  # which check decides `passed`: "generation" or "ranking"
    generation_pass: bool
    ranking_pass: bool
    generated: str | None = None  # None where the source did not keep it (a baseline)
    margin: float | None = None  # best right minus best wrong log-probability
    margin_exact: bool = True  # False: a bound (the fact passes or fails by at least this much)
    top_candidates: tuple[RankedCandidate, ...] = ()
    first_token_probability: float | None = None  # the model's own probability of the answer token the know-evidence is about
    prompt: str | None = None  # the whole prompt the model was asked (demonstrations and question); None: not kept
    # False: read from a baseline written before the deciding check was kept, where both checks agree, so `check` is a
    # guess (the verdict is the same by either check, but which check to compare a baseline by is not known).
    check_known: bool = True

    @property
    def passed(self) -> bool:
        return self.ranking_pass if self.check == "ranking" else self.generation_pass


@dataclass(frozen=True)
class KnowResult:
    """What the relation's LRE decodes from the subject's hidden state."""

    passed: bool | None  # the know-verdict that counts: decided and the LRE trusted (None: no verdict)
    trusted: bool | None = None  # whether the relation's LRE is faithful enough to class facts
    decodes_object: bool | None = None  # its top token starts the answer and no wrong one (None: undecided or training)
    undecided: Undecided | None = None
    top_tokens: tuple[tuple[str, float], ...] = ()
    object_rank: int | None = None  # among the candidates' first tokens
    object_vocab_rank: int | None = None  # over the whole vocabulary
    object_probability: float | None = None


@dataclass(frozen=True)
class DistractedSummary:
    """The same fact asked after a false statement."""

    generated: str
    say_pass: bool
    know_pass: bool | None


@dataclass(frozen=True)
class TemplateResult:
    """The fact asked under one template of its suite (kept where the suite's facts are asked under several)."""

    template: str
    say_pass: bool
    generation_pass: bool
    ranking_pass: bool
    generated: str | None = None
    margin: float | None = None
    know_pass: bool | None = None  # None: no LRE for this template, undecided, untrusted or a training fact
    verdict: str | None = None
    prompt: str | None = None  # the whole prompt asked under this template

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "say_pass": self.say_pass, "generation_pass": self.generation_pass,
                "ranking_pass": self.ranking_pass, "generated": self.generated, "margin": self.margin,
                "know_pass": self.know_pass, "verdict": self.verdict, "prompt": self.prompt}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> TemplateResult:
        return cls(template=entry["template"], say_pass=bool(entry["say_pass"]),
                   generation_pass=bool(entry.get("generation_pass", entry["say_pass"])),
                   ranking_pass=bool(entry.get("ranking_pass", entry["say_pass"])), generated=entry.get("generated"),
                   margin=entry.get("margin"), know_pass=entry.get("know_pass"), verdict=entry.get("verdict"),
                   prompt=entry.get("prompt"))


def combine_verdicts(mode: str, verdicts: Sequence[bool | None]) -> bool | None:
    """A fact's verdict from its verdicts under each template (None: that template gave none): under `any` one
    template suffices, otherwise (`all`, and `first` with its one template) every template with a verdict must
    pass. None when no template gave a verdict."""
    given = [verdict for verdict in verdicts if verdict is not None]
    if not given:
        return None
    return any(given) if mode == "any" else all(given)


def passes(require: str, say_pass: bool, know_pass: bool | None) -> bool:
    """Whether a fact's test passes under the `require` mode (a fact without a know-verdict is judged by what it says)."""
    if require == "says" or know_pass is None:
        return say_pass
    if require == "knows":
        return know_pass
    if require == "both":
        return say_pass and know_pass
    return say_pass == know_pass  # agree


@dataclass(frozen=True)
class FactResult:
    relation: str  # the suite's path below its `suites` folder
    subject: str
    object: str
    say: SayResult
    know: KnowResult | None = None  # None: no LRE for this relation (or the know-check is off)
    verdict: str | None = None  # known, hidden, unfaithful or unknown (None: no know-verdict)
    training: bool = False  # one of the LRE's training facts: not scored as knowledge
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    distracted: DistractedSummary | None = None
    # Under several templates: each template's verdicts (say, know and verdict above combine them by `template_mode`;
    # generated, margin, candidates and the LRE's decoding above are the first template's). Empty for one template.
    templates: tuple[TemplateResult, ...] = ()
    template_mode: str | None = None
    # The template the fact was asked under, where it was asked under one (None: several, or not recorded): a baseline
    # that holds the fact's verdict under each of several templates is compared on this one.
    template: str | None = None

    @property
    def consistent(self) -> bool | None:
        """Whether the fact's say-verdict is the same under every template (None: asked under one)."""
        return None if len(self.templates) < 2 else len({t.say_pass for t in self.templates}) == 1

    @property
    def key(self) -> tuple[str, str]:
        return self.relation, self.subject

    @property
    def say_pass(self) -> bool:
        return self.say.passed

    @property
    def know_pass(self) -> bool | None:
        return None if self.know is None else self.know.passed

    def to_dict(self) -> dict[str, Any]:
        """The fact's entry of the JSON report."""
        say, know = self.say, self.know
        return {
            "relation": self.relation,
            "subject": self.subject,
            "object": self.object,
            "aliases": list(self.aliases),
            "tags": list(self.tags),
            "training": self.training,
            "prompt": say.prompt,
            "generated": say.generated,
            "generation_pass": say.generation_pass,
            "ranking_pass": say.ranking_pass,
            "margin": say.margin,
            "margin_exact": say.margin_exact,
            "say_check": say.check,
            "say_pass": say.passed,
            "top_candidates": [{"text": c.text, "logprob": c.logprob, "exact": c.exact} for c in say.top_candidates],
            "model_first_token_probability": say.first_token_probability,
            "know_pass": self.know_pass,
            "verdict": self.verdict,
            "lre_trusted": None if know is None else know.trusted,
            "lre_decodes_object": None if know is None else know.decodes_object,
            "know_undecided": None if know is None or know.undecided is None else know.undecided.to_dict(),
            "lre_top_tokens": [] if know is None else [{"token": t, "probability": p} for t, p in know.top_tokens],
            "lre_object_rank": None if know is None else know.object_rank,
            "lre_object_vocab_rank": None if know is None else know.object_vocab_rank,
            "lre_object_probability": None if know is None else know.object_probability,
            **({} if self.template is None else {"template": self.template}),
            **({} if not self.templates else {"template_mode": self.template_mode,
                                              "templates": [t.to_dict() for t in self.templates]}),
            **({} if self.distracted is None else {"distracted": {
                "generated": self.distracted.generated, "say_pass": self.distracted.say_pass, "know_pass": self.distracted.know_pass,
            }}),
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> FactResult:
        """A report's fact entry (or a baseline's, with `relation` and `subject` added) as a FactResult.

        The entry is assumed valid against its schema; keys it lacks read as not recorded."""
        generation_pass, ranking_pass = bool(entry["generation_pass"]), bool(entry["ranking_pass"])
        say_pass = bool(entry["say_pass"])
        # A baseline keeps say_pass, not the check that decided it: the check is the one that gives say_pass.
        check = entry.get("say_check") or ("generation" if say_pass == generation_pass else "ranking")
        say = SayResult(
            check=check,
            check_known="say_check" in entry or generation_pass != ranking_pass,
            generation_pass=generation_pass,
            ranking_pass=ranking_pass,
            generated=entry.get("generated"),
            margin=entry.get("margin"),
            margin_exact=bool(entry.get("margin_exact", True)),
            top_candidates=tuple(RankedCandidate(c["text"], c["logprob"], c["exact"]) for c in entry.get("top_candidates", ())),
            first_token_probability=entry.get("model_first_token_probability"),
            prompt=entry.get("prompt"),
        )
        undecided = entry.get("know_undecided")
        has_know = entry.get("know_pass") is not None or any(
            entry.get(key) not in (None, []) for key in ("lre_trusted", "know_undecided", "lre_top_tokens", "lre_object_rank")
        )
        know = None
        if has_know:
            know = KnowResult(
                passed=entry.get("know_pass"),
                trusted=entry.get("lre_trusted"),
                decodes_object=entry.get("lre_decodes_object"),
                undecided=None if not undecided else Undecided(
                    undecided["reason"], tuple(undecided["tokens"]), tuple(undecided.get("shared_with", ())),
                ),
                top_tokens=tuple((d["token"], d["probability"]) for d in entry.get("lre_top_tokens", ())),
                object_rank=entry.get("lre_object_rank"),
                object_vocab_rank=entry.get("lre_object_vocab_rank"),
                object_probability=entry.get("lre_object_probability"),
            )
        distracted = entry.get("distracted")
        return cls(
            relation=entry["relation"],
            subject=entry["subject"],
            object=entry["object"],
            say=say,
            know=know,
            verdict=entry.get("verdict"),
            training=bool(entry.get("training", False)),
            aliases=tuple(entry.get("aliases", ())),
            tags=tuple(entry.get("tags", ())),
            distracted=None if distracted is None else DistractedSummary(
                distracted["generated"], bool(distracted["say_pass"]), distracted.get("know_pass"),
            ),
            templates=_templates_from(entry.get("templates")),
            template_mode=entry.get("template_mode"),
            template=entry.get("template"),
        )


def _templates_from(entries: Any) -> tuple[TemplateResult, ...]:
    """A report keeps a list of template entries; a baseline a mapping template -> entry."""
    if not entries:
        return ()
    if isinstance(entries, Mapping):
        return tuple(TemplateResult.from_dict({"template": template, **entry}) for template, entry in entries.items())
    return tuple(TemplateResult.from_dict(entry) for entry in entries)
