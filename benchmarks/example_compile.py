"""Compile the example models twice with Hawk (fresh state, then reuse): per-op speedups and compile wall times.

    python benchmarks/example_compile.py [--targets host davinci]

Writes benchmarks/results/example_compile.json and .md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _compile_twice(model_path: Path, target: str, home: Path) -> dict[str, Any]:
    import onnx
    import tvm
    from tvm.relax.frontend.onnx import from_onnx

    import hawk_tvm
    from hawk_tvm.measure.host import host_target
    from hawk_tvm.session import last_report

    mod = from_onnx(onnx.load(str(model_path)), keep_params_in_input=False)
    config = hawk_tvm.HawkConfig(
        target=target, database_dir=home / "db" / target, knowledge_db=home / "kb.db", verbose=False
    )
    runs = []
    for attempt in ("first", "second"):
        start = time.monotonic()
        with hawk_tvm.use_config(config):
            tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
        wall = time.monotonic() - start
        report = last_report()
        runs.append(
            {
                "compile": attempt,
                "wall_s": round(wall, 2),
                "hawk_pass_s": round(report.wall_s, 2),
                "sources": report.counts(),
                "ops": [
                    {
                        "op": r.name,
                        "class": r.workload.op_class if r.workload else None,
                        "uses": r.uses,
                        "source": r.source,
                        "candidates": len(r.attempts),
                        "default_ms": None if r.default_seconds is None else r.default_seconds * 1e3,
                        "best_ms": None if r.best_seconds is None else r.best_seconds * 1e3,
                        "speedup": r.speedup,
                    }
                    for r in report.rows
                ],
            }
        )
    return {"model": model_path.name, "target": target, "runs": runs}


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# Example models: first compile vs reuse",
        "",
        "Fresh HAWK_HOME, offline proposer, default budget; the second compile reuses the tuning database. "
        "Times on the host are measured (median of timed repeats); on davinci they are simulated.",
        "",
    ]
    for res in results:
        first, second = res["runs"]
        lines += [
            f"## {res['model']} on {res['target']}",
            "",
            f"First compile {first['wall_s']} s (Hawk pass {first['hawk_pass_s']} s, {first['sources']}); "
            f"second compile {second['wall_s']} s (Hawk pass {second['hawk_pass_s']} s, {second['sources']}).",
            "",
            "| op | class | source | candidates | default ms | Hawk ms | speedup |",
            "|---|---|---|---|---|---|---|",
        ]
        for op in first["ops"]:
            dflt = "-" if op["default_ms"] is None else f"{op['default_ms']:.4f}"
            best = "-" if op["best_ms"] is None else f"{op['best_ms']:.4f}"
            speed = "-" if not op["speedup"] else f"{op['speedup']:.2f}x"
            lines.append(
                f"| {op['op']} | {op['class']} | {op['source']} | {op['candidates']} | {dflt} | {best} | {speed} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every example model on every target and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["host", "davinci"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="hawk-example-") as tmp:
        for target in args.targets:
            for model in ("mlp.onnx", "small_convnet.onnx"):
                res = _compile_twice(ROOT / "examples" / model, target, Path(tmp))
                print(
                    json.dumps(
                        {k: v for k, v in res.items() if k != "runs"}
                        | {"first_s": res["runs"][0]["wall_s"], "second_s": res["runs"][1]["wall_s"]}
                    ),
                    flush=True,
                )
                results.append(res)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "example_compile.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "example_compile.md").write_text(_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
