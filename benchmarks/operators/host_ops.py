"""Host operator table: TVM's default lowering vs Hawk vs onnxruntime, each op a one-node ONNX model (real shapes).

    python benchmarks/operators/host_ops.py                      # every op, Hawk budget 40 s per op
    python benchmarks/operators/host_ops.py --ops gemv_4096 softmax_bert --budget 20s

Per op: onnxruntime (2 intra-op threads), plain TVM (`tvm.compile`, the default lowering; the graph as imported),
Hawk (`tvm.compile(..., relax_pipeline="hawk")` under `--time-budget`, its own empty database and knowledge
store), all timed the same way (median of at least 10 calls and 0.5 s after a warm-up, TVM_NUM_THREADS=2), and
checked against onnxruntime. Writes benchmarks/results/host_ops/host_ops[_<tag>].json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "host_ops"
THREADS = 2


def _time_ms(fn: Any) -> float:
    """Median milliseconds of `fn()` (at least 10 calls and 0.5 s)."""
    from hawk_tvm.benchmark.timing import median_call_seconds

    return median_call_seconds(fn, min_s=0.5, min_runs=10, max_runs=400) * 1e3


def _model(nodes: list, inputs: dict[str, list[int]], inits: dict[str, np.ndarray], opset: int = 17) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes,
        "op",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype("float32"), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _w(*shape: int, scale: float = 0.05) -> np.ndarray:
    return (np.random.default_rng(1).standard_normal(shape) * scale).astype("float32")


def _conv(name: str, cin: int, cout: int, hw: int, k: int, stride: int, group: int = 1) -> tuple[str, Any]:
    from onnx import helper

    pad = k // 2
    conv = helper.make_node(
        "Conv", ["x", "W", "b"], ["y"], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group
    )
    inits = {"W": _w(cout, cin // group, k, k), "b": _w(cout)}
    return name, _model([conv, helper.make_node("Relu", ["y"], ["z"])], {"x": [1, cin, hw, hw]}, inits)


def cases() -> dict[str, Any]:
    """name -> one-node (or one-pattern) ONNX model, shapes from real networks."""
    from onnx import helper

    out: dict[str, Any] = {}
    out["softmax_bert"] = _model([helper.make_node("Softmax", ["x"], ["z"], axis=-1)], {"x": [1, 12, 128, 128]}, {})
    inv = np.array(1 / math.sqrt(2), "float32")
    gelu = [
        helper.make_node("Mul", ["x", "inv"], ["a"]),
        helper.make_node("Erf", ["a"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["p"]),
        helper.make_node("Mul", ["x", "p"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["z"]),
    ]
    consts = {"inv": inv, "one": np.array(1.0, "float32"), "half": np.array(0.5, "float32")}
    out["gelu_erf_bert_ffn"] = _model(gelu, {"x": [128, 3072]}, consts)
    ln = helper.make_node("LayerNormalization", ["x", "g", "b"], ["z"], axis=-1, epsilon=1e-5)
    out["layernorm_bert"] = _model([ln], {"x": [128, 768]}, {"g": _w(768, scale=1.0), "b": _w(768)})
    out["bias_add_bert_ffn"] = _model([helper.make_node("Add", ["x", "b"], ["z"])], {"x": [128, 3072]}, {"b": _w(3072)})
    perm = helper.make_node("Transpose", ["x"], ["z"], perm=[0, 2, 1, 3])
    out["transpose_bert_heads"] = _model([perm], {"x": [1, 128, 12, 64]}, {})
    pool = helper.make_node("MaxPool", ["x"], ["z"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    out["maxpool_resnet_stem"] = _model([pool], {"x": [1, 64, 112, 112]}, {})
    for name, model in (
        _conv("conv1x1_resnet_256_64", 256, 64, 56, 1, 1),
        _conv("conv3x3_resnet_64", 64, 64, 56, 3, 1),
        _conv("conv7x7_stem_s2", 3, 64, 224, 7, 2),
        _conv("depthwise3x3_mobilenet_144", 144, 144, 56, 3, 1, group=144),
        _conv("depthwise3x3_s2_mobilenet_96", 96, 96, 112, 3, 2, group=96),
    ):
        out[name] = model
    for name, (k, n) in {"gemv_4096x4096": (4096, 4096), "gemv_classifier_2048x1000": (2048, 1000)}.items():
        gemm = helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1)
        out[name] = _model([gemm], {"x": [1, k]}, {"W": _w(n, k), "b": _w(n)})
    return out


def _input(model: Any) -> np.ndarray:
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(0).standard_normal(dims).astype("float32")


def run_op(name: str, model: Any, budget_s: float) -> dict[str, Any]:
    import onnxruntime as ort
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    import hawk_tvm
    from hawk_tvm.config import Budget, HawkConfig
    from hawk_tvm.measure.host import host_target
    from hawk_tvm.session import last_report

    x = _input(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"x": x}
    ref = sess.run(None, feed)[0]
    rec: dict[str, Any] = {"op": name, "input": list(x.shape), "ort_ms": _time_ms(lambda: sess.run(None, feed))}
    target = host_target(THREADS)
    dev = tvm.cpu()
    arg = tvm.runtime.tensor(x, dev)
    for system in ("default", "hawk"):
        mod = from_onnx(model, keep_params_in_input=False)
        start = time.monotonic()
        if system == "default":
            ex = tvm.compile(mod, target=target)
        else:
            with tempfile.TemporaryDirectory(prefix="hawk-op-") as tmp:
                config = HawkConfig(
                    target="host", database_dir=Path(tmp) / "db", knowledge_db=Path(tmp) / "kb.db",
                    budget=Budget(total_time_s=budget_s),
                )  # fmt: skip
                with hawk_tvm.use_config(config):
                    ex = tvm.compile(mod, target=target, relax_pipeline="hawk")
            report = last_report()
            rec["hawk_tasks"] = [
                {"name": r.name, "source": str(r.source), "speedup": r.speedup, "reason": r.reason[:120]}
                for r in (report.rows if report else [])
            ]
        rec[f"{system}_compile_s"] = round(time.monotonic() - start, 1)
        vm = relax.VirtualMachine(ex, dev)
        out = vm["main"](arg)
        out = out.numpy() if hasattr(out, "numpy") else out[0].numpy()
        rec[f"{system}_ms"] = _time_ms(lambda vm=vm: vm["main"](arg))
        scale = max(1e-6, float(np.abs(ref).max()))
        rec[f"{system}_max_rel_err"] = float(np.abs(out - ref).max() / scale)
    return rec


def _markdown(records: list[dict[str, Any]], budget_s: float, command: str, load: str) -> str:
    lines = [
        f"Host operators, batch 1, fp32, {THREADS} threads everywhere; Hawk budget {budget_s:.0f} s per op "
        f"(`--time-budget`), default = plain `tvm.compile` (TVM's default lowering). Median latency in ms.",
        "",
        f"Command: `{command}`",
        f"Load while running: {load} (2 cores shared with other jobs: host timings are noisy).",
        "",
        "| op | input | default | Hawk | onnxruntime | Hawk / ORT | Hawk vs default | Hawk tasks (source) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['op']} | - | - | - | - | - | - | error: {r['error']} |")
            continue
        tasks = ", ".join(f"{t['name']}: {t['source']}" for t in r.get("hawk_tasks", []))
        wrong = "" if r["hawk_max_rel_err"] < 1e-4 else f" (err {r['hawk_max_rel_err']:.1e})"
        lines.append(
            f"| {r['op']} | {'x'.join(map(str, r['input']))} | {r['default_ms']:.3f} | {r['hawk_ms']:.3f}{wrong} | "
            f"{r['ort_ms']:.3f} | {r['hawk_ms'] / r['ort_ms']:.2f}x | {r['default_ms'] / r['hawk_ms']:.1f}x | {tasks} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", nargs="*")
    p.add_argument("--budget", default="40s", help="Hawk --time-budget per op (e.g. 40s, 2m)")
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    os.environ.setdefault("TVM_NUM_THREADS", str(THREADS))
    scale = {"s": 1, "m": 60}.get(args.budget[-1:])
    budget_s = float(args.budget[:-1]) * scale if scale else float(args.budget)
    all_cases = cases()
    names = args.ops or list(all_cases)
    unknown = [n for n in names if n not in all_cases]
    if unknown:
        print(f"unknown op(s): {', '.join(unknown)}; known: {', '.join(all_cases)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "host_ops" + (f"_{args.tag}" if args.tag else "")
    records: list[dict[str, Any]] = []
    loads: list[float] = []
    for name in names:
        loads.append(os.getloadavg()[0])
        try:
            rec = run_op(name, all_cases[name], budget_s)
        except Exception as exc:  # one op failing must not lose the table
            rec = {"op": name, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:160]}"}
        records.append(rec)
        if "error" in rec:
            print(f"{name:32s} error {rec['error']}", flush=True)
        else:
            print(
                f"{name:32s} default {rec['default_ms']:9.3f}  hawk {rec['hawk_ms']:8.3f}  ort {rec['ort_ms']:8.3f} ms",
                flush=True,
            )
        (OUT / f"{stem}.json").write_text(json.dumps({"budget_s": budget_s, "records": records}, indent=1))
    command = "python benchmarks/operators/host_ops.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    load = f"1-min load average {min(loads):.1f}-{max(loads):.1f} at the start of each op"
    (OUT / f"{stem}.md").write_text(_markdown(records, budget_s, command, load))
    print(f"wrote {OUT / stem}.json/.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
