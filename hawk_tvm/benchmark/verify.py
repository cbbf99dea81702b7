"""The harness's own final measurement: time every compared kernel alike, then re-check it on fresh inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TIMING_SEED = 999
CHECK_SEEDS = (1000, 1001)  # fresh: the generators check candidates on seeds 0 and 1


@dataclass(frozen=True)
class TimingSettings:
    """TVM evaluator settings used for every host kernel (median over `repeat`, each at least `min_repeat_ms`)."""

    repeat: int = 10
    min_repeat_ms: int = 50
    warmup: int = 1
    timeout_s: float = 300.0


@dataclass
class Verdict:
    """The harness's measurement of one kernel.

    correct:  built, ran, and matched the default lowering on the fresh seeds, checked after timing.
    seconds:  median time per call (host) or simulated time (NPU); None when it did not run.
    spread:   host: q1, q3, min, max of the per-repeat times; NPU: empty (the cycle model is deterministic).
    """

    correct: bool
    seconds: float | None = None
    spread: dict[str, float] = field(default_factory=dict)
    cycles: float | None = None
    roofline_fraction: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"correct": self.correct, "seconds": self.seconds, "spread": self.spread, "cycles": self.cycles,
                "roofline_fraction": self.roofline_fraction, "error": self.error, "details": self.details}


def kernel_key(mod: Any) -> str:
    """Identity of a kernel (its TVMScript), so a kernel delivered by two backends is measured once."""
    return hashlib.sha256(mod.script().encode()).hexdigest()[:16]


def _stats(costs: list[float]) -> tuple[float, dict[str, float]]:
    arr = np.asarray(costs, dtype="float64")
    q1, med, q3 = (float(x) for x in np.percentile(arr, [25, 50, 75]))
    return med, {"q1": q1, "q3": q3, "min": float(arr.min()), "max": float(arr.max()), "n": len(costs)}


def _reference_outputs(ref_lib: Any, shapes: list, dtypes: list, outputs: list[int]) -> dict[int, list[np.ndarray]]:
    import tvm

    from ..measure.numerics import make_inputs

    dev = tvm.cpu()
    out: dict[int, list[np.ndarray]] = {}
    for seed in CHECK_SEEDS:
        args = [tvm.runtime.tensor(a, dev) for a in make_inputs(shapes, dtypes, seed)]
        ref_lib["main"](*args)
        out[seed] = [args[i].numpy() for i in outputs]
    return out


def _check(produce: Callable[[int], list[np.ndarray]], expected: dict[int, list[np.ndarray]],
           out_dtypes: list[str]) -> str | None:
    from ..measure.numerics import compare_all

    for seed in CHECK_SEEDS:
        err = compare_all(produce(seed), expected[seed], out_dtypes)
        if err is not None:
            return f"seed {seed}: {err.message}"
    return None


def host_job(kernel_text: str | None, numpy_fn: Callable | None, ref_text: str, target_cfg: dict, shapes: list,
             dtypes: list, outputs: list[int], settings: dict) -> dict[str, Any]:
    """Worker body: build the kernel (or take the numpy function) and the reference, time the kernel with TVM's
    evaluator after a warm-up, then check it against the reference on the fresh seeds."""
    import time

    import tvm

    from ..measure.numerics import make_inputs
    from ..sim.functional import module_from_text

    target = tvm.target.Target(target_cfg)
    dev = tvm.cpu()
    out_dtypes = [dtypes[i] for i in outputs]
    timing_inputs = make_inputs(shapes, dtypes, TIMING_SEED)
    if kernel_text is not None:
        try:
            lib = tvm.compile(module_from_text(kernel_text), target=target).jit()
        except Exception as exc:
            return {"correct": False, "error": f"build: {_last_line(exc)}"}
        args = [tvm.runtime.tensor(a, dev) for a in timing_inputs]
        for _ in range(settings["warmup"]):
            lib["main"](*args)
        timer = lib.time_evaluator("main", dev, number=1, repeat=settings["repeat"],
                                   min_repeat_ms=settings["min_repeat_ms"])
        costs = [float(c) for c in timer(*args).results]

        def produce(seed: int) -> list[np.ndarray]:
            fresh = [tvm.runtime.tensor(a, dev) for a in make_inputs(shapes, dtypes, seed)]
            lib["main"](*fresh)
            return [fresh[i].numpy() for i in outputs]
    else:
        assert numpy_fn is not None
        ins = [a for i, a in enumerate(timing_inputs) if i not in outputs]
        for _ in range(settings["warmup"]):
            numpy_fn(*ins)
        costs = []
        for _ in range(settings["repeat"]):
            calls, start = 0, time.perf_counter()
            while True:
                numpy_fn(*ins)
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed * 1e3 >= settings["min_repeat_ms"]:
                    break
            costs.append(elapsed / calls)

        def produce(seed: int) -> list[np.ndarray]:
            fresh = make_inputs(shapes, dtypes, seed)
            res = numpy_fn(*[a for i, a in enumerate(fresh) if i not in outputs])
            return [np.asarray(r).astype(out_dtypes[j]) for j, r in enumerate(res)]

    median, spread = _stats(costs)
    ref_lib = tvm.compile(module_from_text(ref_text), target=target).jit()  # after timing: no warm TVM threads
    expected = _reference_outputs(ref_lib, shapes, dtypes, outputs)
    err = _check(produce, expected, out_dtypes)
    return {"correct": err is None, "seconds": median, "spread": spread, "error": err}


def _last_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


class HostVerifier:
    """Times and checks host kernels in a worker process (a crashing kernel is a result, not a crash)."""

    def __init__(self, target: Any, settings: TimingSettings) -> None:
        self.target_cfg = dict(target.export())
        self.settings = settings
        self._pool: Any = None

    def _executor(self) -> Any:
        from tvm.support.popen_pool import PopenPoolExecutor

        from ..measure.host import stub_tensor_intrin

        if self._pool is None:
            self._pool = PopenPoolExecutor(1, timeout=self.settings.timeout_s, initializer=stub_tensor_intrin)
        return self._pool

    def verify(self, ref_mod: Any, workload: Any, kernel: Any = None, numpy_fn: Callable | None = None) -> Verdict:
        """Measure `kernel` (an IRModule) or `numpy_fn` against the default lowering `ref_mod`."""
        from ..sim.functional import module_to_text

        job = (
            module_to_text(kernel) if kernel is not None else None,
            numpy_fn,
            module_to_text(ref_mod),
            self.target_cfg,
            [list(s) for s in workload.arg_shapes],
            list(workload.arg_dtypes),
            list(workload.output_indices),
            {"repeat": self.settings.repeat, "min_repeat_ms": self.settings.min_repeat_ms,
             "warmup": self.settings.warmup},
        )
        try:
            res = self._executor().submit(host_job, *job).result()
        except Exception as exc:  # crash or timeout of the worker: the kernel failed
            self.close()
            return Verdict(False, error=f"run: {type(exc).__name__}: {_last_line(exc)}")
        return Verdict(bool(res["correct"]), res.get("seconds"), res.get("spread") or {}, error=res.get("error"))

    def close(self) -> None:
        """Stop the worker."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class SimVerifier:
    """Simulates NPU kernels: constraints and cycles first, then the functional check on the fresh seeds."""

    def __init__(self, profile: Any) -> None:
        self.profile = profile

    def verify(self, ref_mod: Any, workload: Any, kernel: Any = None, numpy_fn: Callable | None = None) -> Verdict:
        """Simulate `kernel` against `ref_mod` (numpy functions do not apply to the simulator)."""
        from ..sim.simulator import simulate

        if kernel is None:
            return Verdict(False, error="numpy kernels do not run on the simulator")
        res = simulate(kernel, ref_mod, self.profile, functional=True, seed=CHECK_SEEDS[0])
        frac = res.breakdown.get("roofline_fraction")
        details = {k: res.breakdown[k] for k in ("roofline_cycles", "roofline_bound", "roofline_unit", "cores_used")
                   if k in res.breakdown}
        if not res.ok:
            err = res.error
            return Verdict(False, None, cycles=res.cycles, error=f"[{err.kind}] {err.message}" if err else "failed",
                           details=details)
        return Verdict(True, res.seconds, {}, res.cycles, float(frac) if frac is not None else None, details=details)

    def close(self) -> None:
        """Nothing to release."""
