"""2D retrieval: project a query into both spaces, take each space's nearest items, fuse their cosines, filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import KnowledgeIndex
from .source import KnowledgeQuery

MODES = ("2d", "syntactic", "semantic")
DEPTH_MIN = 50  # candidates taken from each space before fusion
ERROR_SEMANTIC_WEIGHT = 2.0  # repair queries: the hardware-semantic cosine counts double in the fusion


@dataclass(frozen=True)
class Ranked:
    """One fused result: item position in the index, fused score and per-space cosines."""

    position: int
    score: float
    syntactic_score: float | None
    semantic_score: float | None


def fuse_scores(cosines: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted sum of the per-space cosines of the candidates (CombSUM).

    Score fusion rather than reciprocal rank fusion: inside one profile and op class many entries are near-ties
    in a space (same loop structure), and rank fusion turns those tiny cosine gaps into whole ranks. On the
    labelled set (benchmarks/retrieval) rank fusion scored below semantic-only retrieval; the cosine sum
    scores above both spaces (docs/knowledge.md).
    """
    return sum(w * c for w, c in zip(weights, cosines))


def rank(index: KnowledgeIndex, query: KnowledgeQuery, k: int = 5, mode: str = "2d") -> list[Ranked]:
    """Top-k index items for a query, filtered by profile and op class (op_classes empty = every op).

    Error queries rank error-triggered entries first (the knowledge written for failures), then the rest.
    """
    if mode not in MODES:
        raise ValueError(f"retrieval mode must be one of {MODES}, not {mode!r}")
    if index.count == 0 or k <= 0:
        return []
    profile, op_class = query.profile or None, query.op_class or None
    is_error = query.error is not None or bool((query.semantic or {}).get("error_kind"))
    spaces = ("syntactic", "semantic") if mode == "2d" else (mode,)
    vectors = {s: (index.syntactic if s == "syntactic" else index.semantic).embed_query(query) for s in spaces}
    if not is_error:
        return _rank_masked(index, vectors, (profile, op_class, None), k, is_error)
    first = _rank_masked(index, vectors, (profile, op_class, True), k, is_error)
    if len(first) >= k:
        return first
    return first + _rank_masked(index, vectors, (profile, op_class, False), k - len(first), is_error)


def _rank_masked(
    index: KnowledgeIndex,
    vectors: dict[str, np.ndarray],
    key: tuple[str | None, str | None, bool | None],
    k: int,
    is_error: bool,
) -> list[Ranked]:
    """Top-k among the items of one filter key (profile, op class, error-triggered or not)."""
    positions = index.eligible_positions(*key)
    if not len(positions):
        return []
    mask = index.eligible(*key)
    depth = max(DEPTH_MIN, 10 * k)
    spaces = tuple(vectors)
    lists = {s: [p for p, _ in index.search(s, vectors[s], mask, depth, positions, key[0])] for s in spaces}
    weights = [ERROR_SEMANTIC_WEIGHT if (s == "semantic" and is_error) else 1.0 for s in spaces]
    candidates = {p: None for s in spaces for p in lists[s]}  # union, first-seen order
    if not candidates:
        return []
    items = np.fromiter(candidates, np.int64, len(candidates))
    # exact cosines of every candidate, one matrix-vector product per space
    cos = {s: index.cosines(s, vectors[s], items).astype(np.float64) for s in spaces}
    scores = fuse_scores([cos[s] for s in spaces], weights)
    order = np.lexsort((items, -scores))[:k]
    syn, sem = cos.get("syntactic"), cos.get("semantic")
    return [
        Ranked(
            int(items[i]),
            float(scores[i]),
            None if syn is None else float(syn[i]),
            None if sem is None else float(sem[i]),
        )
        for i in order
    ]
