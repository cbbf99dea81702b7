"""CompileSession: schedules every PrimFunc of a Relax module (database hits, de-duplicated generation, budget)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .analysis.workload import structural_key_of
from .config import HawkConfig
from .database import ScheduleDatabase, normalise
from .engine import Engine, OpResult
from .measure.target import MeasureTarget, resolve_target

SCHEDULED_ATTR = "tirx.is_scheduled"


@dataclass
class Task:
    """Structurally identical PrimFuncs of one module, generated once."""

    key: str
    names: list[str]
    func: Any
    weight: float = 0.0  # estimated cost x uses, for ordering under a budget


@dataclass
class CompileReport:
    """The summary of one compile: a row per task, and totals."""

    target: str
    rows: list[OpResult] = field(default_factory=list)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many tasks came from each source."""
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.source] = out.get(r.source, 0) + 1
        return out

    def table(self) -> str:
        """The summary table printed at the end of a compile."""
        head = f"{'op':<34} {'class':<16} {'uses':>4} {'source':<10} {'cands':>5} {'best':>10} {'speedup':>8}  note"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            cls = r.workload.op_class if r.workload else "?"
            best = f"{r.best_seconds * 1e3:.3f}ms" if r.best_seconds else "-"
            speed = f"{r.speedup:.2f}x" if r.speedup else "-"
            lines.append(
                f"{r.name[:34]:<34} {cls:<16} {r.uses:>4} {r.source:<10} {len(r.attempts):>5} {best:>10} {speed:>8}  "
                f"{r.reason[:60]}"
            )
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts().items()))
        lines.append(f"{len(self.rows)} tasks ({counts}) in {self.wall_s:.1f} s on target {self.target}")
        return "\n".join(lines)


_LAST_REPORT: list[CompileReport] = []


def last_report() -> CompileReport | None:
    """The report of the most recent Hawk compile in this process."""
    return _LAST_REPORT[-1] if _LAST_REPORT else None


class CompileSession:
    """Owns the database, measurement target, knowledge and engine for one compile."""

    def __init__(self, config: HawkConfig, target: MeasureTarget | None = None, proposer: Any = None) -> None:
        self.config = config
        self.target = target or resolve_target(config.target, **_target_options(config))
        self.database = ScheduleDatabase(config.resolved_database_dir())
        self.knowledge = _open_knowledge(config)
        self.engine = Engine(
            config,
            self.target,
            proposer or _make_proposer(config, self.target),
            self.knowledge,
            learner=_make_learner(config, self.knowledge),
        )

    def log(self, message: str) -> None:
        """A progress line (stderr) when verbose."""
        if self.config.verbose:
            print(f"[hawk] {message}", file=sys.stderr, flush=True)

    def tasks(self, mod: Any) -> list[Task]:
        """Unscheduled PrimFuncs grouped by structure (names differ, computation and shapes equal)."""
        from tvm import tirx

        groups: dict[str, Task] = {}
        for gv, func in mod.functions_items():
            if not isinstance(func, tirx.PrimFunc):
                continue
            if func.attrs is not None and SCHEDULED_ATTR in func.attrs and bool(func.attrs[SCHEDULED_ATTR]):
                continue
            key = structural_key_of(normalise(func))
            if key in groups:
                groups[key].names.append(gv.name_hint)
            else:
                groups[key] = Task(key, [gv.name_hint], func)
        return list(groups.values())

    def schedule_module(self, mod: Any) -> Any:
        """Replace every unscheduled PrimFunc by its database or generated schedule; never raises for an op."""
        start = time.monotonic()
        report = CompileReport(self.target.name)
        tasks = self.tasks(mod)
        tvm_target = self.target.tvm_target()
        pending: list[Task] = []
        for task in tasks:
            sch = self._lookup(task, tvm_target)
            if sch is not None:
                mod = _replace(mod, task.names, sch.mod["main"])
                report.rows.append(
                    OpResult(task.names[0], None, "database", uses=len(task.names), reason="tuning-database hit")
                )
            else:
                pending.append(task)
        for task in pending:
            task.weight = _estimated_cost(task.func) * len(task.names)
        pending.sort(key=lambda t: -t.weight)
        total_budget = self.config.budget.total_time_s
        total_weight = sum(t.weight for t in pending) or 1.0
        for i, task in enumerate(pending, 1):
            engine = self.engine
            if total_budget is not None:
                engine = self._budgeted_engine(
                    task, total_budget - (time.monotonic() - start), total_weight, len(pending) - i + 1
                )
            total_weight -= task.weight
            result = self._generate(engine, task)
            result.uses = len(task.names)
            report.rows.append(result)
            self._commit(task, result, tvm_target)
            if result.schedule is not None:
                mod = _replace(mod, task.names, result.schedule.mod["main"])
            self.log(_progress_line(i, len(pending), result))
        report.wall_s = time.monotonic() - start
        _LAST_REPORT.append(report)
        return mod

    def _lookup(self, task: Task, tvm_target: Any) -> Any:
        try:
            return self.database.lookup(task.func, tvm_target)
        except Exception as exc:
            self.log(f"database lookup failed for {task.names[0]}: {exc}")
            return None

    def _generate(self, engine: Engine, task: Task) -> OpResult:
        try:
            return engine.generate(task.func, task.names[0])
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # an engine bug must not break the compile: keep the default lowering
            return OpResult(task.names[0], None, "fallback", reason=f"internal error: {type(exc).__name__}: {exc}")

    def _commit(self, task: Task, result: OpResult, tvm_target: Any) -> None:
        try:
            if result.source in ("generated", "default") and result.best_seconds is not None:
                self.database.commit(task.func, result.schedule, result.best_seconds, tvm_target)
            self.database.log_result(result.to_dict())
        except Exception as exc:
            self.log(f"could not record {task.names[0]}: {exc}")

    def _budgeted_engine(self, task: Task, remaining_s: float, remaining_weight: float, left: int) -> Engine:
        """An engine whose per-op time is this task's share of what is left (at least a cheap floor)."""
        from dataclasses import replace

        floor = 2.0
        share = remaining_s * (task.weight / max(remaining_weight, 1e-9)) if remaining_s > 0 else 0.0
        per_op = max(floor, min(self.config.budget.op_time_s, share))
        budget = self.config.budget
        if remaining_s < floor * left:
            budget = replace(budget, candidates=2, repair_rounds=0, op_time_s=floor)
        else:
            budget = replace(budget, op_time_s=per_op)
        return Engine(
            self.config.replace(budget=budget),
            self.target,
            self.engine.proposer,
            self.engine.knowledge,
            self.engine.sandbox,
            self.engine.learner,
        )

    def close(self) -> None:
        """Release workers and stores."""
        self.target.close()
        if self.knowledge is not None and hasattr(self.knowledge, "close"):
            self.knowledge.close()


