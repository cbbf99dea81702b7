"""The generate-measure-repair loop for one PrimFunc: analyse, retrieve, propose, apply, measure, repair, pick."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from .analysis.workload import Workload, analyze
from .config import Budget, HawkConfig
from .errors import HawkError
from .knowledge.source import KnowledgeQuery, KnowledgeSource, RetrievedEntry
from .measure.result import MeasureResult
from .measure.target import MeasureTarget
from .proposer.base import Candidate, ProposalRequest, Proposer
from .recurring import RecurringErrors
from .sandbox import ScheduleSandbox


@dataclass
class Attempt:
    """One candidate tried: what it was and how it went."""

    candidate: Candidate
    round: int
    result: MeasureResult


class OpSource(str, Enum):
    """Where an operator's schedule came from (compares and prints as its value, e.g. "generated")."""

    GENERATED = "generated"  # a measured candidate beat the default lowering
    DEFAULT = "default"  # TVM's default lowering was fastest
    FALLBACK = "fallback"  # no candidate worked (or the default lowering does not run): default lowering kept
    DATABASE = "database"  # a tuning-database hit
    UNTIMED = "untimed"  # budget spent: a generic program applied without measurement

    __str__ = str.__str__
    __format__ = str.__format__


@dataclass
class OpResult:
    """What happened to one operator; `schedule` is the winning tvm.s_tir.Schedule (None = default lowering)."""

    name: str
    workload: Workload | None
    source: OpSource
    default_seconds: float | None = None
    best_seconds: float | None = None
    best: Attempt | None = None
    attempts: list[Attempt] = field(default_factory=list)
    rounds: int = 0
    wall_s: float = 0.0
    reason: str = ""
    knowledge: list[RetrievedEntry] = field(default_factory=list)
    tokens: int = 0
    notes: list[str] = field(default_factory=list)
    schedule: Any = None
    uses: int = 1
    budget_stop: bool = False  # the time budget ran out before a schedule was found
    recurring: list[Any] = field(default_factory=list)  # recurring.RecurringError pre-empted on this operator

    @property
    def speedup(self) -> float | None:
        """Default-lowering time over the chosen schedule's time."""
        if self.default_seconds and self.best_seconds:
            return self.default_seconds / self.best_seconds
        return None

    @property
    def first_candidate_ok(self) -> bool:
        """Whether the first candidate tried was correct (a success measure of knowledge)."""
        return bool(self.attempts) and self.attempts[0].result.ok

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record (kept for `hawk explain` and reports)."""
        best = self.best
        return {
            "name": self.name,
            "source": str(self.source),
            "workload": self.workload.summary() if self.workload else None,
            "structural_key": self.workload.structural_key if self.workload else None,
            "default_seconds": self.default_seconds,
            "best_seconds": self.best_seconds,
            "speedup": self.speedup,
            "rounds": self.rounds,
            "candidates": len(self.attempts),
            "failed": sum(1 for a in self.attempts if not a.result.ok),
            "wall_s": round(self.wall_s, 3),
            "reason": self.reason,
            "tokens": self.tokens,
            "uses": self.uses,
            "best": None
            if best is None
            else {
                "origin": best.candidate.origin,
                "program": best.candidate.program,
                "params": best.candidate.params,
                "knowledge_ids": list(best.candidate.knowledge_ids),
                "breakdown": best.result.breakdown,
                "cycles": best.result.cycles,
            },
            "knowledge": [{"id": h.entry.id, "score": h.score, "rationale": h.entry.rationale} for h in self.knowledge],
            "errors": [
                {"origin": a.candidate.origin, "round": a.round, "error": a.result.error.to_dict()}
                for a in self.attempts
                if a.result.error
            ][:20],
        }


@dataclass
class LearnContext:
    """What a learner sees of the engine: the target's name, a workload's program environment and bottleneck
    report, and `measure(workload, program, env)` -> (stage, error): stage "" and no error when the program
    applies and measures correct, else "apply", "reference" or "measure" with the error of that stage."""

    profile: str
    program_env: Callable[[Workload], dict[str, Any]]
    bottleneck: Callable[[Workload], dict[str, Any]]
    measure: Callable[[Workload, str, dict[str, Any]], tuple[str, HawkError | None]]


class Learner(Protocol):
    """Learning hooks the engine calls (knowledge.synthesis.Synthesizer); a hook must not raise past the engine."""

    def after_round(self, learn: LearnContext, result: OpResult, rnd: int) -> None:
        """After repair round `rnd` (>= 1) of one operator."""
        ...

    def after_op(self, learn: LearnContext, result: OpResult) -> None:
        """After an operator's search finished."""
        ...


