"""Functional check: build a candidate for the host with LLVM and compare it with the reference on seeded inputs."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..errors import HawkError

RTOL = {"float16": 1e-2, "bfloat16": 2e-2, "float32": 1e-4, "float64": 1e-7}
DEFAULT_SEEDS = (0, 1)


def host_target_dict() -> dict[str, Any]:
    """The LLVM target candidates are built for: the one `hawk compile` ships NPU artifacts with (this CPU's mcpu,
    num-cores), so the code that is checked is the code that ships (measure.host.host_target)."""
    from ..measure.host import host_target

    return dict(host_target().export())


def module_to_text(mod: Any) -> str:
    """Serialise an IRModule or PrimFunc as TVMScript (safe across processes, unlike save_json)."""
    import tvm

    if isinstance(mod, tvm.tirx.PrimFunc):
        mod = tvm.IRModule({"main": mod})
    return mod.script(show_meta=True)


def module_from_text(text: str) -> Any:
    """Inverse of `module_to_text`."""
    import tvm
    import tvm.script

    mod = tvm.script.from_source(text)
    return mod if isinstance(mod, tvm.IRModule) else tvm.IRModule({"main": mod})


def main_func(mod: Any) -> Any:
    """The PrimFunc to run: ``main`` or the only PrimFunc of the module."""
    import tvm

    if isinstance(mod, tvm.tirx.PrimFunc):
        return mod
    funcs = [(gv.name_hint, f) for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    for name, f in funcs:
        if name == "main":
            return f
    return funcs[0][1]


def random_args(func: Any, seed: int) -> list[np.ndarray]:
    """Seeded random arrays for every buffer parameter (outputs too, so a missing init shows up)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for buf in func.params:
        shape = [int(s) for s in buf.shape]
        dtype = str(buf.dtype)
        if dtype.startswith("float") or dtype == "bfloat16":
            arr = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
        elif dtype == "bool":
            arr = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype.startswith("uint"):
            arr = rng.integers(0, 16, size=shape).astype(dtype)
        else:
            arr = rng.integers(-8, 9, size=shape).astype(dtype)
        arrays.append(arr)
    return arrays


def npu_host_build() -> Any:
    """The PassContext for host builds of NPU kernels (the functional check, `hawk run`'s artifact): their
    vectorized loops are the NPU vector unit's instructions, which the cycle model reads from the TIR, not host
    SIMD, so they are lowered as serial loops (same TIR, same numerics). LLVM otherwise spends 20+ s on a single
    512-lane gather loop (a small ResNet-50 block's UB kernel), which stalled compiles past their time budget."""
    import tvm

    current = tvm.transform.PassContext.current()
    config = {**{str(k): v for k, v in current.config.items()}, "tirx.disable_vectorize": True}
    return tvm.transform.PassContext(opt_level=current.opt_level, config=config)


def _build(func_mod: Any) -> Any:
    """Compile for the host and return the entry function (JIT happens here, once per module)."""
    import tvm

    with npu_host_build():
        lib = tvm.compile(func_mod, target=tvm.target.Target(host_target_dict()))
    name = next(gv.name_hint for gv, f in func_mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc))
    return lib[name]


