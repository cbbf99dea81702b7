"""The effect ledger read as evidence: per-operator outcomes of each entry, Wilson bounds, speedups."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .store import KnowledgeStore

GENERIC_PREFIX = "generic:"  # origin of knowledge-free candidates (hawk_tvm.proposer.generic)
Z_ONE_SIDED_95 = 1.6449  # z of a one-sided 95% bound


def wilson_interval(successes: int, n: int, z: float = Z_ONE_SIDED_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (0, 1 when n == 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EntryEffect:
    """What the ledger says about one entry (rows of entries merged into it included).

    retrieved:   times retrieval returned it.
    succeeded / failed: candidates built from it that were legal and correct / that failed.
    applied:     operators on which it shaped at least one candidate ("applied" rows, one per operator).
    ops_legal / ops_failed: of those operators, how many got at least one legal kernel from it / none.
    failure_kinds: error kinds of its failed candidates.
    speedups:    per operator, its best candidate's speedup over the default schedule.
    speedups_generic: per operator, its best candidate's speedup over the best knowledge-free candidate.
    wins:        operators whose chosen kernel came from it.
    """

    entry_id: str
    retrieved: int = 0
    succeeded: int = 0
    failed: int = 0
    applied: int = 0
    ops_legal: int = 0
    ops_failed: int = 0
    wins: int = 0
    failure_kinds: Counter = field(default_factory=Counter)
    speedups: list[float] = field(default_factory=list)
    speedups_generic: list[float] = field(default_factory=list)

    @property
    def trials(self) -> tuple[int, int]:
        """(failures, applications) the failure rate is measured on: per operator when the ledger has
        per-operator rows, else per candidate (ledgers written before the per-operator rows)."""
        if self.applied:
            return self.ops_failed, self.applied
        return self.failed, self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        """Observed failure rate (None without applications)."""
        k, n = self.trials
        return k / n if n else None

    def failure_bounds(self, z: float = Z_ONE_SIDED_95) -> tuple[float, float]:
        """Wilson (lower, upper) bounds of the failure rate."""
        k, n = self.trials
        return wilson_interval(k, n, z)

    @property
    def mean_speedup(self) -> float | None:
        """Geometric mean speedup over the default schedule of the operators it made legal kernels for."""
        return _geomean(self.speedups)

    @property
    def mean_speedup_generic(self) -> float | None:
        """Geometric mean speedup over the best knowledge-free candidate."""
        return _geomean(self.speedups_generic)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        low, high = self.failure_bounds()
        return {
            "entry": self.entry_id,
            "retrieved": self.retrieved,
            "applied": self.applied,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "ops_legal": self.ops_legal,
            "ops_failed": self.ops_failed,
            "wins": self.wins,
            "failure_rate": _round(self.failure_rate),
            "failure_rate_low": round(low, 4),
            "failure_rate_high": round(high, 4),
            "failure_kinds": dict(sorted(self.failure_kinds.items())),
            "mean_speedup": _round(self.mean_speedup),
            "mean_speedup_vs_generic": _round(self.mean_speedup_generic),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _geomean(values: list[float]) -> float | None:
    good = [v for v in values if v and v > 0 and math.isfinite(v)]
    if not good:
        return None
    return math.exp(sum(math.log(v) for v in good) / len(good))


def entry_effects(store: KnowledgeStore, entry_ids: list[str] | None = None) -> dict[str, EntryEffect]:
    """Aggregate the ledger per entry (absorbed entries' rows count for their survivor), in id order."""
    merged = store.merge_map()
    wanted = set(entry_ids) if entry_ids is not None else None
    out: dict[str, EntryEffect] = {}
    for row in store.effects():
        eid = merged.get(row["entry_id"], row["entry_id"])
        if wanted is not None and eid not in wanted:
            continue
        eff = out.setdefault(eid, EntryEffect(eid))
        outcome = row["outcome"]
        details = row["details"] or {}
        if outcome == "retrieved":
            eff.retrieved += 1
        elif outcome == "succeeded":
            eff.succeeded += 1
        elif outcome == "failed":
            eff.failed += 1
            eff.failure_kinds[row["failure_kind"] or "unknown"] += 1
        elif outcome == "applied":
            eff.applied += 1
            if details.get("legal"):
                eff.ops_legal += 1
                if row["speedup"]:
                    eff.speedups.append(float(row["speedup"]))
                if details.get("speedup_vs_generic"):
                    eff.speedups_generic.append(float(details["speedup_vs_generic"]))
            else:
                eff.ops_failed += 1
            if details.get("chosen"):
                eff.wins += 1
    if wanted is not None:
        for eid in wanted:
            out.setdefault(eid, EntryEffect(eid))
    return dict(sorted(out.items()))


def op_effects(
    attempts: list[Any], default_seconds: float | None, best: Any = None
) -> list[tuple[str, dict[str, Any]]]:
    """One "applied" ledger row per entry that shaped candidates of an operator: (entry id, details).

    details: legal (any of its candidates legal and correct), candidates, failure_kind (first failure when none
    was legal), failure_kinds, speedup (its best over the default), speedup_vs_generic (its best over the best
    knowledge-free candidate, origin "generic:..."), chosen (the operator's kernel came from it).
    """
    generic = [a.result.seconds for a in attempts if a.candidate.origin.startswith(GENERIC_PREFIX)
               and a.result.ok and a.result.seconds]
    best_generic = min(generic) if generic else None
    per_entry: dict[str, list[Any]] = {}
    for a in attempts:
        for eid in a.candidate.knowledge_ids:
            per_entry.setdefault(eid, []).append(a)
    rows: list[tuple[str, dict[str, Any]]] = []
    for eid, tries in per_entry.items():
        ok = [a.result.seconds for a in tries if a.result.ok and a.result.seconds]
        kinds = [a.result.error.kind for a in tries if not a.result.ok and a.result.error is not None]
        mine = min(ok) if ok else None
        details: dict[str, Any] = {
            "legal": bool(ok),
            "candidates": len(tries),
            "failure_kinds": kinds,
            "speedup": (default_seconds / mine) if (mine and default_seconds) else None,
            "speedup_vs_generic": (best_generic / mine) if (mine and best_generic) else None,
            "chosen": bool(best is not None and eid in best.candidate.knowledge_ids),
        }
        if not ok:
            details["failure_kind"] = kinds[0] if kinds else "unknown"
        rows.append((eid, details))
    return rows
