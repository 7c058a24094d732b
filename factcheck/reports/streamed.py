"""What an xdist worker has checked, sent to the controller fact by fact with pytest's own test reports.

A worker sends its whole summary only when its session finishes; a worker
that crashes, or is stopped by Ctrl-C, sends none. So each worker also hangs
its results on the reports pytest already sends: a relation's setup report
carries the relation (its LRE, settings and model, no facts), each fact's call
report carries the fact's result. From these the controller can rebuild, and
mark as incomplete, the part of the run that no summary brought. Plain JSON
text, torch-free: the controller never loads the model.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable

from factcheck.fact_result import FactResult
from factcheck.reports.run_summary import PAYLOAD_VERSION, ModelInfo, RelationSummary, RunSummary

RELATION_ATTRIBUTE = "factcheck_streamed_relation"  # on a relation's first setup report
FACT_ATTRIBUTE = "factcheck_streamed_fact"  # on each fact's call report


def relation_message(model: ModelInfo, relation: RelationSummary) -> str:
    """A relation as its first fact's setup report carries it: everything but its facts' results."""
    bare = dataclasses.replace(relation, results=(), indices=(), evidence={}, lens=())
    return json.dumps({"version": PAYLOAD_VERSION, "model": model.to_dict(), "relation": bare.to_payload()})


def fact_message(relation_id: str, index: int, result: FactResult, evidence: tuple[str, ...]) -> str:
    """A fact as its call report carries it (`evidence`: the sentences behind a 'hidden' verdict)."""
    return json.dumps({"version": PAYLOAD_VERSION, "relation_id": relation_id, "index": index,
                       "result": result.to_dict(), "evidence": list(evidence)})


class StreamedRun:
    """On the controller: the relations and facts the workers' reports carried."""

    def __init__(self) -> None:
        self.model: ModelInfo | None = None
        self._relations: dict[str, dict[str, Any]] = {}  # relation id -> its payload without facts
        self._facts: dict[str, dict[int, tuple[dict[str, Any], list[str]]]] = {}  # relation id -> index -> (result, evidence)
        self.problems: list[str] = []

    def take(self, report) -> None:
        """Keep what `report` carries (nothing, for a report of no fact or from no worker)."""
        for attribute, keep in ((RELATION_ATTRIBUTE, self._keep_relation), (FACT_ATTRIBUTE, self._keep_fact)):
            text = getattr(report, attribute, None)
            if text is None:
                continue
            try:
                message = json.loads(text)
                if message.get("version") != PAYLOAD_VERSION:
                    raise ValueError(f"format {message.get('version')!r}, this controller reads {PAYLOAD_VERSION}")
                keep(message)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                self.problems.append(f"a worker's report for {report.nodeid} carried results this controller cannot read: {error}")

    def _keep_relation(self, message: dict[str, Any]) -> None:
        self.model = ModelInfo.from_dict(message["model"])
        relation = message["relation"]
        self._relations[relation["relation_id"]] = relation

    def _keep_fact(self, message: dict[str, Any]) -> None:
        facts = self._facts.setdefault(message["relation_id"], {})
        facts[int(message["index"])] = (dict(message["result"]), [str(s) for s in message["evidence"]])

    @property
    def relation_ids(self) -> set[str]:
        return set(self._relations)

    def summary(self, received: Iterable[RelationSummary] = ()) -> RunSummary | None:
        """What the stream brought that the workers' own summaries (their relations: `received`) did not: the facts
        whose results arrived, by relation, and the relations that started without any; None where there is nothing
        more. A relation split over workers keeps the facts of a worker that sent no summary."""
        received = list(received)
        have = {(r.relation_id, i) for r in received for i in r.indices}
        have_relations = {r.relation_id for r in received}
        relations = []
        for relation_id in sorted(self._relations):
            facts = {i: fact for i, fact in self._facts.get(relation_id, {}).items() if (relation_id, i) not in have}
            if relation_id in have_relations and not facts:
                continue
            order = sorted(facts)
            payload = dict(self._relations[relation_id], results=[facts[i][0] for i in order], indices=order,
                           evidence={facts[i][0]["subject"]: facts[i][1] for i in order if facts[i][1]})
            relations.append(RelationSummary.from_payload(payload))
        if self.model is None or not relations:
            return None
        return RunSummary(self.model, tuple(relations))
