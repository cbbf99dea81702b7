"""What one compile learns from errors that recur across its operators.

The first operator that hits a target constraint pays for it (a failed round, a repair round). When the same
error kind comes back on later operators of the same class (a generic program using a scope the NPU does not
have, say, on every convolution of a model), later operators should not pay again: from the second operator on,
the engine retrieves the error's fixes in round 0 (seed fixes and the entries synthesised from earlier repairs),
drops candidates whose origin only ever failed with that error in this compile, and the learner turns the first
working schedule found that way into an error-triggered knowledge entry (knowledge.synthesis).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RECUR_AFTER = 2  # operators that hit an error kind before it counts as recurring
LEARNED_KINDS = ("sim.", "sandbox.", "apply", "program", "build")  # constraint/program errors, not numerics or run


@dataclass
class RecurringError:
    """One (op class, error kind) of this compile: on how many operators it occurred, which candidate origins
    raised it, and the first failing attempt."""

    op_class: str
    kind: str
    operators: int = 0
    failing_origins: Counter = field(default_factory=Counter)
    example: Any = None  # engine.Attempt


class RecurringErrors:
    """Per-compile memory of constraint errors by (op class, error kind); fed with each finished operator."""

    def __init__(self, recur_after: int = RECUR_AFTER) -> None:
        self.recur_after = recur_after
        self._seen: dict[tuple[str, str], RecurringError] = {}
        self._working: dict[str, set[str]] = {}  # op class -> origins that gave a correct kernel in this compile

    def observe(self, result: Any) -> None:
        """Fold one finished operator (engine.OpResult) in."""
        workload = result.workload
        if workload is None:
            return
        self._working.setdefault(workload.op_class, set()).update(
            a.candidate.origin for a in result.attempts if a.result.ok
        )
        kinds: dict[str, Any] = {}
        for attempt in result.attempts:
            err = attempt.result.error
            if attempt.result.ok or err is None or not err.kind.startswith(LEARNED_KINDS):
                continue
            kinds.setdefault(err.kind, attempt)
            seen = self._entry(workload.op_class, err.kind)
            seen.failing_origins[attempt.candidate.origin] += 1
        for kind, attempt in kinds.items():
            seen = self._entry(workload.op_class, kind)
            seen.operators += 1
            seen.example = seen.example or attempt

    def recurring(self, op_class: str) -> list[RecurringError]:
        """Errors of this op class seen on at least `recur_after` operators, most frequent first."""
        hits = [s for (cls, _), s in self._seen.items() if cls == op_class and s.operators >= self.recur_after]
        return sorted(hits, key=lambda s: -s.operators)

    def known_bad(self, op_class: str, origin: str) -> bool:
        """Whether candidates of `origin` never worked on this op class in this compile and raised an error that
        recurs for it."""
        if origin in self._working.get(op_class, set()):
            return False
        return any(origin in s.failing_origins for s in self.recurring(op_class))

    def _entry(self, op_class: str, kind: str) -> RecurringError:
        key = (op_class, kind)
        if key not in self._seen:
            self._seen[key] = RecurringError(op_class, kind)
        return self._seen[key]
