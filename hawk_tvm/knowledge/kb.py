"""KnowledgeBase: the SQLite store plus its derived 2D indexes, as the engine's KnowledgeSource."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from ..errors import HawkError
from .entry import KnowledgeEntry
from .index import IndexPaths, KnowledgeIndex
from .retrieval import MODES, rank
from .seed import SeedReport, seed_store
from .source import KnowledgeQuery, KnowledgeSource, RetrievedEntry
from .store import OUTCOMES, KnowledgeStore, StoredEntry
from .validate import entries_from_data, read_entry_file, validate_entry


class KnowledgeBase(KnowledgeSource):
    """Hawk's knowledge: `open` it, `retrieve` from it, `record_effect` into it; add/import/export/delete."""

    def __init__(self, store: KnowledgeStore, mode: str = "2d") -> None:
        if mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}, not {mode!r}")
        self.store = store
        self.mode = mode
        self.paths = IndexPaths(store.path)
        self._index: KnowledgeIndex | None = None
        self.last_index_event = ""  # "loaded", "rebuilt: <why>" (for tests and `kb stats`)
        self.seed_report: SeedReport | None = None

    @classmethod
    def open(cls, path: str | Path, seed: bool = True, mode: str = "2d") -> KnowledgeBase:
        """Open (creating and migrating) the store at `path`; load the seed library when `seed`."""
        kb = cls(KnowledgeStore(path), mode)
        if seed:
            kb.seed_report = seed_store(kb.store)
        return kb

    def close(self) -> None:
        """Close the store."""
        self._index = None
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- index ----------------------------------------------------------------------------------
    def index(self) -> KnowledgeIndex:
        """The current index: reused, loaded from disk, or rebuilt when missing, stale or corrupt."""
        generation = self.store.generation()
        if self._index is not None and self._index.generation == generation:
            self.last_index_event = "cached"
            return self._index
        index, why = KnowledgeIndex.load(self.paths, generation)
        if index is None:
            index = KnowledgeIndex.build(self.store, self.paths)
            self.last_index_event = f"rebuilt: {why}"
        else:
            self.last_index_event = "loaded"
        self._index = index
        return index

    def reindex(self) -> KnowledgeIndex:
        """Rebuild the derived files now."""
        self._index = KnowledgeIndex.build(self.store, self.paths)
        self.last_index_event = "rebuilt: requested"
        return self._index

    # -- retrieval ------------------------------------------------------------------------------
    def retrieve(self, query: KnowledgeQuery, k: int = 5, mode: str | None = None) -> list[RetrievedEntry]:
        """Top-k live entries for the query (profile and op-class filtered) with per-space scores."""
        index = self.index()
        ranked = rank(index, query, k=k + 4, mode=mode or self.mode)  # slack for rows deleted since the build
        rows = self.store.get_many_by_num([int(index.nums[r.position]) for r in ranked])
        out: list[RetrievedEntry] = []
        for r in ranked:
            stored = rows.get(int(index.nums[r.position]))
            if stored is None:
                continue
            out.append(RetrievedEntry(stored.entry, r.score, r.syntactic_score, r.semantic_score))
            if len(out) == k:
                break
        return out

    def search_text(
        self, text: str, profile: str | None = None, op_class: str | None = None, k: int = 10
    ) -> list[RetrievedEntry]:
        """Free-text search (used by `hawk kb search`): the text feeds both spaces."""
        query = KnowledgeQuery(
            profile=profile or "", op_class=op_class or "", syntactic_text=text, semantic={"text": text}
        )
        return self.retrieve(query, k=k)

    def record_effect(self, entry_id: str, outcome: str, **details: Any) -> HawkError | None:
        """Append to the effect ledger. details: error / error_kind / failure_kind, speedup, anything else."""
        err = details.pop("error", None)
        failure_kind = details.pop("failure_kind", None) or details.pop("error_kind", None)
        if isinstance(err, HawkError):
            failure_kind = failure_kind or err.kind
            details["error"] = err.to_dict()
        elif err is not None:
            details["error"] = str(err)
        speedup = details.pop("speedup", None)
        if speedup is not None:
            try:
                speedup = float(speedup)
            except (TypeError, ValueError):
                speedup = None
            if speedup is not None and not math.isfinite(speedup):
                speedup = None
        if outcome not in OUTCOMES:
            return HawkError("knowledge.invalid", f"unknown outcome {outcome!r} (one of {OUTCOMES})")
        return self.store.record_effect(entry_id, outcome, failure_kind, speedup, details or None)

    # -- content --------------------------------------------------------------------------------
    def get(self, entry_id: str) -> StoredEntry | None:
        """One entry (deleted ones too) with its stats."""
        return self.store.get(entry_id)

    def list(self, profile: str | None = None, op_class: str | None = None, include_deleted: bool = False) -> list[
        StoredEntry
    ]:
        """Entries in insertion order."""
        return self.store.list(include_deleted=include_deleted, profile=profile, op_class=op_class)

    def add(self, entry: KnowledgeEntry, origin: str | None = None) -> HawkError | None:
        """Validate and insert (or replace) one entry."""
        err = validate_entry(entry)
        if err:
            return err
        self.store.put(entry, origin)
        return None

    def add_many(self, entries: list[KnowledgeEntry], origin: str | None = None) -> HawkError | None:
        """Validate all, then insert all in one transaction (nothing written on any error)."""
        for e in entries:
            err = validate_entry(e)
            if err:
                return err
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            return HawkError("knowledge.invalid", "duplicate ids in one batch")
        self.store.put_many(entries, origin)
        return None

    def import_file(self, path: str | Path, provenance: str | None = "imported") -> tuple[int, HawkError | None]:
        """Import a YAML/JSON entry file, all or nothing; returns (entries written, error)."""
        entries, err = read_entry_file(path, provenance=provenance)
        if err:
            return 0, err
        self.store.put_many(entries, origin=str(path))
        return len(entries), None

    def import_data(self, data: Any, origin: str, provenance: str | None = "imported") -> tuple[int, HawkError | None]:
        """Import parsed entry data (a list of dicts), all or nothing."""
        entries, err = entries_from_data(data, origin, provenance)
        if err:
            return 0, err
        self.store.put_many(entries, origin=origin)
        return len(entries), None

    def export_file(self, path: str | Path, include_deleted: bool = False) -> int:
        """Write entries to YAML (or JSON for *.json), atomically; returns how many."""
        from .index import _atomic_write_bytes

        rows = self.store.list(include_deleted=include_deleted)
        data = []
        for s in rows:
            d = s.entry.to_dict()
            d.pop("stats", None)
            d.pop("deleted", None)
            data.append(d)
        path = Path(path)
        text = json.dumps(data, indent=1) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
        _atomic_write_bytes(path, text.encode())
        return len(data)

    def delete(self, entry_id: str, reason: str) -> HawkError | None:
        """Soft delete with a reason (reversible)."""
        return self.store.delete(entry_id, reason)

    def restore(self, entry_id: str) -> HawkError | None:
        """Undo a soft delete."""
        return self.store.restore(entry_id)

    def stats(self) -> dict[str, Any]:
        """Store summary plus the index state."""
        info = self.store.summary()
        index, why = KnowledgeIndex.load(self.paths, self.store.generation())
        info["index"] = {"state": "ok" if index else why, "files": [str(p) for p in self.paths.all()]}
        return info
