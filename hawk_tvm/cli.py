"""The `hawk` command line: compile | run | explain | kb | sim-server | bench (tvmc-style flags)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


def _duration(text: str) -> float:
    """Parse '90', '90s', '10m', '1h' into seconds."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:])
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use e.g. 90s, 10m, 1h") from exc


def _add_compile(sub: Any) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model or a torch.export program (plain TVM build, or --hawk)")
    p.add_argument("model", help="path to an .onnx file, or a .pt2 saved with torch.export.save (hawk-tvm[torch])")
    p.add_argument("--target", default="host", help="host, or a hardware profile (davinci, edge, or a JSON path)")
    p.add_argument("--hawk", action="store_true", help="schedule operators with Hawk (default: plain TVM build)")
    p.add_argument("--database", help="tuning database folder (default: $HAWK_HOME/database/<target>)")
    p.add_argument("--knowledge", help="knowledge store (default: $HAWK_HOME/knowledge.db)")
    p.add_argument("--input-shapes", help='e.g. "input:[1,3,224,224]" (tvmc syntax)')
    p.add_argument("--output", "-o", help="artifact path (default: <model>.tar next to the model)")
    p.add_argument("--trials", type=int, help="candidates per operator and round")
    p.add_argument("--repair-rounds", type=int, help="repair rounds after failures")
    p.add_argument("--time-budget", type=_duration, help="whole-compile generation budget, e.g. 10m")
    p.add_argument("--no-knowledge", action="store_true", help="generic proposals only (ablation)")
    p.add_argument("--retrieval", choices=["2d", "syntactic", "semantic"], default="2d")
    p.add_argument("--llm-model", help="LLM model name (or HAWK_LLM_MODEL)")
    p.add_argument("--llm-base-url", help="OpenAI-compatible endpoint (or HAWK_LLM_BASE_URL / OPENAI_BASE_URL)")
    p.add_argument("--runner", default="local", help="local, or rpc://HOST:PORT/KEY for a tracker")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", help="NPU targets: allow_fp32_to_fp16 (default), force_fp16, must_keep_origin_dtype")
    p.add_argument("--quiet", action="store_true", help="no per-operator progress lines")
    p.add_argument("--strict-npu", action="store_true",
                   help="NPU targets: exit 3 (after writing the artifact) when any task keeps the default lowering "
                        "(an AI-CPU fallback), listing them")


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a compiled artifact")
    p.add_argument("artifact")
    p.add_argument("--inputs", help=".npz with arrays keyed by input name (default: seeded random)")
    p.add_argument("--outputs", help="write outputs to this .npz (output_0, output_1, ...)")
    p.add_argument("--print-time", action="store_true")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--print-top", type=int, help="print the top-N entries of the first output")


