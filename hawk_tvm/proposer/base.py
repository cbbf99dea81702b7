"""Proposer: the interface that turns a workload plus retrieved knowledge into candidate schedule programs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import HawkError
from ..knowledge.source import RetrievedEntry


@dataclass
class Candidate:
    """One schedule program to try.

    program:       schedule-program text (docs/schedule-programs.md), run through the sandbox.
    params:        parameter values bound into the program's names.
    knowledge_ids: ids of the knowledge entries that shaped it (for the effect ledger and `hawk explain`).
    origin:        "template:<id>", "generic:<name>", "llm", "repair:<id>" ...
    """

    program: str
    params: dict[str, Any] = field(default_factory=dict)
    knowledge_ids: tuple[str, ...] = ()
    origin: str = ""

    def key(self) -> str:
        """Identity for de-duplication."""
        return self.program.strip() + "|" + repr(sorted(self.params.items()))


@dataclass
class ProposalRequest:
    """Everything a proposer may use.

    workload:   `hawk_tvm.analysis.workload.Workload` of the operator.
    env:        names a program sees (MAIN, BLOCKS, OP, SPATIAL, REDUCE, DTYPE, IN_DTYPE, HW).
    knowledge:  retrieved entries, best first.
    profile_summary: a few lines describing the hardware (for LLM prompts).
    bottleneck: the bottleneck report (dict) against the profile.
    failures:   on repair rounds, (candidate, error) pairs of the previous round.
    k:          how many candidates are wanted.
    round:      0 for the first round, 1.. for repair rounds.
    apply:      the engine's sandbox application of a candidate to the operator's module, memoised, so a
                candidate a cost model ranks goes through the sandbox once (None: apply it yourself).
    """

    workload: Any
    env: dict[str, Any]
    knowledge: list[RetrievedEntry] = field(default_factory=list)
    profile_summary: str = ""
    bottleneck: dict[str, Any] = field(default_factory=dict)
    failures: list[tuple[Candidate, HawkError]] = field(default_factory=list)
    k: int = 4
    round: int = 0
    seed: int = 0
    apply: Callable[[Candidate], tuple[Any, HawkError | None]] | None = None


@dataclass
class ProposalResult:
    """Candidates plus what the proposer wants reported (e.g. LLM tokens, a degradation warning)."""

    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)
    tokens: int = 0
    error: HawkError | None = None


class CostModel(Protocol):
    """A cheap static estimate of a candidate (lower is better, inf when illegal), used to order candidates."""

    def rank(self, candidate: Candidate, request: ProposalRequest) -> float:
        """The estimate for `candidate` on `request.workload`."""
        ...


class Proposer(ABC):
    """Turns a request into candidates. Must not raise for bad knowledge or bad replies: report them as data."""

    name: str = "proposer"

    @abstractmethod
    def propose(self, request: ProposalRequest) -> ProposalResult:
        """Propose up to `request.k` candidates."""
