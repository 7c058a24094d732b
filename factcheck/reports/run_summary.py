"""What a run leaves for the terminal summary, the reports and the gate, as plain data.

A `RelationSummary` is one relation's run without the model: its facts'
typed results, how its LRE was made, and what only the model could compute
for the HTML report (the evidence sentences of hidden facts, their lens
heatmaps). Under pytest-xdist each worker sends its summaries to the
controller as JSON (`to_payload`); the controller merges them and writes the
same reports one process would, from the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from factcheck.display import visible_controls
from factcheck.fact_result import FactResult
from factcheck.knows.know_rules import Faithfulness

PAYLOAD_VERSION = 3


@dataclass(frozen=True)
class ModelInfo:
    """Which model ran, as the summary line and the reports name it."""

    name: str
    architecture: str
    fingerprint: str
    dtype: str
    device: str
    load_seconds: float

    def line(self) -> str:
        return (
            f"factcheck: {visible_controls(self.name)} {self.architecture} fingerprint={self.fingerprint} "
            f"dtype={self.dtype} device={self.device} (loaded in {self.load_seconds:.1f} s)"
        )

    def identity(self) -> dict[str, str]:
        """What a baseline records of the model, and what the gate compares."""
        return {"name": self.name, "fingerprint": self.fingerprint}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "architecture": self.architecture, "fingerprint": self.fingerprint,
                "dtype": self.dtype, "device": self.device, "load_seconds": self.load_seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(**{key: data[key] for key in ("name", "architecture", "fingerprint", "dtype", "device", "load_seconds")})


@dataclass(frozen=True)
class LreInfo:
    """How a relation's LRE was made and how far its know-verdicts can be trusted."""

    layer: int | str
    beta: float
    rank: int | None
    n_train: int
    faithfulness: Faithfulness
    cache_hit: bool
    lre: object = field(default=None, compare=False, repr=False)  # the Lre (or ImplicitLre) itself, in the process that ran it
    decode: str = "weight"  # "weight": W estimated or cached; "implicit": decoded by Jacobian-vector products, W never formed
    products: int = 0  # Jacobian-vector products the implicit decode computed (0: none, or its decodes were cached)

    @property
    def trusted(self) -> bool:
        return self.faithfulness.trusted

    def to_dict(self) -> dict[str, object]:
        """The relation's `lre` entry of the JSON report."""
        faith = self.faithfulness
        return {
            "layer": self.layer, "beta": self.beta, "rank": self.rank, "n_train": self.n_train,
            "faithfulness": None if faith.value is None else round(faith.value, 6),
            "faithfulness_tested": faith.tested,
            "faithfulness_undecided": faith.undecided,
            "faithfulness_interval": None if faith.interval is None else [round(x, 6) for x in faith.interval],
            "trusted": self.trusted,
            "untrusted_reason": faith.why_untrusted(),
            "cache_hit": self.cache_hit,
            "decode": self.decode,
            "products": self.products,
        }

    def to_payload(self) -> dict[str, object]:
        faith = self.faithfulness
        return {"layer": self.layer, "beta": self.beta, "rank": self.rank, "n_train": self.n_train,
                "faithful": faith.faithful, "tested": faith.tested, "undecided": faith.undecided,
                "cache_hit": self.cache_hit, "decode": self.decode, "products": self.products}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> LreInfo:
        return cls(
            layer=data["layer"], beta=data["beta"], rank=data["rank"], n_train=data["n_train"],
            faithfulness=Faithfulness(data["faithful"], data["tested"], data["undecided"]), cache_hit=data["cache_hit"],
            decode=data["decode"], products=data["products"],
        )


@dataclass(frozen=True)
class LensFigure:
    """The attribute lens of one hidden fact, drawn where the model is."""

    subject: str
    png_base64: str
    decoded_answer: str  # the accepted answer whose first token the heatmap colours


