"""NPU legalization: a depthwise conv (groups == channels, as ONNX exports MobileNet / EfficientNet) is lowered as
a depthwise conv (vector unit), not as a grouped conv with a unit channel reduction that reads like a cube conv."""

from __future__ import annotations

import numpy as np
import onnx
import tvm
from tvm.relax.frontend.onnx import from_onnx


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
