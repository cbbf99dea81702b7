"""KnowledgeStore: CRUD, soft delete, ledger, generation, migration from v1, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.store import MIGRATIONS, SCHEMA_VERSION, KnowledgeStore


def make_entry(eid: str = "host.test.entry", version: int = 1, profiles: list[str] | None = None) -> KnowledgeEntry:
    return KnowledgeEntry(
        id=eid,
        trigger=Trigger(kind="pattern", text="elementwise chain, vectorise inner loop", bottleneck="memory",
                        unit="vector", level="l1d"),
        rationale="Stream once with vectors.",
        template="b = sch.get_sblock(MAIN)\nloops = sch.get_loops(b)\nsch.vectorize(loops[-1])\n",
        profiles=profiles or ["host"],
        op_classes=["elementwise"],
        version=version,
    )


def test_crud_generation_and_soft_delete(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "k.db")
    assert store.schema_version() == SCHEMA_VERSION and store.generation() == 0
    store.put(make_entry())
    assert store.generation() == 1
    got = store.get("host.test.entry")
    assert got is not None and got.entry.trigger.unit == "vector" and not got.entry.deleted
    store.put(make_entry(version=2))
    assert store.get("host.test.entry").entry.version == 2 and store.generation() == 2
    assert store.delete("host.test.entry", "harmful in distillation") is None
    assert store.generation() == 3 and store.count() == 0 and store.count(include_deleted=True) == 1
    gone = store.get("host.test.entry")
    assert gone.entry.deleted and gone.deleted_reason == "harmful in distillation"
    assert store.delete("host.test.entry", "again") is not None  # an error, as data
    assert store.restore("host.test.entry") is None and store.count() == 1 and store.generation() == 4
    assert store.list(profile="host", op_class="elementwise") and not store.list(profile="edge")


def test_effect_ledger_aggregates_without_bumping_generation(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "k.db")
    store.put(make_entry())
    gen = store.generation()
    assert store.record_effect("host.test.entry", "succeeded", speedup=2.0) is None
    assert store.record_effect("host.test.entry", "succeeded", speedup=4.0) is None
    assert store.record_effect("host.test.entry", "failed", failure_kind="sim.capacity") is None
    assert store.record_effect("host.test.entry", "exploded") is not None
    stats = store.get("host.test.entry").entry.stats
    assert (stats.succeeded, stats.failed) == (2, 1)
    assert abs(stats.speedup_sum - (0.6931471805599453 + 1.3862943611198906)) < 1e-9
    assert store.effects("host.test.entry")[-1]["failure_kind"] == "sim.capacity"
    assert store.generation() == gen


def test_migrates_a_version_1_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    MIGRATIONS[1](con)
    con.execute("INSERT INTO schema_version VALUES (1)")
    body = KnowledgeStore._body(make_entry())
    con.execute("INSERT INTO entries (id, body, provenance, version, created, updated) VALUES (?, ?, 'seed', 1, 0, 0)",
                ("host.test.entry", body))
    con.close()
    store = KnowledgeStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert [s.entry.id for s in store.list(profile="host", op_class="elementwise")] == ["host.test.entry"]


WRITER = textwrap.dedent("""
    import sys
    from hawk_tvm.knowledge.store import KnowledgeStore
    sys.path.insert(0, {tests!r})
    from test_knowledge_store import make_entry
    store = KnowledgeStore({db!r})
    i = 0
    print("ready", flush=True)
    while True:
        store.put_many([make_entry(f"host.crash.e{{i}}_{{j}}") for j in range(20)])
        store.record_effect(f"host.crash.e{{i}}_0", "applied")
        i += 1
""")


def test_store_survives_sigkill_mid_write(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    kb = KnowledgeBase.open(db, seed=False)
    kb.add(make_entry())
    kb.index()
    kb.close()
    code = WRITER.format(tests=str(Path(__file__).parent), db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kb = KnowledgeBase.open(db, seed=False)
    assert kb.store.integrity_check() == "ok"
    n = kb.store.count()
    assert n > 1 and (n - 1) % 20 == 0, n  # whole batches only: no partial transaction survives
    kb.index()
    assert kb.last_index_event.startswith("rebuilt: stale")
    assert kb.index().count == n
    kb.close()


def test_seeding_is_idempotent_and_updates_on_version_change(tmp_path: Path) -> None:
    from hawk_tvm.knowledge.seed import SEED_DIGEST_KEY

    kb = KnowledgeBase.open(tmp_path / "k.db")
    first = kb.seed_report
    assert len(first.added) >= 40 and not first.errors
    gen = kb.store.generation()
    kb.close()
    kb = KnowledgeBase.open(tmp_path / "k.db")
    assert not kb.seed_report.added and kb.store.generation() == gen
    # a stored seed entry with an older version is refreshed when the digest changes
    eid = first.added[0]
    stored = kb.get(eid).entry
    stored.version = 0 + 1
    kb.store.put(stored)
    kb.store._con.execute("UPDATE entries SET version = 0 WHERE id = ?", (eid,))
    kb.store.set_meta(SEED_DIGEST_KEY, "old")
    kb.close()
    kb = KnowledgeBase.open(tmp_path / "k.db")
    assert kb.seed_report.updated == [eid]
    kb.close()


def test_stored_entry_binds_parameters_that_depend_on_each_other(tmp_path: Path) -> None:
    """The store keeps parameters sorted by name; a parameter naming another must still bind after it."""
    from dataclasses import replace

    from hawk_tvm.proposer.offline import bind_parameters

    store = KnowledgeStore(tmp_path / "k.db")
    store.put(replace(make_entry(), params={"VEC": [8, 16], "REG": "VEC // 2", "AREA": "REG * VEC"}))
    entry = store.get("host.test.entry").entry
    assert list(entry.params) != ["VEC", "REG", "AREA"]  # the order the store gives back is not declaration order
    assert bind_parameters(entry, {}) == [{"VEC": 8, "REG": 4, "AREA": 32}, {"VEC": 16, "REG": 8, "AREA": 128}]


def test_a_seed_update_retires_synthesised_copies_of_its_old_template(tmp_path: Path) -> None:
    """A repair distilled into a copy of a seed's template (re-formatted: extra parentheses) must not outlive the
    seed's update; a synthesised entry with another program stays."""
    from dataclasses import replace

    from hawk_tvm.knowledge.seed import SEED_DIGEST_KEY

    kb = KnowledgeBase.open(tmp_path / "k.db")
    eid = kb.seed_report.added[0]
    old = kb.get(eid).entry
    old_program = "x = (1 + 2)\nsch.get_sblock(MAIN)\n"
    kb.store.put(replace(old, template=old_program, version=0))
    copy = replace(old, id="synth.copy", provenance="synthesised", template="x = 1 + 2\nsch.get_sblock(MAIN)")
    other = replace(old, id="synth.other", provenance="synthesised", template="y = 3\nsch.get_sblock(MAIN)")
    kb.store.put_many([copy, other])
    kb.store.set_meta(SEED_DIGEST_KEY, "old")
    kb.close()
    kb = KnowledgeBase.open(tmp_path / "k.db")
    assert kb.seed_report.updated == [eid] and kb.seed_report.retired == ["synth.copy"]
    assert kb.get("synth.copy").entry.deleted and not kb.get("synth.other").entry.deleted
    kb.close()