def _run(fn: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    import tvm

    dev = tvm.cpu()
    args = [tvm.runtime.tensor(a, dev) for a in arrays]
    fn(*args)
    return [a.numpy() for a in args]


class OutOfBoundsWrite(RuntimeError):
    """A kernel wrote into the canary bytes beside an operand (hawk_tvm.sim.guarded)."""

    def __init__(self, operand: int) -> None:
        super().__init__(f"out-of-bounds write beside operand {operand} (its guard canary was overwritten)")
        self.operand = operand


def _run_guarded(fn: Any, arrays: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Run on operands placed against a guard page (seed parity picks the edge): an out-of-bounds access, which
    ordinary heap arrays hide, faults here (hawk_tvm.sim.guarded)."""
    from .guarded import GuardedArrays

    with GuardedArrays(arrays, "head" if seed % 2 == 0 else "tail") as guarded:
        fn(*guarded.tensors())
        hit = guarded.overruns()
        if hit:
            raise OutOfBoundsWrite(hit[0])
        return [a.copy() for a in guarded.arrays]


_REF_CACHE: OrderedDict[str, list[np.ndarray]] = OrderedDict()
_REF_LOCK = threading.Lock()


def compare(out: list[np.ndarray], ref: list[np.ndarray], seed: int) -> HawkError | None:
    """First mismatching buffer as a ``numerics`` error, else None."""
    for idx, (got, want) in enumerate(zip(out, ref, strict=False)):
        dtype = str(want.dtype)
        if dtype in RTOL:
            rtol = RTOL[dtype]
            w, g = want.astype("float64"), got.astype("float64")
            atol = rtol * (float(np.max(np.abs(w))) if w.size else 0.0) + 1e-6
            bad = ~np.isclose(g, w, rtol=rtol, atol=atol)
        else:
            bad = got != want
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            return HawkError("numerics", f"output {idx} differs from the reference at {where} (seed {seed})", {
                "buffer": idx, "index": list(where), "got": float(got[where]), "expected": float(want[where]),
                "mismatched": int(np.sum(bad)), "seed": seed, "dtype": dtype})
    return None


def check_numerics_local(candidate: Any, reference: Any, seeds: tuple[int, ...] = DEFAULT_SEEDS) -> HawkError | None:
    """Build both modules here (in this process) and compare outputs; a build failure is a ``build`` error."""
    import tvm

    cand_mod = candidate if isinstance(candidate, tvm.IRModule) else tvm.IRModule({"main": candidate})
    ref_mod = reference if isinstance(reference, tvm.IRModule) else tvm.IRModule({"main": reference})
    func = main_func(ref_mod)
    ref_key = hashlib.sha256(ref_mod.script().encode()).hexdigest()
    ref_fn = cand_fn = None
    for seed in seeds:
        arrays = random_args(func, seed)
        key = f"{ref_key}:{seed}"
        with _REF_LOCK:
            ref_out = _REF_CACHE.get(key)
        if ref_out is None:
            try:
                ref_fn = ref_fn or _build(ref_mod)
                ref_out = _run(ref_fn, arrays)
            except Exception as exc:  # a broken reference is the caller's problem, reported as data
                return HawkError("build", f"reference failed to build/run: {_last_line(exc)}", {"which": "reference"})
            with _REF_LOCK:
                _REF_CACHE[key] = ref_out
                while len(_REF_CACHE) > 16:
                    _REF_CACHE.popitem(last=False)
        try:
            cand_fn = cand_fn or _build(cand_mod)
            out = _run_guarded(cand_fn, arrays, seed)
        except OutOfBoundsWrite as exc:
            return HawkError("run", f"candidate {exc}", {"operand": exc.operand, "out_of_bounds": True, "seed": seed})
        except Exception as exc:  # TVM raises many types for build errors
            msg = f"candidate failed to build/run on LLVM: {_last_line(exc)}"
            return HawkError("build", msg, {"which": "candidate"})
        err = compare(out, ref_out, seed)
        if err is not None:
            return err
    return None


def _last_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _worker_entry(cand_text: str, ref_text: str, seeds: tuple[int, ...]) -> dict[str, Any] | None:
    """Worker-side: parse, build, compare; return the error as a dict (None when equal)."""
    try:
        cand, ref = module_from_text(cand_text), module_from_text(ref_text)
    except Exception as exc:  # parse errors of foreign text
        return HawkError("internal", f"could not parse module text: {_last_line(exc)}").to_dict()
    err = check_numerics_local(cand, ref, seeds)
    return err.to_dict() if err else None


class FunctionalChecker:
    """Runs numerics checks in worker processes (a crashing candidate kills a worker, not the caller)."""

    def __init__(self, max_workers: int = 1, timeout_s: float = 120.0) -> None:
        self.max_workers = max_workers
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._lock = threading.Lock()

    def _executor(self) -> Any:
        from tvm.support.popen_pool import PopenPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = PopenPoolExecutor(max_workers=self.max_workers, timeout=self.timeout_s)
            return self._pool

    def check(self, candidate: Any, reference: Any, seeds: tuple[int, ...] = DEFAULT_SEEDS) -> HawkError | None:
        """Numerics of `candidate` against `reference`, isolated; errors as data."""
        cand_text, ref_text = module_to_text(candidate), module_to_text(reference)
        future = self._executor().submit(_worker_entry, cand_text, ref_text, tuple(seeds))
        try:
            result = future.result()
        except TimeoutError:
            msg = f"functional check timed out after {self.timeout_s:g} s"
            return HawkError("run", msg, {"timeout_s": self.timeout_s})
        except Exception as exc:  # ChildProcessError etc: the worker died (segfault, abort)
            return HawkError("run", f"functional check worker died: {_last_line(exc)}", {"crash": True})
        return HawkError.from_dict(result) if result else None

    def close(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


_DEFAULT: FunctionalChecker | None = None


def default_checker() -> FunctionalChecker:
    """The process-wide checker (one worker, reused)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FunctionalChecker()
    return _DEFAULT


def check_numerics(candidate: Any, reference: Any, *, seeds: tuple[int, ...] = DEFAULT_SEEDS,
                   isolate: bool = True) -> HawkError | None:
    """Compare a scheduled module with its reference on seeded random inputs; None when they agree."""
    if not isolate:
        return check_numerics_local(candidate, reference, seeds)
    return default_checker().check(candidate, reference, seeds)
