"""Distillation and the effect ledger: pruning by a Wilson bound is reversible, merging keeps both entries' statistics,
the same store gives the same report, and LLM arbitration falls back to the rule on a garbage reply."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hawk_tvm.config import LLMConfig
from hawk_tvm.engine import Attempt
from hawk_tvm.knowledge.cli import main as kb_main
from hawk_tvm.knowledge.distill import DistillSettings, distill, parse_decision
from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.ledger import entry_effects, op_effects, wilson_interval
from hawk_tvm.llm.client import ChatClient
from hawk_tvm.measure.result import MeasureResult
from hawk_tvm.proposer.base import Candidate

try:
    from llm_server import garbage, reply, serve
except ImportError:  # tests/ imported as a package
    from tests.llm_server import garbage, reply, serve

TEMPLATE = """b = sch.get_sblock(MAIN)
loops = sch.get_loops(b)
o, i = sch.split(loops[-1], factors=[None, VEC])
sch.vectorize(i)
"""


def _entry(eid: str, rationale: str = "Vectorise the innermost loop by the lane count.", vec: object = None,
           text: str = "elementwise loop, vectorise the innermost loop") -> KnowledgeEntry:
    return KnowledgeEntry(
        id=eid,
        trigger=Trigger(kind="pattern", text=text, bottleneck="memory", unit="vector"),
        rationale=rationale,
        template=TEMPLATE,
        params={"VEC": vec if vec is not None else "HW['lanes']"},
        profiles=["host"],
        op_classes=["elementwise"],
        patterns=["pattern_ss"],
        provenance="imported",
    )


def _apply(kb: KnowledgeBase, eid: str, legal: int, failed: int, speedup: float = 2.0) -> None:
    """Ledger rows as the engine writes them: per-candidate outcomes plus one "applied" row per operator."""
    for n in range(legal):
        kb.record_effect(eid, "succeeded", speedup=speedup)
        kb.record_effect(eid, "applied", speedup=speedup, legal=True, op=f"ok{n}", speedup_vs_generic=1.5)
    for n in range(failed):
        kb.record_effect(eid, "failed", error_kind="sim.capacity")
        kb.record_effect(eid, "applied", legal=False, failure_kind="sim.capacity", op=f"bad{n}")


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    base = KnowledgeBase.open(tmp_path / "k.db", seed=False)
    yield base
    base.close()


def test_wilson_bound_needs_evidence_not_a_raw_count() -> None:
    low3, _ = wilson_interval(3, 3)
    low1, _ = wilson_interval(1, 1)
    assert low1 < 0.5 < low3  # one failure proves nothing, three in three do (one-sided 95%)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pruning_is_reversible_and_keeps_the_evidence(kb: KnowledgeBase) -> None:
    assert kb.add_many([_entry("host.t.bad"), _entry("host.t.good", text="copy loops in order, no vectorisation")]) \
        is None
    _apply(kb, "host.t.bad", legal=0, failed=4)
    _apply(kb, "host.t.good", legal=3, failed=1)
    _apply(kb, "host.t.good", legal=0, failed=0)
    before = kb.get("host.t.bad").entry.stats
    report = distill(kb)
    assert [p["entry"] for p in report.pruned] == ["host.t.bad"]
    assert report.pruned[0]["evidence"]["ops_failed"] == 4
    stored = kb.get("host.t.bad")
    assert stored.entry.deleted and "Wilson" in stored.deleted_reason
    assert not kb.get("host.t.good").entry.deleted
    history = kb.store.distillations()
    assert len(history) == 1 and history[0]["report"]["pruned"][0]["entry"] == "host.t.bad"
    assert kb.restore("host.t.bad") is None
    back = kb.get("host.t.bad")
    assert not back.entry.deleted and back.entry.stats == before


def test_merge_keeps_the_statistics_of_both_and_restore_undoes_it(kb: KnowledgeBase) -> None:
    assert kb.add_many([_entry("host.t.first"), _entry("host.t.second", rationale="Vectorise the innermost loop.")]) \
        is None
    _apply(kb, "host.t.first", legal=3, failed=0)
    _apply(kb, "host.t.second", legal=2, failed=0)
    report = distill(kb)
    assert not report.pruned
    merged = [(m["survivor"], m["absorbed"], m["by"]) for m in report.merged]
    assert merged == [("host.t.first", "host.t.second", "rule")]
    survivor = kb.get("host.t.first").entry.stats
    assert (survivor.succeeded, survivor.applied) == (5, 5)
    absorbed = kb.get("host.t.second")
    assert absorbed.entry.deleted and absorbed.deleted_reason.startswith("merged into host.t.first")
    assert entry_effects(kb.store)["host.t.first"].ops_legal == 5
    assert kb.restore("host.t.second") is None
    assert kb.get("host.t.first").entry.stats.succeeded == 3
    assert kb.get("host.t.second").entry.stats.succeeded == 2


def test_distillation_is_deterministic_offline(kb: KnowledgeBase, tmp_path: Path) -> None:
    entries = [_entry("host.t.a"), _entry("host.t.b", rationale="Vectorise the innermost loop."),
               _entry("host.t.c", text="copy loops in order, no vectorisation"), _entry("host.t.d", vec=[8])]
    assert kb.add_many(entries) is None
    _apply(kb, "host.t.a", 2, 0)
    _apply(kb, "host.t.b", 2, 0)
    _apply(kb, "host.t.c", 0, 5)
    _apply(kb, "host.t.d", 1, 1)
    kb.store._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    reports = []
    for n in range(2):
        copy = tmp_path / f"copy{n}.db"
        shutil.copy(kb.store.path, copy)
        with KnowledgeBase.open(copy, seed=False) as other:
            rep = distill(other).to_dict()
        reports.append({k: rep[k] for k in ("pruned", "merged", "kept", "examined", "notes")})
    assert reports[0] == reports[1]
    assert [p["entry"] for p in reports[0]["pruned"]] == ["host.t.c"]
    dry = distill(kb, dry_run=True)
    assert [p["entry"] for p in dry.pruned] == ["host.t.c"] and not kb.get("host.t.c").entry.deleted


def test_llm_arbitration_merges_with_its_rationale_and_garbage_falls_back(kb: KnowledgeBase) -> None:
    assert kb.add_many([_entry("host.t.first"), _entry("host.t.second", rationale="Vectorise the innermost loop.")]) \
        is None
    _apply(kb, "host.t.first", 3, 0)
    _apply(kb, "host.t.second", 2, 0)
    answer = {"decision": "merge", "keep": "host.t.second", "rationale": "Both vectorise the innermost loop by the "
              "lane count; one entry is enough.", "why": "same template"}
    with serve() as server:
        server.push(reply("Here is my decision:\n" + json.dumps(answer)))
        client = ChatClient(LLMConfig(model="scripted", base_url=server.base_url, api_key="t", cache=False,
                                      max_retries=0, timeout_s=5.0))
        report = distill(kb, DistillSettings(), client=client)
        assert len(server.requests) == 1 and "host.t.first" in server.requests[0]["messages"][1]["content"]
    assert [(m["survivor"], m["by"]) for m in report.merged] == [("host.t.second", "llm")]
    assert kb.get("host.t.second").entry.rationale.startswith("Both vectorise")
    assert kb.get("host.t.first").entry.deleted

    assert kb.restore("host.t.first") is None
    with serve() as server:
        server.push(garbage())
        client = ChatClient(LLMConfig(model="scripted", base_url=server.base_url, api_key="t", cache=False,
                                      max_retries=0, timeout_s=5.0))
        report = distill(kb, client=client)
    assert [(m["survivor"], m["by"]) for m in report.merged] == [("host.t.first", "rule")]  # more operators legal
    assert any("rule applied" in n for n in report.notes)


def test_parse_decision_refuses_what_was_not_asked_for() -> None:
    assert parse_decision("no json here", "a.x", "b.x") is None
    assert parse_decision('{"decision": "merge", "keep": "c.x", "rationale": "r"}', "a.x", "b.x") is None
    assert parse_decision('{"decision": "merge", "keep": "a.x"}', "a.x", "b.x") is None  # merge needs a rationale
    d = parse_decision('{"decision": "keep_both", "why": "different levels"}', "a.x", "b.x")
    assert d is not None and d.action == "keep_both"


def test_op_effects_speedup_over_default_and_knowledge_free() -> None:
    def att(origin: str, ids: tuple[str, ...], ok: bool, seconds: float | None, kind: str | None = None) -> Attempt:
        res = MeasureResult(ok=True, seconds=seconds) if ok else MeasureResult.failure(kind or "run", "x")
        return Attempt(Candidate("p", {}, ids, origin), 0, res)

    attempts = [att("template:e.a", ("e.a",), True, 1.0), att("generic:spatial", (), True, 3.0),
                att("template:e.b", ("e.b",), False, None, "sim.capacity"), att("repair:e.a", ("e.a",), True, 2.0)]
    rows = dict(op_effects(attempts, default_seconds=4.0, best=attempts[0]))
    assert rows["e.a"]["legal"] and rows["e.a"]["speedup"] == 4.0 and rows["e.a"]["speedup_vs_generic"] == 3.0
    assert rows["e.a"]["chosen"] and rows["e.a"]["candidates"] == 2
    assert not rows["e.b"]["legal"] and rows["e.b"]["failure_kind"] == "sim.capacity"


def test_kb_cli_distill_restore_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.db"
    with KnowledgeBase.open(db, seed=False) as kb:
        assert kb.add(_entry("host.t.bad")) is None
        _apply(kb, "host.t.bad", 0, 3)
    assert kb_main(["kb", "--store", str(db), "distill"]) == 0
    assert "pruned host.t.bad" in capsys.readouterr().out
    assert kb_main(["kb", "--store", str(db), "stats"]) == 0
    out = capsys.readouterr().out
    assert "host.t.bad" in out and "deleted: distillation" in out and "#1 generation" in out
    assert kb_main(["kb", "--store", str(db), "restore", "host.t.bad"]) == 0
    assert "failed 3" in capsys.readouterr().out
    assert kb_main(["kb", "--store", str(db), "restore", "host.t.bad"]) == 2
