"""Markdown report of a benchmark run: headline table, fast_p, per-operator results, losses, flags, ablations."""

from __future__ import annotations

from typing import Any

from .metrics import P_VALUES, fast_p, geomean_speedup, is_correct, speedup

MAIN_BASELINES = ("default", "ms-trials", "ms-budget")
LABEL_ORDER = ("hawk", "hawk-llm", "hawk-generic", "ms-budget", "ms-trials", "numpy", "default")


def _f(x: float | None, fmt: str = "{:.2f}", none: str = "–") -> str:
    return none if x is None else fmt.format(x)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _t(seconds: float | None, npu: bool = False) -> str:
    if seconds is None:
        return "–"
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.2f} µs"


def ordered(labels: list[str]) -> list[str]:
    """Report order: Hawk variants first, then the baselines, default last."""
    rank = {lbl: i for i, lbl in enumerate(LABEL_ORDER)}
    return sorted(labels, key=lambda lbl: (rank.get(lbl.split(":")[0], 50), lbl))


def _ms_name(label: str, meta: dict[str, Any]) -> str:
    s = meta["settings"]
    return {"ms-trials": f"MetaSchedule ({s['ms_trials']} trials)", "ms-budget": "MetaSchedule (Hawk's time)",
            "default": "default lowering", "numpy": "numpy/OpenBLAS"}.get(label, label)


