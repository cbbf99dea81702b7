"""KnowledgeStore used from several threads at once (a compile's worker threads share one store)."""

from __future__ import annotations

import threading
from pathlib import Path

from hawk_tvm.knowledge.store import KnowledgeStore

try:
    from test_knowledge_store import make_entry
except ImportError:  # run from the repository root as a package
    from tests.test_knowledge_store import make_entry


def test_concurrent_writers_and_readers_on_one_store(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "k.db")
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                eid = f"host.thread{t}.entry{i}"
                store.put(make_entry(eid))
                assert store.record_effect(eid, "retrieved") is None
                assert store.get(eid) is not None
                generation, live = store.live_snapshot()
                assert generation >= len(live) >= 1
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=60)
    assert not errors, errors[:3]
    assert store.count() == threads * per_thread
    assert store.generation() == threads * per_thread
    assert len(store.effects()) == threads * per_thread
    assert store.integrity_check() == "ok"
    store.close()
    reopened = KnowledgeStore(tmp_path / "k.db")
    assert reopened.count() == threads * per_thread


def test_an_unreadable_store_is_quarantined_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    garbage = b"SQLite format 3\0" + bytes(range(256)) * 32
    path.write_bytes(garbage)
    store = KnowledgeStore(path)
    assert store.quarantined is not None and store.quarantined.read_bytes() == garbage
    store.put(make_entry())
    assert store.count() == 1 and store.integrity_check() == "ok"
    store.close()
    assert KnowledgeStore(path).quarantined is None  # the new store opens cleanly next time


def test_a_busy_store_is_not_mistaken_for_a_corrupt_one(tmp_path: Path) -> None:
    import sqlite3

    import pytest

    path = tmp_path / "k.db"
    KnowledgeStore(path).close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError):
            KnowledgeStore(path, timeout_s=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(tmp_path.glob("k.db.corrupt-*"))
