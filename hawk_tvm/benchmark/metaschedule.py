"""MetaSchedule baseline: one tuning run per operator with a timeline, read at a trial count and at a time budget."""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..measure.result import decode_error_message


@dataclass
class Trial:
    """One measured MetaSchedule candidate: when its result was known, its time (None = failed), why it failed."""

    index: int
    elapsed_s: float
    seconds: float | None
    error: str | None = None


@dataclass
class TuningRun:
    """The timeline of one tuning run and the best module found so far after each improvement."""

    trials: list[Trial] = field(default_factory=list)
    best: list[tuple[int, float, Any]] = field(default_factory=list)  # (trial index, seconds, IRModule)
    wall_s: float = 0.0
    cached: bool = False
    error: str | None = None

    def best_within(self, max_trials: int | None = None,
                    max_elapsed_s: float | None = None) -> tuple[Any, Trial | None]:
        """The best module among the first `max_trials` trials that finished within `max_elapsed_s`."""
        chosen: tuple[Any, Trial | None] = (None, None)
        for index, _, mod in self.best:
            trial = self.trials[index]
            if max_trials is not None and index >= max_trials:
                break
            if max_elapsed_s is not None and trial.elapsed_s > max_elapsed_s:
                break
            chosen = (mod, trial)
        return chosen

    def count_within(self, max_trials: int | None = None, max_elapsed_s: float | None = None) -> int:
        """Trials measured under the same limits."""
        return sum(1 for t in self.trials if (max_trials is None or t.index < max_trials)
                   and (max_elapsed_s is None or t.elapsed_s <= max_elapsed_s))

    def errors(self, max_trials: int | None = None, max_elapsed_s: float | None = None) -> Counter:
        """How often each error kind occurred under the same limits."""
        return Counter((t.error or "").split("]")[0].lstrip("[") for t in self.trials
                       if t.seconds is None and (max_trials is None or t.index < max_trials)
                       and (max_elapsed_s is None or t.elapsed_s <= max_elapsed_s))

    def first_error(self) -> str | None:
        """The first failure message."""
        return next((t.error for t in self.trials if t.error), None)


def _callback_class() -> Any:
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

    @derived_object
    class TimelineCallback(PyMeasureCallback):
        """Records every measured candidate; ends the task once it has `min_trials` trials and `min_time_s` passed."""

        def __init__(self, run: TuningRun, start: float, min_trials: int, min_time_s: float) -> None:
            super().__init__()
            self.run = run
            self.start = start
            self.min_trials = min_trials
            self.min_time_s = min_time_s
            self.stopped = False

        def apply(self, task_scheduler: Any, task_id: int, candidates: list, builder_results: list,
                  runner_results: list) -> None:
            now = time.monotonic() - self.start
            for cand, built, ran in zip(candidates, builder_results, runner_results):
                index = len(self.run.trials)
                secs = [float(x) for x in ran.run_secs] if ran.run_secs else []
                message = built.error_msg or ran.error_msg
                ok = not message and secs and min(secs) < 1e9
                seconds = sum(secs) / len(secs) if ok else None
                error = None
                if not ok:
                    herr = decode_error_message(message or "failed without a message")
                    error = f"[{herr.kind}] {herr.message}"[:300] if herr else "failed"
                self.run.trials.append(Trial(index, now, seconds, error))
                if seconds is not None and (not self.run.best or seconds < self.run.best[-1][1]):
                    self.run.best.append((index, seconds, cand.sch.mod))
            if len(self.run.trials) >= self.min_trials and now >= self.min_time_s:
                self.stopped = True
                task_scheduler.terminate_task(task_id)

    return TimelineCallback


def _quiet_logs() -> None:
    for name in ("tvm.s_tir.meta_schedule", "tvm.meta_schedule"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tune(mod: Any, target: Any, *, min_trials: int, min_time_s: float = 0.0, max_trials: int | None = None,
         per_iter: int = 16, population: int = 64, seed: int = 0, simulator: Any = None, timing: Any = None,
         work_dir: str | None = None) -> TuningRun:
    """Tune `mod` until it has `min_trials` trials and `min_time_s` seconds passed (at most `max_trials`).

    population: evolutionary-search population. The stock 512 spends ~18 s per batch here evolving against the
               random cost model (xgboost is not installed), which ranks candidates at random anyway; a smaller
               population only lowers MetaSchedule's overhead, which favours it in the same-time comparison.
    simulator: a HardwareProfile to measure on the NPU simulator (SimulatorBuilder/SimulatorRunner) instead of
               the host (LocalBuilder/LocalRunner). `work_dir` None = a fresh temporary database; a folder that
               already holds a record for `mod` makes the run `cached` (it is then not a measurement).
    """
    from tvm.s_tir import meta_schedule as ms

    from ..measure.host import stub_tensor_intrin

    stub_tensor_intrin()
    _quiet_logs()
    run = TuningRun()
    tmp = tempfile.TemporaryDirectory(prefix="hawk-bench-ms-") if work_dir is None else None
    folder = tmp.name if tmp is not None else work_dir
    try:
        database = ms.database.JSONDatabase(work_dir=folder)
        if database.has_workload(mod) and database.get_top_k(database.commit_workload(mod), 1):
            run.cached = True
            run.error = "tuning database already holds a record for this operator"
            return run
        callbacks = [*ms.measure_callback.MeasureCallback.create("default")]
        if simulator is not None:
            from ..sim.runner import SimulatorBuilder, SimulatorRunner

            # SimulatorBuilder keeps every artifact in one folder, and MetaSchedule's RemoveBuildArtifact deletes
            # the artifact's folder: keep the other default callbacks and drop the folder with the database.
            builder: Any = SimulatorBuilder(work_dir=tempfile.mkdtemp(prefix="sim-", dir=folder), reference=mod)
            runner: Any = SimulatorRunner(simulator, reference=mod, seed=seed)
            callbacks = [ms.measure_callback.AddToDatabase(), ms.measure_callback.UpdateCostModel()]
        else:
            builder = ms.builder.LocalBuilder(initializer=stub_tensor_intrin)
            evaluator = ms.runner.EvaluatorConfig(number=1, repeat=timing.repeat if timing else 3,
                                                  min_repeat_ms=timing.min_repeat_ms if timing else 10,
                                                  enable_cpu_cache_flush=False)
            runner = ms.runner.LocalRunner(evaluator_config=evaluator, initializer=stub_tensor_intrin)
        strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                         init_min_unmeasured=min(50, population // 2),
                                                         genetic_num_iters=2)
        start = time.monotonic()
        callback = _callback_class()(run, start, min_trials, min_time_s)
        cap = max(min_trials, max_trials or min_trials)
        try:
            ms.tune_tir(mod, target, folder, max_trials_global=cap, num_trials_per_iter=min(per_iter, cap),
                        builder=builder, runner=runner, database=database, cost_model="random", strategy=strategy,
                        measure_callbacks=[*callbacks, callback],
                        seed=seed)
        except Exception as exc:  # a tuner failure is a result
            if callback.stopped and "is_terminated" in str(exc):
                pass  # the scheduler trips over the task this callback ended; the trials are all recorded
            else:
                run.error = f"tune_tir failed: {str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else exc}"
        run.wall_s = time.monotonic() - start
    finally:
        if tmp is not None:
            tmp.cleanup()
    return run
