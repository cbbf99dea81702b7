"""MetaSchedule through the davinci simulator at a stated per-op wall-clock budget: the baseline column for the conv
suite (benchmarks/conv_suite.py's shapes) and for the whole-model NPU table (the zoo models' davinci tasks).

    python benchmarks/ms_baseline.py --suite conv --conv-budget 30
    python benchmarks/ms_baseline.py --suite models --model-budget 15 --models squeezenet resnet18
    python benchmarks/ms_baseline.py --suite all --resume        # skip ops already in the JSON

Each op is tuned by `hawk_tvm.benchmark.ms_sim.tune_on_sim` (stock MetaSchedule, generic LLVM search space with the
profile's 32 cores, random cost model, every candidate simulated: constraints, cycles, functional check). Writes
benchmarks/results/ms_sim/conv_suite_ms.{md,json} and models_ms.{md,json}; the JSON is rewritten after every op,
keyed by the conv's / task's name, so an interrupted run resumes with --resume.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "ms_sim"
MODELS = ("squeezenet", "resnet18", "mobilenet_v2", "transformer")  # the whole-model NPU table's default set


def _conv_suite() -> Any:
    """benchmarks/conv_suite.py as a module (its CONVS list and conv_module builder; the file is not edited)."""
    spec = importlib.util.spec_from_file_location("conv_suite", ROOT / "benchmarks" / "conv_suite.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_tasks(name: str) -> list[tuple[str, Any, int]]:
    """(task name, PrimFunc, uses) of a small zoo model as Hawk's davinci compile sees them: the same graph passes
    (canonicalisation, the default precision policy), legalisation and fusion, structurally equal PrimFuncs grouped
    (CompileSession.tasks' grouping; the first name is the task's name in Hawk's report)."""
    import tvm
    from tvm import relax, tirx
    from tvm.relax.frontend.onnx import from_onnx

    from hawk_tvm.analysis.workload import structural_key_of
    from hawk_tvm.config import HawkConfig
    from hawk_tvm.database import normalise
    from hawk_tvm.models import zoo
    from hawk_tvm.passes.hawk_pass import graph_passes
    from hawk_tvm.session import call_counts

    mod = from_onnx(zoo.build(name, small=True), keep_params_in_input=False)
    mod = tvm.transform.Sequential([*graph_passes(HawkConfig(target="davinci")), relax.get_pipeline("zero")])(mod)
    calls = call_counts(mod) or {}
    groups: dict[str, list[Any]] = {}
    for gv, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc) and calls.get(gv.name_hint, 0):
            key = structural_key_of(normalise(func))
            if key in groups:
                groups[key][2] += calls[gv.name_hint]
            else:
                groups[key] = [gv.name_hint, func, calls[gv.name_hint]]
    return [tuple(g) for g in groups.values()]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _tune(func: Any, name: str, budget: float) -> dict[str, Any]:
    from hawk_tvm.benchmark.ms_sim import tune_on_sim

    t0 = time.monotonic()
    res = tune_on_sim(func, "davinci", budget, name=name).to_dict()
    res["op_wall_s"] = round(time.monotonic() - t0, 1)  # with the default-lowering/roofline context outside the budget
    best = f"{res['best_us']:.1f} us" if res["best_us"] is not None else "no valid program"
    print(f"{name}: {best}, {res['valid']}/{res['tried']} valid, {res['wall_s']:.0f} s; "
          f"{(res['first_error'] or '')[:90]}", file=sys.stderr, flush=True)
    return res


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _cell(text: str | None, n: int = 110) -> str:
    return (text or "").replace("|", "/").replace("\n", " ")[:n]


def _row(name: str, r: dict[str, Any], extra: list[str] | None = None) -> str:
    best = _fmt(r["best_us"], ".1f") if r["best_us"] is not None else "no valid program"
    cells = [name, *(extra or []), best, f"{r['valid']} / {r['tried']}", _fmt(r["roofline_fraction"], ".2e"),
             _fmt(r["default_us"], ".1f"), _fmt(r["roofline_us"], ".3g"), _cell(r["first_error"] or r["tuner_error"])]
    return "| " + " | ".join(cells) + " |"


def _kinds_line(results: list[dict[str, Any]]) -> str:
    total: dict[str, int] = {}
    for r in results:
        for kind, n in (r.get("error_kinds") or {}).items():
            total[kind] = total.get(kind, 0) + n
    walls = [r["wall_s"] for r in results]
    return ("Failed candidates by first error: " + (", ".join(f"{k} {v}" for k, v in sorted(
        total.items(), key=lambda kv: -kv[1])) or "none") + f". MetaSchedule wall per op {min(walls, default=0):.1f}"
            f"-{max(walls, default=0):.1f} s (past the budget: the last candidate's simulation and functional check; "
            "shorter: the search space ran out).")


def _load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"


HEAD = ("MS best simulated us | valid programs / tried | roofline fraction | default lowering us | roofline us | "
        "first error")
