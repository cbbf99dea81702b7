"""Whole-model benchmark: plain TVM, Hawk (--time-budget), MetaSchedule (same wall clock) and onnxruntime.

    python benchmarks/models/run.py                      # every model, full size, 10-minute budgets
    python benchmarks/models/run.py --quick              # resnet18, mobilenet_v2, squeezenet, transformer
    python benchmarks/models/run.py --models resnet50 --budget 15m
    python benchmarks/models/run.py --quick --small --budget 60s   # smoke run on the small variants

Each (model, system) runs in its own child process: compile wall time, peak RSS (the child's and its workers'),
latency (median of timed runs, 2 threads everywhere), correctness against onnxruntime. Writes
benchmarks/results/models/models[_<tag>].json, .md and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hawk_tvm.benchmark.timing import median_call_seconds

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "models"
QUICK = ("resnet18", "mobilenet_v2", "squeezenet", "transformer")
SYSTEMS = ("ort", "plain", "hawk", "metaschedule")
THREADS = 2


def _duration(text: str) -> float:
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:].lower())
    return float(text[:-1]) * scale if scale else float(text)


# -- child: one (model, system) ---------------------------------------------------------------------------------
def _inputs(model: Any) -> np.ndarray:
    from hawk_tvm.models import input_shape

    return np.random.default_rng(0).standard_normal(input_shape(model)).astype("float32")


def _ort_session(model: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _tvm_latency(ex: Any, x: np.ndarray) -> tuple[float, np.ndarray]:
    import tvm
    from tvm import relax

    dev = tvm.cpu()
    vm = relax.VirtualMachine(ex, dev)
    arg = tvm.runtime.tensor(x, dev)
    out = vm["main"](arg)
    out = out.numpy() if hasattr(out, "numpy") else out[0].numpy()
    return median_call_seconds(lambda: vm["main"](arg)), out


def _metaschedule(mod: Any, target: Any, budget_s: float, work: Path) -> tuple[Any, dict]:
    """Tune for `budget_s` of wall clock in a killable child (tasks costliest first, round-robin), then build."""
    from tvm.s_tir import meta_schedule as ms

    from hawk_tvm.database import _drop_torn_lines

    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--ms-tune", str(work), "--ms-model", str(work / "model.onnx")]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for name in ("database_workload.json", "database_tuning_record.json"):
        _drop_torn_lines(work / name)
    db = ms.database.JSONDatabase(work_dir=str(work))
    records = len(db.get_all_tuning_records()) if hasattr(db, "get_all_tuning_records") else None
    ex = ms.relax_integration.compile_relax(db, mod, target, None)  # the raw module: it legalizes and fuses
    return ex, {"ms_records": records}


def _ms_tune(work: Path, model_path: Path) -> None:
    """Grandchild: MetaSchedule tuning until killed (records are appended to the JSON database as they come)."""
    import sys as _sys
    import types

    _sys.modules.setdefault("tvm.s_tir.tensor_intrin", types.ModuleType("tvm.s_tir.tensor_intrin"))
    import onnx
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx
    from tvm.s_tir import meta_schedule as ms

    from hawk_tvm.measure.host import host_target, stub_tensor_intrin

    target = host_target(THREADS)
    mod = relax.get_pipeline("zero")(from_onnx(onnx.load(str(model_path)), keep_params_in_input=False))
    tasks = ms.relax_integration.extract_tasks(mod, target)
    # costliest first: round-robin then spends the early (and, under a deadline, only) trials where time goes
    tasks = sorted(tasks, key=lambda t: -_flops(t.dispatched[0]) * t.weight)
    contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(tasks, str(work), seed=0)
    ms.tune_tasks(
        tasks=contexts,
        task_weights=weights,
        work_dir=str(work),
        max_trials_global=64 * len(tasks) * 20,
        num_trials_per_iter=64,
        builder=ms.builder.LocalBuilder(max_workers=THREADS, initializer=stub_tensor_intrin),
        runner=ms.runner.LocalRunner(),
        database=ms.database.JSONDatabase(work_dir=str(work)),
        cost_model="xgb" if _has("xgboost") else "random",
        task_scheduler="round-robin",
    )


def _flops(mod: Any) -> float:
    from hawk_tvm.analysis.workload import analyze

    try:
        return max(1.0, analyze(mod["main"]).flops)
    except Exception:
        return 1.0


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_one(name: str, system: str, small: bool, budget_s: float, work: Path) -> dict[str, Any]:
    """Compile and time `name` with `system` in this process; returns a JSON-safe record."""
    import onnx

    from hawk_tvm.models import build

    model = build(name, small=small)
    x = _inputs(model)
    reference = _ort_session(model).run(None, {"input": x})[0]
    rec: dict[str, Any] = {"model": name, "system": system, "input": list(x.shape)}
    start = time.monotonic()
    if system == "ort":
        session = _ort_session(model)
        rec["compile_s"] = time.monotonic() - start
        out = session.run(None, {"input": x})[0]
        rec["latency_s"] = median_call_seconds(lambda: session.run(None, {"input": x}))
    else:
        import tvm
        from tvm.relax.frontend.onnx import from_onnx

        import hawk_tvm
        from hawk_tvm.config import Budget, HawkConfig
        from hawk_tvm.measure.host import host_target

        target = host_target(THREADS)
        mod = from_onnx(model, keep_params_in_input=False)
        if system == "plain":
            ex = tvm.compile(mod, target=target)
        elif system == "hawk":
            config = HawkConfig(
                target="host", database_dir=work / "hawk_db", knowledge_db=work / "kb.db", verbose=True,
                budget=Budget(total_time_s=budget_s),
            )  # fmt: skip
            with hawk_tvm.use_config(config):
                ex = tvm.compile(mod, target=target, relax_pipeline="hawk")
            rec["ops"] = _hawk_rows()
        else:
            (work / "ms").mkdir(parents=True, exist_ok=True)
            onnx.save(model, str(work / "ms" / "model.onnx"))
            ex, extra = _metaschedule(mod, target, budget_s, work / "ms")
            rec.update(extra)
        rec["compile_s"] = time.monotonic() - start
        rec["latency_s"], out = _tvm_latency(ex, x)
    err = float(np.max(np.abs(out - reference)) / max(1e-6, float(np.max(np.abs(reference)))))
    rec["max_rel_err"] = err
    rec["correct"] = bool(np.allclose(out, reference, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(reference).max()))))
    return rec


def _hawk_rows() -> list[dict[str, Any]]:
    """Per-operator rows of the Hawk compile, with each operator's share of estimated model time."""
    from hawk_tvm.session import last_report

    report = last_report()
    rows = []
    for r in report.rows if report else []:
        w = r.workload
        rows.append(
            {
                "name": r.name,
                "class": w.op_class if w else None,
                "uses": r.uses,
                "source": r.source,
                "default_ms": r.default_seconds * 1e3 if r.default_seconds else None,
                "best_ms": r.best_seconds * 1e3 if r.best_seconds else None,
                "speedup": r.speedup,
                "total_ms": (r.best_seconds or r.default_seconds or 0) * 1e3 * r.uses,
                "gflop": w.flops / 1e9 if w else None,
            }
        )
    return rows


