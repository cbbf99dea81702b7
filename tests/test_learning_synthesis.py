"""Run-time synthesis on the simulated NPU: entries are validated on their source workload before storage, duplicates
strengthen instead of adding, and a failure->fix repair becomes an error-triggered entry with an LLM rationale."""

from __future__ import annotations

from pathlib import Path

import pytest
import tvm
from tvm import te

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.config import Budget, HawkConfig, LLMConfig
from hawk_tvm.engine import Engine, OpResult
from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.synthesis import INITIAL_CONFIDENCE, Synthesizer, generalise, normalise_template
from hawk_tvm.llm.proposer import LLMProposer
from hawk_tvm.proposer.offline import OfflineProposer
from hawk_tvm.sim.target import SimulatorTarget

try:
    from llm_server import reply, serve
except ImportError:  # tests/ imported as a package
    from tests.llm_server import reply, serve

OFFCHIP = """b = sch.get_sblock(MAIN)
f = sch.fuse(*sch.get_loops(b))
o, i = sch.split(f, [None, 64])
sch.vectorize(i)
"""
STAGED = """b = sch.get_sblock(MAIN)
f = sch.fuse(*sch.get_loops(b))
o, i = sch.split(f, [None, TILE])
a0 = sch.cache_read(b, 0, "global.ub")
a1 = sch.cache_read(b, 1, "global.ub")
c = sch.cache_write(b, 0, "global.ub")
sch.compute_at(a0, o)
sch.compute_at(a1, o)
sch.reverse_compute_at(c, o)
io, iv = sch.split(i, [None, 64])
sch.vectorize(iv)
"""


def _add_func(n: int = 4096) -> tvm.tirx.PrimFunc:
    a = te.placeholder((n,), "float32", name="A")
    b = te.placeholder((n,), "float32", name="B")
    c = te.compute((n,), lambda i: a[i] + b[i], name="C")
    return te.create_prim_func([a, b, c])


