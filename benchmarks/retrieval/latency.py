"""Retrieval latency at scale: synthetic entries (10k, 100k) in a temp store, index build time, p50/p99 per query.

    python benchmarks/retrieval/latency.py [--sizes 10000 100000] [--queries 500] [--out benchmarks/results]

Entries are recombined from the seed library's real pieces: a base entry's template and params, a trigger
whose kind / bottleneck / unit / level / error kind and text are drawn from the seed triggers, a rationale
of sentences from several seed rationales, op classes, profiles (the three shipped ones plus variants) and
syntactic patterns from the seed vocabulary. They are written straight into the store (`put_many`, no
sandbox validation: that is the import path's cost, not retrieval's). Queries are the labelled set's
engine-shaped queries (`queries.yaml`), cycled, with their profile re-drawn so every profile variant is asked.
Latency is measured around `KnowledgeBase.retrieve(query, k=5)` (fusion, filter and the SQLite fetch of
the hits), after a warm-up, as wall time and as the thread's CPU time (which a loaded machine does not
inflate by preemption), and separately around `retrieval.rank` (index work only, wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.index import KnowledgeIndex
from hawk_tvm.knowledge.kb import KnowledgeBase
from hawk_tvm.knowledge.retrieval import rank
from hawk_tvm.knowledge.seed import load_seed_entries
from hawk_tvm.knowledge.validate import OP_CLASSES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from eval import load_queries, to_query  # noqa: E402

PROFILES = ("host", "davinci", "edge", "host_avx512", "davinci_v2", "edge_lite", "gpu_sm80", "npu_mobile")
PATTERN_VOCAB = (
    "epilogue_elementwise",
    "multi_reduce",
    "pattern_ss",
    "pattern_sr",
    "pattern_ssr",
    "pattern_sssr",
    "reduce_0",
    "reduce_1",
    "rank_2",
    "rank_3",
    "rank_4",
    "dtype_float16",
    "dtype_float32",
    "dtype_int8",
    "intrin_exp",
    "intrin_rsqrt",
    "intrin_cast",
    "blocks_2",
    "blocks_4",
)
_SENTENCE = re.compile(r"(?<=[.;])\s+")


def synthetic_entries(n: int, seed: int = 0) -> list[KnowledgeEntry]:
    """`n` varied entries recombined from the seed library (deterministic for a seed)."""
    rng = random.Random(seed)
    seeds = [e for _, e in load_seed_entries()[0]]
    triggers = [e.trigger for e in seeds]
    sentences = [s.strip() for e in seeds for s in _SENTENCE.split(e.rationale.strip()) if s.strip()]
    out: list[KnowledgeEntry] = []
    for i in range(n):
        base = rng.choice(seeds)
        t = rng.choice(triggers)
        error = rng.random() < 0.25
        ops = rng.sample(OP_CLASSES, rng.choice((0, 1, 1, 1, 2, 2, 3))) if rng.random() < 0.95 else []
        words = t.text.split()
        rng.shuffle(words)  # same vocabulary, another text
        out.append(
            KnowledgeEntry(
                id=f"synth.{i:06d}.{base.id.split('.')[-1]}",
                trigger=Trigger(
                    kind="error" if error else "pattern",
                    text=" ".join(words[: rng.randint(6, len(words))]) if len(words) > 6 else t.text,
                    bottleneck=None if error else rng.choice(("compute", "memory", "capacity", "latency")),
                    unit=rng.choice(("cube", "vector", "scalar", None)),
                    level=rng.choice(("l0a", "l0b", "l0c", "ub", "l1", "l1d", "l2", "gm", None)),
                    error_kind=rng.choice(
                        [tr.error_kind for tr in triggers if tr.error_kind]
                        + ["sim.data_path", "sim.vector_operand_level", "sim.mma_dtype", "numerics", "build"]
                    )
                    if error
                    else None,
                ),
                rationale=" ".join(rng.sample(sentences, rng.randint(2, 4))),
                template=base.template,
                params=dict(base.params),
                when=base.when,
                profiles=rng.sample(PROFILES, rng.choice((1, 1, 2, 2, 3))),
                op_classes=ops,
                patterns=rng.sample(PATTERN_VOCAB, rng.randint(0, 3)),
                provenance=rng.choice(("synthesised", "imported")),
            )
        )
    return out


def _pcts(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_ms": round(float(a.max()), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def measure(n: int, n_queries: int, warmup: int, queries: list[dict[str, Any]]) -> dict[str, Any]:
    """Load `n` synthetic entries (plus the seeds), build the index, time retrieval."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase.open(Path(tmp) / "k.db")
        t0 = time.perf_counter()
        entries = synthetic_entries(n)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(0, n, 10000):
            kb.store.put_many(entries[i : i + 10000], origin="synthetic")
        t_load = time.perf_counter() - t0
        del entries
        t0 = time.perf_counter()
        index = kb.reindex()
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        kb._index = None
        loaded, _ = KnowledgeIndex.load(kb.paths, kb.store.generation())
        t_load_index = time.perf_counter() - t0
        kb._index = loaded or index
        asked = []
        for i in range(n_queries + warmup):
            q = to_query(queries[i % len(queries)])
            if i % 2:
                q.profile = rng.choice(PROFILES)
            asked.append(q)
        for q in asked[:warmup]:
            kb.retrieve(q, k=5)
        full, cpu, ranking, eligible, cold = [], [], [], [], []
        idx = kb.index()
        load = os.getloadavg()[0]
        seen: set[tuple] = set()
        for q in asked[warmup:]:
            key = (q.profile, q.op_class, q.error is not None or bool((q.semantic or {}).get("error_kind")))
            if key not in seen:
                # the first query of a (profile, op class, error) key fills that key's caches: timed apart
                seen.add(key)
                t0 = time.perf_counter()
                kb.retrieve(q, k=5)
                cold.append(time.perf_counter() - t0)
            c0, t0 = time.thread_time(), time.perf_counter()
            hits = kb.retrieve(q, k=5)
            full.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            t0 = time.perf_counter()
            rank(idx, q, k=9)
            ranking.append(time.perf_counter() - t0)
            eligible.append(int(idx.eligible(q.profile or None, q.op_class or None).sum()))
            assert len(hits) <= 5
        sizes = {p.name.split(".", 1)[1]: p.stat().st_size for p in kb.paths.all()}
        count = idx.count
        kb.close()
    return {
        "entries": count,
        "generate_s": round(t_gen, 2),
        "store_load_s": round(t_load, 2),
        "index_build_s": round(t_build, 2),
        "index_load_s": round(t_load_index, 3),
        "index_bytes": sizes,
        "queries": n_queries,
        "eligible_median": int(np.median(eligible)),
        "load_average": round(load, 2),
        "retrieve": _pcts(full),
        "retrieve_cpu": _pcts(cpu),
        "rank_only": _pcts(ranking),
        "cold_first_query_per_key": _pcts(cold),
        "distinct_keys": len(seen),
    }


