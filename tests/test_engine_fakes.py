"""Engine logic on fakes (no TVM build, no simulator): choosing the best candidate, keeping the default lowering,
budget stops as a flag, repair rounds that retrieve by error, the effect ledger, and a cost model that ranks
candidates through the engine's memoised sandbox (each candidate applied once)."""

from __future__ import annotations

import pytest

from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.engine import Engine, OpSource
from hawk_tvm.errors import ERROR_KINDS, HawkError, known_kind
from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.source import RetrievedEntry
from hawk_tvm.proposer.base import Candidate
from hawk_tvm.proposer.offline import OfflineProposer
from hawk_tvm.sandbox import ScheduleSandbox

try:
    from fakes import FakeKnowledge, FakeTarget, ScriptedProposer
    from tir_workloads import matmul
except ImportError:  # tests/ imported as a package
    from tests.fakes import FakeKnowledge, FakeTarget, ScriptedProposer
    from tests.tir_workloads import matmul

SPLIT = "b = sch.get_sblock(MAIN)\ni, j, k = sch.get_loops(b)\nsch.split(j, [None, {f}])"
PARALLEL = "b = sch.get_sblock(MAIN)\nsch.parallel(sch.get_loops(b)[0])"
BROKEN = "sch.no_such_method()"


def cand(program: str, origin: str, ids: tuple[str, ...] = ()) -> Candidate:
    return Candidate(program, origin=origin, knowledge_ids=ids)


def engine(target: FakeTarget, proposer: ScriptedProposer, knowledge: FakeKnowledge | None = None, **budget) -> Engine:
    config = HawkConfig(budget=Budget(**{"candidates": 4, "repair_rounds": 1, **budget}))
    return Engine(config, target, proposer, knowledge)


def test_fastest_correct_candidate_wins() -> None:
    target = FakeTarget(1.0, [0.5, HawkError("numerics", "differs"), 0.25])
    batch = [cand(SPLIT.format(f=8), "a"), cand(SPLIT.format(f=16), "b"), cand(PARALLEL, "c")]
    result = engine(target, ScriptedProposer([batch])).generate(matmul, "mm")
    assert result.source is OpSource.GENERATED and result.source == "generated"
    assert result.best is not None and result.best.candidate.origin == "c"
    assert result.best_seconds == 0.25 and result.speedup == pytest.approx(4.0)
    assert result.schedule is not None and target.measured == 3
    assert result.to_dict()["source"] == "generated" and not result.budget_stop


def test_default_lowering_kept_when_it_is_faster() -> None:
    target = FakeTarget(0.1, [0.2, 0.3])
    result = engine(target, ScriptedProposer([[cand(SPLIT.format(f=8), "a"), cand(PARALLEL, "b")]])).generate(matmul)
    assert result.source is OpSource.DEFAULT and result.schedule is None and result.best_seconds == 0.1


def test_on_an_npu_a_checked_kernel_wins_over_a_faster_default_lowering() -> None:
    """The default lowering of an NPU target is no AI-core kernel (it would run on the AI CPU): a tiny op whose
    simulated scalar default beats every staged kernel still ships the fastest checked NPU kernel."""
    target = FakeTarget(0.1, [0.3, 0.2])
    target.kind = "npu"
    result = engine(target, ScriptedProposer([[cand(SPLIT.format(f=8), "a"), cand(PARALLEL, "b")]])).generate(matmul)
    assert result.source is OpSource.GENERATED and result.best_seconds == 0.2
    assert result.best is not None and result.best.candidate.origin == "b" and result.schedule is not None


def test_budget_stop_is_a_flag_not_a_reason_text() -> None:
    spent = HawkError("budget", "not measured: the compile's time budget is spent")
    target = FakeTarget(1.0, [spent, spent])
    result = engine(target, ScriptedProposer([[cand(SPLIT.format(f=8), "a"), cand(PARALLEL, "b")]])).generate(matmul)
    assert result.source is OpSource.FALLBACK and result.budget_stop
    # a failure whose message merely mentions the budget is no budget stop
    target = FakeTarget(1.0, [HawkError("run", "over budget of registers"), HawkError("run", "crash")])
    result = engine(target, ScriptedProposer([[cand(SPLIT.format(f=8), "a"), cand(PARALLEL, "b")]])).generate(matmul)
    assert result.source is OpSource.FALLBACK and not result.budget_stop and "budget" in result.reason


