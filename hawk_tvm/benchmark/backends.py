"""Baselines as a registry: `@register_backend("name")` turns one function into a column of the benchmark."""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .suite import OpCase
from .verify import Verdict

# status of a result: ok = delivered a kernel to time and check; cached = came from a database, not a measurement;
# n/a = the baseline does not apply to this operator/target; bound = a limit (roofline), not a kernel.
OK, CACHED, NA, BOUND, FAILED = "ok", "cached", "n/a", "bound", "failed"


@dataclass
class BackendResult:
    """What one backend delivered for one operator, and (after verification) how it measured.

    source: how the kernel came about (``generated``, ``default``/``fallback`` = TVM's default lowering delivered,
            ``database`` = a cached record, ``tuned``, ``numpy``...). `own` is True when the kernel is the backend's
            own schedule rather than the default lowering it fell back to.
    """

    backend: str
    op: str
    status: str = OK
    kernel: Any = None  # IRModule to time and check (not serialised)
    numpy_fn: Callable[..., Any] | None = None
    source: str = ""
    own: bool = True
    gen_wall_s: float | None = None
    trials: int = 0
    tokens: int = 0
    first_candidate_ok: bool | None = None
    tuner_seconds: float | None = None  # the backend's own measurement (informative; metrics use the harness's)
    seconds: float | None = None  # bounds only (roofline)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    verdict: Verdict | None = None
    speedup: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """A real measurement of this run (not cached, not n/a, not a bound)."""
        return self.status in (OK, FAILED)

    @property
    def correct(self) -> bool:
        """Delivered a kernel that passed the harness's fresh-input check."""
        return self.status == OK and self.verdict is not None and self.verdict.correct

    @property
    def time_s(self) -> float | None:
        """The harness's time of the kernel (or the bound's time); None when not correct."""
        if self.status == BOUND:
            return self.seconds
        return self.verdict.seconds if self.correct and self.verdict else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "backend": self.backend, "status": self.status, "source": self.source, "own": self.own,
            "correct": self.correct if self.status in (OK, FAILED) else None, "seconds": self.time_s,
            "gen_wall_s": self.gen_wall_s, "trials": self.trials, "tokens": self.tokens,
            "first_candidate_ok": self.first_candidate_ok, "tuner_seconds": self.tuner_seconds,
            "speedup": self.speedup, "notes": self.notes, "error": self.error,
            "verdict": self.verdict.to_dict() if self.verdict else None, "extra": self.extra,
        }


@dataclass
class BenchTarget:
    """Where the suite runs: ``cpu`` (this host, measured) or ``npu`` (a simulator profile)."""

    name: str
    kind: str
    tvm_target: Any
    profile: Any = None
    verifier: Any = None


