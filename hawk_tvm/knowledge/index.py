"""Derived Annoy indexes of the two spaces, kept next to the store and rebuilt when missing, stale or corrupt."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .entry import KnowledgeEntry
from .features import SemanticSpace, SyntacticSpace, TextSpace
from .store import KnowledgeStore
from .validate import OP_CLASSES

FORMAT = 1
N_TREES = 16
# Eligible sets up to this size are scored exactly with numpy (a gather and a matrix-vector product: about 1 ms
# for 16k items in both spaces); larger ones go to Annoy with over-fetch (benchmarks/retrieval/latency.py).
BRUTE_FORCE_LIMIT = 16384  # filtered sets up to this size are scored exactly; larger ones through Annoy


@dataclass(frozen=True)
class IndexPaths:
    """The derived files of one store: `<db>.syn.ann`, `<db>.sem.ann`, `<db>.spaces.npz`, `<db>.index.json`."""

    db: Path

    def _with(self, suffix: str) -> Path:
        return self.db.with_name(self.db.name + suffix)

    @property
    def syn(self) -> Path:
        """Annoy index of the syntactic space."""
        return self._with(".syn.ann")

    @property
    def sem(self) -> Path:
        """Annoy index of the semantic space."""
        return self._with(".sem.ann")

    @property
    def spaces(self) -> Path:
        """Fitted spaces, vectors and filter masks."""
        return self._with(".spaces.npz")

    @property
    def manifest(self) -> Path:
        """Generation, build token, sizes and the item -> row-number mapping."""
        return self._with(".index.json")

    @property
    def lock(self) -> Path:
        """Build lock."""
        return self._with(".index.lock")

    def all(self) -> tuple[Path, ...]:
        """Every derived file."""
        return (self.syn, self.sem, self.spaces, self.manifest)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _build_annoy(vectors: np.ndarray, path: Path, n_trees: int) -> int:
    """Build an angular Annoy index into a temp file, then os.replace it; returns the file size."""
    from annoy import AnnoyIndex

    ann = AnnoyIndex(int(vectors.shape[1]), "angular")
    ann.set_seed(0)
    for i, v in enumerate(vectors):
        ann.add_item(i, v.tolist())
    ann.build(n_trees, n_jobs=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ann.save(str(tmp))
    ann.unload()
    os.replace(tmp, path)
    return path.stat().st_size


@dataclass
class KnowledgeIndex:
    """The loaded derived data: both spaces, their vectors and Annoy indexes, and filter masks."""

    generation: int
    build_id: str
    nums: np.ndarray  # item position -> store row number
    syntactic: SyntacticSpace
    semantic: SemanticSpace
    syn_vectors: np.ndarray
    sem_vectors: np.ndarray
    profile_names: list[str]
    profile_bits: np.ndarray  # uint64 per item
    op_bits: np.ndarray  # uint64 per item; all bits for entries that apply to every op class
    error_items: np.ndarray  # bool per item: trigger kind "error"
    syn_ann: object | None = None
    sem_ann: object | None = None
    _eligible_cache: dict[tuple[str | None, str | None, bool | None], np.ndarray] = field(
        default_factory=dict, repr=False
    )
    _positions_cache: dict[tuple[str | None, str | None, bool | None], np.ndarray] = field(
        default_factory=dict, repr=False
    )
    _profile_rows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        """Number of indexed entries."""
        return int(self.nums.shape[0])

    # -- build ----------------------------------------------------------------------------------
    @staticmethod
    def build(store: KnowledgeStore, paths: IndexPaths, n_trees: int = N_TREES) -> KnowledgeIndex:
        """Fit both spaces on the live entries, write every derived file atomically (manifest last)."""
        with _build_lock(paths.lock):
            generation, rows = store.live_snapshot()
            nums = np.array([n for n, _ in rows], dtype=np.int64)
            entries: list[KnowledgeEntry] = [e for _, e in rows]
            syn = SyntacticSpace.fit(entries)
            sem = SemanticSpace.fit(entries)
            syn_vec = syn.embed_entries(entries) if entries else np.zeros((0, syn.dims), np.float32)
            sem_vec = sem.embed_entries(entries) if entries else np.zeros((0, sem.dims), np.float32)
            profile_names = sorted({p for e in entries for p in e.profiles})[:64]
            pbits = np.zeros(len(entries), np.uint64)
            obits = np.zeros(len(entries), np.uint64)
            all_ops = np.uint64((1 << len(OP_CLASSES)) - 1)
            for i, e in enumerate(entries):
                pbits[i] = np.uint64(sum(1 << profile_names.index(p) for p in set(e.profiles) if p in profile_names))
                ops = [OP_CLASSES.index(o) for o in set(e.op_classes) if o in OP_CLASSES]
                obits[i] = np.uint64(sum(1 << o for o in ops)) if e.op_classes else all_ops
            errs = np.array([e.trigger.kind == "error" for e in entries], dtype=bool)
            build = f"{generation}-{uuid.uuid4().hex}"
            sizes = {}
            if entries:
                sizes["syn"] = _build_annoy(syn_vec, paths.syn, n_trees)
                sizes["sem"] = _build_annoy(sem_vec, paths.sem, n_trees)
            else:
                for p in (paths.syn, paths.sem):
                    p.unlink(missing_ok=True)
            arrays = {
                "build": np.array(build),
                "syn_vectors": syn_vec,
                "sem_vectors": sem_vec,
                "profile_bits": pbits,
                "op_bits": obits,
                "error_items": errs,
                **syn.text.to_arrays("syn"),
                **sem.to_arrays(),
            }
            tmp = paths.spaces.with_name(f".{paths.spaces.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, paths.spaces)
            manifest = {
                "format": FORMAT,
                "generation": generation,
                "build": build,
                "count": len(entries),
                "n_trees": n_trees,
                "syn_dims": int(syn_vec.shape[1]),
                "sem_dims": int(sem_vec.shape[1]),
                "sizes": {**sizes, "spaces": paths.spaces.stat().st_size},
                "profiles": profile_names,
                "op_classes": list(OP_CLASSES),
                "nums": nums.tolist(),
            }
            _atomic_write_bytes(paths.manifest, json.dumps(manifest).encode())
        index = KnowledgeIndex(generation, build, nums, syn, sem, syn_vec, sem_vec, profile_names, pbits, obits, errs)
        index._open_annoy(paths)
        return index

    # -- load -----------------------------------------------------------------------------------
    @staticmethod
    def load(paths: IndexPaths, generation: int) -> tuple[KnowledgeIndex | None, str]:
        """The index for `generation`, or (None, why it must be rebuilt: missing / stale / corrupt)."""
        if not paths.manifest.exists() or not paths.spaces.exists():
            return None, "missing"
        try:
            manifest = json.loads(paths.manifest.read_text())
        except (OSError, ValueError):
            return None, "corrupt: manifest"
        if manifest.get("format") != FORMAT:
            return None, "stale: format"
        if manifest.get("generation") != generation:
            return None, f"stale: generation {manifest.get('generation')} != {generation}"
        count = int(manifest.get("count", -1))
        sizes = manifest.get("sizes", {})
        needed = {"spaces": paths.spaces} | ({"syn": paths.syn, "sem": paths.sem} if count else {})
        for key, path in needed.items():
            if not path.exists():
                return None, f"missing: {path.name}"
            if path.stat().st_size != sizes.get(key):
                return None, f"corrupt: {path.name} has the wrong size"
        try:
            with np.load(paths.spaces, allow_pickle=False) as arrays:
                if str(arrays["build"]) != manifest["build"]:
                    return None, "stale: spaces belong to another build"
                syn = SyntacticSpace(TextSpace.from_arrays(arrays, "syn"))
                sem = SemanticSpace.from_arrays(arrays)
                syn_vec = np.asarray(arrays["syn_vectors"])
                sem_vec = np.asarray(arrays["sem_vectors"])
                pbits = np.asarray(arrays["profile_bits"])
                obits = np.asarray(arrays["op_bits"])
                errs = np.asarray(arrays["error_items"])
            nums = np.asarray(manifest["nums"], dtype=np.int64)
        except (OSError, ValueError, KeyError) as exc:
            return None, f"corrupt: {type(exc).__name__}"
        if not (len(nums) == count == syn_vec.shape[0] == sem_vec.shape[0] == len(pbits) == len(obits) == len(errs)):
            return None, "corrupt: item counts disagree"
        index = KnowledgeIndex(
            generation, manifest["build"], nums, syn, sem, syn_vec, sem_vec, list(manifest["profiles"]), pbits, obits,
            errs,
        )
        if count and not index._open_annoy(paths):
            return None, "corrupt: annoy index does not load"
        return index, "ok"

    def _open_annoy(self, paths: IndexPaths) -> bool:
        from annoy import AnnoyIndex

        if not self.count:
            return True
        try:
            syn = AnnoyIndex(int(self.syn_vectors.shape[1]), "angular")
            sem = AnnoyIndex(int(self.sem_vectors.shape[1]), "angular")
            syn.load(str(paths.syn))
            sem.load(str(paths.sem))
        except OSError:
            return False
        if syn.get_n_items() != self.count or sem.get_n_items() != self.count:
            return False
        self.syn_ann, self.sem_ann = syn, sem
        return True

    # -- search ---------------------------------------------------------------------------------
    def eligible(self, profile: str | None, op_class: str | None, errors: bool | None = None) -> np.ndarray:
        """Boolean mask of items for the profile and op class (None = no filter); `errors` True / False keeps
        only error-triggered / only other entries. Cached per key."""
        key = (profile, op_class, errors)
        mask = self._eligible_cache.get(key)
        if mask is None:
            if errors is not None:
                base = self.eligible(profile, op_class)
                mask = base & (self.error_items if errors else ~self.error_items)
            else:
                mask = np.ones(self.count, dtype=bool)
                if profile:
                    if profile not in self.profile_names:
                        mask[:] = False
                    else:
                        mask &= (self.profile_bits & np.uint64(1 << self.profile_names.index(profile))) != 0
                if op_class and op_class in OP_CLASSES:
                    mask &= (self.op_bits & np.uint64(1 << OP_CLASSES.index(op_class))) != 0
            self._eligible_cache[key] = mask
        return mask

    def eligible_positions(self, profile: str | None, op_class: str | None, errors: bool | None = None) -> np.ndarray:
        """Item positions of `eligible(...)`, ascending (cached: no per-query scan of every item)."""
        key = (profile, op_class, errors)
        pos = self._positions_cache.get(key)
        if pos is None:
            pos = np.flatnonzero(self.eligible(profile, op_class, errors))
            self._positions_cache[key] = pos
        return pos

    def profile_rows(self, space: str, profile: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions, contiguous vectors) of every item of one profile, gathered once per space and profile.

        A compile session queries one profile; scoring that profile's contiguous rows and masking the scores by
        op class costs one matrix-vector product, where gathering the masked rows per query costs a random
        gather of thousands of rows (the 100k-entry latency benchmark, docs/knowledge.md)."""
        cached = self._profile_rows.get((space, profile))
        if cached is None:
            positions = self.eligible_positions(profile, None)
            vectors = self.syn_vectors if space == "syntactic" else self.sem_vectors
            cached = (positions, np.ascontiguousarray(vectors[positions]))
            self._profile_rows[(space, profile)] = cached
        return cached

    def search(
        self,
        space: str,
        vector: np.ndarray,
        mask: np.ndarray,
        n: int,
        positions: np.ndarray | None = None,
        profile: str | None = None,
    ) -> list[tuple[int, float]]:
        """Top-n (item position, cosine) among the items in `mask` (whose positions may be passed), best first.
        With `profile`, the profile's cached contiguous rows are scored and the scores masked."""
        if not float(np.abs(vector).sum()):
            return []
        vectors = self.syn_vectors if space == "syntactic" else self.sem_vectors
        ann = self.syn_ann if space == "syntactic" else self.sem_ann
        if profile:
            pos_p, rows_p = self.profile_rows(space, profile)
            keep = mask[pos_p]
            sims, cand = (rows_p @ vector)[keep], pos_p[keep]
            if not len(cand):
                return []
            top = np.argsort(-sims, kind="stable")[:n] if len(cand) <= 4 * n else _top(sims, n)
            return list(zip(cand[top].tolist(), sims[top].tolist()))
        if positions is None:
            positions = np.flatnonzero(mask)
        m = len(positions)
        if m == 0:
            return []
        if m <= BRUTE_FORCE_LIMIT or ann is None:
            sims = vectors[positions] @ vector
            top = np.argsort(-sims, kind="stable")[:n] if m <= 4 * n else _top(sims, n)
            return list(zip(positions[top].tolist(), sims[top].tolist()))
        fetch = min(self.count, int(n * self.count / m * 1.5) + 16)
        while True:
            ids, dists = ann.get_nns_by_vector(vector.tolist(), fetch, include_distances=True)
            found = np.asarray(ids, dtype=np.int64)
            keep = mask[found]
            if int(keep.sum()) >= n or fetch >= self.count:
                found = found[keep][:n]
                sims = 1.0 - np.square(np.asarray(dists, dtype=np.float64)[keep][:n]) / 2.0
                return list(zip(found.tolist(), sims.tolist()))
            fetch = min(self.count, fetch * 4)

    def cosine(self, space: str, vector: np.ndarray, position: int) -> float:
        """Exact cosine of one item in a space."""
        vectors = self.syn_vectors if space == "syntactic" else self.sem_vectors
        return float(vectors[position] @ vector)

    def cosines(self, space: str, vector: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact cosines of several items in a space (one matrix-vector product)."""
        vectors = self.syn_vectors if space == "syntactic" else self.sem_vectors
        return vectors[positions] @ vector


def _top(sims: np.ndarray, n: int) -> np.ndarray:
    part = np.argpartition(-sims, n)[:n]
    return part[np.argsort(-sims[part], kind="stable")]