def test_reference_cut_by_the_budget_is_a_budget_stop() -> None:
    target = FakeTarget(HawkError("budget", "spent"), [0.1])
    result = engine(target, ScriptedProposer([[cand(PARALLEL, "a")]])).generate(matmul)
    assert result.budget_stop and result.attempts == [] and target.measured == 0


def test_repair_round_retrieves_by_the_error_and_records_effects() -> None:
    entry = KnowledgeEntry("k1", Trigger(text="matmul"), "split the inner loop", SPLIT.format(f=8))
    knowledge = FakeKnowledge([RetrievedEntry(entry, 0.9)])
    target = FakeTarget(1.0, [0.5])
    proposer = ScriptedProposer([[cand(BROKEN, "bad", ("k1",))], [cand(SPLIT.format(f=8), "fixed", ("k1",))]])
    result = engine(target, proposer, knowledge).generate(matmul)
    assert result.rounds == 2 and result.source is OpSource.GENERATED
    assert result.attempts[0].result.error.kind == "sandbox.refused"
    repair = [q for q in knowledge.queries if q.error is not None]
    assert repair and repair[0].error.kind == repair[0].semantic["error_kind"] == "sandbox.refused"
    assert proposer.requests[1].failures[0][1].kind == "sandbox.refused"
    outcomes = [o for i, o, _ in knowledge.effects if i == "k1"]
    assert {"retrieved", "failed", "succeeded", "applied"} <= set(outcomes)


def test_no_repair_round_without_failures_or_rounds() -> None:
    target = FakeTarget(1.0, [HawkError("run", "crash")])
    proposer = ScriptedProposer([[cand(PARALLEL, "a")], [cand(SPLIT.format(f=8), "b")]])
    result = engine(target, proposer, repair_rounds=0).generate(matmul)
    assert result.rounds == 1 and len(proposer.requests) == 1 and result.source is OpSource.FALLBACK


def test_every_kind_the_code_reports_is_registered() -> None:
    for kind in ("sandbox.refused", "schedule", "program", "budget", "numerics", "llm.parse", "sim.capacity"):
        assert known_kind(kind)
    assert not known_kind("no.such.kind") and "sim.<code>" in ERROR_KINDS
    err = HawkError.from_exception(ValueError("bad shape"), "layout", op="conv")
    assert (err.kind, err.message, err.context) == ("layout", "ValueError: bad shape", {"op": "conv"})
    assert HawkError("budget", "x").budget_stop and not HawkError("run", "budget").budget_stop


class CountingSandbox(ScheduleSandbox):
    """A real sandbox that counts how often each program goes through it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    def apply(self, mod, program, env=None):
        self.calls[program] = self.calls.get(program, 0) + 1
        return super().apply(mod, program, env)


class LoopCountModel:
    """A CostModel that ranks by the loops of the applied schedule (more loops = better), inf when refused."""

    def __init__(self) -> None:
        self.ranked = 0

    def rank(self, candidate: Candidate, request) -> float:
        self.ranked += 1
        sch, err = request.apply(candidate)
        return float("inf") if err is not None else -len(sch.get_loops(sch.get_sblock("C")))


def test_a_ranked_candidate_goes_through_the_sandbox_once() -> None:
    entries = [KnowledgeEntry(f"k{f}", Trigger(text="matmul"), "split", SPLIT.format(f=f)) for f in (8, 16)]
    knowledge = FakeKnowledge([RetrievedEntry(e, 0.9) for e in entries] + [
        RetrievedEntry(KnowledgeEntry("kbad", Trigger(text="matmul"), "broken", BROKEN), 0.95)])
    model, sandbox = LoopCountModel(), CountingSandbox()
    config = HawkConfig(budget=Budget(candidates=3, repair_rounds=0))
    target = FakeTarget(1.0, [0.5, 0.4, 0.3])
    proposer = OfflineProposer(cost_model=model, generic=False)
    result = Engine(config, target, proposer, knowledge, sandbox).generate(matmul)
    assert model.ranked == 3 and max(sandbox.calls.values()) == 1 and len(sandbox.calls) == 3
    errors = {a.candidate.origin: a.result.error for a in result.attempts}
    assert errors["template:kbad"].kind == "sandbox.refused" and errors["template:k8"] is None
    assert target.measured == 2 and result.source is OpSource.GENERATED
