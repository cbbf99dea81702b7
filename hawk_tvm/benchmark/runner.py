"""Runs a suite on a target: every backend per operator, then the harness's own timing and fresh-input check."""

from __future__ import annotations

import datetime
import os
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Budget
from . import backends as bk
from .metrics import FLAG_SPEEDUP, flagged, summarise
from .suite import get_suite
from .verify import HostVerifier, SimVerifier, TimingSettings, kernel_key

SPEEDUP_BASELINES = ("default", "ms-trials", "ms-budget", "numpy", "roofline")


@dataclass(frozen=True)
class BenchSettings:
    """One benchmark invocation.

    baselines:    registered backend names (None = all that apply to the target; `default` always runs).
    ablations:    any of retrieval, synthesis, distillation (extra Hawk variants).
    ms_trials:    MetaSchedule's fixed trial count; ms_max_trials caps the same-time run; ms_per_iter is its batch
                  size (small batches let it report a result early in the same-time comparison).
    hawk_budget:  Hawk's generation budget per operator.
    timing:       the harness's final timing of every kernel; tune_timing: timing inside Hawk and MetaSchedule.
    database:     reuse this folder as HAWK_HOME and MetaSchedule databases (default: a fresh temporary folder);
                  any result served from it is marked cached and excluded from the metrics.
    """

    suite: str = "operators"
    target: str = "host"
    quick: bool = False
    baselines: tuple[str, ...] | None = None
    ablations: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ms_trials: int = 64
    ms_max_trials: int = 256
    ms_per_iter: int = 8
    hawk_budget: Budget = field(default_factory=Budget)
    timing: TimingSettings = field(default_factory=TimingSettings)
    tune_timing: TimingSettings = field(default_factory=lambda: TimingSettings(repeat=5, min_repeat_ms=20))
    distill_every: int = 2
    seed: int = 0
    database: Path | None = None
    progress: bool = True

    @staticmethod
    def for_mode(quick: bool, **changes: Any) -> BenchSettings:
        """Defaults of the full or the quick mode, with `changes` applied."""
        if quick:
            base = BenchSettings(quick=True, ms_trials=16, ms_max_trials=64,
                                 hawk_budget=Budget(candidates=4, repair_rounds=1, op_time_s=30.0),
                                 timing=TimingSettings(repeat=5, min_repeat_ms=20),
                                 tune_timing=TimingSettings(repeat=3, min_repeat_ms=10))
        else:
            base = BenchSettings()
        return replace(base, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"suite": self.suite, "target": self.target, "quick": self.quick,
                "baselines": list(self.baselines) if self.baselines else None, "ablations": list(self.ablations),
                "only": list(self.only), "ms_trials": self.ms_trials, "ms_max_trials": self.ms_max_trials,
                "ms_per_iter": self.ms_per_iter,
                "hawk_budget": self.hawk_budget.__dict__, "timing": self.timing.__dict__,
                "tune_timing": self.tune_timing.__dict__, "distill_every": self.distill_every, "seed": self.seed,
                "database": str(self.database) if self.database else None}


def make_target(name: str, settings: BenchSettings) -> bk.BenchTarget:
    """The benchmark target: `host` (measured here) or a hardware profile (simulated)."""
    from ..measure.host import host_target

    if name in ("host", "llvm", "cpu"):
        tgt = host_target()
        return bk.BenchTarget("host", "cpu", tgt, None, HostVerifier(tgt, settings.timing))
    from ..hardware.profile import load_profile
    from ..sim.intrinsics import register_intrinsics

    profile = load_profile(name)
    register_intrinsics(profile)
    return bk.BenchTarget(profile.name, "npu", host_target(), profile, SimVerifier(profile))


def _plan(settings: BenchSettings, kind: str) -> tuple[list[bk.Backend], list[tuple[str, dict]], dict[str, Any]]:
    """Backends, extra Hawk variants and the status of each ablation."""
    chosen = bk.select_backends(list(settings.baselines) if settings.baselines else None, kind)
    variants: list[tuple[str, dict]] = []
    ablations: dict[str, Any] = {}
    for name in settings.ablations:
        extra, reason = bk.ablation_variants(name, settings.distill_every)
        ablations[name] = {"status": reason or "ran", "arms": [v for v, _ in extra] + (["hawk"] if extra else [])}
        variants += [v for v in extra if v[0] not in {x[0] for x in variants}]
    if variants and not any(b.name == "hawk" for b in chosen):
        chosen = [b for b in bk.BACKENDS.values() if b in chosen or b.name == "hawk"]
    return chosen, variants, ablations


