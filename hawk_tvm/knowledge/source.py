"""KnowledgeSource: the interface the engine retrieves knowledge through."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..errors import HawkError
from .entry import KnowledgeEntry


@dataclass
class KnowledgeQuery:
    """What the engine asks for: a workload (+ bottleneck report) or an error on that workload.

    syntactic_text: normalised loop-nest / TensorIR tokens of the workload (`Workload.syntactic_text()`).
    semantic:       hardware-aligned facts, e.g. {"op_class": "matmul", "bottleneck": "compute", "unit": "cube",
                    "level": "l0a", "dtype": "float16", "error_kind": "sim.capacity"} plus free text.
    error:          the structured error of a failed candidate (repair rounds), else None.
    """

    profile: str
    op_class: str
    syntactic_text: str
    semantic: dict[str, Any] = field(default_factory=dict)
    error: HawkError | None = None


@dataclass
class RetrievedEntry:
    """An entry with its scores per space and the fused score."""

    entry: KnowledgeEntry
    score: float
    syntactic_score: float | None = None
    semantic_score: float | None = None


class KnowledgeSource(ABC):
    """Where knowledge comes from (the SQLite+Annoy base, or an in-memory list in tests)."""

    @abstractmethod
    def retrieve(self, query: KnowledgeQuery, k: int = 5) -> list[RetrievedEntry]:
        """Top-k entries for the query, filtered by profile and op class."""

    def record_effect(self, entry_id: str, outcome: str, **details: Any) -> None:  # noqa: B027 - optional hook
        """Record an outcome ("retrieved", "applied", "succeeded", "failed") for the effect ledger."""
