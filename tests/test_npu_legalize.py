"""NPU legalization: a depthwise conv (groups == channels, as ONNX exports MobileNet / EfficientNet) is lowered as
a depthwise conv (vector unit), not as a grouped conv with a unit channel reduction that reads like a cube conv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

from hawk_tvm.config import Budget, HawkConfig


def _dw_model(c: int, h: int, multiplier: int, k: int, s: int, p: int) -> onnx.ModelProto:
    """Depthwise conv (+ bias) then Clip(0, 6) (ReLU6), the MobileNet block form, batch 1."""
    from hawk_tvm.models.graph import GraphBuilder

    g = GraphBuilder(0)
    y = g.conv("input", c, c * multiplier, k, s, p, c)
    y = g.node("Clip", [y, g.const(np.float32(0.0)), g.const(np.float32(6.0))])
    oh = (h + 2 * p - k) // s + 1
    return g.model([1, c, h, h], y, [1, c * multiplier, oh, oh], "dw")


def _legalized_funcs(model: onnx.ModelProto) -> list[str]:
    from hawk_tvm.passes.npu_legalize import npu_legalize

    mod = npu_legalize()(from_onnx(model, keep_params_in_input=False))
    return [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]


def test_only_depthwise_convs_are_relegalized() -> None:
    assert any(n.startswith("depthwise_conv2d") for n in _legalized_funcs(_dw_model(24, 13, 1, 3, 1, 1)))
    from hawk_tvm.models.graph import GraphBuilder

    g = GraphBuilder(0)  # a grouped conv with 4 channels per group stays a (cube) grouped conv
    y = g.conv("input", 32, 32, 3, 1, 1, 8)
    names = _legalized_funcs(g.model([1, 32, 13, 13], y, [1, 32, 13, 13], "grouped"))
    assert names and not any(n.startswith("depthwise") for n in names)


@pytest.mark.parametrize("case", [(24, 13, 1, 3, 1, 1), (40, 14, 1, 5, 2, 2), (72, 28, 1, 5, 2, 2)])
def test_depthwise_conv_compiles_to_an_npu_vector_kernel(tmp_path: Path, case: tuple[int, ...]) -> None:
    """Odd maps (13, 14 at stride 2), 24 / 40 / 72 channels, 5x5 stride 2, Clip(0, 6) fused: on davinci the conv
    task is classed depthwise_conv2d, gets Hawk's NPU kernel, and matches the ONNX reference within the fp16
    tolerance."""
    from onnx.reference import ReferenceEvaluator

    import hawk_tvm
    from hawk_tvm.measure.host import host_target
    from hawk_tvm.session import last_report

    c, h = case[0], case[1]
    model = _dw_model(*case)
    config = HawkConfig(target="davinci", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db",
                        budget=Budget(candidates=2, repair_rounds=0, op_time_s=60), verbose=False)
    with hawk_tvm.use_config(config):
        ex = tvm.compile(from_onnx(model, keep_params_in_input=False), target=host_target(), relax_pipeline="hawk")
    x = np.random.default_rng(0).standard_normal((1, c, h, h)).astype("float32")
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    want = ReferenceEvaluator(model).run(None, {"input": x})[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-2
    rows = [r for r in last_report().rows if r.workload is not None and r.workload.op_class == "depthwise_conv2d"]
    assert len(rows) == 1, last_report().table()
    (cost,) = [c for c in last_report().costs if c.op_class == "depthwise_conv2d"]
    assert cost.npu and not cost.cube, last_report().table()
