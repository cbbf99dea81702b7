"""Closed-loop learning experiment: seed + transplanted knowledge, run a davinci suite, distil, run it again."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

TRANSPLANTS = HERE / "transplants.yaml"
RESULTS = ROOT / "benchmarks" / "results"


# -- the operator suite (davinci: fp16 GEMMs on the cube, fp32 vector ops) ---------------------------------------------
def _matmul(m: int, n: int, k: int) -> Callable[[], Any]:
    def build() -> Any:
        from hawk_tvm.sim import examples

        return examples.matmul(m, n, k)["main"]

    return build


def _binary(shape: tuple[int, ...], which: str) -> Callable[[], Any]:
    def build() -> Any:
        from tvm import te

        a = te.placeholder(shape, "float32", name="A")
        b = te.placeholder(shape, "float32", name="B")
        fn = {"add": lambda *i: a(*i) + b(*i), "mul": lambda *i: a(*i) * b(*i),
              "max": lambda *i: te.max(a(*i), b(*i))}[which]
        return te.create_prim_func([a, b, te.compute(shape, fn, name="C")])

    return build


def _softmax(rows: int, cols: int) -> Callable[[], Any]:
    def build() -> Any:
        from tvm import te, topi

        a = te.placeholder((rows, cols), "float32", name="A")
        return te.create_prim_func([a, topi.nn.softmax(a)])

    return build


def _layernorm(rows: int, cols: int) -> Callable[[], Any]:
    def build() -> Any:
        from tvm import te, topi

        a = te.placeholder((rows, cols), "float32", name="A")
        g = te.placeholder((cols,), "float32", name="G")
        b = te.placeholder((cols,), "float32", name="B")
        return te.create_prim_func([a, g, b, topi.nn.layer_norm(a, g, b, axis=[1])])

    return build


SUITE: list[tuple[str, Callable[[], Any]]] = [
    ("gemm_128x128x128_f16", _matmul(128, 128, 128)),
    ("gemm_256x256x256_f16", _matmul(256, 256, 256)),
    ("gemm_128x256x512_f16", _matmul(128, 256, 512)),
    ("gemm_256x128x256_f16", _matmul(256, 128, 256)),
    ("add_64x1024_f32", _binary((64, 1024), "add")),
    ("mul_128x512_f32", _binary((128, 512), "mul")),
    ("max_256x256_f32", _binary((256, 256), "max")),
    ("softmax_64x1024_f32", _softmax(64, 1024)),
    ("softmax_64x512_f32", _softmax(64, 512)),
    ("softmax_128x512_f32", _softmax(128, 512)),
    ("layernorm_64x1024_f32", _layernorm(64, 1024)),
    ("layernorm_128x768_f32", _layernorm(128, 768)),
]
QUICK = {"gemm_128x128x128_f16", "add_64x1024_f32", "mul_128x512_f32", "softmax_64x1024_f32", "softmax_64x512_f32"}


# -- one run -----------------------------------------------------------------------------------------------------------
def first_ok_round(result: Any) -> int | None:
    """The round of the first legal, correct candidate (None when none was)."""
    rounds = [a.round for a in result.attempts if a.result.ok]
    return min(rounds) if rounds else None


def run_suite(engine: Any, suite: list[tuple[str, Callable[[], Any]]], log: Callable[[str], None]) -> dict[str, Any]:
    """Generate every operator once; per-op rows and the run's aggregate figures."""
    rows = []
    start = time.monotonic()
    for name, build in suite:
        t0 = time.monotonic()
        res = engine.generate(build(), name)
        fr = first_ok_round(res)
        row = {
            "op": name,
            "op_class": res.workload.op_class if res.workload else None,
            "source": res.source,
            "correct": res.best is not None,
            "first_candidate_ok": res.first_candidate_ok,
            "first_candidate": res.attempts[0].candidate.origin if res.attempts else None,
            "first_error": (res.attempts[0].result.error.kind
                            if res.attempts and res.attempts[0].result.error else None),
            "rounds": res.rounds,
            "repair_rounds_to_first_ok": fr,
            "candidates": len(res.attempts),
            "failed_candidates": sum(1 for a in res.attempts if not a.result.ok),
            "speedup": res.speedup,
            "best": res.best.candidate.origin if res.best else None,
            "wall_s": round(time.monotonic() - t0, 2),
        }
        rows.append(row)
        log(f"  {name:<24} {res.source:<9} first_ok={row['first_candidate_ok']!s:<5} rounds={res.rounds} "
            f"first-ok-round={fr} cands={len(res.attempts)} fail={row['failed_candidates']} "
            f"first={row['first_candidate']} ({row['wall_s']} s)")
    n = len(rows) or 1
    correct = [r for r in rows if r["correct"]]
    return {
        "ops": len(rows),
        "correct_pct": round(100.0 * len(correct) / n, 1),
        "first_candidate_ok_pct": round(100.0 * sum(r["first_candidate_ok"] for r in rows) / n, 1),
        "mean_rounds": round(sum(r["rounds"] for r in rows) / n, 3),
        # rounds after the first that were needed to reach a legal kernel (correct ops only)
        "mean_repair_rounds_to_first_ok": round(sum(r["repair_rounds_to_first_ok"] for r in correct)
                                                / max(1, len(correct)), 3),
        "failed_candidates": sum(r["failed_candidates"] for r in rows),
        "candidates": sum(r["candidates"] for r in rows),
        "wall_s": round(time.monotonic() - start, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """One command: build the store, run twice with distillation between, write closed_loop.json / .md."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=RESULTS / "closed_loop", help="output stem (.json and .md)")
    ap.add_argument("--workdir", type=Path, default=None, help="where the knowledge store lives (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="a five-operator subset")
    ap.add_argument("--candidates", type=int, default=2,
                    help="candidates per round (2: the best retrieved entry plus one knowledge-free program)")
    ap.add_argument("--repair-rounds", type=int, default=2)
    ap.add_argument("--rank", action="store_true",
                    help="let the offline proposer order candidates by the simulator's static estimate "
                         "(off by default: retrieval order then shows knowledge quality directly)")
    args = ap.parse_args(argv)

    from hawk_tvm.config import Budget, HawkConfig, LLMConfig
    from hawk_tvm.engine import Engine
    from hawk_tvm.knowledge.distill import distill
    from hawk_tvm.knowledge.kb import KnowledgeBase
    from hawk_tvm.knowledge.synthesis import Synthesizer
    from hawk_tvm.proposer.offline import OfflineProposer
    from hawk_tvm.sim.target import SimulatorTarget

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="hawk_closed_loop_"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "knowledge.db"
    for p in work.glob("knowledge.db*"):
        p.unlink()
    suite = [(n, b) for n, b in SUITE if not args.quick or n in QUICK]
    config = HawkConfig(target="davinci", knowledge_db=db, llm=LLMConfig(), synthesis=True, verbose=False,
                        budget=Budget(candidates=args.candidates, repair_rounds=args.repair_rounds, op_time_s=120.0))
    kb = KnowledgeBase.open(db, seed=True)
    n_seed = kb.store.count()
    n_transplanted, err = kb.import_file(TRANSPLANTS, provenance="imported")
    if err:
        log(f"transplants refused: {err}")
        return 2
    target = SimulatorTarget("davinci")
    proposer = OfflineProposer(cost_model=target.cost_model() if args.rank else None)
    learner = Synthesizer(kb, config)
    engine = Engine(config, target, proposer, kb, learner=learner)

    log(f"store {db}: {n_seed} seed + {n_transplanted} transplanted entries; {len(suite)} operators")
    log("run 1")
    run1 = run_suite(engine, suite, log)
    synth1 = [e.to_dict() for e in learner.events]
    log(f"distil (rule arbiter); synthesis events in run 1: {len(synth1)}")
    report = distill(kb)
    log(report.summary())
    learner.events.clear()
    log("run 2")
    run2 = run_suite(engine, suite, log)
    synth2 = [e.to_dict() for e in learner.events]
    transplant_ids = sorted(s.entry.id for s in kb.list(include_deleted=True) if s.entry.id.startswith("transplant."))
    synthesised = sorted(s.entry.id for s in kb.list() if s.entry.provenance == "synthesised")
    out = {
        "experiment": "closed loop: seed + transplanted edge knowledge on davinci, run, distil, run again",
        "target": "davinci (simulator)",
        "proposer": "offline" + (" (simulator-ranked)" if args.rank else " (retrieval order)"),
        "budget": {"candidates": args.candidates, "repair_rounds": args.repair_rounds},
        "store": {"seed": n_seed, "transplanted": n_transplanted, "transplant_ids": transplant_ids,
                  "live_after": kb.store.count(), "synthesised_live": synthesised},
        "runs": [
            {k: v for k, v in run1.items() if k != "rows"}
            | {"synthesis": _counts(synth1)},
            {k: v for k, v in run2.items() if k != "rows"}
            | {"synthesis": _counts(synth2)},
        ],
        "between_runs": {
            "pruned": [p["entry"] for p in report.pruned],
            "merged": [f"{m['absorbed']} -> {m['survivor']}" for m in report.merged],
            "synthesised_added": [e["entry_id"] for e in synth1 if e["outcome"] == "added"],
            "strengthened": [e["entry_id"] for e in synth1 if e["outcome"] == "strengthened"],
            "refused": [e for e in synth1 if e["outcome"] == "refused"],
            "transplants_pruned": sorted(set(transplant_ids) & {p["entry"] for p in report.pruned}),
        },
        "distillation": report.to_dict(),
        "synthesis_events": {"run1": synth1, "run2": synth2},
        "rows": {"run1": run1["rows"], "run2": run2["rows"]},
        "command": "python benchmarks/closed_loop/run.py" + (" --quick" if args.quick else "")
        + (" --rank" if args.rank else ""),
    }
    kb.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(out))
    log(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(out))
    return 0


def _counts(events: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e["outcome"]] = out.get(e["outcome"], 0) + 1
    return out


def markdown(out: dict[str, Any]) -> str:
    """The report as a Markdown table plus what changed between the runs."""
    r1, r2 = out["runs"]
    b = out["between_runs"]
    lines = [
        "# Closed-loop learning on davinci (simulator)",
        "",
        f"{out['store']['seed']} seed entries + {out['store']['transplanted']} transplanted edge entries "
        f"({', '.join(out['store']['transplant_ids'])}); {r1['ops']} operators; proposer {out['proposer']}; "
        f"{out['budget']['candidates']} candidates x (1 + {out['budget']['repair_rounds']}) rounds.",
        "",
        "| run | correct | first candidate ok | mean rounds | mean repair rounds to first legal | failed / candidates "
        "| synthesised (added / strengthened / refused) | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate((r1, r2), 1):
        s = r["synthesis"]
        lines.append(
            f"| {i} | {r['correct_pct']}% | {r['first_candidate_ok_pct']}% | {r['mean_rounds']} | "
            f"{r['mean_repair_rounds_to_first_ok']} | {r['failed_candidates']} / {r['candidates']} | "
            f"{s.get('added', 0)} / {s.get('strengthened', 0)} / {s.get('refused', 0)} | {r['wall_s']} s |"
        )
    lines += [
        "",
        "Between the runs, distillation (deterministic rule, no LLM):",
        f"- pruned ({len(b['pruned'])}): {', '.join(b['pruned']) or '-'}",
        f"- transplants pruned: {len(b['transplants_pruned'])} of {out['store']['transplanted']}",
        f"- merged ({len(b['merged'])}): {', '.join(b['merged']) or '-'}",
        f"- synthesised in run 1 ({len(b['synthesised_added'])}): {', '.join(b['synthesised_added']) or '-'}",
        f"- strengthened by synthesis in run 1: {', '.join(b['strengthened']) or '-'}",
        "",
        "Per operator (run 1 -> run 2): first candidate, its outcome, rounds",
        "",
        "| op | run 1 first candidate | ok | rounds | run 2 first candidate | ok | rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for a, c in zip(out["rows"]["run1"], out["rows"]["run2"]):
        lines.append(f"| {a['op']} | {a['first_candidate']} | {a['first_candidate_ok']} ({a['first_error'] or 'ok'}) "
                     f"| {a['rounds']} | {c['first_candidate']} | {c['first_candidate_ok']} "
                     f"({c['first_error'] or 'ok'}) | {c['rounds']} |")
    lines += ["", f"Reproduce: `{out['command']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
