"""Whole-model NPU table: each zoo model compiled for davinci with Hawk, through the simulator.

    python benchmarks/models/npu_table.py --models squeezenet resnet18 --budget 60s

Per model (small variant, or with --full the full-size ImageNet model): tasks, fallback count, the model's
simulated latency under TVM's default lowering
(sum over tasks x uses of the simulated default cost) vs with Hawk's kernels, the roofline and its fraction, and
correctness of `hawk run` against onnxruntime (1e-2 relative to the output's scale under the fp16 precision
policy, 1e-4 when it keeps fp32). Each compile and run is a `hawk` child process (a crash is a row, not the end).
Writes benchmarks/results/models/npu_<tag>.json, .md, .png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "models"
MS_RESULTS = ROOT / "benchmarks" / "results" / "ms_sim" / "models_ms.json"  # benchmarks/ms_baseline.py --suite models


def _ms_models() -> tuple[dict[str, Any], str]:
    """MetaSchedule-through-the-simulator model summaries (per model) and a note on how they were made."""
    if not MS_RESULTS.exists():
        return {}, ""
    data = json.loads(MS_RESULTS.read_text())
    note = (f"MetaSchedule column: MetaSchedule tuned through the same simulator, {data.get('budget_s')} s per task "
            f"(from {MS_RESULTS.relative_to(ROOT)}: `{data.get('command', '')}`); tasks without a valid MS program "
            "count at their default cost; '-' = model not in that run")
    return {k: v.get("summary", {}) for k, v in data.get("models", {}).items()}, note


def _meta(artifact: Path) -> dict[str, Any]:
    with tarfile.open(artifact) as tar:
        member = tar.extractfile("metadata.json")
        return json.load(member) if member else {}


def _default_seconds(db: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    path = db / "hawk_results.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = json.loads(line)
        if rec.get("default_seconds"):
            out[rec["name"]] = rec["default_seconds"]
    return out


def one(name: str, budget: str, work: Path, full: bool = False) -> dict[str, Any]:
    """Compile, run and compare one model."""
    import onnx
    import onnxruntime as ort

    from hawk_tvm.models import zoo

    model_path = zoo.save(name, work / f"{name}.onnx", small=not full)
    art, db = work / f"{name}.tar", work / f"db-{name}"
    env = {**os.environ, "TVM_NUM_THREADS": "2"}
    cmd = ["hawk", "compile", str(model_path), "--target", "davinci", "--hawk", "--time-budget", budget,
           "--database", str(db), "-o", str(art), "--quiet"]
    command = f"hawk compile {name}.onnx --target davinci --hawk --time-budget {budget}"
    row: dict[str, Any] = {"model": name, "command": command}
    comp = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if comp.returncode != 0:
        return {**row, "error": f"compile exit {comp.returncode}: {comp.stderr.strip()[-300:]}"}
    meta = _meta(art)
    costs = meta.get("build", {}).get("model", [])
    defaults = _default_seconds(db)
    hawk_s = sum((c["seconds"] or 0.0) * c["uses"] for c in costs)
    default_s = sum((defaults.get(c["name"]) or c["seconds"] or 0.0) * c["uses"] for c in costs)
    roof_s = sum((c["roofline_s"] or 0.0) * c["uses"] for c in costs)
    fallback = [f"{c['name']}: {c['reason']}" for c in costs if not c["npu"]]
    from hawk_tvm.model_report import MATRIX_CLASSES

    matrix = [c for c in costs if c["op_class"] in MATRIX_CLASSES]
    row.update(matrix_tasks=len(matrix), on_cube=sum(1 for c in matrix if c.get("cube")))
    top = sorted(costs, key=lambda c: -(c["seconds"] or 0.0) * c["uses"])[:5]  # where the simulated time goes
    row["top_tasks"] = [{"name": c["name"], "op_class": c["op_class"], "uses": c["uses"],
                         "us": (c["seconds"] or 0.0) * 1e6, "roofline_us": (c["roofline_s"] or 0.0) * 1e6,
                         "cube": bool(c.get("cube"))} for c in top]
    row.update(tasks=len(costs), fallback=len(fallback), fallback_tasks=fallback, default_ms=default_s * 1e3,
               hawk_ms=hawk_s * 1e3, roofline_ms=roof_s * 1e3,
               roofline_fraction=roof_s / hawk_s if hawk_s else None, precision=meta.get("build", {}).get("precision"))
    x = np.random.default_rng(0).standard_normal(zoo.input_shape(onnx.load(str(model_path)))).astype("float32")
    np.savez(work / f"{name}_in.npz", input=x)
    run = subprocess.run(["hawk", "run", str(art), "--inputs", str(work / f"{name}_in.npz"), "--outputs",
                          str(work / f"{name}_out.npz")], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return {**row, "correct": False, "error": f"hawk run exit {run.returncode}"}
    got = np.load(work / f"{name}_out.npz")["output_0"]
    want = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    tol = 1e-4 if row["precision"] == "must_keep_origin_dtype" else 1e-2
    err = float(np.max(np.abs(got - want)) / max(1e-12, float(np.max(np.abs(want)))))
    return {**row, "max_rel_err": err, "tolerance": tol, "correct": bool(err <= tol)}


def _markdown(rows: list[dict[str, Any]], budget: str, tag: str = "davinci", load: str = "", full: bool = False) -> str:
    ms, ms_note = _ms_models() if not full else ({}, "")  # the MetaSchedule run covers the small variants only
    size = "full-size zoo models (ImageNet inputs)" if full else "small zoo variants"
    lines = [f"# Whole models on davinci (simulated), Hawk --time-budget {budget}, {size}", "",
             "| model | tasks | fallback | conv/matmul on the cube | default lowering (ms) | MetaSchedule (ms) | "
             "Hawk (ms) | speedup | roofline (ms) | fraction | correct (max rel err) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "tasks" not in r:
            lines.append(f"| {r['model']} | - | - | - | - | - | - | - | - | - | {r.get('error', '')} |")
            continue
        sp = r["default_ms"] / r["hawk_ms"] if r["hawk_ms"] else 0
        frac = f"{r['roofline_fraction']:.2e}" if r.get("roofline_fraction") else "-"
        ok = f"{r.get('correct')} ({r.get('max_rel_err', float('nan')):.1e})" if "correct" in r else r.get("error")
        ms_ms = ms.get(r["model"], {}).get("ms_ms")
        ms_text = f"{ms_ms:.3f}" if ms_ms else "-"
        cube = f"{r.get('on_cube', 0)} of {r.get('matrix_tasks', 0)}"
        lines.append(f"| {r['model']} | {r['tasks']} | {r['fallback']} | {cube} | {r['default_ms']:.3f} | {ms_text} "
                     f"| {r['hawk_ms']:.3f} | {sp:.1f}x | {r['roofline_ms']:.4f} | {frac} | {ok} |")
    lines += ["", "Latencies are the simulator's (davinci profile, sum over tasks x uses), not host timings. "
              "'fraction' is roofline / Hawk latency (small kernels are bound by the movers' 200-cycle "
              "start-ups, which the roofline does not count); fallback tasks are counted at their simulated "
              "default cost. 'conv/matmul on the cube': tasks of those classes whose schedule tensorizes with "
              "the cube intrinsic (the rest got a vector-unit "
              "kernel that measured faster, or an untimed one). 'correct' compares "
              "`hawk run` (the shipped artifact) with onnxruntime, max error relative to the output's largest value.",
              *(["", ms_note] if ms_note else []),
              "", "Fallback tasks (default lowering kept, counted at their simulated default cost):", ""]
    for r in rows:
        for f in r.get("fallback_tasks", []):
            lines.append(f"- {r['model']}: {f}")
    lines += ["", "Where the simulated time goes (the five costliest tasks of each model, time x uses):", "",
              "| model | task | class | uses | simulated us | roofline us | unit |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for t in r.get("top_tasks", []):
            unit = "cube" if t["cube"] else "vector/scalar"
            lines.append(f"| {r['model']} | {t['name']} | {t['op_class']} | {t['uses']} | {t['us']:.1f} | "
                         f"{t['roofline_us']:.2f} | {unit} |")
    tag_arg = ("" if tag == "davinci" else f" --tag {tag}") + (" --full" if full else "")
    lines += ["", "Command: `python benchmarks/models/npu_table.py --models "
              + " ".join(r["model"] for r in rows) + f" --budget {budget}{tag_arg}`"]
    if load:
        lines += ["", f"Host load average (1 min) at start / end: {load} (the budget is wall-clock time: a loaded host "
                  "measures fewer candidates in it)."]
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("hawk_ms")]
    if not ok:
        return
    ms, _ = _ms_models()
    x = np.arange(len(ok))
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(ok)), 3.5))
    ax.bar(x - 0.3, [r["default_ms"] for r in ok], 0.2, label="default lowering")
    ax.bar(x - 0.1, [ms.get(r["model"], {}).get("ms_ms") or 0 for r in ok], 0.2, label="MetaSchedule (sim)")
    ax.bar(x + 0.1, [r["hawk_ms"] for r in ok], 0.2, label="Hawk")
    ax.bar(x + 0.3, [r["roofline_ms"] for r in ok], 0.2, label="roofline")
    ax.set_yscale("log")
    ax.set_xticks(x, [r["model"] for r in ok])
    ax.set_ylabel("simulated ms (davinci)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    """Run the table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="+", default=["squeezenet", "resnet18", "mobilenet_v2", "transformer"])
    p.add_argument("--budget", default="60s")
    p.add_argument("--tag", default="davinci")
    p.add_argument("--full", action="store_true", help="the full-size models (ImageNet inputs), not the small variants")
    args = p.parse_args(argv)
    rows = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="npu-table-") as tmp:
        for name in args.models:
            rows.append(one(name, args.budget, Path(tmp), args.full))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"npu_{args.tag}"
    base.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    load = f"{load_start:.1f} / {os.getloadavg()[0]:.1f}"
    base.with_suffix(".md").write_text(_markdown(rows, args.budget, args.tag, load, args.full))
    _plot(rows, base.with_suffix(".png"))
    print(base.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