def to_markdown(result: dict[str, Any]) -> str:
    """A table of the runs."""
    lines = [
        "# Retrieval latency",
        "",
        f"{result['machine']}. {result['queries']} queries per size after {result['warmup']} warm-up queries; "
        "`retrieve` = `KnowledgeBase.retrieve(k=5)` end to end (both spaces, fusion, filter, SQLite fetch); "
        "`rank` = index work only. CPU = the thread's CPU time of `retrieve`. Steady state: the first query of "
        "each (profile, op class, error) key fills that key's cached masks and gathered rows and is reported "
        "apart as `cold` (a compile session asks about one profile and a handful of op classes). "
        "Build = fitting both spaces, embedding, two Annoy forests, writing the files. "
        "Load = 1-minute load average during the queries.",
        "",
        "| entries | build s | load index s | eligible (median) | load | retrieve p50 ms | retrieve p99 ms "
        "| CPU p50 ms | CPU p99 ms | rank p50 ms | rank p99 ms | cold p50 ms | cold max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['entries']} | {r['index_build_s']} | {r['index_load_s']} | {r['eligible_median']} | "
            f"{r['load_average']} | {r['retrieve']['p50_ms']} | {r['retrieve']['p99_ms']} | "
            f"{r['retrieve_cpu']['p50_ms']} | {r['retrieve_cpu']['p99_ms']} | {r['rank_only']['p50_ms']} | "
            f"{r['rank_only']['p99_ms']} | {r['cold_first_query_per_key']['p50_ms']} | "
            f"{r['cold_first_query_per_key']['max_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the sizes and write the result files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    import platform

    labelled = load_queries(HERE / "queries.yaml")
    runs = []
    for n in args.sizes:
        run = measure(n, args.queries, args.warmup, labelled)
        print(json.dumps(run), flush=True)
        runs.append(run)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "queries": args.queries,
        "warmup": args.warmup,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval_latency.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "retrieval_latency.md").write_text(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
