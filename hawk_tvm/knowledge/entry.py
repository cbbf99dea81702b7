"""The knowledge triple: trigger, rationale, template, with its metadata and effect statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PROVENANCES = ("seed", "synthesised", "imported")
TRIGGER_KINDS = ("pattern", "error")


@dataclass
class Trigger:
    """What makes an entry relevant: a workload/bottleneck pattern or an error signature."""

    kind: str = "pattern"
    text: str = ""
    bottleneck: str | None = None  # compute | memory | capacity | latency
    unit: str | None = None  # cube | vector | scalar
    level: str | None = None  # memory level tag, e.g. l0a, ub, l1
    error_kind: str | None = None  # e.g. sim.capacity (kind: error)


@dataclass
class EffectStats:
    """Measured effect of an entry, accumulated by the effect ledger and read by distillation."""

    retrieved: int = 0
    applied: int = 0
    succeeded: int = 0
    failed: int = 0
    speedup_sum: float = 0.0  # sum of log-speedups contributed over the default schedule


@dataclass
class KnowledgeEntry:
    """One hardware-aware knowledge triple (see docs/schedule-programs.md for the file format)."""

    id: str
    trigger: Trigger
    rationale: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    profiles: list[str] = field(default_factory=list)
    op_classes: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)  # syntactic tokens it applies to, e.g. epilogue_elementwise
    provenance: str = "seed"
    version: int = 1
    confidence: float = 1.0
    stats: EffectStats = field(default_factory=EffectStats)
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the seed-file / export format)."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> KnowledgeEntry:
        """Build from the seed-file / export format; unknown keys raise ValueError."""
        known = set(KnowledgeEntry.__dataclass_fields__)
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown entry fields: {sorted(extra)}")
        values = dict(data)
        values["trigger"] = Trigger(**(values.get("trigger") or {}))
        values["stats"] = EffectStats(**(values.get("stats") or {}))
        return KnowledgeEntry(**values)
