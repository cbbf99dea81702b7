"""Host measurement: candidates are built in parallel (LocalBuilder's worker function in a persistent pool),
then `HostRunner` (a MetaSchedule PyRunner) runs them one at a time in a worker process, checks numerics against
the default lowering on two seeded input sets, and times them. Timed runs never overlap: two kernels timed at
once on a 2-core host each see half the machine and noisy, pessimistic times (an untimed check's reference
run, whose time is not used, overlaps its candidate's build)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HawkError
from .result import MeasureResult, decode_error_message, encode_error_message

NUMERIC_SEEDS = (0, 1)
# One call at least this long is its own timing (timer noise is far below a second) instead of `repeat` more calls,
# and a reference this slow records its outputs for the first seed only: a naive NHWC conv of VGG-11 runs ~15 s a
# call (more under load), where two seeds and 5 repeats took 7 calls and overran a 2-minute compile budget.
LONG_CALL_S = 1.0


def stub_tensor_intrin() -> None:
    """Worker initializer: replace `tvm.s_tir.tensor_intrin` (36 s of CUDA intrinsics) by an empty module."""
    import sys
    import types

    sys.modules.setdefault("tvm.s_tir.tensor_intrin", types.ModuleType("tvm.s_tir.tensor_intrin"))


def host_target(num_cores: int | None = None) -> Any:
    """The LLVM target of this CPU, with mcpu detected and num-cores set (MetaSchedule needs it)."""
    import tvm

    detected = tvm.target.Target.from_device(tvm.cpu())
    cfg = {"kind": "llvm", "num-cores": int(num_cores or os.cpu_count() or 1)}
    mcpu = detected.attrs.get("mcpu") if hasattr(detected, "attrs") else None
    if mcpu:
        cfg["mcpu"] = str(mcpu)
    return tvm.target.Target(cfg)


@dataclass
class EvaluatorSettings:
    """Timing settings (as MetaSchedule's EvaluatorConfig): repeats of `number` calls, at least min_repeat_ms."""

    number: int = 1
    repeat: int = 5
    min_repeat_ms: int = 40
    timeout_s: float = 60.0


@dataclass
class Reference:
    """Reference outputs of the default lowering for the numeric seeds, plus its time."""

    arg_shapes: list[tuple[int, ...]]
    arg_dtypes: list[str]
    output_indices: list[int]
    path: str  # .npz with out_<seed>_<i> arrays
    seconds: float | None = None
    error: HawkError | None = None
    tmpdir: Any = field(default=None, repr=False)


def _run_and_time(
    rt_mod: Any,
    ref_npz: str | None,
    shapes: list,
    dtypes: list,
    outputs: list[int],
    evaluator: dict,
    packing: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Worker body: run on each seed (saving or checking outputs), then time. Returns a MeasureResult dict.
    `packing` ({parameter: factor}, hawk_tvm.prepack) packs the inputs of a candidate that prepacks constants."""
    import tvm

    from hawk_tvm.measure.numerics import compare_all, make_inputs
    from hawk_tvm.prepack import pack_inputs

    dev = tvm.cpu()
    func = rt_mod["main"]
    expected = dict(np.load(ref_npz)) if ref_npz and os.path.exists(ref_npz) else None
    produced: dict[str, np.ndarray] = {}
    args = None
    calls: list[float] = []
    for seed in NUMERIC_SEEDS:
        if expected is None and calls and min(calls) >= LONG_CALL_S:
            break  # a reference this slow records one seed's outputs (seconds a call: the check costs the same)
        if expected is not None and f"out_{seed}_0" not in expected:
            break  # the reference recorded fewer seeds
        host_args = pack_inputs(make_inputs(shapes, dtypes, seed), packing or {})
        args = [tvm.runtime.tensor(a, dev) for a in host_args]
        tick = time.perf_counter()
        func(*args)
        calls.append(time.perf_counter() - tick)
        outs = [args[i].numpy() for i in outputs]
        if expected is None:
            produced.update({f"out_{seed}_{i}": o for i, o in enumerate(outs)})
        else:
            err = compare_all(
                outs, [expected[f"out_{seed}_{i}"] for i in range(len(outs))], [dtypes[i] for i in outputs]
            )
            if err:
                return {"ok": False, "error": err.to_dict()}
    if min(calls) >= LONG_CALL_S:  # a kernel this slow (a naive default lowering) is timed by its seeded runs
        costs = calls
    else:
        ev = evaluator
        timer = rt_mod.time_evaluator(
            "main", dev, number=ev["number"], repeat=ev["repeat"], min_repeat_ms=ev["min_repeat_ms"]
        )
        costs = [float(c) for c in timer(*args).results]
    result: dict[str, Any] = {"ok": True, "seconds": float(np.median(costs)), "breakdown": {"costs": costs}}
    if expected is None and ref_npz:
        np.savez(ref_npz, **produced)
    return result


def _reference_worker(mod_script: str, target_cfg: dict, ref_npz: str, shapes, dtypes, outputs, evaluator) -> dict:
    """Build the unscheduled module (TVM's default lowering) and record its outputs and time."""
    import tvm

    stub_tensor_intrin()
    mod = tvm.script.from_source(mod_script)
    rt_mod = tvm.compile(mod, target=tvm.target.Target(target_cfg)).jit()
    return _run_and_time(rt_mod, ref_npz, shapes, dtypes, outputs, evaluator)


def _candidate_worker(artifact_path: str, ref_npz: str, shapes, dtypes, outputs, evaluator, packing=None) -> dict:
    """Load a built candidate, check it against the reference, and time it."""
    import tvm

    try:
        rt_mod = tvm.runtime.load_module(artifact_path)
    except Exception as exc:
        return {"ok": False, "error": {"kind": "build", "message": f"cannot load artifact: {exc}", "context": {}}}
    return _run_and_time(rt_mod, ref_npz, shapes, dtypes, outputs, evaluator, packing)


class _Pool:
    """A lazily started pool of TVM Popen workers, restarted after a crash."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self._pool = None
        self._warm: list = []

    def start(self) -> None:
        """Start the workers now, without waiting (each imports TVM: seconds on a busy host)."""
        from tvm.support.popen_pool import PopenPoolExecutor

        if self._pool is None:
            self._pool = PopenPoolExecutor(self.workers, timeout=self.timeout_s, initializer=stub_tensor_intrin)
            self._warm = [self._pool.submit(_noop) for _ in range(self.workers)]

    def wait_ready(self) -> None:
        """Block until the workers started by `start` answer."""
        for fut in self._warm:
            with contextlib.suppress(Exception):  # a worker that failed to start is restarted on the next job
                fut.result()
        self._warm = []

    def map(self, fn: Any, jobs: list[tuple]) -> list[MeasureResult]:
        from tvm.support.popen_pool import StatusKind

        self.start()
        results: list[MeasureResult] = []
        for item in self._pool.map_with_error_catching(lambda job: fn(*job), jobs):
            if item.status == StatusKind.COMPLETE:
                results.append(MeasureResult.from_dict(item.value))
            elif item.status == StatusKind.TIMEOUT:
                results.append(MeasureResult.failure("run", f"timed out after {self.timeout_s:g} s"))
            else:
                msg = str(item.value).strip().splitlines()
                results.append(MeasureResult.failure("run", (msg[-1] if msg else "worker crashed")[:400]))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._warm = []


def _noop() -> None:
    """A job that only proves a worker is up."""


def _build_worker(mod: Any, target: Any) -> str:
    """Worker body: build with MetaSchedule's public default build and export (LocalBuilder's own steps)."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export

    return default_export(default_build(mod, target, None))


class _BuildPool(_Pool):
    """Parallel candidate builds with LocalBuilder's build and export functions, in Popen workers kept across operators
    (LocalBuilder starts a fresh pool per batch: ~2 s of worker start-up per operator). Recycled every
    `recycle` builds against the workers' slow memory growth (why LocalBuilder restarts per batch)."""

    def __init__(self, workers: int, timeout_s: float, recycle: int = 256) -> None:
        super().__init__(workers, timeout_s)
        self.recycle = recycle
        self._built = 0

    def recycle_if_due(self) -> None:
        """Restart the workers once `recycle` builds went through them (call it while no job is running)."""
        if self._pool is not None and self._built >= self.recycle:
            self.close()

    def build(self, mods: list[Any], target: Any, recycle: bool = True) -> list[tuple[str | None, str | None]]:
        """(artifact path, None) or (None, error message) per module, in order; `recycle=False` while another job
        (a reference run) is on the workers."""
        from tvm.support.popen_pool import StatusKind

        if recycle:
            self.recycle_if_due()
        self.start()
        self._built += len(mods)
        out: list[tuple[str | None, str | None]] = []
        jobs = [(m, target) for m in mods]
        for item in self._pool.map_with_error_catching(lambda job: _build_worker(*job), jobs):
            if item.status == StatusKind.COMPLETE:
                out.append((item.value, None))
            elif item.status == StatusKind.TIMEOUT:
                out.append((None, f"build timed out after {self.timeout_s:g} s"))
            else:
                out.append((None, str(item.value)))
        return out

    def close(self) -> None:
        super().close()
        self._built = 0


def _make_runner_classes():
    """Define HostRunner lazily so importing this module does not import TVM."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerResult

    @derived_object
    class HostRunnerFuture(PyRunnerFuture):
        """A finished measurement (runs are synchronous in the pool)."""

        def __init__(self, result: MeasureResult) -> None:
            super().__init__()
            self.measure = result

        def done(self) -> bool:
            return True

        def result(self) -> RunnerResult:
            if self.measure.ok:
                return RunnerResult([self.measure.seconds], None)
            return RunnerResult(None, encode_error_message(self.measure.error or HawkError("run", "failed")))

    @derived_object
    class HostRunner(PyRunner):
        """Runs built artifacts on this CPU, checking them against a `Reference` first."""

        def __init__(
            self, reference: Reference, pool: _Pool, evaluator: EvaluatorSettings, stop: Any = lambda: False
        ) -> None:
            super().__init__()
            self.reference = reference
            self.pool = pool
            self.evaluator = evaluator
            self.stop = stop  # () -> bool: True once the time budget is spent
            self.packing: dict[str, dict[int, int]] = {}  # artifact path -> prepacked parameters

        def run(self, runner_inputs: list) -> list:
            ref = self.reference
            ev = self.evaluator.__dict__
            jobs = [
                (
                    inp.artifact_path,
                    ref.path,
                    ref.arg_shapes,
                    ref.arg_dtypes,
                    ref.output_indices,
                    ev,
                    self.packing.get(inp.artifact_path),
                )
                for inp in runner_inputs
            ]
            # one at a time: a timed run must not share the cores with another one
            return [
                HostRunnerFuture(
                    MeasureResult.over_budget() if self.stop() else self.pool.map(_candidate_worker, [job])[0]
                )
                for job in jobs
            ]

    return HostRunner


@dataclass
class _Built:
    """Candidates after the build step: per-index results so far (failures), input packings, and what to run."""

    results: list[MeasureResult | None]
    packings: dict[int, dict[int, int] | None]
    to_run: list[tuple[int, str]]

    @property
    def paths(self) -> list[str]:
        return [path for _, path in self.to_run]


class HostMeasurer:
    """Measures scheduled PrimFunc modules on this CPU through TVM's LocalBuilder and a `HostRunner`."""

    def __init__(self, target: Any = None, workers: int = 2, evaluator: EvaluatorSettings | None = None) -> None:
        self.target = target if target is not None else host_target()
        self.workers = workers
        self.evaluator = evaluator or EvaluatorSettings()
        # one pool: builds go `workers` at a time, timed runs (reference, candidates) one job at a time
        self._builder = _BuildPool(workers, max(120.0, self.evaluator.timeout_s))
        self._pool = self._builder
        self._runner_cls = None
        self.deadline: float | None = None
        self._side = concurrent.futures.ThreadPoolExecutor(1)  # waits on a reference job while candidates build
        self._builder.start()  # the workers import TVM while the caller analyses the model

    def wait_ready(self) -> None:
        """Block until the workers are up (so a time budget is planned on warm workers)."""
        self._builder.wait_ready()

    def set_deadline(self, deadline: float | None) -> None:
        """After `deadline` (time.monotonic()), nothing more is built or run: results are `budget` errors."""
        self.deadline = deadline

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def reference(self, mod: Any, workload: Any, evaluator: EvaluatorSettings | None = None) -> Reference:
        """Build and run the default lowering of `mod` (one PrimFunc named main)."""
        ref, finish = self._start_reference(mod, workload, evaluator)
        finish()
        return ref

    def _start_reference(
        self, mod: Any, workload: Any, evaluator: EvaluatorSettings | None = None
    ) -> tuple[Reference, Any]:
        """Start the reference job on one worker; returns the Reference and a call that waits for it and fills in
        its time or error (the other workers stay free for candidate builds meanwhile)."""
        tmp = tempfile.TemporaryDirectory(prefix="hawk-ref-")
        ref = Reference(
            arg_shapes=[tuple(s) for s in workload.arg_shapes],
            arg_dtypes=list(workload.arg_dtypes),
            output_indices=list(workload.output_indices),
            path=os.path.join(tmp.name, "reference.npz"),
            tmpdir=tmp,
        )
        job = (
            mod.script(),
            dict(self.target.export()),
            ref.path,
            ref.arg_shapes,
            ref.arg_dtypes,
            ref.output_indices,
            (evaluator or self.evaluator).__dict__,
        )
        if self._past_deadline():
            future = None
        else:
            self._pool.start()
            future = self._side.submit(self._pool.map, _reference_worker, [job])

        def finish() -> None:
            (res,) = future.result() if future is not None else [MeasureResult.over_budget()]
            ref.seconds = res.seconds if res.ok else None
            ref.error = None if res.ok else res.error

        return ref, finish

    def check(self, mod: Any, mods: list[Any], workload: Any) -> list[MeasureResult]:
        """Check scheduled modules against the default lowering of `mod` with one untimed-grade run each (one
        call, no repeats), whatever the deadline: a schedule applied without a measured search still ships only
        once its outputs were compared. The candidates build while the reference runs. `seconds` of the results
        are one-call figures, not timings."""
        quick = EvaluatorSettings(number=1, repeat=1, min_repeat_ms=0, timeout_s=self.evaluator.timeout_s)
        deadline, self.deadline = self.deadline, None
        try:
            self._builder.recycle_if_due()  # not while the reference runs on the workers
            reference, finish = self._start_reference(mod, workload, quick)
            built = self._build(mods, reference.arg_shapes, recycle=False)
            finish()
            if reference.error is not None:
                for path in built.paths:
                    _remove_artifact(path)
                return [MeasureResult(ok=False, error=reference.error) for _ in mods]
            return self._run(built, reference, quick)
        finally:
            self.deadline = deadline

    def measure(
        self, mods: list[Any], reference: Reference, evaluator: EvaluatorSettings | None = None
    ) -> list[MeasureResult]:
        """Build every module (in parallel), then run the built ones with HostRunner (one at a time)."""
        if not mods:
            return []
        if self._past_deadline():
            return [MeasureResult.over_budget() for _ in mods]
        return self._run(self._build(mods, reference.arg_shapes), reference, evaluator)

    def _build(self, mods: list[Any], arg_shapes: list[tuple[int, ...]], recycle: bool = True) -> _Built:
        """Infer each module's input packing and build the modules that have one, `workers` at a time."""
        from hawk_tvm.prepack import infer_packing

        built = _Built([None] * len(mods), {}, [])
        for i, mod in enumerate(mods):
            built.packings[i], err = infer_packing(arg_shapes, mod["main"])
            if err is not None:
                built.results[i] = MeasureResult(ok=False, error=err)
        buildable = [i for i in range(len(mods)) if built.results[i] is None]
        paths = self._builder.build([mods[i] for i in buildable], self.target, recycle) if buildable else []
        for i, (path, error) in zip(buildable, paths):
            if error:
                built.results[i] = MeasureResult.failure("build", _last_line(error))
            else:
                built.to_run.append((i, path))
        return built

    def _run(self, built: _Built, reference: Reference, evaluator: EvaluatorSettings | None) -> list[MeasureResult]:
        """Run the built modules against `reference` with HostRunner, one at a time; removes their artifacts."""
        from tvm.s_tir.meta_schedule.runner import RunnerInput

        results = built.results
        if built.to_run:
            if self._runner_cls is None:
                self._runner_cls = _make_runner_classes()
            runner = self._runner_cls(reference, self._pool, evaluator or self.evaluator, self._past_deadline)
            runner.packing = {path: built.packings[i] for i, path in built.to_run if built.packings[i]}
            futures = runner.run([RunnerInput(path, "cpu", []) for _, path in built.to_run])
            for (i, path), fut in zip(built.to_run, futures):
                res = fut.result()
                if res.error_msg:
                    results[i] = MeasureResult(ok=False, error=decode_error_message(res.error_msg))
                else:
                    results[i] = MeasureResult(ok=True, seconds=float(res.run_secs[0]))
                _remove_artifact(path)
        return [r if r is not None else MeasureResult.failure("internal", "not measured") for r in results]

    def close(self) -> None:
        """Stop the worker pool."""
        self._side.shutdown(wait=True)
        self._builder.close()


def _last_line(message: str) -> str:
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else message)[:400]


def _remove_artifact(path: str) -> None:
    try:
        os.remove(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass
