"""SQLite knowledge store: entries, soft delete, the effect ledger and the generation counter (source of truth)."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HawkError
from .entry import EffectStats, KnowledgeEntry

OUTCOMES = ("retrieved", "applied", "succeeded", "failed")
log = logging.getLogger("hawk.knowledge")


def _migrate_1(con: sqlite3.Connection) -> None:
    """Version 1: entries (JSON body), meta (generation), the effect ledger."""
    for sql in (
        """CREATE TABLE entries (
             num INTEGER PRIMARY KEY AUTOINCREMENT,
             id TEXT NOT NULL UNIQUE,
             body TEXT NOT NULL,
             provenance TEXT NOT NULL,
             version INTEGER NOT NULL,
             deleted INTEGER NOT NULL DEFAULT 0,
             deleted_reason TEXT,
             created REAL NOT NULL,
             updated REAL NOT NULL)""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta VALUES ('generation', '0')",
        """CREATE TABLE effects (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             entry_id TEXT NOT NULL,
             outcome TEXT NOT NULL,
             failure_kind TEXT,
             speedup REAL,
             ts REAL NOT NULL)""",
        "CREATE INDEX effects_entry ON effects(entry_id)",
    ):
        con.execute(sql)


def _migrate_2(con: sqlite3.Connection) -> None:
    """Version 2: filter columns (profiles, op classes), the file an entry came from, effect details."""
    con.execute("ALTER TABLE entries ADD COLUMN profiles TEXT NOT NULL DEFAULT ''")
    con.execute("ALTER TABLE entries ADD COLUMN op_classes TEXT NOT NULL DEFAULT ''")
    con.execute("ALTER TABLE entries ADD COLUMN origin TEXT")
    con.execute("ALTER TABLE effects ADD COLUMN details TEXT")
    rows = con.execute("SELECT num, body FROM entries").fetchall()
    for num, body in rows:
        data = json.loads(body)
        con.execute(
            "UPDATE entries SET profiles = ?, op_classes = ? WHERE num = ?",
            (_tags(data.get("profiles", [])), _tags(data.get("op_classes", [])), num),
        )


def _migrate_3(con: sqlite3.Connection) -> None:
    """Version 3: merges (an absorbed entry's ledger counts for its survivor) and the distillation history."""
    con.execute(
        """CREATE TABLE merges (
             entry_id TEXT PRIMARY KEY,
             into_id TEXT NOT NULL,
             reason TEXT,
             ts REAL NOT NULL)"""
    )
    con.execute(
        """CREATE TABLE distillations (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             ts REAL NOT NULL,
             generation INTEGER NOT NULL,
             report TEXT NOT NULL)"""
    )


# version -> migration that brings a store from version-1 to version. Append only.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1, 2: _migrate_2, 3: _migrate_3}
SCHEMA_VERSION = max(MIGRATIONS)


def _tags(values: Iterable[str]) -> str:
    """',a,b,' so that `LIKE '%,a,%'` filters exactly."""
    values = list(values)
    return "," + ",".join(values) + "," if values else ""


@dataclass
class StoredEntry:
    """A row of the store: the entry plus bookkeeping."""

    num: int
    entry: KnowledgeEntry
    deleted_reason: str | None
    created: float
    updated: float
    origin: str | None