def _safe(fn: Any, ctx: bk.OpContext, labels: tuple[str, ...]) -> list[bk.BackendResult]:
    try:
        return fn(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a broken backend is a failed result for this op, never a crashed benchmark
        tb = traceback.format_exc().strip().splitlines()[-1]
        return [bk.BackendResult(lbl, ctx.case.name, status=bk.FAILED, error=f"internal error: {exc} ({tb})"[:400])
                for lbl in labels]


def _verify_all(ctx: bk.OpContext) -> None:
    """The harness's final measurement of every delivered kernel (each distinct kernel once, same settings)."""
    verifier = ctx.run.target.verifier
    seen: dict[str, Any] = {}
    for res in ctx.results.values():
        if res.status != bk.OK:
            continue
        if res.numpy_fn is not None:
            res.verdict = verifier.verify(ctx.mod, ctx.workload, numpy_fn=res.numpy_fn)
        elif res.kernel is not None:
            key = kernel_key(res.kernel)
            if key not in seen:
                seen[key] = verifier.verify(ctx.mod, ctx.workload, kernel=res.kernel)
            res.verdict = seen[key]
            if res.source in ("default", "fallback") or key == kernel_key(ctx.mod):
                res.own = res.backend == "default"
        else:
            res.status, res.error = bk.FAILED, res.error or "no kernel delivered"
        if res.verdict is not None and not res.verdict.correct:
            res.status = bk.FAILED
            res.error = res.error or res.verdict.error


def _speedups(ctx: bk.OpContext) -> None:
    for res in ctx.results.values():
        if not res.correct:
            continue
        mine = res.verdict.seconds
        for base in SPEEDUP_BASELINES:
            other = ctx.results.get(base)
            if other is None or other is res or not mine:
                continue
            if other.time_s:
                res.speedup[base] = other.time_s / mine


def run_bench(settings: BenchSettings) -> dict[str, Any]:
    """Run the suite on the target and return the run record (metadata, per-op results, summary)."""
    from ..measure.host import stub_tensor_intrin

    stub_tensor_intrin()
    from ..analysis.workload import analyze

    started = time.monotonic()
    tmp = None
    if settings.database is not None:
        home = Path(settings.database)
        home.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="hawk-bench-")
        home = Path(tmp.name)
    old_home = os.environ.get("HAWK_HOME")
    os.environ["HAWK_HOME"] = str(home)  # nothing read from ~/.hawk: no cached LLM replies, schedules or knowledge
    target = make_target(settings.target, settings)
    run = bk.RunContext(settings, target, home)
    chosen, variants, ablations = _plan(settings, target.kind)
    cases = get_suite(settings.suite, target.kind, settings.quick, list(settings.only) or None)
    unavailable = {b.name: reason for b in chosen if b.available and (reason := b.available(run))}
    runnable = [b for b in chosen if b.name not in unavailable]
    labels = [lbl for b in runnable for lbl in b.labels] + [v for v, _ in variants]
    ops: list[dict[str, Any]] = []
    try:
        bar = _progress(len(cases) * (len(runnable) + len(variants) + 1), settings)
        for case in cases:
            func = case.build()
            import tvm

            ctx = bk.OpContext(run, case, func, tvm.IRModule({"main": func}), analyze(func, case.name))
            steps = [(b.name, b.fn, b.labels) for b in runnable]
            for label, changes in variants:
                steps.insert(next((i + 1 for i, s in enumerate(steps) if s[0] == "hawk"), len(steps)),
                             (label, lambda c, lbl=label, ch=changes: [bk.run_hawk(c, lbl, **ch)], (label,)))
            for name, fn, lbls in steps:
                _bar_text(bar, f"{case.name}: {name}")
                for res in _safe(fn, ctx, lbls):
                    ctx.results[res.backend] = res
                _bar_step(bar)
            _bar_text(bar, f"{case.name}: final timing")
            _verify_all(ctx)
            _speedups(ctx)
            _bar_step(bar)
            ops.append({**case.info(), "workload": {"op_class": ctx.workload.op_class, "flops": ctx.workload.flops,
                                                    "bytes": ctx.workload.bytes},
                        "results": {k: v.to_dict() for k, v in ctx.results.items()}})
        if bar is not None:
            bar.close()
    finally:
        run.close()
        if target.verifier is not None:
            target.verifier.close()
        if old_home is None:
            os.environ.pop("HAWK_HOME", None)
        else:
            os.environ["HAWK_HOME"] = old_home
        if tmp is not None:
            tmp.cleanup()
    return _record(settings, target, ops, labels, unavailable, ablations, time.monotonic() - started)


def _record(settings: BenchSettings, target: bk.BenchTarget, ops: list[dict], labels: list[str],
            unavailable: dict[str, str], ablations: dict[str, Any], wall: float) -> dict[str, Any]:
    import numpy
    import tvm

    rows = [op["results"] for op in ops]
    names = [op["name"] for op in ops]
    present = [lbl for lbl in labels if any(lbl in r for r in rows)]
    baselines = [b for b in SPEEDUP_BASELINES if b in present and b not in ("roofline",)]
    scored = [lbl for lbl in present if lbl != "roofline"]
    knowledge = sorted({n for op in ops for r in op["results"].values() for n in r.get("notes", [])
                        if "knowledge base unavailable" in n})
    return {
        "meta": {
            "suite": settings.suite, "target": target.name, "kind": target.kind, "quick": settings.quick,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count(), "mcpu": str(target.tvm_target.attrs.get("mcpu", ""))},
            "versions": {"tvm": tvm.__version__, "numpy": numpy.__version__, "python": platform.python_version()},
            "settings": settings.to_dict(), "wall_s": round(wall, 1), "backends": present,
            "unavailable": unavailable, "knowledge": knowledge[0] if knowledge else "available",
            "metaschedule": ("tuned through the simulator's builder/runner (constraints + cycles + functional check)"
                             if target.kind == "npu" else "tuned on this CPU (LocalBuilder/LocalRunner)"),
            "flag_speedup": FLAG_SPEEDUP,
        },
        "ops": ops,
        "summary": summarise(rows, names, scored, baselines, npu=target.kind == "npu"),
        "flagged": flagged(rows, names, scored),
        "ablations": ablations,
    }


def _progress(total: int, settings: BenchSettings) -> Any:
    if not settings.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"bench {settings.suite}/{settings.target}", unit="step", dynamic_ncols=True)


def _bar_text(bar: Any, text: str) -> None:
    if bar is not None:
        bar.set_postfix_str(text[:60])


def _bar_step(bar: Any) -> None:
    if bar is not None:
        bar.update(1)
