"""Derived indexes (rebuild when missing, corrupt, stale), 2D retrieval, import all-or-nothing, the kb CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.cli import main as kb_main
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.source import KnowledgeQuery


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "k.db"
    KnowledgeBase.open(path).close()
    return path


@pytest.fixture()
def kb(seeded_db: Path, tmp_path: Path) -> KnowledgeBase:
    import shutil

    path = tmp_path / "k.db"
    shutil.copy(seeded_db, path)
    base = KnowledgeBase.open(path)
    yield base
    base.close()


MATMUL_F16 = "op_matmul pattern_SSR iters_3 reduce_1 blocks_1 dtype_float16 rank_2 block_c intrin_cast intrin_mul"


def test_index_rebuilt_when_missing_truncated_or_stale(kb: KnowledgeBase) -> None:
    kb.index()
    assert kb.last_index_event.startswith("rebuilt: missing")
    kb._index = None
    kb.index()
    assert kb.last_index_event == "loaded"
    for damage in ("delete", "truncate"):
        with open(kb.paths.syn, "r+b") as f:
            if damage == "truncate":
                f.truncate(100)
        if damage == "delete":
            kb.paths.sem.unlink()
        kb._index = None
        kb.index()
        assert kb.last_index_event.startswith(("rebuilt: missing", "rebuilt: corrupt")), kb.last_index_event
    kb.paths.manifest.write_text("{not json")
    kb._index = None
    kb.index()
    assert kb.last_index_event.startswith("rebuilt: corrupt")
    entry = kb.get("host.elementwise.fuse_vectorize_parallel").entry
    entry.id = "host.elementwise.copy_of_fuse"
    assert kb.add(entry) is None
    ids = [r.entry.id for r in kb.retrieve(KnowledgeQuery("host", "elementwise", "op_elementwise pattern_SS"), k=40)]
    assert kb.last_index_event.startswith("rebuilt: stale") and "host.elementwise.copy_of_fuse" in ids


def test_retrieval_filters_by_profile_and_op_class_with_scores(kb: KnowledgeBase) -> None:
    q = KnowledgeQuery("edge", "softmax", "op_softmax pattern_SR reduce_1 blocks_4 intrin_exp multi_reduce",
                       semantic={"bottleneck": "capacity", "unit": "vector", "level": "ub"})
    results = kb.retrieve(q, k=10)
    assert results
    for r in results:
        assert "edge" in r.entry.profiles
        assert not r.entry.op_classes or "softmax" in r.entry.op_classes
        assert r.syntactic_score is not None and r.semantic_score is not None and r.score > 0
    assert results[0].entry.id in ("edge.softmax.ub_row_chunks", "npu.fix.ub_capacity_fewer_rows")
    syn_only = kb.retrieve(q, k=3, mode="syntactic")
    assert all(r.semantic_score is None for r in syn_only)
    assert kb.retrieve(KnowledgeQuery("nosuchprofile", "matmul", MATMUL_F16)) == []


def test_2d_retrieval_finds_the_error_fix(kb: KnowledgeBase) -> None:
    err = HawkError("sim.capacity", "local.l0b holds 65536 bytes at once but has 16384",
                    {"code": "capacity", "level": "local.l0b", "requested": 65536, "limit": 16384})
    q = KnowledgeQuery("edge", "matmul", MATMUL_F16, semantic={"op_class": "matmul"}, error=err)
    top = [r.entry.id for r in kb.retrieve(q, k=3)]
    assert top[0] == "npu.fix.capacity_shrink_cube_tile", top
    err = HawkError("sim.unknown_scope", "buffer A_shared.l1 is in scope 'shared.l1', which edge does not have",
                    {"code": "unknown_scope", "level": "shared.l1"})
    top = [r.entry.id for r in kb.retrieve(KnowledgeQuery("edge", "matmul", MATMUL_F16, error=err), k=3)]
    assert top[0] == "edge.fix.unknown_scope_no_l1", top


def test_import_is_all_or_nothing(kb: KnowledgeBase, tmp_path: Path) -> None:
    good = kb.get("host.matmul.register_tile").entry.to_dict()
    good["id"] = "host.matmul.imported_ok"
    bad = dict(good, id="host.matmul.imported_bad", template="b = sch.get_sblock(MAIN\n")
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump([good, bad]))
    count, gen = kb.store.count(), kb.store.generation()
    n, err = kb.import_file(path)
    assert n == 0 and err is not None and "imported_bad" in err.message and "template" in err.message
    assert kb.store.count() == count and kb.store.generation() == gen
    refused = dict(good, id="host.matmul.escape", template="import os\n")
    path.write_text(yaml.safe_dump([refused]))
    assert kb.import_file(path)[1] is not None
    path.write_text(yaml.safe_dump([good]))
    assert kb.import_file(path) == (1, None)
    assert kb.get("host.matmul.imported_ok").entry.provenance == "imported"


def test_record_effect_reaches_the_ledger(kb: KnowledgeBase) -> None:
    eid = "host.matmul.register_tile"
    assert kb.record_effect(eid, "failed", error=HawkError("schedule", "bad split")) is None
    assert kb.record_effect(eid, "succeeded", speedup=3.0) is None
    assert kb.record_effect(eid, "nonsense") is not None
    stats = kb.get(eid).entry.stats
    assert stats.failed == 1 and stats.succeeded == 1 and stats.speedup_sum > 1.0
    assert kb.store.effects(eid)[0]["failure_kind"] == "schedule"


def test_cli_commands(seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    db = tmp_path / "c.db"
    shutil.copy(seeded_db, db)
    assert kb_main(["kb", "--store", str(db), "list", "--profile", "edge"]) == 0
    assert "edge.matmul.int8_8x8_tile" in capsys.readouterr().out
    assert kb_main(["kb", "--store", str(db), "show", "edge.matmul.int8_8x8_tile"]) == 0
    assert kb_main(["kb", "--store", str(db), "show", "no.such.entry"]) == 2
    assert kb_main(["kb", "--store", str(db), "search", "unified buffer overflow", "--profile", "davinci"]) == 0
    out = tmp_path / "all.yaml"
    assert kb_main(["kb", "--store", str(db), "export", str(out)]) == 0
    assert len(yaml.safe_load(out.read_text())) >= 40
    assert kb_main(["kb", "--store", str(db), "import", str(tmp_path / "missing.yaml")]) == 2
    assert kb_main(["kb", "--store", str(db), "stats"]) == 0
    assert kb_main(["kb", "--store", str(db), "reindex"]) == 0
    assert kb_main(["kb", "--store", str(db), "frobnicate"]) == 2