def _headline(run: dict[str, Any], labels: list[str]) -> list[str]:
    meta, summ = run["meta"], run["summary"]
    npu = meta["kind"] == "npu"
    bases = [b for b in MAIN_BASELINES if b in meta["backends"]]
    head = ["backend", "correct", "own schedule", *[f"fast_1 vs {_ms_name(b, meta)}" for b in bases],
            *[f"geomean vs {_ms_name(b, meta)}" for b in bases]]
    if npu:
        head.append("roofline fraction (mean / geomean)")
    head += ["gen time / op", "trials / op", "LLM tokens"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lbl in labels:
        e = summ.get(lbl)
        if e is None:
            continue
        c, cost = e["correctness"], e["cost"]
        cells = [f"**{lbl}**", f"{c['correct']}/{c['attempted']} ({_pct(c['rate'])})",
                 f"{c['own_correct']}/{c['attempted']}"]
        for b in bases:
            fp = e["fast_p"].get(b, {}).get("1.0")
            cells.append("–" if not fp or fp["value"] is None else f"{_pct(fp['value'])} (n={fp['n']})")
        for b in bases:
            g = e["geomean_speedup"].get(b)
            cells.append("–" if not g or g["value"] is None else f"{g['value']:.2f}x (n={g['n']})")
        if npu:
            rf = e.get("roofline_fraction") or {}
            cells.append(f"{_f(rf.get('mean'), '{:.3g}')} / {_f(rf.get('geomean'), '{:.3g}')}")
        cells += [_f(cost["gen_wall_s_mean"], "{:.1f} s"), _f(cost["trials_mean"], "{:.1f}"), str(cost["tokens_total"])]
        if c["cached_excluded"]:
            cells[1] += f", {c['cached_excluded']} cached (excluded)"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _fastp_table(run: dict[str, Any], labels: list[str], baseline: str) -> list[str]:
    rows = [op["results"] for op in run["ops"]]
    head = ["backend", *[f"fast_{p:g}" for p in P_VALUES], "n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lbl in labels:
        if lbl == baseline:
            continue
        vals = [fast_p(rows, lbl, baseline, p) for p in P_VALUES]
        if vals[0][1] == 0:
            continue
        lines.append("| " + " | ".join([lbl, *[_pct(v) for v, _ in vals], str(vals[0][1])]) + " |")
    return lines if len(lines) > 2 else []


def _cell(op: dict[str, Any], lbl: str, npu: bool) -> str:
    r = op["results"].get(lbl)
    if r is None:
        return ""
    st = r["status"]
    if st == "n/a":
        return "n/a"
    if st == "cached":
        return "cached (excluded)"
    if st == "bound":
        return _t(r["seconds"], npu)
    if not is_correct(r):
        kind = (r.get("error") or "failed").split(":")[0][:24]
        return f"✗ {kind}"
    text = _t(r["seconds"], npu)
    if lbl != "default":
        s = speedup(op["results"], lbl, "default")
        text += f" ({_f(s)}x)"
    if r.get("source") in ("fallback", "default") and lbl != "default":
        text += " ·fb"
    frac = (r.get("verdict") or {}).get("roofline_fraction")
    if npu and frac is not None:
        text += f" [{frac:.3g}]"
    spread = (r.get("verdict") or {}).get("spread") or {}
    if spread.get("q1") and spread.get("q3") and r["seconds"]:
        iqr = (spread["q3"] - spread["q1"]) / r["seconds"]
        if iqr > 0.2:
            text += f" ±{100 * iqr / 2:.0f}%"
    return text


def _per_op(run: dict[str, Any], labels: list[str]) -> list[str]:
    npu = run["meta"]["kind"] == "npu"
    cols = [lbl for lbl in labels if lbl != "default"] + ["default"]
    if npu and "roofline" in run["meta"]["backends"]:
        cols.append("roofline")
    lines = ["| op | category | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for op in run["ops"]:
        lines.append(f"| {op['name']} | {op['category']} | " + " | ".join(_cell(op, c, npu) for c in cols) + " |")
    return lines


def _losses(run: dict[str, Any], hawk: str = "hawk") -> list[str]:
    out = []
    for op in run["ops"]:
        res = op["results"]
        h = res.get(hawk)
        if h is None or h["status"] in ("n/a", "cached"):
            continue
        if not is_correct(h):
            out.append(f"- **{op['name']}**: Hawk's kernel failed the harness check ({h.get('error')})")
            continue
        if h.get("source") != "generated":
            out.append(f"- **{op['name']}**: Hawk kept the default lowering ({h['source']}: "
                       f"{(h.get('extra') or {}).get('reason', '')[:160]})")
        for base in ("ms-trials", "ms-budget", "numpy", "hawk-generic"):
            s = speedup(res, hawk, base)
            if s is not None and s < 0.95:
                out.append(f"- **{op['name']}**: slower than {base} ({s:.2f}x)")
    return out


def _ms_npu(run: dict[str, Any]) -> list[str]:
    lines = ["| op | trials | NPU-legal | error kinds |", "|---|---|---|---|"]
    for op in run["ops"]:
        r = op["results"].get("ms-trials")
        if r is None or r["status"] in ("n/a", "cached"):
            continue
        ex = r.get("extra") or {}
        errs = ", ".join(f"{k} x{v}" for k, v in (ex.get("errors") or {}).items()) or "–"
        lines.append(f"| {op['name']} | {r['trials']} | {ex.get('valid_trials', 0)} | {errs} |")
    return lines


def _ablations(run: dict[str, Any]) -> list[str]:
    rows = [op["results"] for op in run["ops"]]
    out: list[str] = []
    for name, info in run.get("ablations", {}).items():
        out += [f"### {name}", ""]
        if info["status"] != "ran":
            out += [f"{info['status']}", ""]
            continue
        out += ["| arm | correct | own schedule | fast_1 vs default | geomean vs default | first candidate ok | "
                "gen time / op |", "|---|---|---|---|---|---|---|"]
        for arm in info["arms"]:
            e = run["summary"].get(arm)
            if e is None:
                continue
            c, cost = e["correctness"], e["cost"]
            fp, n = fast_p(rows, arm, "default", 1.0)
            g, _ = geomean_speedup(rows, arm, "default")
            label = f"{arm} (2d retrieval, synthesis on, no distillation)" if arm == "hawk" else arm
            gen = _f(cost["gen_wall_s_mean"], "{:.1f} s")
            out.append(f"| {label} | {c['correct']}/{c['attempted']} | {c['own_correct']} | {_pct(fp)} (n={n}) | "
                       f"{_f(g)}x | {_pct(cost['first_candidate_ok_rate'])} | {gen} |")
        out.append("")
    return out


def render(run: dict[str, Any], plots: dict[str, str] | None = None) -> str:
    """The Markdown report of one run (`plots`: caption -> relative PNG path)."""
    meta = run["meta"]
    npu = meta["kind"] == "npu"
    s = meta["settings"]
    labels = ordered([b for b in meta["backends"] if b != "roofline"])
    title = f"# Operator benchmark: `{meta['suite']}` on `{meta['target']}`" + (" (quick)" if meta["quick"] else "")
    lines = [
        title, "",
        f"- date {meta['date']}, {len(run['ops'])} operators, wall time {meta['wall_s'] / 60:.1f} min",
        f"- host: {meta['host']['processor']} ({meta['host']['mcpu']}), {meta['host']['cpus']} cores; "
        f"TVM {meta['versions']['tvm']}, numpy {meta['versions']['numpy']}",
        f"- target: {'NPU simulator profile `' + meta['target'] + '` (times are simulated)' if npu else 'this CPU'}",
        f"- Hawk budget per op: {s['hawk_budget']['candidates']} candidates x {1 + s['hawk_budget']['repair_rounds']} "
        f"rounds (cap {s['hawk_budget']['op_time_s']:g} s); knowledge: {meta['knowledge']}",
        f"- MetaSchedule: {meta['metaschedule']}; random cost model; {s['ms_trials']} trials, and the best found "
        f"within Hawk's generation time for the same op",
        "- final measurement (every kernel, same settings): " + (
            "simulated cycles (deterministic), then the functional check" if npu else
            f"median of {s['timing']['repeat']} repeats of at least {s['timing']['min_repeat_ms']} ms after "
            f"{s['timing']['warmup']} warm-up call, then the correctness check") +
        " on fresh seeds 1000/1001 against the default lowering",
    ]
    for name, reason in meta.get("unavailable", {}).items():
        lines.append(f"- `{name}` not run: {reason}")
    lines += ["", "## Headline", "", *_headline(run, labels), "",
              "correct = compiled, ran and matched the default lowering on fresh inputs after timing; own schedule = "
              "the kernel is the backend's own schedule, not the default lowering it fell back to; fast_p = share of "
              "operators that are correct AND faster than the baseline by more than p.", ""]
    for base in MAIN_BASELINES:
        if base in meta["backends"]:
            table = _fastp_table(run, labels, base)
            if table:
                lines += [f"## fast_p against {_ms_name(base, meta)}", "", *table, ""]
    lines += ["## Per operator", "",
              "Time of each kernel" + (" (simulated)" if npu else " (median)") + ", speedup over the default lowering "
              "in brackets" + (", roofline fraction in square brackets" if npu else "") + "; ·fb = fell back to the "
              "default lowering; ±x% = half the interquartile range when above 10%; ✗ = failed (kind).", "",
              *_per_op(run, labels), ""]
    losses = _losses(run)
    lines += ["## Where Hawk loses", "", *(losses or ["- nowhere in this run"]), ""]
    flags = run.get("flagged") or []
    lines += [f"## Speedups above {meta['flag_speedup']:g}x (inspect before believing)", ""]
    lines += [f"- {f['op']}: {f['backend']} {f['speedup']:.0f}x over {f['baseline']}" for f in flags] or ["- none"]
    if npu and flags:
        lines.append("- on the simulator the default lowering runs on the scalar path with off-chip operands, so "
                     "large speedups over it are expected; the roofline fraction is the meaningful figure.")
    lines.append("")
    if npu and "ms-trials" in meta["backends"]:
        lines += ["## MetaSchedule on the NPU profile", "",
                  "MetaSchedule's generic CPU search space knows nothing of the NPU's memory levels and units. Its "
                  "candidates ran through the simulator (constraints, cycles, functional check); how many were "
                  "NPU-legal, and what the others broke:", "",
                  *_ms_npu(run), ""]
    if run.get("ablations"):
        lines += ["## Ablations", "", *_ablations(run)]
    if plots:
        lines += ["## Plots", ""] + [f"![{cap}]({path})" for cap, path in plots.items()] + [""]
    lines += ["See `docs/benchmarks.md` for what each metric means and how the harness keeps results honest.", ""]
    return "\n".join(lines)


def render_index(runs: list[tuple[dict[str, Any], str]]) -> str:
    """A short index over several runs (run, relative path of its report)."""
    lines = ["# Operator benchmark results", "", "| suite | target | ops | Hawk correct | fast_1 vs default | "
             "fast_1 vs MetaSchedule (trials) | geomean vs default | report |", "|---|---|---|---|---|---|---|---|"]
    for run, path in runs:
        meta, e = run["meta"], run["summary"].get("hawk")
        if e is None:
            continue
        c = e["correctness"]
        f1 = (e["fast_p"].get("default") or {}).get("1.0") or {}
        m1 = (e["fast_p"].get("ms-trials") or {}).get("1.0") or {}
        g = (e["geomean_speedup"].get("default") or {}).get("value")
        lines.append(f"| {meta['suite']}{' (quick)' if meta['quick'] else ''} | {meta['target']} | {len(run['ops'])} | "
                     f"{c['correct']}/{c['attempted']} | {_pct(f1.get('value'))} | {_pct(m1.get('value'))} | "
                     f"{_f(g)}x | [{path}]({path}) |")
    return "\n".join(lines) + "\n"
