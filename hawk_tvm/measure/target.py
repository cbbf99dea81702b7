"""MeasureTarget: where candidates are measured (this CPU, a board over RPC, or the NPU simulator)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from .result import MeasureResult

if TYPE_CHECKING:
    from ..proposer.base import CostModel


class MeasureTarget(ABC):
    """One measurement backend. `reference` runs the unscheduled operator; `measure` runs candidates."""

    name: str = "target"
    kind: str = "cpu"  # "cpu" (measured in seconds) or "npu" (simulated cycles)

    @abstractmethod
    def hw_facts(self, dtype: str) -> dict[str, Any]:
        """The `HW` facts a schedule program sees for this dtype."""

    @abstractmethod
    def profile_summary(self) -> str:
        """A few lines describing the hardware (for prompts and reports)."""

    @abstractmethod
    def reference(self, mod: Any, workload: Any) -> Any:
        """Run the default lowering of `mod`; returns an object with `.seconds` and `.error`."""

    @abstractmethod
    def measure(self, mods: list[Any], reference: Any) -> list[MeasureResult]:
        """Measure scheduled modules against the reference, in order; never raises for a bad candidate."""

    def check(self, mod: Any, mods: list[Any], workload: Any) -> list[MeasureResult]:
        """Compare scheduled modules with the default lowering of `mod` (no timing needed; default: a
        reference run and a measurement, deadline or not)."""
        self.set_deadline(None)
        reference = self.reference(mod, workload)
        if getattr(reference, "error", None) is not None:
            return [MeasureResult(ok=False, error=reference.error) for _ in mods]
        return self.measure(mods, reference)

    @abstractmethod
    def tvm_target(self) -> Any:
        """The tvm.target.Target the final model is built for (and database records are keyed with)."""

    def bottleneck(self, workload: Any) -> dict[str, Any]:
        """A bottleneck report for the workload on this hardware (default: arithmetic intensity only)."""
        intensity = workload.flops / max(1.0, workload.bytes)
        return {"arithmetic_intensity": intensity, "bottleneck": "compute" if intensity > 4 else "memory"}

    def cost_model(self) -> CostModel | None:
        """A `proposer.base.CostModel` for ordering candidates before measurement (default: none)."""
        return None

    def wait_ready(self) -> None:  # noqa: B027 - optional hook
        """Block until measurement workers are up (so a time budget is planned on warm workers)."""

    def set_deadline(self, deadline: float | None) -> None:  # noqa: B027 - optional hook
        """After `deadline` (time.monotonic()), stop building/running: results become `budget` errors."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""


def resolve_target(name: str, **options: Any) -> MeasureTarget:
    """`host` -> HostTarget; a profile name or JSON path -> SimulatorTarget."""
    if name in ("host", "llvm", "cpu"):
        from .host_target import HostTarget

        return HostTarget(**options)
    from ..sim.target import SimulatorTarget

    return SimulatorTarget(name, **options)
