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
    return estimate(func)[0]


def estimate(func: Any) -> tuple[float, str]:
    """(estimated seconds of one tuned call, op class): the roofline-style figure ranks tasks by model share; the
    class picks the default lowering's expected slowdown (`Pace.reference_s`)."""
    from .analysis.workload import analyze

    try:
        w = analyze(func)
        return w.flops / _FLOPS_PER_S + w.bytes / _BYTES_PER_S, str(w.op_class)
    except Exception:
        return 1e-6, ""


# How much slower than the roofline estimate TVM's default lowering (scalar loops, one core) runs, before a task of
# the class was measured. Seen on this 2-core host (benchmarks/results/models/models_full_2m.json): default convs
# at 0.3-36 GFLOP/s against the 50 GFLOP/s estimate, and VGG-11's NHWC 3x3 convs (3.7 GFLOP) at ~0.2 GFLOP/s:
# 15-20 s a call, 250x (their HWIO weights are read with a 2 KB stride). Memory-bound classes lose ~10x.
_SLOWDOWN = {"conv2d": 200.0, "depthwise_conv2d": 50.0, "matmul": 200.0, "batch_matmul": 200.0}
_SLOWDOWN_OTHER = 20.0


class Pace:
    """Running estimate of what measurement costs on this target: seconds per measured unit (building and timing
    one candidate), per untimed schedule, and (host) how slow the default lowering is against the roofline
    estimate, per op class: a task's reference run is timed on the default lowering, and a naive conv of a large
    model takes seconds a call. Drives the per-operator split of a total budget."""

    def __init__(self, unit_s: float, untimed_s: float = 0.2, reference_calls: bool = False) -> None:
        self.unit_s = unit_s
        self.untimed_s = untimed_s
        self.reference_calls = reference_calls  # False (simulated targets): a reference costs one unit
        self.slowdown: dict[str, float] = {}
        self._seen = 0

    def default_call_s(self, call_s: float, op_class: str = "") -> float:
        """Expected seconds of one call of the default lowering of a task estimated at `call_s` (tuned)."""
        return call_s * self.slowdown.get(op_class, _SLOWDOWN.get(op_class, _SLOWDOWN_OTHER))

    def reference_s(self, call_s: float, op_class: str = "") -> float:
        """Expected seconds of a task's reference run: one build plus its calls (two seeded runs, then timed
        repeats; one run when a call is long enough to be its own timing: hawk_tvm.measure.host.LONG_CALL_S)."""
        if not self.reference_calls:
            return self.unit_s
        return self.unit_s + _calls_s(self.default_call_s(call_s, op_class))

    def observe(self, result: Any, measured: bool = True, call_s: float = 0.0, op_class: str = "") -> None:
        """Fold one finished operator's wall time into the estimates (recent operators weigh most). `call_s`:
        the task's estimated tuned call, to learn the default lowering's slowdown from its measured time."""
        if result.wall_s <= 0:
            return
        if not measured:
            self.untimed_s = max(0.02, 0.5 * (self.untimed_s + result.wall_s))
            return
        default_s = getattr(result, "default_seconds", None)
        extra = 0.0
        if self.reference_calls and default_s:
            extra = _calls_s(default_s)  # the reference's runs, beyond one unit's worth
            if call_s > 0:
                seen = default_s / call_s
                old = self.slowdown.get(op_class)
                self.slowdown[op_class] = seen if old is None else (old * seen) ** 0.5
        last = max(0.0, result.wall_s - extra) / (1 + len(result.attempts))
        self._seen += 1
        self.unit_s = max(0.05, last if self._seen == 1 else self.unit_s + (last - self.unit_s) / min(self._seen, 4))


def _calls_s(call_s: float) -> float:
    """Seconds of the runs of one reference measurement of a kernel taking `call_s` a call (host evaluator
    defaults: two seeded runs, then 5 timed repeats of at least 40 ms; a call of a second or more runs once)."""
    from .measure.host import LONG_CALL_S

    return call_s if call_s >= LONG_CALL_S else 2 * call_s + 5 * max(call_s, 0.04)