NOTES = [
    "", "MetaSchedule: stock `tune_tir` search space for a generic LLVM target with num-cores = 32 (davinci's cores), "
    "evolutionary search (population 64, 16 candidates per batch), random cost model (xgboost is not installed); "
    "every candidate goes through Hawk's simulator as `SimulatorTarget` measures it: constraints, cycle model, "
    "functional check against the unscheduled function. A candidate that breaks a constraint or fails the check is a "
    "failed run. 'tried' counts candidates simulated within the budget. 'roofline fraction' is of the best valid "
    "program (roofline cycles / simulated cycles). 'default lowering' is the unscheduled function on the simulator "
    "(what a fallback costs); 'first error' is the first failed candidate's error. Simulated times are not host "
    "timings, but the number of candidates MetaSchedule gets through in its wall-clock budget depends on the "
    "shared machine's load (stated above).",
]


def run_conv(budget: float, resume: bool, only: list[str] | None, command: str) -> None:
    """The conv suite's shapes (fp16 operands, fp32 accumulation, NCHW, batch 1), one MetaSchedule run each."""
    cs = _conv_suite()
    path = OUT / "conv_suite_ms.json"
    data = _load(path) if resume else {}
    if data.get("budget_s") not in (None, budget):
        raise SystemExit(f"error: {path} was made with --conv-budget {data['budget_s']:g}; resume at that budget")
    ops = data.setdefault("ops", {})
    data.update(command=command, budget_s=budget, profile="davinci", load_at_start=data.get("load_at_start")
                or _load_line())
    for conv in cs.CONVS:
        name = conv[0]
        if (only and name not in only) or name in ops:
            continue
        shape = dict(zip(("c_in", "c_out", "map", "kernel", "stride", "pad", "groups"), conv[1:], strict=False))
        ci, co, hw, k, st, pd, *grp = conv[1:]
        dw = bool(grp) and grp[0] > 1 and grp[0] == ci == co  # the suite's own depthwise module (fp16 out)
        mod = cs.depthwise_module(ci, hw, k, st, pd) if dw else cs.conv_module(*conv[1:])
        ops[name] = {"shape": shape, **_tune(mod["main"], name, budget)}
        data["load_at_end"] = _load_line()
        _write(path, json.dumps(data, indent=1) + "\n")
    names = [c[0] for c in cs.CONVS if c[0] in ops]
    valid = [ops[n] for n in names if ops[n]["best_us"] is not None]
    fr = [ops[n]["roofline_fraction"] or 0.0 for n in names]
    lines = [f"Command: `{data['command']}`", "",
             f"# MetaSchedule through the davinci simulator on the conv suite, {budget:g} s wall clock per conv", "",
             f"{data['load_at_start']} at the start, {data.get('load_at_end', '?')} at the end (2 shared cores).", "",
             f"| conv | {HEAD} |", "|---|---|---|---|---|---|---|"]
    lines += [_row(n, ops[n]) for n in names]
    lines += ["", f"{len(names)} convs; a valid program for {len(valid)}; roofline fraction mean "
              f"{sum(fr) / max(1, len(fr)):.2e} (a conv without a valid program counts as 0), max "
              f"{max(fr, default=0):.2e}; candidates simulated {sum(ops[n]['tried'] for n in names)}, valid "
              f"{sum(ops[n]['valid'] for n in names)}.", "", _kinds_line([ops[n] for n in names]), *NOTES]
    _write(OUT / "conv_suite_ms.md", "\n".join(lines) + "\n")


def _model_summary(tasks: dict[str, Any], split_s: float | None) -> dict[str, Any]:
    """MetaSchedule's model latency on the simulator: sum over tasks x uses of the best valid program, a task
    without one at its default-lowering cost (as the NPU table counts a fallback)."""
    total, roof, fallback, unknown = 0.0, 0.0, 0, 0
    split_total, split_fallback, default_total = 0.0, 0, 0.0
    for r in tasks.values():
        default = r["default_us"]
        best = r["best_us"]
        at_split = min((us for t, us in r["improvements"] if split_s is not None and t <= split_s), default=None)
        for us, is_split in ((best, False), (at_split, True)):
            cost = us if us is not None else default
            if cost is None:
                unknown += 0 if is_split else 1
                continue
            if is_split:
                split_total += cost * r["uses"]
                split_fallback += us is None
            else:
                total += cost * r["uses"]
                fallback += us is None
        roof += (r["roofline_us"] or 0.0) * r["uses"]
        default_total += (default or 0.0) * r["uses"]
    out = {"tasks": len(tasks), "valid_tasks": len(tasks) - fallback - unknown, "fallback_tasks": fallback,
           "unknown_cost_tasks": unknown, "default_ms": default_total / 1e3, "ms_ms": total / 1e3,
           "roofline_ms": roof / 1e3,
           "roofline_fraction": roof / total if total else None}
    if split_s is not None:
        out.update(split_budget_per_task_s=split_s, ms_ms_at_split=split_total / 1e3,
                   fallback_tasks_at_split=split_fallback)
    return out


