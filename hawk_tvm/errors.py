"""Errors as data: every component reports failures as a `HawkError`, never by unwinding the caller."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BUDGET = "budget"

# Every kind the code reports (prefix = the component that found it); `sim.<code>` has one per simulator code.
ERROR_KINDS: dict[str, str] = {
    "sandbox.syntax": "a schedule program or expression does not parse",
    "sandbox.refused": "a construct outside the whitelist, or a program over a budget (steps, loops, elements)",
    "sandbox.timeout": "a program ran past the sandbox time limit",
    "schedule": "a TVM ScheduleError raised by a schedule primitive",
    "program": "any other exception a schedule program raised",
    "build": "the scheduled module does not build",
    "run": "the built module does not run (or a worker failed)",
    "numerics": "the output differs from the reference lowering",
    BUDGET: "not measured: the compile's time budget is spent",
    "internal": "a Hawk bug caught at a boundary",
    "layout": "a prepacked layout cannot be inferred or installed",
    "profile": "a hardware profile is missing or malformed",
    "llm": "the LLM endpoint failed or refused (context: status, retryable)",
    "llm.parse": "an LLM reply holds no schedule program",
    "knowledge.invalid": "a knowledge entry fails validation",
    "knowledge.missing": "a knowledge entry or store is not there",
    "knowledge.io": "the knowledge store cannot be read or written",
    "knowledge.synthesis": "a synthesised knowledge entry was rejected",
    "sim.<code>": "a simulator constraint (hawk_tvm.sim.constraints.CODES, e.g. sim.capacity)",
}


def known_kind(kind: str) -> bool:
    """Whether `kind` is in ERROR_KINDS (``sim.<code>`` for any simulator code)."""
    return kind in ERROR_KINDS or kind.startswith("sim.")


@dataclass(frozen=True)
class HawkError:
    """A structured failure: a dotted `kind` (one of ERROR_KINDS), a short message, and the context that
    explains it. ``context`` holds e.g. ``level``, ``requested``, ``limit``, ``buffer``, ``loop``."""

    kind: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> HawkError:
        """Inverse of `to_dict`."""
        return HawkError(str(data["kind"]), str(data["message"]), dict(data.get("context") or {}))

    @staticmethod
    def from_exception(exc: BaseException, kind: str = "internal", **context: Any) -> HawkError:
        """An exception caught at a boundary, as data: ``[kind] ExceptionType: message``."""
        return HawkError(kind, f"{type(exc).__name__}: {exc}", dict(context))

    @property
    def budget_stop(self) -> bool:
        """Whether this failure means the time budget ran out (not that the candidate is bad)."""
        return self.kind == BUDGET

    def signature(self) -> str:
        """A short, value-free text used to retrieve error-triggered knowledge (e.g. ``sim.capacity local.l0a``)."""
        parts = [self.kind]
        for key in ("code", "level", "unit"):
            if key in self.context:
                parts.append(str(self.context[key]))
        return " ".join(parts)

    def __str__(self) -> str:
        ctx = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"[{self.kind}] {self.message}" + (f" ({ctx})" if ctx else "")