class BudgetPlan:
    """Splits `budget.total_time_s` (counted from `origin`) over tasks taken costliest first.

    `next` gives each task its Budget, or None when a measured search of it does not fit: the cheaper rest may still
    get one (their reference runs are shorter); `exhausted` says not even a cheap search fits now, judged again for
    every task (the reserve for the untimed rest shrinks once Pace sees untimed schedules go faster than its prior:
    ResNet-50 on davinci at 40 s had stopped measuring after its first task, 16 s unused), until the deadline cuts a
    search off (then the rest get untimed schedules). A task gets at least what its reference run and a few
    candidates need, even above its share by weight: a share too small to time the reference measures nothing
    (VGG-11 at 2 minutes: every task ended untimed). `unfit` says the last task's reference alone did not fit the
    time left: checking an untimed schedule runs that reference too, so such a task keeps the default lowering. Time
    is held back for the untimed rest, at most RESERVE_SHARE of the budget. Without a total budget every
    task gets `budget` unchanged."""

    def __init__(self, budget: Budget, pace: Pace, origin: float, weights: list[float]) -> None:
        self.budget = budget
        self.pace = pace
        self.deadline = None if budget.total_time_s is None else origin + budget.total_time_s
        self.remaining_weight = sum(weights)
        self.exhausted = False
        self.unfit = False
        self._cut = False  # a search was cut off by the deadline: the rest are untimed for good

    def next(self, weight: float, after: int, call_s: float = 0.0, op_class: str = "") -> Budget | None:
        """The Budget of the next task (weight: its estimated seconds x uses; after: tasks still to come; call_s,
        op_class: its estimated tuned call and class, for the cost of its reference run)."""
        self.unfit = False
        if self.deadline is None:
            self.remaining_weight -= weight
            return self.budget
        sized = None
        if not self._cut:  # re-judged every task: the untimed reserve shrinks as Pace sees untimed tasks go fast
            remaining = self.deadline - time.monotonic()
            reference = self.pace.reference_s(call_s, op_class)
            sized = self._size(weight, remaining, after, reference)
            spare = remaining - self._reserve(remaining, after)
            self.exhausted = sized is None and spare < FLOOR_CANDIDATES * self.pace.unit_s + self.pace.unit_s
            self.unfit = sized is None and not self.exhausted and remaining < reference
        self.remaining_weight -= weight
        return sized

    def measure_deadline(self, after: int) -> float | None:
        """When measurement of the current task must stop: time is held back for untimed schedules of the rest."""
        if self.deadline is None:
            return None
        return self.deadline - self._reserve(self.deadline - time.monotonic(), after)

    def _reserve(self, remaining_s: float, after: int) -> float:
        """Time held back for untimed (checked) schedules of the `after` tasks still to come: at most RESERVE_SHARE
        of the whole budget (not of the time left: a cap that shrinks with the time left lets measured searches eat
        the rest's share until nothing is left for it), so that a model of ~200 tasks (DenseNet-121) still measures
        its costliest ones, and never more than the time left."""
        total = self.budget.total_time_s or 0.0
        return min(after * self.pace.untimed_s, RESERVE_SHARE * total, max(0.0, remaining_s))

    def cut_off(self, result: Any) -> bool:
        """Whether a measured search was stopped by the deadline without a schedule (the rest become untimed)."""
        if self.deadline is None or result.schedule is not None or not result.budget_stop:
            return False
        self.exhausted = self._cut = True
        return True

    def _size(self, weight: float, remaining_s: float, after: int, reference_s: float) -> Budget | None:
        """This task's share of the time left (None: no measured search fits). Time for an untimed schedule of
        each of the `after` tasks still to come is held back; a measured search needs at least its reference
        run and FLOOR_CANDIDATES candidates (`Pace` estimates both from the tasks so far), and gets that even
        when its share by weight is smaller."""
        budget = self.budget
        unit = self.pace.unit_s
        spare = remaining_s - self._reserve(remaining_s, after)
        floor = reference_s + FLOOR_CANDIDATES * unit
        if spare < floor:
            return None
        share = spare * (weight / max(self.remaining_weight, 1e-12))
        per_op = min(max(floor, share), max(budget.op_time_s, floor), spare)
        search = per_op - reference_s
        candidates = max(2, min(max(budget.candidates, budget.max_candidates), int(search / unit)))
        rounds = budget.repair_rounds if search >= unit * 2 * candidates else 0
        return replace(
            budget, candidates=candidates, repair_rounds=rounds, op_time_s=max(0.0, per_op - unit * candidates)
        )


FLOOR_CANDIDATES = 3  # a measured search times at least its reference and this many candidates
# At most this share of the whole budget is held back for the untimed rest. Coverage first: an unreached host conv
# keeps a default lowering 50-400x slower than its checked untimed schedule, while a measured search gains ~1.5x
# over that schedule (DenseNet-121 at 2 minutes, half of the time left held back: 133 of 192 tasks unreached,
# 150 ms against onnxruntime's 26 ms).
RESERVE_SHARE = 0.8