@dataclass
class RunContext:
    """State shared by every operator of one run: settings, target, fresh state folder, Hawk sessions."""

    settings: Any
    target: BenchTarget
    home: Path
    sessions: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Close the Hawk sessions."""
        for session in self.sessions.values():
            with contextlib.suppress(Exception):
                session.close()
        self.sessions.clear()


@dataclass
class OpContext:
    """One operator of a run: its PrimFunc, module, workload, and the results of the backends run so far."""

    run: RunContext
    case: OpCase
    func: Any
    mod: Any
    workload: Any
    results: dict[str, BackendResult] = field(default_factory=dict)


@dataclass
class Backend:
    """A registered baseline: `fn(ctx) -> list[BackendResult]` for the target kinds it applies to."""

    name: str
    fn: Callable[[OpContext], list[BackendResult]]
    targets: tuple[str, ...]
    labels: tuple[str, ...]
    description: str
    available: Callable[[RunContext], str | None] | None = None  # -> reason it is unavailable, or None


BACKENDS: dict[str, Backend] = {}


BackendFn = Callable[[OpContext], list[BackendResult]]


def register_backend(name: str, *, targets: tuple[str, ...] = ("cpu", "npu"), labels: tuple[str, ...] | None = None,
                     description: str = "", available: Callable[[RunContext], str | None] | None = None
                     ) -> Callable[[BackendFn], BackendFn]:
    """Register `fn` as a baseline named `name` (run in registration order; `labels` = the result columns)."""

    def wrap(fn: BackendFn) -> BackendFn:
        BACKENDS[name] = Backend(name, fn, targets, labels or (name,), description or (fn.__doc__ or "").strip(),
                                 available)
        return fn

    return wrap


def select_backends(names: list[str] | None, kind: str) -> list[Backend]:
    """The registered backends named (all that apply to `kind` when None), in registration order."""
    if names:
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            raise ValueError(f"unknown baseline(s) {', '.join(unknown)}: choose from {', '.join(BACKENDS)}")
    return [b for n, b in BACKENDS.items() if (names is None or n in names or n == "default") and kind in b.targets]


# -- Hawk -------------------------------------------------------------------------------------------------------------
def hawk_session(run: RunContext, label: str, **changes: Any) -> Any:
    """The Hawk session of one variant for this run (fresh database and knowledge store under the run's home)."""
    if label not in run.sessions:
        from ..config import HawkConfig, LLMConfig
        from ..session import CompileSession

        s = run.settings
        changes.setdefault("llm", LLMConfig())  # offline unless the variant asks for the LLM
        folder = run.home / label.replace(":", "_").replace("=", "-")
        config = HawkConfig(target=run.target.name, database_dir=folder / "database",
                            knowledge_db=folder / "knowledge.db", budget=s.hawk_budget, seed=s.seed,
                            timing_repeat=s.tune_timing.repeat, timing_min_ms=s.tune_timing.min_repeat_ms,
                            verbose=False, **changes)
        run.sessions[label] = CompileSession(config)
    return run.sessions[label]


def run_hawk(ctx: OpContext, label: str, **changes: Any) -> BackendResult:
    """Schedule the operator as the Hawk pass does (database lookup first, then generation) and report it."""
    import tvm

    from ..session import last_report

    session = hawk_session(ctx.run, label, **changes)
    start = time.monotonic()
    session.schedule_module(tvm.IRModule({ctx.case.name: ctx.func}))
    wall = time.monotonic() - start
    report = last_report()
    row = report.rows[0] if report is not None and report.rows else None
    res = BackendResult(label, ctx.case.name)
    if session.knowledge is None and session.config.use_knowledge:
        res.notes.append("knowledge base unavailable: generic proposals only")
    if row is None:
        res.status, res.error = FAILED, "Hawk produced no report row"
        return res
    if row.source == "database":
        res.status, res.source, res.own = CACHED, "database", False
        res.notes.append("tuning-database hit: not a measurement of this run")
        return res
    res.source = row.source
    res.own = row.source == "generated" and row.schedule is not None
    res.kernel = row.schedule.mod if res.own else ctx.mod
    res.gen_wall_s = row.wall_s or wall
    res.trials = len(row.attempts)
    res.tokens = row.tokens
    res.first_candidate_ok = row.first_candidate_ok if row.attempts else None
    res.tuner_seconds = row.best_seconds
    res.extra = {"rounds": row.rounds, "failed_candidates": sum(1 for a in row.attempts if not a.result.ok),
                 "reason": row.reason[:300], "origin": row.best.candidate.origin if row.best else None,
                 "knowledge_ids": list(row.best.candidate.knowledge_ids) if row.best else [],
                 "retrieved": [h.entry.id for h in row.knowledge][:5]}
    return res


def _llm_reason(run: RunContext) -> str | None:
    from ..config import LLMConfig

    return None if LLMConfig.from_env().enabled else "no LLM configured (set HAWK_LLM_MODEL and an endpoint)"


@register_backend("default", description="TVM's default lowering of the legalized PrimFunc (the speedup baseline)")
def default_backend(ctx: OpContext) -> list[BackendResult]:
    """TVM's default lowering, unscheduled."""
    return [BackendResult("default", ctx.case.name, kernel=ctx.mod, source="default", own=True, gen_wall_s=0.0)]


@register_backend("hawk-generic", description="Hawk without knowledge (use_knowledge=False): generic programs only")
def hawk_generic_backend(ctx: OpContext) -> list[BackendResult]:
    """Hawk, knowledge off."""
    return [run_hawk(ctx, "hawk-generic", use_knowledge=False)]


@register_backend("hawk", description="Hawk offline: retrieved knowledge instantiated by the offline proposer")
def hawk_backend(ctx: OpContext) -> list[BackendResult]:
    """Hawk with the default configuration and no LLM."""
    return [run_hawk(ctx, "hawk")]


@register_backend("hawk-llm", description="Hawk with the configured LLM proposer", available=_llm_reason)
def hawk_llm_backend(ctx: OpContext) -> list[BackendResult]:
    """Hawk with the LLM from the environment."""
    from ..config import LLMConfig

    return [run_hawk(ctx, "hawk-llm", llm=LLMConfig.from_env())]


# -- MetaSchedule -----------------------------------------------------------------------------------------------------
@register_backend("metaschedule", labels=("ms-budget", "ms-trials"),
                  description="MetaSchedule tune_tir (random cost model): at Hawk's generation time for the op "
                              "(ms-budget) and at a fixed trial count (ms-trials); on an NPU profile it tunes "
                              "through the simulator's builder/runner")
def metaschedule_backend(ctx: OpContext) -> list[BackendResult]:
    """One MetaSchedule run read at two limits."""
    from .metaschedule import tune

    s = ctx.run.settings
    hawk = ctx.results.get("hawk")
    budget_s = hawk.gen_wall_s if hawk is not None and hawk.gen_wall_s else None
    work_dir = None
    if s.database is not None:
        work_dir = str(Path(s.database) / "metaschedule" / ctx.case.name)
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    run = tune(ctx.mod, ctx.run.target.tvm_target, min_trials=s.ms_trials, min_time_s=budget_s or 0.0,
               max_trials=max(s.ms_trials, s.ms_max_trials), per_iter=s.ms_per_iter, seed=s.seed,
               simulator=ctx.run.target.profile, timing=s.tune_timing, work_dir=work_dir)
    out = []
    limits = [("ms-trials", s.ms_trials, None)]
    if budget_s is not None:
        limits.insert(0, ("ms-budget", None, budget_s))
    for label, max_trials, max_time in limits:
        res = BackendResult(label, ctx.case.name)
        if run.cached:
            res.status, res.source, res.own, res.error = CACHED, "database", False, run.error
            out.append(res)
            continue
        mod, trial = run.best_within(max_trials, max_time)
        res.trials = run.count_within(max_trials, max_time)
        res.gen_wall_s = min(max_time, run.wall_s) if max_time is not None else _time_at(run, max_trials)
        errors = run.errors(max_trials, max_time)
        res.extra = {"valid_trials": sum(1 for t in run.trials[: res.trials] if t.seconds is not None),
                     "errors": dict(errors), "budget_s": max_time, "tuning_wall_s": run.wall_s}
        if run.error:
            res.notes.append(run.error)
        if mod is not None:
            res.kernel, res.source, res.tuner_seconds = mod, "tuned", trial.seconds if trial else None
        else:
            # what a compile would get: the default lowering, marked as a fallback
            res.kernel, res.source, res.own = ctx.mod, "fallback", False
            why = (f"no valid schedule among {res.trials} trials" if res.trials
                   else f"no trial finished within {max_time:.1f} s" if max_time is not None else "no trials")
            if errors:
                why += f"; errors {dict(errors)}; first: {run.first_error()}"
            res.notes.append(why[:400])
        out.append(res)
    if budget_s is None:
        out.append(BackendResult("ms-budget", ctx.case.name, status=NA, error="Hawk did not run: no budget to match"))
    return out


def _time_at(run: Any, n: int) -> float:
    trials = run.trials[:n]
    return trials[-1].elapsed_s if len(trials) >= n else run.wall_s


# -- numpy / roofline -------------------------------------------------------------------------------------------------
@register_backend("numpy", targets=("cpu",), description="numpy (OpenBLAS sgemm) where the operator is a matmul")
def numpy_backend(ctx: OpContext) -> list[BackendResult]:
    """numpy/OpenBLAS for matmul-like operators."""
    if ctx.case.numpy is None:
        return [BackendResult("numpy", ctx.case.name, status=NA, error="no numpy/OpenBLAS equivalent")]
    return [BackendResult("numpy", ctx.case.name, numpy_fn=ctx.case.numpy, source="numpy", gen_wall_s=0.0)]


@register_backend("roofline", targets=("npu",), description="the profile's roofline: no schedule can be faster")
def roofline_backend(ctx: OpContext) -> list[BackendResult]:
    """The roofline bound of the operator on the NPU profile."""
    from ..sim.roofline import roofline

    profile = ctx.run.target.profile
    roof = roofline(ctx.mod, profile)
    res = BackendResult("roofline", ctx.case.name, status=BOUND, source="bound", seconds=roof.cycles / profile.clock_hz)
    res.extra = {"cycles": roof.cycles, "bound": roof.bound, "unit": roof.unit, "macs": roof.macs, "ops": roof.ops}
    return [res]


# -- ablations --------------------------------------------------------------------------------------------------------
ABLATIONS = ("retrieval", "synthesis", "distillation")


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def ablation_variants(name: str, distill_every: int = 2) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    """Extra Hawk variants (label, config changes) for an ablation (the main `hawk` run is the other arm),
    or the reason the ablation is not available."""
    if name == "retrieval":
        return [("hawk:retrieval=syntactic", {"retrieval": "syntactic"}),
                ("hawk:retrieval=semantic", {"retrieval": "semantic"})], None
    if name == "synthesis":
        if not _module_exists("hawk_tvm.knowledge.synthesis"):
            return [], "not available: hawk_tvm.knowledge.synthesis does not exist yet"
        return [("hawk:synthesis=off", {"synthesis": False})], None
    if name == "distillation":
        if not _module_exists("hawk_tvm.knowledge.distill"):
            return [], "not available: hawk_tvm.knowledge.distill does not exist yet"
        return [(f"hawk:distill_every={distill_every}", {"distill_every": distill_every})], None
    raise ValueError(f"unknown ablation {name!r}: choose from {', '.join(ABLATIONS)}")


def ablation_arms(name: str, distill_every: int = 2) -> list[str]:
    """The labels compared by an ablation, the main `hawk` run included."""
    variants, _ = ablation_variants(name, distill_every)
    base = {"retrieval": "hawk", "synthesis": "hawk", "distillation": "hawk"}[name]
    return [v for v, _ in variants] + [base]
