"""The compile's time budget: tasks ranked by estimated model share, and each operator's search sized to its
share of the time left (or none: an untimed schedule), from a running estimate of what measurement costs."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from .config import Budget

# Rough host figures for ranking (2-core AVX2: tuned kernels reach ~50 GFLOP/s, streams ~10 GB/s).
_FLOPS_PER_S, _BYTES_PER_S = 50e9, 10e9


def estimated_seconds(func: Any) -> float:
    """A roofline-style estimate of one call's time (compute + traffic), for ranking tasks by model share."""
    from .analysis.workload import analyze

    try:
        w = analyze(func)
        return w.flops / _FLOPS_PER_S + w.bytes / _BYTES_PER_S
    except Exception:
        return 1e-6


class Pace:
    """Running estimate of what measurement costs on this target: seconds per measured unit (the reference
    run or one candidate) and per untimed schedule; drives the per-operator split of a total budget."""

    def __init__(self, unit_s: float, untimed_s: float = 0.2) -> None:
        self.unit_s = unit_s
        self.untimed_s = untimed_s
        self._seen = 0

    def observe(self, result: Any, measured: bool = True) -> None:
        """Fold one finished operator's wall time into the estimates (recent operators weigh most)."""
        if result.wall_s <= 0:
            return
        if not measured:
            self.untimed_s = max(0.02, 0.5 * (self.untimed_s + result.wall_s))
            return
        last = result.wall_s / (1 + len(result.attempts))
        self._seen += 1
        self.unit_s = max(0.05, last if self._seen == 1 else self.unit_s + (last - self.unit_s) / min(self._seen, 4))


class BudgetPlan:
    """Splits `budget.total_time_s` (counted from `origin`) over tasks taken costliest first.

    `next` gives each task its Budget, or None once a measured search no longer fits (the cheaper rest then
    get untimed schedules). Without a total budget every task gets `budget` unchanged."""

    def __init__(self, budget: Budget, pace: Pace, origin: float, weights: list[float]) -> None:
        self.budget = budget
        self.pace = pace
        self.deadline = None if budget.total_time_s is None else origin + budget.total_time_s
        self.remaining_weight = sum(weights)
        self.exhausted = False

    def next(self, weight: float, after: int) -> Budget | None:
        """The Budget of the next task (weight: its estimated seconds x uses; after: tasks still to come)."""
        if self.deadline is None:
            self.remaining_weight -= weight
            return self.budget
        sized = None if self.exhausted else self._size(weight, self.deadline - time.monotonic(), after)
        self.exhausted = sized is None
        self.remaining_weight -= weight
        return sized

    def measure_deadline(self, after: int) -> float | None:
        """When measurement of the current task must stop: time is held back for untimed schedules of the rest."""
        return None if self.deadline is None else self.deadline - after * self.pace.untimed_s

    def cut_off(self, result: Any) -> bool:
        """Whether a measured search was stopped by the deadline without a schedule (the rest become untimed)."""
        if self.deadline is None or result.schedule is not None or not result.budget_stop:
            return False
        self.exhausted = True
        return True

    def _size(self, weight: float, remaining_s: float, after: int) -> Budget | None:
        """This task's share of the time left (None: only an untimed schedule fits). Time for an untimed schedule
        of each of the `after` tasks still to come is held back; a measured search needs at least a reference run
        and two candidates (`Pace` estimates their cost from the tasks so far)."""
        budget = self.budget
        unit = self.pace.unit_s
        spare = remaining_s - after * self.pace.untimed_s
        floor = 3 * unit  # reference + 2 candidates, one round
        if spare < floor:
            return None
        share = spare * (weight / max(self.remaining_weight, 1e-12))
        per_op = min(max(floor, share), budget.op_time_s, spare)
        candidates = max(2, min(max(budget.candidates, budget.max_candidates), int(per_op / unit) - 1))
        rounds = budget.repair_rounds if per_op >= unit * (1 + 2 * candidates) else 0
        return replace(
            budget, candidates=candidates, repair_rounds=rounds, op_time_s=max(0.0, per_op - unit * candidates)
        )
