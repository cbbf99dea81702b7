"""SimulatorTarget: the NPU simulator as a measurement target (local, or behind RPC sim-servers)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import HawkError
from ..hardware.profile import HardwareProfile, load_profile
from ..measure.result import MeasureResult
from ..measure.target import MeasureTarget
from .intrinsics import register_intrinsics
from .roofline import roofline
from .simulator import simulate


@dataclass
class SimReference:
    """The default lowering of an operator on the simulator: its cycles and the module to check against."""

    mod: Any
    seconds: float | None
    cycles: float | None
    error: HawkError | None = None


class SimulatorTarget(MeasureTarget):
    """Candidates are checked against the profile's constraints, simulated for cycles, and executed functionally
    on the host (LLVM) against the default lowering. `runner="rpc://HOST:PORT/KEY"` measures through sim-servers
    registered with a TVM RPC tracker instead of in this process."""

    kind = "npu"

    def __init__(self, profile: str | HardwareProfile, runner: str = "local", seed: int = 0) -> None:
        self.profile = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
        self.name = self.profile.name
        self.seed = seed
        register_intrinsics(self.profile)
        self._rpc = _rpc_runner(runner) if runner.startswith("rpc://") else None
        self.deadline: float | None = None

    def hw_facts(self, dtype: str) -> dict[str, Any]:
        return self.profile.program_facts(dtype)

    def profile_summary(self) -> str:
        return self.profile.summary()

    def reference(self, mod: Any, workload: Any) -> SimReference:
        res = simulate(mod, None, self.profile, functional=False)
        if not res.ok:
            return SimReference(mod, None, None, res.error)
        return SimReference(mod, res.seconds, res.cycles)

    def set_deadline(self, deadline: float | None) -> None:
        """After `deadline` (time.monotonic()), candidates are not simulated: `budget` errors."""
        self.deadline = deadline

    def measure(self, mods: list[Any], reference: SimReference) -> list[MeasureResult]:
        if self._rpc is not None:
            return self._rpc.run_modules([(m, reference.mod) for m in mods])
        return [self._simulate(m, reference) for m in mods]

    def _simulate(self, mod: Any, reference: SimReference) -> MeasureResult:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return MeasureResult.over_budget()
        return simulate(mod, reference.mod, self.profile, functional=True, seed=self.seed)

    def bottleneck(self, workload: Any) -> dict[str, Any]:
        """Roofline-based report: compute vs memory bound, and which unit bounds compute."""
        report = super().bottleneck(workload)
        try:
            import tvm

            roof = roofline(tvm.IRModule({"main": _func_of(workload)}), self.profile) if _func_of(workload) else None
        except Exception:
            roof = None
        if roof is not None:
            report.update(bottleneck=roof.bound, unit=roof.unit, roofline_cycles=roof.cycles)
        return report

    def cost_model(self) -> SimulatorCostModel:
        """The static cycle estimate of this profile, for the offline proposer's ranking."""
        return SimulatorCostModel(self.profile)

    def tvm_target(self) -> Any:
        from ..measure.host import host_target

        return host_target()


class SimulatorCostModel:
    """Cheap static estimate (cycles) of a candidate; inf when the sandbox or a simulator constraint refuses it."""

    def __init__(self, profile: Any) -> None:
        self.profile = profile

    def rank(self, candidate: Any, request: Any) -> float:
        """Estimated cycles of `candidate` (applied through `request.apply`, the engine's memoised sandbox)."""
        from ..sandbox import ScheduleSandbox
        from .constraints import check_constraints
        from .cycles import estimate_tree
        from .nest import extract

        mod = getattr(request.workload, "module", None)
        if mod is None:
            return 0.0
        if request.apply is not None:
            sch, err = request.apply(candidate)
        else:
            sch, err = ScheduleSandbox(timeout_s=5).apply(mod, candidate.program, {**request.env, **candidate.params})
        if err is not None:
            return float("inf")
        try:
            tree = extract(sch.mod)
            if check_constraints(tree, self.profile):
                return float("inf")
            return float(estimate_tree(tree, self.profile).cycles)
        except Exception:
            return float("inf")


def _func_of(workload: Any) -> Any:
    mod = getattr(workload, "module", None)
    return mod["main"] if mod is not None else None


def _rpc_runner(spec: str) -> Any:
    from .server import RPCSimulatorRunner

    body = spec[len("rpc://") :]
    addr, _, key = body.partition("/")
    if not addr or not key:
        raise ValueError(f"runner {spec!r}: expected rpc://HOST:PORT/KEY")
    return RPCSimulatorRunner(addr, key)
