"""2D retrieval: project a query into both spaces, rank each, fuse with reciprocal rank fusion, filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import KnowledgeIndex
from .source import KnowledgeQuery

MODES = ("2d", "syntactic", "semantic")
RRF_K = 10  # small k: the top of each ranking dominates (60 in Cormack et al. 2009 flattens short lists)
DEPTH_MIN = 50  # candidates taken from each space before fusion
ERROR_SEMANTIC_WEIGHT = 2.0  # repair queries: the hardware-semantic ranking counts double in the fusion


@dataclass(frozen=True)
class Ranked:
    """One fused result: item position in the index, fused score and per-space cosines."""

    position: int
    score: float
    syntactic_score: float | None
    semantic_score: float | None


def reciprocal_rank_fusion(
    rankings: list[list[int]], k: int = RRF_K, weights: list[float] | None = None
) -> dict[int, float]:
    """sum over rankings of weight / (k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights else 1.0
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + w / (k + rank)
    return fused


def rank(index: KnowledgeIndex, query: KnowledgeQuery, k: int = 5, mode: str = "2d") -> list[Ranked]:
    """Top-k index items for a query, filtered by profile and op class (op_classes empty = every op).

    Error queries rank error-triggered entries first (the knowledge written for failures), then the rest.
    """
    if mode not in MODES:
        raise ValueError(f"retrieval mode must be one of {MODES}, not {mode!r}")
    if index.count == 0 or k <= 0:
        return []
    mask = index.eligible(query.profile or None, query.op_class or None)
    is_error = query.error is not None or bool((query.semantic or {}).get("error_kind"))
    if not is_error:
        return _rank_masked(index, query, mask, k, mode, is_error)
    first = _rank_masked(index, query, mask & index.error_items, k, mode, is_error)
    if len(first) >= k:
        return first
    return first + _rank_masked(index, query, mask & ~index.error_items, k - len(first), mode, is_error)


def _rank_masked(
    index: KnowledgeIndex, query: KnowledgeQuery, mask: np.ndarray, k: int, mode: str, is_error: bool
) -> list[Ranked]:
    if not mask.any():
        return []
    depth = max(DEPTH_MIN, 10 * k)
    vectors: dict[str, np.ndarray] = {}
    lists: dict[str, list[tuple[int, float]]] = {}
    spaces = ("syntactic", "semantic") if mode == "2d" else (mode,)
    for space in spaces:
        model = index.syntactic if space == "syntactic" else index.semantic
        vectors[space] = model.embed_query(query)
        lists[space] = index.search(space, vectors[space], mask, depth)
    weights = [ERROR_SEMANTIC_WEIGHT if (s == "semantic" and is_error) else 1.0 for s in spaces]
    fused = reciprocal_rank_fusion([[p for p, _ in lists[s]] for s in spaces], weights=weights)
    cos: dict[str, dict[int, float]] = {s: dict(lists[s]) for s in spaces}

    def score(space: str, pos: int) -> float | None:
        if space not in vectors:
            return None
        if pos in cos[space]:
            return cos[space][pos]
        return index.cosine(space, vectors[space], pos) if float(np.abs(vectors[space]).sum()) else 0.0

    results = []
    for pos, fscore in fused.items():
        results.append(Ranked(pos, fscore, score("syntactic", pos), score("semantic", pos)))
    results.sort(key=lambda r: (-r.score, -((r.syntactic_score or 0.0) + (r.semantic_score or 0.0)), r.position))
    return results[:k]
