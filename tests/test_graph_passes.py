"""Graph passes before fusion: canonicalisation of old-style ONNX graphs, guarded layout, never a broken compile."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tvm
import tvm_ffi
from onnx import TensorProto, helper
from opset9_models import ALL
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

import hawk_tvm
from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.measure.host import host_target
from hawk_tvm.passes.canonicalize import canonicalize_inference
from hawk_tvm.passes.hawk_pass import graph_passes, guarded
from hawk_tvm.session import last_report

SIZE = 55  # odd maps all the way down: 55 -> 28 -> 14 (resnet), 27 -> 13 (squeezenet)


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), opts).run(None, {"input": x})[0]


def _run(ex, x: np.ndarray) -> np.ndarray:
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()


def _ops(mod: tvm.IRModule) -> set[str]:
    names: set[str] = set()

    def visit(expr) -> None:
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            names.add(expr.op.name)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return names


@pytest.mark.parametrize("name", sorted(ALL))
def test_old_style_graph_gets_channels_last_and_matches_onnxruntime(name: str) -> None:
    model = ALL[name](size=SIZE)
    mod = from_onnx(model, keep_params_in_input=False)
    out = tvm.transform.Sequential(graph_passes(HawkConfig(target="host")))(mod)
    ops = _ops(out)
    assert "relax.nn.dropout" not in ops and "relax.stack" not in ops, sorted(ops)
    assert "NHWC" in out.script(), "the layout pass was skipped"
    x = np.random.default_rng(3).standard_normal((1, 3, SIZE, SIZE)).astype("float32")
    np.testing.assert_allclose(_run(tvm.compile(out, target=host_target()), x), _ort(model, x), rtol=1e-4, atol=1e-5)


def _nary_model(op: str) -> onnx.ModelProto:
    """`op` over three inputs that broadcast against each other ([1,4,5,5], [1,4,1,1], [5])."""
    shapes = {"a": [1, 4, 5, 5], "b": [1, 4, 1, 1], "c": [5]}
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in shapes.items()]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])
    graph = helper.make_graph([helper.make_node(op, list(shapes), ["y"])], op, inputs, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])


@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min"])
def test_stacked_nary_reductions_become_pairwise_ops_with_broadcasting(op: str) -> None:
    model = _nary_model(op)
    mod = canonicalize_inference(from_onnx(model, keep_params_in_input=False))
    assert "relax.stack" not in _ops(mod)
    rng = np.random.default_rng(4)
    shapes = {"a": (1, 4, 5, 5), "b": (1, 4, 1, 1), "c": (5,)}
    feeds = {n: rng.standard_normal(s).astype("float32") for n, s in shapes.items()}
    vm = relax.VirtualMachine(tvm.compile(mod, target=host_target()), tvm.cpu())
    got = vm["main"](*[tvm.runtime.tensor(v) for v in feeds.values()]).numpy()
    expected = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_single_input_sum_keeps_its_value() -> None:
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Sum", ["a"], ["y"])], "sum1", inputs, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    mod = canonicalize_inference(from_onnx(model, keep_params_in_input=False))
    a = np.arange(6, dtype="float32").reshape(2, 3)
    vm = relax.VirtualMachine(tvm.compile(mod, target=host_target()), tvm.cpu())
    np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(a)).numpy(), a)


def test_failing_graph_pass_keeps_the_graph_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    # ConvertLayout on the raw import of an opset-9 Dropout graph fails inside TVM (a tuple it cannot lay out).
    model = ALL["squeezenet_fire"](size=SIZE)
    mod = from_onnx(model, keep_params_in_input=False)
    layout = guarded([relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})], "ConvertLayout")
    with caplog.at_level(logging.WARNING, logger="hawk_tvm.passes"):
        out = layout(mod)
    assert tvm_ffi.structural_equal(out, mod)
    warnings = [r.getMessage() for r in caplog.records if r.name == "hawk_tvm.passes"]
    assert len(warnings) == 1 and "ConvertLayout" in warnings[0] and "\n" not in warnings[0], warnings


@pytest.mark.slow
def test_old_style_graphs_compile_with_hawk_and_match_onnxruntime(tmp_path: Path) -> None:
    """The full `relax_pipeline="hawk"` on an opset-9 graph (Dropout, Sum, unfolded BN, 5-D shuffle, Concat)."""
    config = HawkConfig(
        target="host",
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        budget=Budget(candidates=2, repair_rounds=0, op_time_s=20),
        timing_repeat=1,
        timing_min_ms=2,
        verbose=False,
    )
    x = np.random.default_rng(5).standard_normal((1, 3, 27, 27)).astype("float32")
    for name in ("shufflenet_v1", "squeezenet_fire"):
        model = ALL[name](size=27)
        mod = from_onnx(model, keep_params_in_input=False)
        with hawk_tvm.use_config(config):
            ex = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
        report = last_report()
        assert report is not None and report.rows, name
        np.testing.assert_allclose(_run(ex, x), _ort(model, x), rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_failure_inside_the_hawk_pipeline_falls_back_to_the_plain_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hawk_tvm.session import CompileSession

    def broken(self, mod):
        raise RuntimeError("scheduling exploded\nCheck failed: something internal")

    monkeypatch.setattr(CompileSession, "schedule_module", broken)
    model = ALL["resnet_sum"](size=27, classes=10)
    mod = from_onnx(model, keep_params_in_input=False)
    config = HawkConfig(target="host", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db", verbose=False)
    with caplog.at_level(logging.WARNING, logger="hawk_tvm.passes"), hawk_tvm.use_config(config):
        ex = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
    warnings = [r.getMessage() for r in caplog.records if r.name == "hawk_tvm.passes"]
    assert len(warnings) == 1 and "Check failed: something internal" in warnings[0], warnings
    x = np.random.default_rng(6).standard_normal((1, 3, 27, 27)).astype("float32")
    np.testing.assert_allclose(_run(ex, x), _ort(model, x), rtol=1e-4, atol=1e-5)


def _conv_chain(groups: list[int], c: int = 24, hw: int = 13) -> onnx.ModelProto:
    """Convs (3x3, pad 1) of the given group counts in a chain over [1, c, hw, hw] ("input" -> "y")."""
    rng = np.random.default_rng(5)
    nodes, inits, x = [], [], "input"
    for i, g in enumerate(groups):
        w = helper.make_tensor(f"w{i}", TensorProto.FLOAT, [c, c // g, 3, 3], rng.standard_normal(c * c // g * 9))
        inits.append(w)
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], group=g, kernel_shape=[3, 3], pads=[1] * 4))
        x = f"c{i}"
    nodes.append(helper.make_node("Relu", [x], ["y"]))
    graph = helper.make_graph(
        nodes, "convs", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("groups, nhwc", [([24], False), ([24, 24], False), ([1, 24], True), ([24, 1], True)])
def test_channels_last_only_with_a_dense_conv(groups: list[int], nhwc: bool) -> None:
    # a depthwise-only graph keeps NCHW: NHWC would only add a transpose at each boundary
    model = _conv_chain(groups)
    mod = from_onnx(model, keep_params_in_input=False)
    out = tvm.transform.Sequential(graph_passes(HawkConfig(target="host")))(mod)
    assert ("NHWC" in out.script()) == nhwc
    x = np.random.default_rng(3).standard_normal((1, 24, 13, 13)).astype("float32")
    np.testing.assert_allclose(_run(tvm.compile(out, target=host_target()), x), _ort(model, x), rtol=1e-4, atol=1e-4)