# -- parent: the matrix ------------------------------------------------------------------------------------------
def _child(name: str, system: str, small: bool, budget_s: float, timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"hawk-bench-{name}-") as tmp:
        out = Path(tmp) / "rec.json"
        cmd = [sys.executable, __file__, "--child", name, system, str(budget_s), str(out), tmp]
        cmd += ["--small"] if small else []
        env = {**os.environ, "TVM_NUM_THREADS": str(THREADS), "HAWK_HOME": str(Path(tmp) / "home")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"model": name, "system": system, "error": f"timed out after {timeout_s:.0f} s"}
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0 or not out.exists():
            return {"model": name, "system": system, "error": (err or "").strip().splitlines()[-1:]}
        rec = json.loads(out.read_text())
        rec["peak_rss_mb"] = round(max(peak, before) / 1024, 1)  # the largest child so far (ru_maxrss: KiB)
        if system == "hawk":
            rec["log_tail"] = [ln for ln in (err or "").splitlines() if ln.startswith("[hawk]")][-3:]
        return rec


def _markdown(records: list[dict[str, Any]], budget_s: float, small: bool) -> str:
    by = {(r["model"], r["system"]): r for r in records}
    models = list(dict.fromkeys(r["model"] for r in records))

    def cell(r: dict | None) -> str:
        if r is None:
            return "-"
        if "error" in r:
            return "error"
        mark = "" if r.get("correct") else " (wrong)"
        return f"{r['latency_s'] * 1e3:.2f} ms{mark}"

    lines = [
        f"Whole-model latency, batch 1, fp32, 2 threads ({'small variants' if small else 'full size'}); "
        f"Hawk and MetaSchedule budget {budget_s:.0f} s of wall clock each. Compile time in brackets.",
        "",
        "| model | onnxruntime | plain TVM | Hawk | MetaSchedule | Hawk / ORT |",
        "|---|---|---|---|---|---|",
    ]
    for m in models:
        row = [m]
        for s in SYSTEMS:
            r = by.get((m, s))
            c = cell(r)
            if r and "compile_s" in r and s != "ort":
                c += f" [{r['compile_s']:.0f} s]"
            row.append(c)
        h, o = by.get((m, "hawk")), by.get((m, "ort"))
        ratio = h["latency_s"] / o["latency_s"] if h and o and "latency_s" in h and "latency_s" in o else None
        row.append(f"{ratio:.2f}x" if ratio else "-")
        lines.append("| " + " | ".join(row) + " |")
    for m in models:
        h = by.get((m, "hawk"))
        if not h or "ops" not in h:
            continue
        ops = sorted(h["ops"], key=lambda o: -o["total_ms"])[:5]
        total = sum(o["total_ms"] for o in h["ops"]) or 1.0
        lines += ["", f"Top operators of the Hawk build of {m} (kernel time x uses):", ""]
        lines += ["| op | class | uses | source | ms (x uses) | share | speedup |", "|---|---|---|---|---|---|---|"]
        for o in ops:
            sp = f"{o['speedup']:.2f}x" if o["speedup"] else "-"
            lines.append(
                f"| {o['name']} | {o['class']} | {o['uses']} | {o['source']} | {o['total_ms']:.3f} | "
                f"{o['total_ms'] / total:.0%} | {sp} |"
            )
    return "\n".join(lines) + "\n"


