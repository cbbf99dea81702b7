"""MetaSchedule through the NPU simulator at a wall-clock budget: the baseline column of the NPU benchmarks.

`tune_on_sim(func, "davinci", budget_s=30)` runs TVM's stock MetaSchedule (`tune_tir`, the generic search space of
an LLVM target with the profile's core count, evolutionary search) on one PrimFunc. Candidates are not built for
a CPU: `SimulatorBuilder` hands the scheduled TIR to a runner that measures each one exactly as Hawk's
`SimulatorTarget` does (`sim.simulator.simulate`: the profile's constraints, the cycle model, the functional check
against the unscheduled function on the host). Simulated seconds go back to MetaSchedule as `run_secs`, so its
database (and from there the evolutionary search's seed population) is ranked by simulated cycles; a candidate that
breaks a constraint or computes wrong values is a failed run (`run_secs` None, the `sim.*`/numerics error as its
message). The cost model is MetaSchedule's "random" one: xgboost is not installed in this environment, so the only
feedback MetaSchedule gets is the measured (simulated) times in its database.

The budget is wall clock from the call: once it is spent the runner stops simulating (the rest of the batch is
returned as "budget" failures and not counted as tried) and a measure callback ends the task. The overrun is at
most one candidate's simulation plus MetaSchedule's own overhead; `wall_s` reports the real time.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import BUDGET, HawkError
from ..hardware.profile import HardwareProfile, load_profile
from ..measure.result import MeasureResult, encode_error_message


@dataclass
class SimTrial:
    """One simulated MetaSchedule candidate: when it finished, its simulated time, or why it failed."""

    index: int
    elapsed_s: float
    seconds: float | None
    cycles: float | None = None
    roofline_fraction: float | None = None
    error: str | None = None  # "[kind] message" of the first error
    error_kind: str | None = None
    all_kinds: tuple[str, ...] = ()  # every constraint the candidate breaks (the simulator reports them all)


@dataclass
class MSSimResult:
    """The outcome of one budgeted MetaSchedule run on the simulator."""

    name: str
    profile: str
    budget_s: float
    wall_s: float = 0.0
    trials: list[SimTrial] = field(default_factory=list)
    best_mod: Any = None  # the best valid scheduled IRModule (not serialised)
    default_seconds: float | None = None  # the unscheduled function on the simulator (TVM's default lowering)
    default_error: str | None = None
    roofline_seconds: float | None = None
    tuner_error: str | None = None  # MetaSchedule itself failed (its last line)

    @property
    def tried(self) -> int:
        """Candidates simulated within the budget."""
        return len(self.trials)

    @property
    def valid(self) -> int:
        """Candidates that passed the constraints and the functional check."""
        return sum(1 for t in self.trials if t.seconds is not None)

    @property
    def best(self) -> SimTrial | None:
        """The fastest valid candidate."""
        ok = [t for t in self.trials if t.seconds is not None]
        return min(ok, key=lambda t: t.seconds) if ok else None

    @property
    def first_error(self) -> str | None:
        """The first failure (a `sim.*` constraint, numerics, ...), or MetaSchedule's own failure."""
        return next((t.error for t in self.trials if t.error), None) or self.tuner_error

    def improvements(self) -> list[tuple[float, float]]:
        """(elapsed seconds, best simulated us so far) at every improvement: read the run at a smaller budget."""
        out: list[tuple[float, float]] = []
        for t in self.trials:
            if t.seconds is not None and (not out or t.seconds * 1e6 < out[-1][1]):
                out.append((round(t.elapsed_s, 2), t.seconds * 1e6))
        return out

    def best_within(self, seconds: float) -> SimTrial | None:
        """The fastest valid candidate measured within the first `seconds` of the run."""
        ok = [t for t in self.trials if t.seconds is not None and t.elapsed_s <= seconds]
        return min(ok, key=lambda t: t.seconds) if ok else None

    def error_kinds(self) -> dict[str, int]:
        """How often each error kind occurred."""
        return dict(Counter(t.error_kind for t in self.trials if t.error_kind))

    def breaking(self) -> dict[str, int]:
        """How many failed candidates break each constraint (a candidate may break several)."""
        return dict(Counter(k for t in self.trials for k in t.all_kinds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no modules, no per-trial list)."""
        best = self.best
        return {
            "name": self.name, "profile": self.profile, "budget_s": self.budget_s, "wall_s": round(self.wall_s, 2),
            "tried": self.tried, "valid": self.valid,
            "best_us": best.seconds * 1e6 if best else None,
            "best_cycles": best.cycles if best else None,
            "roofline_fraction": best.roofline_fraction if best else None,
            "best_found_at_s": round(best.elapsed_s, 2) if best else None,
            "default_us": self.default_seconds * 1e6 if self.default_seconds is not None else None,
            "default_error": self.default_error,
            "roofline_us": self.roofline_seconds * 1e6 if self.roofline_seconds is not None else None,
            "first_error": self.first_error, "error_kinds": self.error_kinds(), "tuner_error": self.tuner_error,
            "breaking": self.breaking(), "improvements": self.improvements(),
        }


def ms_target(profile: HardwareProfile) -> Any:
    """The MetaSchedule target: a generic LLVM target (no host mcpu, so no host-only intrinsic rules such as
    VNNI) with the profile's core count, which sets how far MetaSchedule parallelises."""
    import tvm

    return tvm.target.Target({"kind": "llvm", "num-cores": int(max(1, profile.cores))})


def _classes() -> tuple[type, type]:
    """The runner and the stop callback (MetaSchedule's Py* plug-ins, built lazily: importing them loads TVM)."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback
    from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerResult

    from ..sim.runner import SimRunnerFuture, read_artifact, to_runner_result
    from ..sim.simulator import simulate

    @derived_object
    class DeadlineSimRunner(PyRunner):
        """Simulates each candidate (constraints, cycles, functional check) until the deadline, recording it."""

        def __init__(self, profile: HardwareProfile, reference: Any, result: MSSimResult, start: float,
                     deadline: float, functional: bool, seed: int) -> None:
            super().__init__()
            self.profile, self.reference, self.result = profile, reference, result
            self.start, self.deadline, self.functional, self.seed = start, deadline, functional, seed
            self._best: float | None = None

        def run(self, runner_inputs: list) -> list:
            futures = []
            for rin in runner_inputs:
                if time.monotonic() >= self.deadline:
                    stop = HawkError(BUDGET, "MetaSchedule budget spent before this candidate was simulated")
                    futures.append(SimRunnerFuture(RunnerResult(run_secs=None, error_msg=encode_error_message(stop))))
                    continue
                futures.append(SimRunnerFuture(to_runner_result(self._one(str(rin.artifact_path)))))
            return futures

        def _one(self, path: str) -> MeasureResult:
            try:
                sched, _ = read_artifact(path)
                res = simulate(sched, self.reference, self.profile, functional=self.functional, seed=self.seed,
                               isolate=True)
            except Exception as exc:  # a candidate that cannot be read or analysed is a failed run
                sched, res = None, MeasureResult(ok=False, error=HawkError.from_exception(exc))
            ok = res.ok and res.seconds is not None
            err = None if ok else (res.error or HawkError("internal", "simulation failed without an error"))
            self.result.trials.append(SimTrial(
                index=len(self.result.trials), elapsed_s=time.monotonic() - self.start,
                seconds=res.seconds if ok else None, cycles=res.cycles if ok else None,
                roofline_fraction=(res.breakdown or {}).get("roofline_fraction") if ok else None,
                error=None if err is None else f"[{err.kind}] {err.message}"[:300],
                error_kind=None if err is None else err.kind,
                all_kinds=tuple(sorted({e["kind"] for e in (res.breakdown or {}).get("errors", [])}))))
            if ok and (self._best is None or res.seconds < self._best):
                self._best, self.result.best_mod = res.seconds, sched
            return res

    @derived_object
    class StopAtDeadline(PyMeasureCallback):
        """Ends the task once the deadline has passed (checked after every measured batch)."""

        def __init__(self, deadline: float) -> None:
            super().__init__()
            self.deadline = deadline
            self.stopped = False

        def apply(self, task_scheduler: Any, task_id: int, candidates: list, builder_results: list,
                  runner_results: list) -> None:
            if not self.stopped and time.monotonic() >= self.deadline:
                self.stopped = True
                task_scheduler.terminate_task(task_id)

    return DeadlineSimRunner, StopAtDeadline


def _reference_cost(mod: Any, profile: HardwareProfile, result: MSSimResult) -> None:
    """The default lowering's simulated time and the roofline, for context (a failure is recorded, not raised)."""
    from ..sim.roofline import roofline
    from ..sim.simulator import simulate

    try:
        res = simulate(mod, None, profile, functional=False)
        if res.ok:
            result.default_seconds = res.seconds
        else:
            result.default_error = str(res.error)[:300] if res.error else "failed"
        result.roofline_seconds = roofline(mod, profile).cycles / profile.clock_hz
    except Exception as exc:  # informative only
        result.default_error = result.default_error or f"{type(exc).__name__}: {str(exc)[:200]}"


@contextlib.contextmanager
def _ms_logging() -> Any:
    """Quiet MetaSchedule's console log, and detach unnamed handlers from its logger while it runs: tune_tir
    rebuilds its logging config from the names of that logger's handlers and fails on an unnamed one (pytest's
    LogCaptureHandler, for one)."""
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    logger.setLevel(logging.WARNING)
    unnamed = [h for h in logger.handlers if h.get_name() is None]
    for h in unnamed:
        logger.removeHandler(h)
    try:
        yield
    finally:
        for h in unnamed:
            logger.addHandler(h)


def _as_module(func: Any) -> Any:
    import tvm

    if isinstance(func, tvm.tirx.PrimFunc):
        return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
    funcs = [(gv, f) for gv, f in func.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    if len(funcs) != 1:
        raise ValueError(f"tune_on_sim wants one PrimFunc, got a module with {len(funcs)}")
    return tvm.IRModule({"main": funcs[0][1].with_attr("global_symbol", "main")})


def tune_on_sim(func: Any, profile: str | HardwareProfile = "davinci", budget_s: float = 30.0, *,
                name: str = "main", seed: int = 0, per_iter: int = 16, population: int = 64,
                functional: bool = True) -> MSSimResult:
    """Tune one PrimFunc (or a one-PrimFunc IRModule) with MetaSchedule for `budget_s` of wall clock, every
    candidate measured on the simulator of `profile`. Never raises for a tuning failure: it is in `tuner_error`.

    per_iter / population: candidates per measured batch and the evolutionary-search population. The stock 512
    population spends many seconds per batch evolving against a random cost model; a small one only lowers
    MetaSchedule's overhead inside the budget (it favours MetaSchedule).
    """
    from tvm.s_tir import meta_schedule as ms

    from ..measure.host import stub_tensor_intrin
    from ..sim.intrinsics import register_intrinsics
    from ..sim.runner import SimulatorBuilder

    prof = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
    register_intrinsics(prof)
    stub_tensor_intrin()  # MetaSchedule imports tvm.s_tir.tensor_intrin (36 s of CUDA intrinsics) otherwise
    result = MSSimResult(name=name, profile=prof.name, budget_s=float(budget_s))
    try:
        mod = _as_module(func)
    except Exception as exc:
        result.tuner_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return result
    _reference_cost(mod, prof, result)  # context for the tables, outside MetaSchedule's budget
    runner_cls, stop_cls = _classes()
    start = time.monotonic()
    deadline = start + float(budget_s)
    with tempfile.TemporaryDirectory(prefix="hawk-ms-sim-") as work, _ms_logging():
        runner = runner_cls(prof, mod, result, start, deadline, functional, seed)
        stop = stop_cls(deadline)
        builder = SimulatorBuilder(work_dir=tempfile.mkdtemp(prefix="art-", dir=work))
        strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                         init_min_unmeasured=max(1, min(50, population // 2)),
                                                         genetic_num_iters=2)
        try:
            ms.tune_tir(mod, ms_target(prof), work, max_trials_global=1_000_000, num_trials_per_iter=per_iter,
                        builder=builder, runner=runner, database=ms.database.MemoryDatabase(), cost_model="random",
                        strategy=strategy, task_scheduler="round-robin", seed=seed,
                        measure_callbacks=[ms.measure_callback.AddToDatabase(),
                                           ms.measure_callback.UpdateCostModel(), stop])
        except Exception as exc:  # a tuner failure is a result
            if not (stop.stopped and "is_terminated" in str(exc)):  # the scheduler tripping over the ended task
                lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                result.tuner_error = f"tune_tir failed: {(lines[-1] if lines else type(exc).__name__)[:300]}"
    result.wall_s = time.monotonic() - start
    return result
