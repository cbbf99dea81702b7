"""An error that recurs across the operators of one compile is learnt: from the second operator on, the origin
that only raised it is skipped, its fixes are retrieved in round 0, and the first kernel found that way becomes an
error-triggered knowledge entry that later operators retrieve (real davinci simulator, real knowledge base)."""

from __future__ import annotations

from pathlib import Path

from tvm import te

from hawk_tvm.config import Budget, HawkConfig, LLMConfig
from hawk_tvm.engine import Engine, OpSource
from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.synthesis import Synthesizer
from hawk_tvm.proposer.base import Candidate
from hawk_tvm.recurring import RecurringErrors
from hawk_tvm.sim.target import SimulatorTarget

try:
    from fakes import ScriptedProposer
    from test_learning_synthesis import OFFCHIP, STAGED
except ImportError:  # tests/ imported as a package
    from tests.fakes import ScriptedProposer
    from tests.test_learning_synthesis import OFFCHIP, STAGED

def _add(n: int):
    a = te.placeholder((n,), "float32", name="A")
    b = te.placeholder((n,), "float32", name="B")
    return te.create_prim_func([a, b, te.compute((n,), lambda i: a[i] + b[i], name="C")])


def test_a_recurring_simulator_error_is_learnt_within_one_compile(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "k.db", seed=False)
    config = HawkConfig(target="davinci", knowledge_db=tmp_path / "k.db", verbose=False, llm=LLMConfig(),
                        budget=Budget(candidates=4, repair_rounds=0))
    proposer = ScriptedProposer([[Candidate(OFFCHIP, origin="generic:offchip"),
                                  Candidate(STAGED, {"TILE": 512}, origin="template:staged")]])
    learner = Synthesizer(kb, config)
    engine = Engine(config, SimulatorTarget("davinci"), proposer, kb, learner=learner)
    try:
        results = [engine.generate(_add(n), f"add{n}") for n in (4096, 8192, 16384)]
        first, second, third = results
        for r in results:
            assert r.source is OpSource.GENERATED, r.reason
        # operators 1 and 2 pay for the off-chip program: the simulator rejects it
        for r in (first, second):
            kinds = [a.result.error.kind for a in r.attempts if not a.result.ok]
            assert kinds == ["sim.offchip_compute"], kinds
            assert not r.recurring
        # operator 3: the error recurred on 2 operators; the origin that only raised it is not tried again
        assert [a.candidate.origin for a in third.attempts] == ["template:staged"]
        assert third.recurring and third.recurring[0].kind == "sim.offchip_compute"
        assert any("recurred on 2 earlier elementwise operators" in n for n in third.notes), third.notes
        # ... and its kernel became an error-triggered entry, validated on the simulator before storage
        events = [e for e in learner.events if e.kind == "recurring"]
        assert events and events[0].outcome == "added", [e.to_dict() for e in learner.events]
        stored = kb.get(events[0].entry_id).entry
        assert stored.trigger.kind == "error" and stored.trigger.error_kind == "sim.offchip_compute"
        # a later operator's round-0 retrieval for the recurring error finds the learnt entry
        fourth = engine.generate(_add(2048), "add2048")
        assert any(h.entry.id == stored.id for h in fourth.knowledge), [h.entry.id for h in fourth.knowledge]
    finally:
        kb.close()


def test_an_origin_that_worked_once_is_never_skipped() -> None:
    """Memory logic alone: an origin is skipped only if it never gave a correct kernel on that op class."""
    from hawk_tvm.engine import Attempt, OpResult
    from hawk_tvm.measure.result import MeasureResult

    class W:
        op_class = "pool"

    def op(*outcomes: tuple[str, HawkError | None]) -> OpResult:
        r = OpResult("p", W(), OpSource.GENERATED)
        for origin, err in outcomes:
            res = MeasureResult(ok=err is None, seconds=1.0 if err is None else None, error=err)
            r.attempts.append(Attempt(Candidate("", origin=origin), 0, res))
        return r

    bad = HawkError("sim.alignment", "transfer of 784 bytes")
    memory = RecurringErrors()
    memory.observe(op(("a", bad), ("b", None)))
    assert not memory.recurring("pool") and not memory.known_bad("pool", "a")
    memory.observe(op(("a", bad), ("c", bad)))
    assert [s.kind for s in memory.recurring("pool")] == ["sim.alignment"]
    assert memory.known_bad("pool", "a") and memory.known_bad("pool", "c") and not memory.known_bad("pool", "b")
    assert not memory.known_bad("conv2d", "a")  # per op class
    memory.observe(op(("a", None)))
    assert not memory.known_bad("pool", "a")  # it worked once: never skipped
    memory.observe(op(("x", HawkError("numerics", "differs"))))
    memory.observe(op(("x", HawkError("numerics", "differs"))))
    assert not memory.known_bad("pool", "x")  # wrong numbers are not a constraint the next operator can avoid