def _plot(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in records))
    by = {(r["model"], r["system"]): r for r in records}
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(models)), 4))
    width = 0.8 / len(SYSTEMS)
    for i, s in enumerate(SYSTEMS):
        vals = [by.get((m, s), {}).get("latency_s", np.nan) * 1e3 for m in models]
        ax.bar(np.arange(len(models)) + i * width, vals, width, label=s)
    ax.set_xticks(np.arange(len(models)) + width * (len(SYSTEMS) - 1) / 2, models, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark matrix (or, with --child / --ms-tune, one piece of it)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    p.add_argument("--small", action="store_true", help="the small test variants (smoke run)")
    p.add_argument("--budget", type=_duration, default=600.0, help="Hawk and MetaSchedule budget (e.g. 10m)")
    p.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    p.add_argument("--tag", default="", help="results file suffix: models/models_<tag>.json")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    p.add_argument("--ms-tune", help=argparse.SUPPRESS)
    p.add_argument("--ms-model", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ms_tune:
        _ms_tune(Path(args.ms_tune), Path(args.ms_model))
        return 0
    if args.child:
        name, system, budget, out, work = args.child
        rec = run_one(name, system, args.small, float(budget), Path(work))
        Path(out).write_text(json.dumps(rec, default=float))
        return 0
    from hawk_tvm.models import SUITE

    models = args.models or (list(QUICK) if args.quick else list(SUITE))
    stem = "models" + (f"_{args.tag}" if args.tag else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for name in models:
        for system in args.systems:
            timeout = 3 * args.budget + 900 if system in ("hawk", "metaschedule") else 1800
            t = time.monotonic()
            rec = _child(name, system, args.small, args.budget, timeout)
            rec["wall_s"] = round(time.monotonic() - t, 1)
            records.append(rec)
            lat = f"{rec['latency_s'] * 1e3:.2f} ms" if "latency_s" in rec else rec.get("error")
            print(f"{name:14s} {system:13s} {lat}  compile {rec.get('compile_s', 0):.0f} s", flush=True)
            meta = {"budget_s": args.budget, "small": args.small, "threads": THREADS, "records": records}
            (RESULTS / f"{stem}.json").write_text(json.dumps(meta, indent=1, default=float))
    (RESULTS / f"{stem}.md").write_text(_markdown(records, args.budget, args.small))
    _plot(records, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json/.md/.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
