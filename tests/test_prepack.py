"""Constant prepacking: the numpy packing matches TensorIR's transform_layout, the sandbox packs only constants,
and a compiled model whose conv weights were packed at compile time still matches the ONNX reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from tvm import relax, te

from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.knowledge.seed import load_seed_entries
from hawk_tvm.measure.host import host_target
from hawk_tvm.prepack import constant_params, index_map, infer_packing, pack_array, packed_shape, param_shapes
from hawk_tvm.proposer.base import Candidate, ProposalRequest, ProposalResult, Proposer
from hawk_tvm.proposer.offline import bind_parameters
from hawk_tvm.sandbox import ScheduleSandbox
from hawk_tvm.session import last_report

PACKED_ENTRY = "host.conv2d.nhwc_packed_weights"


def _copy_func(shape: tuple[int, ...]) -> tvm.tirx.PrimFunc:
    w = te.placeholder(shape, "float32", name="W")
    out = te.compute(shape, lambda *i: w(*i) * 1.0, name="copy")
    return te.create_prim_func([w, out]).with_attr("global_symbol", "main")


def test_numpy_packing_matches_transform_layout() -> None:
    shape = (3, 3, 4, 16)
    func = _copy_func(shape)
    sch = tvm.s_tir.Schedule(tvm.IRModule({"main": func}))
    sch.transform_layout(sch.get_sblock("copy"), ("read", 0), index_map(8))
    packing, err = infer_packing(param_shapes(func), sch.mod["main"])
    assert err is None and packing == {0: 8}
    assert param_shapes(sch.mod["main"])[0] == packed_shape(shape, 8) == (2, 3, 3, 4, 8)
    w = np.random.default_rng(0).standard_normal(shape).astype("float32")
    lib = tvm.compile(sch.mod, target=host_target())
    out = tvm.runtime.empty(shape, "float32", tvm.cpu())
    lib["main"](tvm.runtime.tensor(pack_array(w, 8)), out)
    np.testing.assert_array_equal(out.numpy(), w)


def test_other_shape_changes_are_errors() -> None:
    func = _copy_func((4, 16))
    other = _copy_func((16, 4))
    _, err = infer_packing(param_shapes(func), other)
    assert err is not None and err.kind == "layout"


PROGRAM = "if not sch.pack_param(MAIN, 0, 8):\n    sch.get_sblock('not_packed')"


@pytest.mark.parametrize("constants", [[], [0]])
def test_sandbox_packs_only_compile_time_constants(constants: list[int]) -> None:
    func = _copy_func((4, 16))
    sch, err = ScheduleSandbox().apply(
        tvm.IRModule({"main": func}), PROGRAM, {"MAIN": "copy", "CONST_PARAMS": constants}
    )
    if constants:
        assert err is None, err
        assert param_shapes(sch.mod["main"])[0] == (2, 4, 8)
    else:
        assert err is not None and err.kind == "schedule"  # pack_param returned False: nothing was packed


def _conv_model() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [64, 32, 3, 3], rng.standard_normal(64 * 32 * 9) * 0.1)
    bias = helper.make_tensor("b", TensorProto.FLOAT, [64], rng.standard_normal(64))
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 32, 28, 28])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 64, 28, 28])],
        [weight, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class PackedOnly(Proposer):
    """Proposes only the packed-weights seed entry (first binding), so the test does not depend on timings."""

    name = "packed-only"

    def propose(self, request: ProposalRequest) -> ProposalResult:
        entry = next(e for _, e in load_seed_entries()[0] if e.id == PACKED_ENTRY)
        bindings = bind_parameters(entry, request.env) if request.workload.op_class == "conv2d" else []
        return ProposalResult([Candidate(entry.template, b, (entry.id,), "test:packed") for b in bindings[:1]])


@pytest.mark.slow
def test_compiled_model_with_packed_weights_matches_onnx(tmp_path: Path) -> None:
    from tvm.relax.frontend.onnx import from_onnx

    from hawk_tvm.passes import HawkScheduleGeneration
    from hawk_tvm.passes.hawk_pass import graph_passes

    model = _conv_model()
    config = HawkConfig(
        target="host",
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        budget=Budget(candidates=1, repair_rounds=0, op_time_s=30),
        timing_repeat=1,
        timing_min_ms=1,
        verbose=False,
    )
    mod = from_onnx(model, keep_params_in_input=False)
    front = tvm.transform.Sequential([*graph_passes(config), relax.get_pipeline("zero")])(mod)
    conv = next(gv.name_hint for gv, f in front.functions_items() if "conv2d" in gv.name_hint)
    assert constant_params(front)[conv] == {1, 2}  # weight and bias are constants, the activation is not
    scheduled = HawkScheduleGeneration(config, proposer=PackedOnly())(front)
    row = next(r for r in last_report().rows if r.workload is not None and r.workload.op_class == "conv2d")
    assert row.source == "generated", row.reason  # a register-tiled conv beats the naive default lowering (~50x)
    vec = row.best.candidate.params["VEC"]  # the first binding's out-channel vector (8 or 16 lanes)
    assert param_shapes(scheduled[conv])[1] == (64 // vec, 3, 3, 32, vec)  # HWIO (3, 3, 32, 64) packed by VEC
    x = np.random.default_rng(4).standard_normal((1, 32, 28, 28)).astype("float32")
    expected = ReferenceEvaluator(model).run(None, {"input": x})[0]
    _check_runs(scheduled, x, expected)
    # the next compile takes the packed schedule from the tuning database and packs the constants again
    again = HawkScheduleGeneration(config, proposer=PackedOnly())(front)
    assert [r.source for r in last_report().rows if "conv2d" in r.name] == ["database"]
    assert param_shapes(again[conv])[1] == (64 // vec, 3, 3, 32, vec)
    _check_runs(again, x, expected)


def _check_runs(mod: tvm.IRModule, x: np.ndarray, expected: np.ndarray) -> None:
    ex = tvm.compile(mod, target=host_target(), relax_pipeline=relax.get_pipeline("default_build"))
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
