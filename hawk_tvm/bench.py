"""`hawk bench`: command-line glue over the benchmark harness in hawk_tvm.benchmark."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any


def _names(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    return tuple(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())


def add_parser(sub: Any) -> None:
    """Add the `bench` subcommand."""
    from .benchmark.backends import ABLATIONS, BACKENDS
    from .benchmark.suite import SUITES

    p = sub.add_parser("bench", help="run an operator suite against the baselines and write JSON, Markdown and PNGs")
    p.add_argument("--suite", default="operators", choices=SUITES)
    p.add_argument("--target", default="host", help="host, or a hardware profile (davinci, edge, or a JSON path)")
    p.add_argument("--baselines", help=f"comma-separated, from: {', '.join(BACKENDS)} (default: all that apply)")
    p.add_argument("--ablations", help=f"comma-separated, from: {', '.join(ABLATIONS)}")
    p.add_argument("--out", default="benchmarks/results/operators", help="output folder")
    p.add_argument("--quick", action="store_true", help="the quick subset with smaller budgets")
    p.add_argument("--ops", help="only operators whose name contains one of these (comma-separated)")
    p.add_argument("--trials", type=int, help="MetaSchedule's fixed trial count (default 64, quick 16)")
    p.add_argument("--hawk-candidates", type=int, help="Hawk candidates per round")
    p.add_argument("--repair-rounds", type=int, help="Hawk repair rounds")
    p.add_argument("--repeat", type=int, help="final timing: repeats per kernel")
    p.add_argument("--database", help="reuse this state folder (results served from it are marked cached)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--list", action="store_true", help="list the suite's operators and exit")


def settings_from_args(args: argparse.Namespace) -> Any:
    """BenchSettings from parsed arguments."""
    from .benchmark.runner import BenchSettings

    s = BenchSettings.for_mode(
        args.quick, suite=args.suite, target=args.target, baselines=_names(args.baselines),
        ablations=_names(args.ablations) or (), only=_names(args.ops) or (), ms_trials=args.trials, seed=args.seed,
        database=Path(args.database) if args.database else None, progress=not args.no_progress,
    )
    budget = s.hawk_budget
    if args.hawk_candidates:
        budget = replace(budget, candidates=max(1, args.hawk_candidates))
    if args.repair_rounds is not None:
        budget = replace(budget, repair_rounds=max(0, args.repair_rounds))
    timing = replace(s.timing, repeat=max(1, args.repeat)) if args.repeat else s.timing
    return replace(s, hawk_budget=budget, timing=timing, ms_max_trials=max(s.ms_max_trials, s.ms_trials))


def run(args: argparse.Namespace) -> int:
    """`hawk bench`: run, write the results, print the headline."""
    from .benchmark.backends import ABLATIONS, BACKENDS
    from .benchmark.output import write_run
    from .benchmark.suite import get_suite
    from .frontend import InputError

    for name in _names(args.baselines) or ():
        if name not in BACKENDS:
            raise InputError(f"unknown baseline {name!r}: choose from {', '.join(BACKENDS)}")
    for name in _names(args.ablations) or ():
        if name not in ABLATIONS:
            raise InputError(f"unknown ablation {name!r}: choose from {', '.join(ABLATIONS)}")
    settings = settings_from_args(args)
    if args.list:
        kind = "cpu" if settings.target in ("host", "llvm", "cpu") else "npu"
        for case in get_suite(settings.suite, kind, settings.quick, list(settings.only) or None):
            print(f"{case.name:32} {case.category:17} {case.dtype:8} {case.model}")
        return 0
    from .benchmark.runner import run_bench

    try:
        record = run_bench(settings)
    except (ValueError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from exc
    paths = write_run(record, Path(args.out), plots=not args.no_plots)
    print(headline(record))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def headline(record: dict[str, Any]) -> str:
    """A few lines summarising a run for the terminal."""
    meta, lines = record["meta"], []
    n_ops = len(record["ops"])
    lines.append(f"{meta['suite']} on {meta['target']}: {n_ops} operators in {meta['wall_s'] / 60:.1f} min")
    for label, e in record["summary"].items():
        c = e["correctness"]
        f1 = (e["fast_p"].get("default") or {}).get("1.0") or {}
        g = (e["geomean_speedup"].get("default") or {}).get("value")
        parts = [f"correct {c['correct']}/{c['attempted']}"]
        if f1.get("value") is not None:
            parts.append(f"fast_1 vs default {100 * f1['value']:.0f}%")
        if g:
            parts.append(f"geomean {g:.2f}x")
        rf = (e.get("roofline_fraction") or {}).get("geomean")
        if rf:
            parts.append(f"roofline {rf:.3g}")
        lines.append(f"  {label:24} " + ", ".join(parts))
    return "\n".join(lines)