class KnowledgeStore:
    """Transactional CRUD over one SQLite file (WAL). Every content change bumps `generation()`."""

    def __init__(self, path: str | Path, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.quarantined: Path | None = None  # where an unreadable store file was moved, if it was
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, ...: not damage, report it
                raise
            self._quarantine(exc)
            self._migrate()

    def _quarantine(self, exc: Exception) -> None:
        """Move an unreadable store file (and its WAL) aside as ``<name>.corrupt-<time>`` and start a new one.

        Its content cannot be read anyway; the bytes are kept for a manual recovery, and the caller re-seeds.
        """
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.quarantined = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(self.quarantined) + suffix))
        log.warning("knowledge store %s is unreadable (%s); moved to %s, starting a new one",
                    self.path, exc, self.quarantined)

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def _con(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not safe to share between threads: one per thread)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(str(self.path), timeout=self.timeout_s, isolation_level=None,
                                  check_same_thread=False)  # closed from `close`, possibly on another thread
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.create_function("ln", 1, lambda x: math.log(x) if x and x > 0 else 0.0, deterministic=True)
            self._local.con = con
            with self._all_lock:
                self._all.append(con)
        return con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path}: store schema {current} is newer than this code ({SCHEMA_VERSION})")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](con)
                con.execute("INSERT INTO schema_version VALUES (?)", (version,))

    def schema_version(self) -> int:
        """The schema version of the open store."""
        return int(self._con.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def close(self) -> None:
        """Close every thread's connection."""
        with self._all_lock:
            for con in self._all:
                con.close()
            self._all.clear()
        self._local = threading.local()

    def generation(self) -> int:
        """Content generation: bumped by every add, update, delete and restore."""
        return int(self._con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def meta(self, key: str) -> str | None:
        """A free-form meta value (e.g. the seed-library digest)."""
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value (not a content change)."""
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @staticmethod
    def _bump(con: sqlite3.Connection) -> None:
        con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def integrity_check(self) -> str:
        """SQLite's integrity_check result ("ok" when sound)."""
        return str(self._con.execute("PRAGMA integrity_check").fetchone()[0])

    # -- entries --------------------------------------------------------------------------------
    @staticmethod
    def _body(entry: KnowledgeEntry) -> str:
        data = entry.to_dict()
        data.pop("stats", None)
        data.pop("deleted", None)
        return json.dumps(data, sort_keys=True)

    def put_many(self, entries: Iterable[KnowledgeEntry], origin: str | None = None) -> int:
        """Insert or replace entries in one transaction (a replaced entry keeps its row and deleted flag)."""
        return self.put_groups({origin: list(entries)})

    def put_groups(self, groups: dict[str | None, list[KnowledgeEntry]]) -> int:
        """`put_many` for several origins (file names) in one transaction; returns how many were written."""
        now = time.time()
        count = 0
        with self.transaction() as con:
            for origin, entries in groups.items():
                for e in entries:
                    con.execute(
                        """INSERT INTO entries (id, body, provenance, version, deleted, created, updated,
                                                profiles, op_classes, origin)
                           VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)
                           ON CONFLICT(id) DO UPDATE SET body = excluded.body, provenance = excluded.provenance,
                             version = excluded.version, updated = excluded.updated, profiles = excluded.profiles,
                             op_classes = excluded.op_classes, origin = excluded.origin""",
                        (e.id, self._body(e), e.provenance, e.version, now, now, _tags(e.profiles),
                         _tags(e.op_classes), origin),
                    )
                    count += 1
            if count:
                self._bump(con)
        return count

    def put(self, entry: KnowledgeEntry, origin: str | None = None) -> None:
        """Insert or replace one entry."""
        self.put_many([entry], origin)

    def _row_to_stored(self, row: tuple[Any, ...]) -> StoredEntry:
        num, body, deleted, reason, created, updated, origin = row
        entry = KnowledgeEntry.from_dict(json.loads(body))
        entry.deleted = bool(deleted)
        return StoredEntry(num, entry, reason, created, updated, origin)

    _COLS = "num, body, deleted, deleted_reason, created, updated, origin"

    def get(self, entry_id: str, with_stats: bool = True) -> StoredEntry | None:
        """One entry by id (deleted ones too), with its effect stats."""
        row = self._con.execute(f"SELECT {self._COLS} FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            return None
        stored = self._row_to_stored(row)
        if with_stats:
            stored.entry.stats = self.stats_for([entry_id]).get(entry_id, EffectStats())
        return stored

    def get_many_by_num(self, nums: list[int]) -> dict[int, StoredEntry]:
        """Live (not deleted) entries by row number, with stats."""
        if not nums:
            return {}
        marks = ",".join("?" * len(nums))
        rows = self._con.execute(
            f"SELECT {self._COLS} FROM entries WHERE num IN ({marks}) AND deleted = 0", [int(n) for n in nums]
        ).fetchall()
        out = {row[0]: self._row_to_stored(row) for row in rows}
        stats = self.stats_for([s.entry.id for s in out.values()])
        for s in out.values():
            s.entry.stats = stats.get(s.entry.id, EffectStats())
        return out

    def list(
        self, include_deleted: bool = False, profile: str | None = None, op_class: str | None = None
    ) -> list[StoredEntry]:
        """Entries in insertion order, optionally filtered (op_classes empty = applies to every op)."""
        sql = f"SELECT {self._COLS} FROM entries WHERE 1=1"
        args: list[Any] = []
        if not include_deleted:
            sql += " AND deleted = 0"
        if profile:
            sql += " AND profiles LIKE ?"
            args.append(f"%,{profile},%")
        if op_class:
            sql += " AND (op_classes = '' OR op_classes LIKE ?)"
            args.append(f"%,{op_class},%")
        return [self._row_to_stored(r) for r in self._con.execute(sql + " ORDER BY num", args).fetchall()]

    def iter_live(self, batch: int = 5000) -> Iterator[tuple[int, KnowledgeEntry]]:
        """(row number, entry) of every live entry, in row order, read in batches."""
        last = 0
        while True:
            rows = self._con.execute(
                "SELECT num, body FROM entries WHERE deleted = 0 AND num > ? ORDER BY num LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            for num, body in rows:
                yield num, KnowledgeEntry.from_dict(json.loads(body))
            last = rows[-1][0]

    def live_snapshot(self) -> tuple[int, list[tuple[int, KnowledgeEntry]]]:
        """(generation, every live (row number, entry)) read in one consistent read transaction."""
        self._con.execute("BEGIN")
        try:
            generation = self.generation()
            rows = list(self.iter_live())
        finally:
            self._con.execute("COMMIT")
        return generation, rows

    def versions(self) -> dict[str, tuple[int, str, bool]]:
        """id -> (version, provenance, deleted) of every stored entry."""
        rows = self._con.execute("SELECT id, version, provenance, deleted FROM entries").fetchall()
        return {r[0]: (int(r[1]), r[2], bool(r[3])) for r in rows}

    def count(self, include_deleted: bool = False) -> int:
        """Number of entries."""
        sql = "SELECT count(*) FROM entries" + ("" if include_deleted else " WHERE deleted = 0")
        return int(self._con.execute(sql).fetchone()[0])

    def delete(self, entry_id: str, reason: str) -> HawkError | None:
        """Soft delete: flag the entry with a reason (reversible with `restore`)."""
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE entries SET deleted = 1, deleted_reason = ?, updated = ? WHERE id = ? AND deleted = 0",
                (reason, time.time(), entry_id),
            )
            if cur.rowcount == 0:
                return HawkError("knowledge.missing", f"no live entry {entry_id!r}", {"entry": entry_id})
            self._bump(con)
        return None

    def restore(self, entry_id: str) -> HawkError | None:
        """Undo a soft delete (a merged entry also takes its ledger rows back from its survivor)."""
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE entries SET deleted = 0, deleted_reason = NULL, updated = ? WHERE id = ? AND deleted = 1",
                (time.time(), entry_id),
            )
            if cur.rowcount == 0:
                return HawkError("knowledge.missing", f"no deleted entry {entry_id!r}", {"entry": entry_id})
            con.execute("DELETE FROM merges WHERE entry_id = ?", (entry_id,))
            self._bump(con)
        return None

    # -- merges and distillation history ----------------------------------------------------------
    def merge(self, entry_id: str, into_id: str, reason: str) -> HawkError | None:
        """Soft-delete `entry_id` and count its ledger rows (and those of entries merged into it) for `into_id`."""
        if entry_id == into_id:
            return HawkError("knowledge.invalid", f"cannot merge {entry_id!r} into itself", {"entry": entry_id})
        now = time.time()
        with self.transaction() as con:
            live = con.execute("SELECT count(*) FROM entries WHERE id = ? AND deleted = 0", (into_id,)).fetchone()[0]
            if not live:
                return HawkError("knowledge.missing", f"no live entry {into_id!r}", {"entry": into_id})
            cur = con.execute(
                "UPDATE entries SET deleted = 1, deleted_reason = ?, updated = ? WHERE id = ? AND deleted = 0",
                (reason, now, entry_id),
            )
            if cur.rowcount == 0:
                return HawkError("knowledge.missing", f"no live entry {entry_id!r}", {"entry": entry_id})
            con.execute("UPDATE merges SET into_id = ? WHERE into_id = ?", (into_id, entry_id))
            con.execute("INSERT OR REPLACE INTO merges VALUES (?, ?, ?, ?)", (entry_id, into_id, reason, now))
            self._bump(con)
        return None

    def merge_map(self) -> dict[str, str]:
        """absorbed entry id -> the survivor its ledger rows count for."""
        return dict(self._con.execute("SELECT entry_id, into_id FROM merges").fetchall())

    def add_distillation(self, report: dict[str, Any]) -> int:
        """Append a distillation report to the history; returns its sequence number."""
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO distillations (ts, generation, report) VALUES (?, ?, ?)",
                (time.time(), self.generation(), json.dumps(report, sort_keys=True, default=str)),
            )
            return int(cur.lastrowid or 0)

    def distillations(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The distillation history, oldest first (the last `limit` when given)."""
        rows = self._con.execute("SELECT seq, ts, generation, report FROM distillations ORDER BY seq").fetchall()
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [{"seq": r[0], "ts": r[1], "generation": r[2], "report": json.loads(r[3])} for r in rows]

    def purge(self, entry_id: str) -> bool:
        """Remove an entry for good (its ledger rows stay); True when it existed."""
        with self.transaction() as con:
            cur = con.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            if cur.rowcount:
                self._bump(con)
        return bool(cur.rowcount)

    # -- effect ledger ---------------------------------------------------------------------------
    def record_effect(
        self,
        entry_id: str,
        outcome: str,
        failure_kind: str | None = None,
        speedup: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> HawkError | None:
        """Append one outcome to the ledger (not a content change: the generation stays)."""
        if outcome not in OUTCOMES:
            return HawkError("knowledge.invalid", f"unknown outcome {outcome!r} (one of {OUTCOMES})")
        with self.transaction() as con:
            con.execute(
                "INSERT INTO effects (entry_id, outcome, failure_kind, speedup, ts, details) VALUES (?,?,?,?,?,?)",
                (entry_id, outcome, failure_kind, speedup, time.time(),
                 json.dumps(details, sort_keys=True, default=str) if details else None),
            )
        return None

    def effects(self, entry_id: str | None = None) -> list[dict[str, Any]]:
        """Ledger rows (oldest first), of one entry or all."""
        sql = "SELECT seq, entry_id, outcome, failure_kind, speedup, ts, details FROM effects"
        args: tuple[Any, ...] = ()
        if entry_id is not None:
            sql += " WHERE entry_id = ?"
            args = (entry_id,)
        keys = ("seq", "entry_id", "outcome", "failure_kind", "speedup", "ts", "details")
        rows = [dict(zip(keys, r)) for r in self._con.execute(sql + " ORDER BY seq", args).fetchall()]
        for r in rows:
            r["details"] = json.loads(r["details"]) if r["details"] else {}
        return rows

    def stats_for(self, entry_ids: list[str]) -> dict[str, EffectStats]:
        """Aggregated effect stats per entry id (speedup_sum = sum of ln(speedup) of successes); rows of entries
        merged into an entry count for it."""
        if not entry_ids:
            return {}
        marks = ",".join("?" * len(entry_ids))
        rows = self._con.execute(
            f"""SELECT COALESCE(m.into_id, e.entry_id) AS eid, e.outcome, count(*),
                       sum(CASE WHEN e.speedup > 0 THEN ln(e.speedup) ELSE 0 END)
                FROM effects e LEFT JOIN merges m ON m.entry_id = e.entry_id
                WHERE eid IN ({marks}) GROUP BY eid, e.outcome""",
            entry_ids,
        ).fetchall()
        out: dict[str, EffectStats] = {}
        for eid, outcome, n, logsum in rows:
            st = out.setdefault(eid, EffectStats())
            setattr(st, outcome, int(n))
            if outcome == "succeeded":
                st.speedup_sum = float(logsum or 0.0)
        return out

    def summary(self) -> dict[str, Any]:
        """Counts for `hawk kb stats`."""
        con = self._con
        by_prov = dict(con.execute("SELECT provenance, count(*) FROM entries WHERE deleted=0 GROUP BY 1").fetchall())
        by_outcome = dict(con.execute("SELECT outcome, count(*) FROM effects GROUP BY 1").fetchall())
        profiles: dict[str, int] = {}
        for (tags,) in con.execute("SELECT profiles FROM entries WHERE deleted = 0").fetchall():
            for p in filter(None, tags.split(",")):
                profiles[p] = profiles.get(p, 0) + 1
        return {
            "path": str(self.path),
            "schema_version": self.schema_version(),
            "generation": self.generation(),
            "entries": self.count(),
            "deleted": self.count(include_deleted=True) - self.count(),
            "by_provenance": by_prov,
            "by_profile": dict(sorted(profiles.items())),
            "effects": by_outcome,
        }