def _add_explain(sub: Any) -> None:
    p = sub.add_parser("explain", help="show how Hawk scheduled an operator (or every operator of an artifact)")
    p.add_argument("what", help="operator name (as in the summary table) or an artifact path")
    p.add_argument("--target", default="host")
    p.add_argument("--database", help="database folder (default: $HAWK_HOME/database/<target>)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hawk`."""
    parser = argparse.ArgumentParser(prog="hawk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_compile(sub)
    _add_run(sub)
    _add_explain(sub)
    try:
        from .knowledge.cli import add_parser as add_kb_parser

        add_kb_parser(sub)
    except ImportError:
        pass
    p = sub.add_parser("sim-server", help="serve the NPU simulator behind TVM RPC")
    p.add_argument("--tracker", required=True, help="HOST:PORT of an RPC tracker")
    p.add_argument("--key", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9190)
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (TVM RPC runs any code a client sends: trusted networks only)")
    try:
        from .bench import add_parser as add_bench_parser

        add_bench_parser(sub)
    except ImportError:
        pass
    return parser


def _config_from_args(args: argparse.Namespace) -> Any:
    from .config import Budget, HawkConfig, LLMConfig

    budget = Budget()
    changes: dict[str, Any] = {}
    if args.trials:
        changes["candidates"] = max(1, args.trials)
    if args.repair_rounds is not None:
        changes["repair_rounds"] = max(0, args.repair_rounds)
    if args.time_budget:
        changes["total_time_s"] = args.time_budget
    if changes:
        from dataclasses import replace

        budget = replace(budget, **changes)
    return HawkConfig(
        target=args.target,
        database_dir=Path(args.database) if args.database else None,
        knowledge_db=Path(args.knowledge) if args.knowledge else None,
        llm=LLMConfig.from_env(model=args.llm_model, base_url=args.llm_base_url),
        budget=budget,
        seed=args.seed,
        use_knowledge=not args.no_knowledge,
        retrieval=args.retrieval,
        runner=args.runner,
        verbose=not args.quiet,
        **({"precision": args.precision} if getattr(args, "precision", None) else {}),
    )


def cmd_compile(args: argparse.Namespace) -> int:
    """`hawk compile`: plain TVM build, or a Hawk build, of an ONNX model or a .pt2 program; writes an artifact."""
    from .api import build as build_executable
    from .api import check_target, load_model_file
    from .frontend import InputError, parse_input_shapes

    try:
        check_target(args.target, args.precision)
    except InputError as exc:
        raise InputError(str(exc).replace("unknown precision", "unknown --precision")) from None
    if args.precision is not None and args.target == "host":
        print("hawk compile: note: --precision applies to NPU targets; the host keeps the model's dtypes",
              file=sys.stderr)
    mod, info = load_model_file(args.model, parse_input_shapes(args.input_shapes))
    from .artifact import save_artifact

    config = _config_from_args(args)
    ex, report, build = build_executable(mod, config, args.hawk)
    wall = build["compile_s"]
    if report is not None:
        print(report.table())
    out = Path(args.output) if args.output else Path(args.model).with_suffix(".tar")
    if "precision" in build:
        from .passes.precision import DESCRIPTIONS

        print(f"precision: {config.precision} ({DESCRIPTIONS[config.precision]})")
    save_artifact(out, ex, info, build)
    print(f"compiled {args.model} for {args.target} ({'hawk' if args.hawk else 'plain TVM'}) in {wall:.1f} s -> {out}")
    return _strict_npu(args, report)


def _strict_npu(args: argparse.Namespace, report: Any) -> int:
    """--strict-npu: EXIT_STRICT_NPU (3) when an NPU compile left tasks to the default lowering, listing them."""
    if not getattr(args, "strict_npu", False):
        return EXIT_OK
    from .model_report import STRICT_NPU_EXIT

    if args.target == "host" or not args.hawk:
        print("hawk compile: --strict-npu needs --hawk and an NPU target", file=sys.stderr)
        return EXIT_BAD_INPUT
    fallback = report.fallback() if report is not None else []
    if not fallback:
        return EXIT_OK
    print(f"--strict-npu: {len(fallback)} task(s) not on the NPU:", file=sys.stderr)
    for c in fallback:
        print(f"  {c.name} ({c.op_class}): {c.reason}", file=sys.stderr)
    return STRICT_NPU_EXIT


def cmd_run(args: argparse.Namespace) -> int:
    """`hawk run`: execute an artifact on inputs, save outputs, optionally time it."""
    import numpy as np

    from .artifact import load_artifact
    from .frontend import InputError

    runner = load_artifact(args.artifact)
    feeds: dict[str, Any] = {}
    if args.inputs:
        if not Path(args.inputs).exists():
            raise InputError(f"inputs file not found: {args.inputs}")
        with np.load(args.inputs) as data:
            feeds = {k: data[k] for k in data.files}
    outputs = runner.run(feeds)
    if args.outputs:
        np.savez(args.outputs, **{f"output_{i}": o for i, o in enumerate(outputs)})
        print(f"wrote {len(outputs)} output(s) to {args.outputs}")
    for i, o in enumerate(outputs):
        print(f"output_{i}: shape {list(o.shape)} dtype {o.dtype}")
        if args.print_top:
            flat = o.reshape(-1)
            top = np.argsort(-flat)[: args.print_top]
            print("  top:", ", ".join(f"{j}:{flat[j]:.4f}" for j in top))
    if args.print_time:
        stats = runner.time(feeds, repeat=max(1, args.repeat))
        print(
            json.dumps(
                {
                    "mean_ms": stats["mean"] * 1e3,
                    "median_ms": stats["median"] * 1e3,
                    "std_ms": stats["std"] * 1e3,
                    "repeat": stats["repeat"],
                }
            )
        )
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    """`hawk explain`: schedule, knowledge used, measured result of a generated kernel."""
    from .config import HawkConfig
    from .database import ScheduleDatabase
    from .explain import explain
    from .frontend import InputError

    config = HawkConfig(target=args.target, database_dir=Path(args.database) if args.database else None)
    if Path(args.target).suffix == ".json" and Path(args.target).is_file():  # a user profile's intrinsics too
        from .database import register_record_intrinsics
        from .hardware.profile import load_profile

        register_record_intrinsics(load_profile(args.target))
    db = ScheduleDatabase(config.resolved_database_dir())
    text = explain(args.what, db.results())
    if text is None:
        raise InputError(f"no Hawk result recorded for {args.what!r} in {db.path}")
    print(text)
    return EXIT_OK


def cmd_sim_server(args: argparse.Namespace) -> int:
    """`hawk sim-server`: serve the simulator behind a TVM RPC tracker."""
    from .frontend import InputError
    from .sim.server import serve

    try:
        serve(args.tracker, args.key, args.profile, host=args.host, port=args.port, allow_remote=args.allow_remote)
    except ValueError as exc:  # a non-loopback --host without --allow-remote, or a bad profile
        raise InputError(str(exc)) from None
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hawk` console script."""
    from .frontend import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"compile": cmd_compile, "run": cmd_run, "explain": cmd_explain, "sim-server": cmd_sim_server}
    try:
        if args.command == "kb":
            from .knowledge.cli import run as run_kb

            return int(run_kb(args))
        if args.command == "bench":
            from .bench import run as run_bench

            return int(run_bench(args))
        return handlers[args.command](args)
    except InputError as exc:
        print(f"hawk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("hawk: interrupted; finished operators are kept in the database", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
