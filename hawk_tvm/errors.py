"""Errors as data: every component reports failures as a `HawkError`, never by unwinding the caller."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class HawkError:
    """A structured failure: a dotted `kind`, a short message, and the context that explains it.

    Kinds used across the project (prefix = the component that found it):
      ``sandbox.syntax``, ``sandbox.refused``, ``sandbox.timeout``, ``schedule`` (a TVM ScheduleError),
      ``build``, ``run``, ``numerics``, ``sim.<code>`` (a simulator constraint, e.g. ``sim.capacity``),
      ``llm`` (endpoint or reply problems), ``internal``.
    ``context`` holds e.g. ``level``, ``requested``, ``limit``, ``buffer``, ``loop``.
    """

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
