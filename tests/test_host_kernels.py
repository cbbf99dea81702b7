"""Host knowledge for batch-1 dense layers (GEMV on packed weight panels) and channels-last depthwise convs: each
entry binds on real-network shapes, odd ones included (1000 classes, 116 ShuffleNet channels, 7x7 and 113x113
maps, stride 2), and its schedule, built for this CPU, matches onnxruntime on the one-node ONNX model."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.config import HawkConfig
from hawk_tvm.knowledge.seed import load_seed_entries
from hawk_tvm.measure.host import host_target
from hawk_tvm.passes.hawk_pass import graph_passes
from hawk_tvm.passes.layout import to_channels_last
from hawk_tvm.prepack import constant_params, infer_packing, pack_inputs
from hawk_tvm.proposer.offline import bind_parameters
from hawk_tvm.sandbox import ScheduleSandbox
from hawk_tvm.session import call_counts

AVX2 = {"cores": 2, "vector_bytes": 32, "lanes": 8}  # the host profile's facts for float32
RNG = np.random.default_rng(0)


def _entry(entry_id: str):
    return next(e for _, e in load_seed_entries()[0] if e.id == entry_id)


def _model(nodes, x_shape, inits):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _main_task(model, op_class: str, nhwc: bool = False):
    """The model's PrimFunc of `op_class` after Hawk's host graph passes (NHWC convs, folded weights); `nhwc`:
    convs channels-last even without a dense conv (the layout a depthwise conv has inside a whole model)."""
    mod = from_onnx(model, keep_params_in_input=False)
    layout = [to_channels_last()] if nhwc else []
    graph = [*layout, *graph_passes(HawkConfig(target="host")), relax.get_pipeline("zero")]
    mod = tvm.transform.Sequential(graph)(mod)
    calls, consts = call_counts(mod), constant_params(mod)
    for gv, func in mod.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc) and calls.get(gv.name_hint) and analyze(func).op_class == op_class:
            return func, sorted(consts.get(gv.name_hint, set()))
    raise AssertionError(f"no {op_class} task")


def _apply_and_run(entry_id: str, func, consts, host_args: list[np.ndarray]) -> list[tuple[dict, np.ndarray]]:
    """Every binding of the entry applied, built and run on `host_args` (the last one is the output)."""
    entry = _entry(entry_id)
    workload = analyze(func, "main")
    env = {**workload.program_env(AVX2), "CONST_PARAMS": consts}
    bindings = bind_parameters(entry, env)
    assert bindings, (env["MAIN"], env["SPATIAL"], env["REDUCE"])
    shapes = [tuple(int(d) for d in s) for s in workload.arg_shapes]
    outs = []
    for params in bindings:
        sch, err = ScheduleSandbox().apply(workload.module, entry.template, {**env, **params})
        assert err is None, (params, err)
        packing, perr = infer_packing(shapes, sch.mod["main"])
        assert perr is None, perr
        lib = tvm.compile(sch.mod, target=host_target(2))
        args = [tvm.runtime.tensor(a) for a in pack_inputs([a.copy() for a in host_args], packing or {})]
        lib["main"](*args)
        outs.append((params, args[-1].numpy()))
    return outs


def _ort(model, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("k, n", [(768, 1000), (512, 200), (1024, 4096)])
def test_gemv_packed_panels_match_onnxruntime(k: int, n: int) -> None:
    w = (RNG.standard_normal((n, k)) * 0.05).astype("float32")
    b = RNG.standard_normal(n).astype("float32")
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1), helper.make_node("Relu", ["y"], ["z"])]
    model = _model(nodes, [1, k], {"W": w, "b": b})
    func, consts = _main_task(model, "matmul")
    assert consts, "the weights are compile-time constants (prepackable)"
    x = RNG.standard_normal((1, k)).astype("float32")
    expect = _ort(model, x)
    runs = _apply_and_run("host.matmul.gemv_packed_stream", func, consts, [x, w.T.copy(), b, np.zeros((1, n), "f4")])
    assert any(p["NV"] > 1 for p, _ in runs)  # several independent accumulators, also for 1000 / 200 columns
    for params, out in runs:
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4, err_msg=str(params))


def test_gemv_entry_does_not_bind_a_batched_matmul() -> None:
    entry = _entry("host.matmul.gemv_packed_stream")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z"])]
    model = _model(nodes, [8, 256], {"W": RNG.standard_normal((256, 512)).astype("float32")})
    func, consts = _main_task(model, "matmul")
    env = {**analyze(func, "main").program_env(AVX2), "CONST_PARAMS": consts}
    assert bind_parameters(entry, env) == []


@pytest.mark.parametrize("c, hw, stride", [(144, 28, 1), (96, 113, 2), (116, 28, 2), (960, 7, 1)])
def test_depthwise_nhwc_matches_onnxruntime(c: int, hw: int, stride: int) -> None:
    w = RNG.standard_normal((c, 1, 3, 3)).astype("float32")
    b = RNG.standard_normal(c).astype("float32")
    conv = helper.make_node(
        "Conv", ["x", "W", "b"], ["y"], group=c, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]
    )
    model = _model([conv, helper.make_node("Relu", ["y"], ["z"])], [1, c, hw, hw], {"W": w, "b": b})
    func, consts = _main_task(model, "conv2d", nhwc=True)
    x = RNG.standard_normal((1, c, hw, hw)).astype("float32")
    expect = _ort(model, x).transpose(0, 2, 3, 1)  # the task computes in NHWC
    shapes = [tuple(int(d) for d in s) for s in analyze(func).arg_shapes]
    host = [x.transpose(0, 2, 3, 1).copy(), w.transpose(2, 3, 1, 0).reshape(shapes[1]).copy()]
    host += [b.reshape(shapes[2]), np.zeros(shapes[3], "float32")]
    for params, out in _apply_and_run("host.depthwise_conv2d.nhwc_channel_vector", func, consts, host):
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4, err_msg=str(params))


@pytest.mark.parametrize("m, k, n", [(128, 768, 3072), (197, 384, 64), (50, 256, 96)])
def test_packed_panel_matmul_matches_onnxruntime(m: int, k: int, n: int) -> None:
    # token counts that the 6-row tile does not divide (197 ViT tokens, 50) and a BERT FFN layer
    w = (RNG.standard_normal((k, n)) * 0.05).astype("float32")
    b = RNG.standard_normal(n).astype("float32")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Add", ["y", "b"], ["z"])]
    model = _model(nodes, [m, k], {"W": w, "b": b})
    func, consts = _main_task(model, "matmul")
    assert consts, "the weights are compile-time constants (prepackable)"
    x = RNG.standard_normal((m, k)).astype("float32")
    expect = _ort(model, x)
    runs = _apply_and_run("host.matmul.packed_panel_tile", func, consts, [x, w, b, np.zeros((m, n), "f4")])
    for params, out in runs:
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4, err_msg=str(params))