class CandidateApplier:
    """Applies candidates to one operator's module through the sandbox, once each (memoised by candidate key):
    a candidate a cost model ranked is not run through the sandbox again to be measured."""

    def __init__(self, sandbox: ScheduleSandbox, mod: Any, env: dict[str, Any]) -> None:
        self.sandbox, self.mod, self.env = sandbox, mod, env
        self._done: dict[str, tuple[Any, HawkError | None]] = {}

    def __call__(self, cand: Candidate) -> tuple[Any, HawkError | None]:
        key = cand.key()
        if key not in self._done:
            self._done[key] = self.sandbox.apply(self.mod, cand.program, {**self.env, **cand.params})
        return self._done[key]


class Engine:
    """Wires analysis, knowledge, a proposer, the sandbox and a measurement target for one operator at a time."""

    def __init__(
        self,
        config: HawkConfig,
        target: MeasureTarget,
        proposer: Proposer,
        knowledge: KnowledgeSource | None = None,
        sandbox: ScheduleSandbox | None = None,
        learner: Learner | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.proposer = proposer
        self.knowledge = knowledge if config.use_knowledge else None
        self.sandbox = sandbox or ScheduleSandbox()
        self.learner = learner  # optional: synthesis hooks (knowledge.synthesis)
        self.recurring = RecurringErrors()  # errors that recur across this engine's operators (one compile)

    # -- knowledge -------------------------------------------------------------------------------------------
    def _query(self, workload: Workload, bottleneck: dict[str, Any], error: HawkError | None = None) -> KnowledgeQuery:
        semantic = {"op_class": workload.op_class, "dtype": workload.dtype, **bottleneck}
        if error is not None:
            semantic.update(
                {"error_kind": error.kind, **{k: v for k, v in error.context.items() if k in ("level", "code", "unit")}}
            )
        return KnowledgeQuery(
            profile=self.target.name,
            op_class=workload.op_class,
            syntactic_text=workload.syntactic_text(),
            semantic=semantic,
            error=error,
        )

    def _retrieve(self, query: KnowledgeQuery, k: int) -> list[RetrievedEntry]:
        if self.knowledge is None:
            return []
        try:
            hits = self.knowledge.retrieve(query, k=k)
        except Exception:  # a broken store must not break a compile
            return []
        for hit in hits:
            self._record(hit.entry.id, "retrieved")
        return hits

    def _record(self, entry_id: str, outcome: str, **details: Any) -> None:
        if self.knowledge is None:
            return
        with contextlib.suppress(Exception):  # the ledger is best effort
            self.knowledge.record_effect(entry_id, outcome, **details)

    # -- the loop --------------------------------------------------------------------------------------------
    def generate(
        self, func: Any, name: str = "main", constants: Iterable[int] = (), budget: Budget | None = None
    ) -> OpResult:
        """Generate a schedule for one PrimFunc. Never raises for anything a candidate or the LLM does.
        `constants`: positions of parameters that are compile-time constants (a schedule may prepack them);
        `budget`: this operator's search size (hawk_tvm.budget plans it; default: the config's)."""
        start = time.monotonic()
        budget = budget or self.config.budget
        try:
            workload = analyze(func, name)
        except Exception as exc:
            reason, wall_s = f"analysis failed: {exc}", time.monotonic() - start
            return OpResult(name, None, OpSource.FALLBACK, reason=reason, wall_s=wall_s)
        mod = workload.module
        result = OpResult(name, workload, OpSource.FALLBACK)
        reference = self.target.reference(mod, workload)
        result.default_seconds = reference.seconds
        if reference.error is not None:
            result.reason = f"default lowering does not run: {reference.error}"
            result.budget_stop = reference.error.budget_stop
            result.wall_s = time.monotonic() - start
            return result
        env = self.program_env(workload)
        env["CONST_PARAMS"] = sorted(int(i) for i in constants)
        apply = CandidateApplier(self.sandbox, mod, env)
        bottleneck = self.target.bottleneck(workload)
        knowledge = self._retrieve(self._query(workload, bottleneck), k=5)
        knowledge = self._preempt_recurring(workload, bottleneck, result) + knowledge
        result.knowledge = list(knowledge)
        tried: set[str] = set()
        failures: list[tuple[Candidate, HawkError]] = []
        for rnd in range(1 + max(0, budget.repair_rounds)):
            if rnd > 0 and (not failures or time.monotonic() - start > budget.op_time_s):
                break
            if rnd > 0:
                # repair: retrieve knowledge triggered by the errors just seen
                repair_hits: list[RetrievedEntry] = []
                for _, err in failures[:3]:
                    for hit in self._retrieve(self._query(workload, bottleneck, err), k=3):
                        if all(hit.entry.id != h.entry.id for h in repair_hits):
                            repair_hits.append(hit)
                knowledge = repair_hits + [h for h in knowledge if all(h.entry.id != r.entry.id for r in repair_hits)]
            request = ProposalRequest(
                workload=workload,
                env=env,
                knowledge=knowledge,
                profile_summary=self.target.profile_summary(),
                bottleneck=bottleneck,
                failures=failures,
                k=budget.candidates,
                round=rnd,
                seed=self.config.seed,
                apply=apply,
            )
            proposal = self.proposer.propose(request)
            result.tokens += proposal.tokens
            result.notes.extend(proposal.notes)
            batch = [c for c in proposal.candidates if c.key() not in tried]
            batch = self._drop_known_bad(workload, batch, result)[: budget.candidates]
            if not batch:
                break
            result.rounds = rnd + 1
            failures = self._try_batch(batch, apply, reference, rnd, result, tried)
        self._finish(result, workload)
        self._record_op(result)
        self.recurring.observe(result)
        if self.learner is not None:
            try:
                self.learner.after_op(self.learn_context(), result)
            except Exception as exc:
                result.notes.append(f"learning skipped: {exc}")
        result.wall_s = time.monotonic() - start
        return result

    def _preempt_recurring(self, workload: Workload, bottleneck: dict[str, Any], result: OpResult) -> list[Any]:
        """Round-0 knowledge for errors that recurred on earlier operators of this class (hawk_tvm.recurring):
        their fixes, seed and synthesised, retrieved before the first candidate fails again."""
        hits: list[RetrievedEntry] = []
        for seen in self.recurring.recurring(workload.op_class)[:2]:
            result.recurring.append(seen)
            result.notes.append(
                f"{seen.kind} recurred on {seen.operators} earlier {workload.op_class} operators: "
                "its fixes retrieved in round 0"
            )
            for hit in self._retrieve(self._query(workload, bottleneck, seen.example.result.error), k=3):
                if all(hit.entry.id != h.entry.id for h in hits):
                    hits.append(hit)
        return hits

    def _drop_known_bad(self, workload: Workload, batch: list[Candidate], result: OpResult) -> list[Candidate]:
        """Candidates whose origin only failed, with a recurring error, on this op class in this compile are
        dropped (all of them kept when nothing else is left)."""
        keep = [c for c in batch if not self.recurring.known_bad(workload.op_class, c.origin)]
        if keep and len(keep) < len(batch):
            dropped = sorted({c.origin for c in batch if c not in keep})
            result.notes.append(f"skipped (failed with a recurring error in this compile): {', '.join(dropped)}")
            return keep
        return batch

    def learn_context(self) -> LearnContext:
        """The narrow view of this engine a Learner gets."""
        return LearnContext(self.target.name, self.program_env, self.target.bottleneck, self._measure_program)

    def _measure_program(self, workload: Workload, program: str, env: dict[str, Any]) -> tuple[str, HawkError | None]:
        """Apply `program` to the workload's module and measure it against a fresh reference (see LearnContext)."""
        sch, err = self.sandbox.apply(workload.module, program, env)
        if err is not None:
            return "apply", err
        reference = self.target.reference(workload.module, workload)
        if getattr(reference, "error", None) is not None:
            return "reference", reference.error
        measured = self.target.measure([sch.mod], reference)
        if not measured or not measured[0].ok:
            return "measure", (measured[0].error if measured else None) or HawkError("run", "no result")
        return "", None

    def program_env(self, workload: Workload) -> dict[str, Any]:
        """The names a schedule program sees for this workload (HW facts of its input dtype: the matrix tile)."""
        return workload.program_env(self.target.hw_facts(workload.in_dtype or workload.dtype))

    def _record_op(self, result: OpResult) -> None:
        """One "applied" ledger row per entry used on this operator: legal or not, speedups over the default
        and over the best knowledge-free candidate (knowledge.ledger.op_effects)."""
        if self.knowledge is None or not result.attempts:
            return
        from .knowledge.ledger import op_effects

        best = result.best if result.source == OpSource.GENERATED else None
        for entry_id, details in op_effects(result.attempts, result.default_seconds, best):
            self._record(entry_id, "applied", op=result.name, **details)

    def _try_batch(
        self,
        batch: list[Candidate],
        apply: CandidateApplier,
        reference: Any,
        rnd: int,
        result: OpResult,
        tried: set[str],
    ) -> list[tuple[Candidate, HawkError]]:
        applied: list[tuple[Candidate, Any]] = []
        failures: list[tuple[Candidate, HawkError]] = []
        for cand in batch:
            tried.add(cand.key())
            sch, err = apply(cand)
            if err is not None:
                result.attempts.append(Attempt(cand, rnd, MeasureResult(ok=False, error=err)))
                failures.append((cand, err))
                continue
            applied.append((cand, sch))
        measured = self.target.measure([sch.mod for _, sch in applied], reference) if applied else []
        for (cand, sch), res in zip(applied, measured):
            attempt = Attempt(cand, rnd, res)
            result.attempts.append(attempt)
            if res.ok:
                if result.best is None or (res.seconds or math.inf) < (result.best_seconds or math.inf):
                    result.best, result.best_seconds, result.schedule = attempt, res.seconds, sch
            else:
                failures.append((cand, res.error or HawkError("run", "failed")))
        for attempt in result.attempts[-len(batch) :]:
            for entry_id in attempt.candidate.knowledge_ids:
                self._record(
                    entry_id,
                    "succeeded" if attempt.result.ok else "failed",
                    error_kind=attempt.result.error.kind if attempt.result.error else None,
                    speedup=(reference.seconds / attempt.result.seconds)
                    if attempt.result.ok and reference.seconds and attempt.result.seconds
                    else None,
                )
        if self.learner is not None and rnd > 0:
            try:
                self.learner.after_round(self.learn_context(), result, rnd)
            except Exception as exc:
                result.notes.append(f"synthesis skipped: {exc}")
        return failures

    def _finish(self, result: OpResult, workload: Workload) -> None:
        if result.best is None:
            errs = [a.result.error for a in result.attempts if a.result.error]
            result.reason = f"all {len(result.attempts)} candidates failed" + (f"; first: {errs[0]}" if errs else "")
            result.source = OpSource.FALLBACK
            result.budget_stop = any(a.result.error is not None and a.result.error.budget_stop for a in result.attempts)
            return
        if (
            self.target.kind != "npu"  # on an NPU the default lowering is no AI-core kernel (an AI-CPU fallback):
            and result.default_seconds is not None  # a checked NPU kernel always wins over it, even a tiny one
            and result.best_seconds is not None
            and (result.best_seconds >= result.default_seconds)
        ):
            result.source = OpSource.DEFAULT
            result.reason = "default lowering was faster than every candidate"
            result.schedule = None
            result.best_seconds = result.default_seconds
            return
        result.source = OpSource.GENERATED