def _entry(eid: str, template: str, params: dict | None = None) -> KnowledgeEntry:
    return KnowledgeEntry(
        id=eid,
        trigger=Trigger(kind="error", text="vector loop reads global memory; stage through the unified buffer",
                        unit="vector", level="gm", error_kind="sim.offchip_compute"),
        rationale="The vector unit only works on the UB.",
        template=template,
        params=params if params is not None else {"TILE": [512]},
        profiles=["davinci"],
        op_classes=["elementwise"],
        patterns=["pattern_s"],
        provenance="synthesised",
        confidence=INITIAL_CONFIDENCE,
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[KnowledgeBase, Engine, OpResult]:
    kb = KnowledgeBase.open(tmp_path / "k.db", seed=False)
    config = HawkConfig(target="davinci", knowledge_db=tmp_path / "k.db", verbose=False, llm=LLMConfig())
    engine = Engine(config, SimulatorTarget("davinci"), OfflineProposer(), kb)
    workload = analyze(_add_func(), "add")
    workload.module = tvm.IRModule({"main": _add_func().with_attr("global_symbol", "main")})
    yield kb, engine, OpResult("add", workload, "generated")
    kb.close()


def test_a_synthesised_entry_is_validated_on_its_source_before_storage(setup: tuple) -> None:
    kb, engine, result = setup
    syn, learn = Synthesizer(kb, engine.config), engine.learn_context()
    broken = syn.admit(_entry("synth.davinci.elementwise.broken", OFFCHIP, {}), learn, result, "fix")
    assert broken.outcome == "refused" and "sim.offchip_compute" in broken.reason
    unparsable = syn.admit(_entry("synth.davinci.elementwise.bad", "b = sch.get_sblock(MAIN\n"), learn, result, "fix")
    assert unparsable.outcome == "refused" and "knowledge.invalid" in unparsable.reason
    wrong_when = _entry("synth.davinci.elementwise.never", STAGED)
    wrong_when.when = "len(SPATIAL) == 3"
    assert syn.admit(wrong_when, learn, result, "fix").outcome == "refused"
    assert kb.store.count(include_deleted=True) == 0
    good = syn.admit(_entry("synth.davinci.elementwise.staged", STAGED), learn, result, "fix")
    assert good.outcome == "added", good.reason
    stored = kb.get("synth.davinci.elementwise.staged").entry
    assert stored.provenance == "synthesised" and stored.confidence == INITIAL_CONFIDENCE


def test_duplicates_strengthen_instead_of_adding(setup: tuple) -> None:
    kb, engine, result = setup
    syn, learn = Synthesizer(kb, engine.config), engine.learn_context()
    assert syn.admit(_entry("synth.davinci.elementwise.one", STAGED), learn, result, "fix").outcome == "added"
    relaid = "# the same program, laid out differently\n" + STAGED.replace("[None, 64]", "[None,   64]")
    again = syn.admit(_entry("synth.davinci.elementwise.two", relaid), learn, result, "fix")
    assert (again.outcome, again.entry_id) == ("strengthened", "synth.davinci.elementwise.one")
    assert kb.store.count() == 1
    one = kb.get("synth.davinci.elementwise.one").entry
    assert one.confidence == pytest.approx(INITIAL_CONFIDENCE + 0.1) and one.stats.succeeded == 1


def test_generalise_lifts_profile_facts_and_keeps_other_literals() -> None:
    hw = {"mma_m": 16, "mma_n": 16, "mma_k": 16, "lanes": 64, "scope_ub": "global.ub", "scope_l0a": "local.l0a"}
    program = ('a = sch.cache_read(b, 0, "local.l0a")\n'
               "i0, i1 = sch.split(i, factors=[None, 16])\nk0, k1 = sch.split(k, factors=[None, 16])\n")
    template, params = generalise(program, {"TM": 16, "ROWS": 8, "VEC": 64}, hw)
    assert "HW['scope_l0a']" in template and "HW['mma_m']" in template and "HW['mma_k']" in template
    assert params == {"TM": "HW['mma_m']", "ROWS": [8], "VEC": "HW['lanes']"}
    assert normalise_template("x = 1\n\n#c\n", {"A": [2]}) == normalise_template("x = 1", {"A": 2})


def test_a_repair_becomes_an_error_triggered_entry_with_the_llm_rationale(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "k.db", seed=False)
    with serve() as server:
        llm = LLMConfig(model="scripted", base_url=server.base_url, api_key="t", cache=False, max_retries=0,
                        timeout_s=5.0)
        config = HawkConfig(target="davinci", llm=llm, knowledge_db=tmp_path / "k.db", verbose=False,
                            budget=Budget(candidates=1, repair_rounds=1))
        proposer = LLMProposer(llm, fallback=OfflineProposer(generic=False), cache_path=None)
        learner = Synthesizer(kb, config)
        engine = Engine(config, SimulatorTarget("davinci"), proposer, kb, learner=learner)
        staged = STAGED.replace("TILE", "512")
        server.push(reply(f"```python\n{OFFCHIP}```"), reply(f"Stage through UB.\n```python\n{staged}```"),
                    reply("The vector unit reads only the unified buffer, so every operand is staged there first."))
        result = engine.generate(_add_func(), "add")
    assert result.source == "generated" and result.attempts[0].result.error.kind == "sim.offchip_compute"
    assert [e.outcome for e in learner.events] == ["added"], [e.to_dict() for e in learner.events]
    entry = kb.get(learner.events[0].entry_id).entry
    assert entry.trigger.kind == "error" and entry.trigger.error_kind == "sim.offchip_compute"
    assert entry.trigger.level == "gm" and entry.provenance == "synthesised"
    assert entry.rationale.startswith("The vector unit reads only the unified buffer")
    assert "HW['scope_ub']" in entry.template and "len(SPATIAL) == 1" in entry.when
    kb.close()
