"""The outcome of measuring one candidate, as data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import HawkError

ERROR_PREFIX = "HAWK_ERROR:"


@dataclass
class MeasureResult:
    """One candidate's measurement.

    ok:        built, ran, passed every constraint and matched the reference.
    seconds:   measured (host/board) or simulated (cycles / clock) time of one call; None on failure.
    cycles:    simulated cycles (simulator targets only).
    breakdown: per-pipe cycles or other details (e.g. ``{"dma.gm->l1": ..., "cube": ...}``).
    error:     why it failed (None when ok).
    """

    ok: bool
    seconds: float | None = None
    cycles: float | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)
    error: HawkError | None = None

    @staticmethod
    def failure(kind: str, message: str, **context: Any) -> MeasureResult:
        """A failed result with a structured error."""
        return MeasureResult(ok=False, error=HawkError(kind, message, context))

    @staticmethod
    def over_budget() -> MeasureResult:
        """A candidate not measured because the compile's time budget is spent (a `budget` error)."""
        return MeasureResult.failure("budget", "not measured: the compile's time budget is spent")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "cycles": self.cycles,
            "breakdown": self.breakdown,
            "error": self.error.to_dict() if self.error else None,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> MeasureResult:
        """Inverse of `to_dict`."""
        err = data.get("error")
        return MeasureResult(
            ok=bool(data["ok"]),
            seconds=data.get("seconds"),
            cycles=data.get("cycles"),
            breakdown=dict(data.get("breakdown") or {}),
            error=HawkError.from_dict(err) if err else None,
        )


def encode_error_message(error: HawkError) -> str:
    """Pack a HawkError into a MetaSchedule ``RunnerResult.error_msg`` string."""
    return ERROR_PREFIX + json.dumps(error.to_dict(), default=str)


def decode_error_message(message: str | None) -> HawkError | None:
    """Unpack `encode_error_message`; any other non-empty message becomes a ``run`` error."""
    if not message:
        return None
    idx = message.find(ERROR_PREFIX)
    if idx >= 0:
        payload = message[idx + len(ERROR_PREFIX) :].strip()
        try:
            return HawkError.from_dict(json.loads(payload.splitlines()[0]))
        except (ValueError, KeyError):
            pass
    short = message.strip().splitlines()[-1][:500] if message.strip() else message
    return HawkError("run", short)