@dataclass(frozen=True)
class RelationSummary:
    relation_id: str
    relation: str
    path: str
    content_hash: str
    shots: int
    results: tuple[FactResult, ...]  # the facts this run asked for, in suite order
    indices: tuple[int, ...]  # their positions in the suite
    lre: LreInfo | None = None
    lre_skipped: str | None = None  # why the relation has no LRE although the know-check is on
    min_accuracy: float | None = None
    distracted: bool = False  # the suite asks each fact again after a false statement
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # subject -> sentences, for hidden facts
    lens: tuple[LensFigure, ...] = ()
    suite_facts: tuple[tuple[str, str], ...] = ()  # every (subject, object) of the suite, asked or not
    templates: tuple[str, ...] = ()  # the templates its facts were asked under, the suite's first first
    other_lres: tuple[LreInfo | None, ...] = ()  # the LRE of each further template (`lre` is the first's)
    other_lres_skipped: tuple[str | None, ...] = ()  # why a further template has none
    max_new_tokens: int | None = None  # the generation's token limit (None: not known)
    prompt: str = "text"  # text or chat prompts
    know_check: bool = True  # False: the run was told to skip the know-check (--factcheck-lre off)

    @property
    def template_lres(self) -> list[tuple[str, LreInfo | None, str | None]]:
        """(template, its LRE, why it has none) for every template asked."""
        first = [(self.templates[0] if self.templates else "", self.lre, self.lre_skipped)]
        return first + list(zip(self.templates[1:], self.other_lres, self.other_lres_skipped))

    @property
    def subjects_asked(self) -> set[str]:
        return {result.subject for result in self.results}

    @property
    def facts_not_checked(self) -> int:
        """How many of the suite's facts this run did not check (a selection, a skip; 0 where they are not known)."""
        return len({subject for subject, _ in self.suite_facts} - self.subjects_asked)

    def suite_entry(self) -> dict[str, object]:
        """What the baseline and the comparison keep of the suite: its content, and the settings its prompts were
        asked with wherever they came from (the command line and the ini file too), since they shape its verdicts."""
        return {"content_hash": self.content_hash, "path": self.path, "settings": self.prompt_settings()}

    def prompt_settings(self) -> dict[str, object]:
        """The settings that shape what the model is asked and how much it may answer, and whether its know-check ran
        (named only where it did not, so that the files of runs that had it stay as they were)."""
        return {"shots": self.shots, "prompt": self.prompt,
                **({} if self.max_new_tokens is None else {"max_new_tokens": self.max_new_tokens}),
                **({} if self.know_check else {"know_check": "off"})}

    def to_payload(self) -> dict[str, Any]:
        return {
            "relation_id": self.relation_id, "relation": self.relation, "path": self.path,
            "content_hash": self.content_hash, "shots": self.shots,
            "results": [result.to_dict() for result in self.results], "indices": list(self.indices),
            "lre": None if self.lre is None else self.lre.to_payload(),
            "lre_skipped": self.lre_skipped, "min_accuracy": self.min_accuracy, "distracted": self.distracted,
            "evidence": {subject: list(sentences) for subject, sentences in self.evidence.items()},
            "lens": [{"subject": f.subject, "png_base64": f.png_base64, "decoded_answer": f.decoded_answer} for f in self.lens],
            "suite_facts": [list(pair) for pair in self.suite_facts],
            "templates": list(self.templates),
            "other_lres": [None if lre is None else lre.to_payload() for lre in self.other_lres],
            "other_lres_skipped": list(self.other_lres_skipped),
            "max_new_tokens": self.max_new_tokens, "prompt": self.prompt, "know_check": self.know_check,
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> RelationSummary:
        return cls(
            relation_id=data["relation_id"], relation=data["relation"], path=data["path"],
            content_hash=data["content_hash"], shots=data["shots"],
            results=tuple(FactResult.from_dict(entry) for entry in data["results"]), indices=tuple(data["indices"]),
            lre=None if data["lre"] is None else LreInfo.from_payload(data["lre"]),
            lre_skipped=data["lre_skipped"], min_accuracy=data["min_accuracy"], distracted=data["distracted"],
            evidence={subject: tuple(sentences) for subject, sentences in data["evidence"].items()},
            lens=tuple(LensFigure(**figure) for figure in data["lens"]),
            suite_facts=tuple((subject, obj) for subject, obj in data["suite_facts"]),
            templates=tuple(data["templates"]),
            other_lres=tuple(None if lre is None else LreInfo.from_payload(lre) for lre in data["other_lres"]),
            other_lres_skipped=tuple(data["other_lres_skipped"]),
            max_new_tokens=data["max_new_tokens"], prompt=data["prompt"], know_check=data.get("know_check", True),
        )


@dataclass(frozen=True)
class RunSummary:
    """A whole run: the model and its relations, sorted by relation id (the order every report uses)."""

    model: ModelInfo
    relations: tuple[RelationSummary, ...]
    split: tuple[str, ...] = ()  # relations that ran on more than one xdist worker (each computed all of them)

    @property
    def results(self) -> list[FactResult]:
        return [result for relation in self.relations for result in relation.results]

    def suites_info(self) -> dict[str, dict[str, object]]:
        return {relation.relation_id: relation.suite_entry() for relation in self.relations}

    def suite_facts(self) -> dict[str, dict[str, str]]:
        """relation id -> subject -> object, for every fact of each suite that ran (asked or deselected)."""
        return {relation.relation_id: dict(relation.suite_facts) for relation in self.relations}

    def to_payload(self) -> dict[str, Any]:
        return {"version": PAYLOAD_VERSION, "model": self.model.to_dict(),
                "relations": [relation.to_payload() for relation in self.relations]}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> RunSummary:
        if data.get("version") != PAYLOAD_VERSION:
            raise ValueError(f"a factcheck worker sent results in format {data.get('version')!r}, this controller reads "
                             f"{PAYLOAD_VERSION}: install the same factcheck version on every worker")
        return cls(ModelInfo.from_dict(data["model"]), tuple(RelationSummary.from_payload(r) for r in data["relations"]))

    @classmethod
    def merged(cls, parts: Sequence[RunSummary]) -> RunSummary | None:
        """The workers' summaries as one run. A relation seen by several workers (a --dist mode that splits or repeats
        its facts) keeps one entry with each of its facts once, in suite order."""
        if not parts:
            return None
        models = {part.model.fingerprint for part in parts}
        if len(models) > 1:
            raise ValueError(f"the workers checked different models (fingerprints {', '.join(sorted(models))})")
        by_id: dict[str, RelationSummary] = {}
        split: set[str] = set()
        for part in parts:
            for relation in part.relations:
                seen = by_id.get(relation.relation_id)
                if seen is not None:
                    split.add(relation.relation_id)
                by_id[relation.relation_id] = relation if seen is None else _joined(seen, relation)
        return cls(parts[0].model, tuple(by_id[key] for key in sorted(by_id)), tuple(sorted(split)))


def _joined(first: RelationSummary, second: RelationSummary) -> RelationSummary:
    """One relation's facts from two workers; each ran the relation with the same model and suite, so its LRE and
    faithfulness are the same."""
    by_index = dict(zip(first.indices, first.results)) | dict(zip(second.indices, second.results))
    order = sorted(by_index)
    lens = {figure.subject: figure for figure in (*second.lens, *first.lens)}
    return replace(first, results=tuple(by_index[i] for i in order), indices=tuple(order),
                   evidence={**second.evidence, **first.evidence}, lens=tuple(lens.values()))
