"""Retrieval quality on the labelled set: recall@5 and MRR of syntactic-only, semantic-only and 2D retrieval.

    python benchmarks/retrieval/eval.py [--queries benchmarks/retrieval/queries.yaml] [--out benchmarks/results]

Seeds a fresh temporary store from the shipped library, asks every query in each mode (through
`KnowledgeBase.retrieve`, so the profile / op-class filter and the error-first ordering apply as in the engine),
and writes `retrieval.json` and `retrieval.md`. Figures are given per split (dev / test, every third query
held out) and per query kind (pattern / error / text).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.retrieval import MODES
from hawk_tvm.knowledge.source import KnowledgeQuery

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
K_RECALL = 5
K_RANK = 20  # ranking depth for MRR (deeper than any filtered candidate set of the seed library)


def load_queries(path: Path) -> list[dict[str, Any]]:
    """The labelled queries."""
    return list(yaml.safe_load(path.read_text()))


def to_query(q: dict[str, Any]) -> KnowledgeQuery:
    """A KnowledgeQuery exactly as the engine (or `hawk kb search`) would build it."""
    err = q.get("error")
    return KnowledgeQuery(
        profile=q["profile"],
        op_class=q.get("op_class") or "",
        syntactic_text=q["syntactic_text"],
        semantic=dict(q.get("semantic") or {}),
        error=HawkError(err["kind"], err["message"], dict(err.get("context") or {})) if err else None,
    )


def score(ranked: list[str], relevant: list[str]) -> dict[str, float]:
    """recall@5, reciprocal rank of the first relevant id, and hit@1 for one query."""
    rel = set(relevant)
    first = next((i for i, r in enumerate(ranked, start=1) if r in rel), None)
    return {
        "recall@5": len(rel & set(ranked[:K_RECALL])) / len(rel),
        "mrr": 1.0 / first if first else 0.0,
        "hit@1": 1.0 if first == 1 else 0.0,
    }


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = ("recall@5", "mrr", "hit@1")
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) if rows else 0.0 for k in keys} | {"n": len(rows)}


def evaluate(queries: list[dict[str, Any]], kb: KnowledgeBase) -> dict[str, Any]:
    """Per-query rankings and aggregated metrics per mode, split and kind."""
    per_query: list[dict[str, Any]] = []
    for q in queries:
        query = to_query(q)
        row: dict[str, Any] = {"id": q["id"], "kind": q["kind"], "split": q["split"], "relevant": q["relevant"]}
        for mode in MODES:
            ranked = [r.entry.id for r in kb.retrieve(query, k=K_RANK, mode=mode)]
            row[mode] = {"top5": ranked[:K_RECALL], **score(ranked, q["relevant"])}
        per_query.append(row)
    groups: dict[str, list[dict[str, Any]]] = {"all": per_query}
    for split in ("dev", "test"):
        groups[split] = [r for r in per_query if r["split"] == split]
    for kind in ("pattern", "error", "text"):
        groups[kind] = [r for r in per_query if r["kind"] == kind]
    summary = {g: {mode: _mean([r[mode] for r in rows]) for mode in MODES} for g, rows in groups.items()}
    return {"summary": summary, "queries": per_query}


def to_markdown(result: dict[str, Any]) -> str:
    """The summary tables and the queries where 2D misses a relevant entry in its top 5."""
    lines = [
        "# Retrieval quality (seed library)",
        "",
        f"{result['n_queries']} labelled queries (`benchmarks/retrieval/queries.yaml`), {result['n_entries']} seed "
        "entries. recall@5 = share of the relevant entries in the top 5; MRR = mean reciprocal rank of the first "
        f"relevant entry (ranked to depth {K_RANK}); hit@1 = first result relevant. Retrieval is filtered by "
        "profile and op class as in the engine; error queries rank error-triggered entries first.",
        "",
        "| group | n | mode | recall@5 | MRR | hit@1 |",
        "|---|---|---|---|---|---|",
    ]
    for group, modes in result["summary"].items():
        for mode, m in modes.items():
            lines.append(f"| {group} | {m['n']} | {mode} | {m['recall@5']:.3f} | {m['mrr']:.3f} | {m['hit@1']:.3f} |")
    misses = [r for r in result["queries"] if r["2d"]["recall@5"] < 1.0 or r["2d"]["hit@1"] < 1.0]
    if misses:
        lines += ["", "## Queries where 2D is not perfect", "", "| query | split | relevant | 2D top 5 |",
                  "|---|---|---|---|"]
        for r in misses:
            lines.append(f"| {r['id']} | {r['split']} | {', '.join(r['relevant'])} | {', '.join(r['2d']['top5'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and write the result files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=Path, default=HERE / "queries.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    queries = load_queries(args.queries)
    with tempfile.TemporaryDirectory() as tmp, KnowledgeBase.open(Path(tmp) / "k.db") as kb:
        start = time.perf_counter()
        result = evaluate(queries, kb)
        result["wall_s"] = round(time.perf_counter() - start, 3)
        result["n_entries"] = kb.store.count()
    result["n_queries"] = len(queries)
    args.out.mkdir(parents=True, exist_ok=True)
    ordered = {k: result[k] for k in ("n_queries", "n_entries", "wall_s", "summary", "queries")}
    (args.out / "retrieval.json").write_text(json.dumps(ordered, indent=1) + "\n")
    (args.out / "retrieval.md").write_text(to_markdown(ordered))
    for group in ("all", "dev", "test"):
        for mode, m in ordered["summary"][group].items():
            print(f"{group:5s} {mode:9s} recall@5={m['recall@5']:.3f} mrr={m['mrr']:.3f} hit@1={m['hit@1']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