def _replace(mod: Any, names: list[str], scheduled: Any) -> Any:
    func = scheduled.without_attr("global_symbol").with_attr(SCHEDULED_ATTR, True)
    for name in names:
        mod[mod.get_global_var(name)] = func
    return mod


def _estimated_cost(func: Any) -> float:
    from .analysis.workload import analyze

    try:
        w = analyze(func)
        return w.flops + w.bytes
    except Exception:
        return 1.0


def _progress_line(i: int, n: int, r: OpResult) -> str:
    cls = r.workload.op_class if r.workload else "?"
    if r.source == "generated":
        detail = f"{r.speedup:.2f}x over default ({r.default_seconds * 1e3:.3f} -> {r.best_seconds * 1e3:.3f} ms)"
    else:
        detail = r.reason
    counts = f"{len(r.attempts)} candidates, {r.rounds} rounds"
    return f"{i}/{n} {r.name} [{cls}] {r.source}: {counts}, {detail} ({r.wall_s:.1f} s)"


def _target_options(config: HawkConfig) -> dict[str, Any]:
    if config.target == "host":
        from .measure.host import EvaluatorSettings

        return {"evaluator": EvaluatorSettings(repeat=config.timing_repeat, min_repeat_ms=config.timing_min_ms)}
    return {"runner": config.runner} if config.runner != "local" else {}


def _open_knowledge(config: HawkConfig) -> Any:
    if not config.use_knowledge:
        return None
    try:
        from .knowledge.base import KnowledgeBase
    except ImportError:
        return None
    try:
        return KnowledgeBase.open(config.resolved_knowledge_db(), seed=True, mode=config.retrieval)
    except Exception as exc:
        print(f"[hawk] knowledge base unavailable ({exc}); generic proposals only", file=sys.stderr)
        return None


def _make_proposer(config: HawkConfig, target: MeasureTarget) -> Any:
    from .proposer.offline import OfflineProposer

    offline = OfflineProposer(rank=getattr(target, "rank_candidate", None))
    if not config.llm.enabled:
        return offline
    try:
        from .llm.proposer import make_proposer
    except ImportError:
        return offline
    return make_proposer(config, offline)


def _make_learner(config: HawkConfig, knowledge: Any) -> Any:
    if not config.synthesis or knowledge is None:
        return None
    try:
        from .knowledge.synthesis import Synthesizer
    except ImportError:
        return None
    return Synthesizer(knowledge, config)
