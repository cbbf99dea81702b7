"""Fakes for fast unit tests of engine logic: a MeasureTarget that measures nothing (it answers from a script)
and a KnowledgeSource over a fixed list, so a test pays for analysis and the sandbox only, not for TVM builds
or the simulator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.source import KnowledgeQuery, KnowledgeSource, RetrievedEntry
from hawk_tvm.measure.result import MeasureResult
from hawk_tvm.measure.target import MeasureTarget
from hawk_tvm.proposer.base import Candidate, ProposalRequest, ProposalResult, Proposer

HOST_HW = {"cores": 2, "vector_bytes": 32, "lanes": 8}


class FakeTarget(MeasureTarget):
    """Answers `reference` with `default` and each measured module with the next scripted result, in order.

    `script` items: a float (seconds of a correct run) or a HawkError (a failed one). `measured` counts modules.
    """

    name = "fake"
    kind = "cpu"

    def __init__(self, default: float | HawkError, script: Iterable[float | HawkError] = ()) -> None:
        self.default = default
        self.script = list(script)
        self.measured = 0
        self.deadline: float | None = None

    def hw_facts(self, dtype: str) -> dict[str, Any]:
        return dict(HOST_HW)

    def profile_summary(self) -> str:
        return "fake target: 2 cores, 32-byte vectors"

    def reference(self, mod: Any, workload: Any) -> MeasureResult:
        return _result(self.default)

    def measure(self, mods: list[Any], reference: Any) -> list[MeasureResult]:
        out = []
        for _ in mods:
            item = self.script[self.measured] if self.measured < len(self.script) else HawkError("run", "unscripted")
            self.measured += 1
            out.append(_result(item))
        return out

    def tvm_target(self) -> Any:
        import tvm

        return tvm.target.Target("llvm")

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline


def _result(item: float | HawkError) -> MeasureResult:
    if isinstance(item, HawkError):
        return MeasureResult(ok=False, error=item)
    return MeasureResult(ok=True, seconds=float(item))


class FakeKnowledge(KnowledgeSource):
    """Returns `hits` for every query; remembers the queries and the recorded effects."""

    def __init__(self, hits: Iterable[RetrievedEntry] = ()) -> None:
        self.hits = list(hits)
        self.queries: list[KnowledgeQuery] = []
        self.effects: list[tuple[str, str, dict[str, Any]]] = []

    def retrieve(self, query: KnowledgeQuery, k: int = 5) -> list[RetrievedEntry]:
        self.queries.append(query)
        return self.hits[:k]

    def record_effect(self, entry_id: str, outcome: str, **details: Any) -> None:
        self.effects.append((entry_id, outcome, details))


class ScriptedProposer(Proposer):
    """Proposes `rounds[i]` on round i (nothing after the last); remembers the requests."""

    name = "scripted"

    def __init__(self, rounds: Iterable[Iterable[Candidate]]) -> None:
        self.rounds = [list(r) for r in rounds]
        self.requests: list[ProposalRequest] = []

    def propose(self, request: ProposalRequest) -> ProposalResult:
        self.requests.append(request)
        batch = self.rounds[request.round] if request.round < len(self.rounds) else []
        return ProposalResult(candidates=list(batch))