def run_models(models: list[str], budget: float, model_total: float | None, resume: bool, only: list[str] | None,
               command: str) -> None:
    """Every task of each small zoo model for davinci, one MetaSchedule run each."""
    path = OUT / "models_ms.json"
    data = _load(path) if resume else {}
    if data.get("budget_s") not in (None, budget):
        raise SystemExit(f"error: {path} was made with --model-budget {data['budget_s']:g}; resume at that budget")
    entries = data.setdefault("models", {})
    data.update(command=command, budget_s=budget, model_total_s=model_total, profile="davinci",
                load_at_start=data.get("load_at_start") or _load_line())
    for model in models:
        entry = entries.setdefault(model, {"tasks": {}})
        tasks = model_tasks(model)
        entry["task_order"] = [t[0] for t in tasks]
        for name, func, uses in tasks:
            if (only and name not in only) or name in entry["tasks"]:
                continue
            entry["tasks"][name] = {"uses": uses, **_tune(func, f"{model}/{name}", budget)}
            split = model_total / len(tasks) if model_total else None
            entry["summary"] = _model_summary(entry["tasks"], split)
            data["load_at_end"] = _load_line()
            _write(path, json.dumps(data, indent=1) + "\n")
    lines = [f"Command: `{data['command']}`", "",
             f"# MetaSchedule through the davinci simulator on the zoo models' tasks, {budget:g} s wall clock per "
             "task", "", f"{data['load_at_start']} at the start, {data.get('load_at_end', '?')} at the end "
             "(2 shared cores). Small zoo variants (as benchmarks/models/npu_table.py), tasks as Hawk's davinci "
             "compile extracts them (default precision policy allow_fp32_to_fp16).", "",
             "| model | tasks | with a valid MS program | default lowering (ms) | MS model latency (ms) | "
             "roofline (ms) | fraction | " + (f"MS at {model_total:g} s per model, split evenly (ms) | fallback then |"
                              if model_total else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|" if model_total else "")]
    for model in models:
        entry = entries.get(model, {})
        if entry.get("tasks"):  # recomputed, so a resumed or re-rendered table has every column
            entry["summary"] = _model_summary(entry["tasks"], model_total / len(entry["task_order"])
                                              if model_total else None)
        s = entry.get("summary")
        if not s:
            continue
        row = (f"| {model} | {s['tasks']} | {s['valid_tasks']} | {_fmt(s.get('default_ms'), '.3f')} | "
               f"{s['ms_ms']:.3f} | {s['roofline_ms']:.2e} | "
               f"{_fmt(s['roofline_fraction'], '.2e')} |")
        if model_total:
            row += f" {s.get('ms_ms_at_split', 0):.3f} | {s.get('fallback_tasks_at_split', '-')} |"
        lines.append(row)
    _write(path, json.dumps(data, indent=1) + "\n")
    lines += ["", "Model latency: sum over tasks x uses of MetaSchedule's best valid simulated program; a task without "
              "one counts at its default-lowering cost (as the NPU table counts a fallback). The even split reads "
              "each task's run at (model budget / tasks) seconds, Hawk's whole-model budget spread over the tasks.",
              "", f"| model/task | uses | {HEAD} |", "|---|---|---|---|---|---|---|---|"]
    for model in models:
        tasks = entries.get(model, {}).get("tasks", {})
        for name in entries.get(model, {}).get("task_order", []):
            if name in tasks:
                lines.append(_row(f"{model}/{name}", tasks[name], [str(tasks[name]["uses"])]))
    lines += ["", _kinds_line([t for m in models for t in entries.get(m, {}).get("tasks", {}).values()]), *NOTES]
    _write(OUT / "models_ms.md", "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=("conv", "models", "all"), default="all")
    p.add_argument("--conv-budget", type=float, default=30.0, help="seconds of MetaSchedule per conv")
    p.add_argument("--model-budget", type=float, default=15.0, help="seconds of MetaSchedule per model task")
    p.add_argument("--model-total", type=float, default=40.0,
                   help="also read each model at this whole-model budget split evenly over its tasks (0: off)")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--only", nargs="+", help="only these conv / task names")
    p.add_argument("--resume", action="store_true", help="keep the ops already in the JSON files")
    args = p.parse_args(argv)
    if args.conv_budget <= 0 or args.model_budget <= 0:
        print("error: budgets must be positive seconds", file=sys.stderr)
        return 2
    from hawk_tvm.models import zoo

    unknown = [m for m in args.models if m not in zoo.MODELS]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}: one of {', '.join(zoo.MODELS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    base = "python benchmarks/ms_baseline.py"
    if args.suite in ("conv", "all"):
        run_conv(args.conv_budget, args.resume, args.only, f"{base} --suite conv --conv-budget {args.conv_budget:g}")
    if args.suite in ("models", "all"):
        run_models(args.models, args.model_budget, args.model_total or None, args.resume, args.only,
                   f"{base} --suite models --model-budget {args.model_budget:g} --model-total {args.model_total:g} "
                   f"--models {' '.join(args.models)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
