"""NPU legalization: depthwise convolutions lowered as depthwise convs, not as grouped convs.

Relax legalizes every `relax.nn.conv2d` with `topi.nn.conv`; with groups == in channels (MobileNet, EfficientNet,
ShuffleNet depthwise) that is a grouped conv with one input channel per group: a block with a unit channel
reduction (n, f, y, x | c = 1, r, s), which reads like a regular conv. On an NPU a depthwise conv has no channel
reduction to put on the cube and belongs on the vector unit, so it is lowered with `topi.nn.depthwise_conv2d_nchw`
(n, c, y, x | r, s): the workload analysis classes it `depthwise_conv2d` and retrieves the vector-unit knowledge.
Every other op keeps Relax's own legalization.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, topi
from tvm.relax.transform.legalize_ops import nn as relax_nn


def _static_shape(expr: Any) -> list[int] | None:
    shape = getattr(getattr(expr, "ty", None), "shape", None)  # TVM 0.27: TensorType (was struct_info)
    values = getattr(shape, "values", None)
    if values is None or not all(isinstance(v, tvm.tirx.IntImm) for v in values):
        return None
    return [int(v) for v in values]


def depthwise_geometry(call: relax.Call) -> tuple[int, int] | None:
    """(channels, channel multiplier) of an NCHW/OIHW conv2d call that is depthwise, else None."""
    attrs = call.attrs
    if attrs.data_layout != "NCHW" or attrs.kernel_layout != "OIHW" or attrs.out_layout not in ("NCHW", ""):
        return None
    groups = int(attrs.groups)
    data, weight = (_static_shape(a) for a in call.args[:2])
    if groups <= 1 or data is None or weight is None or len(data) != 4 or len(weight) != 4:
        return None
    if data[1] != groups or weight[1] != 1 or weight[0] % groups:
        return None
    return groups, weight[0] // groups


def _legalize_conv2d(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    geo = depthwise_geometry(call)
    if geo is None:
        return relax_nn._nn_conv2d(bb, call)
    channels, multiplier = geo
    weight = call.args[1]
    if multiplier > 1:  # ONNX/OIHW output channel o = c * m + j is topi's filter[c, j]
        kh, kw = _static_shape(weight)[2:]
        weight = bb.normalize(relax.op.reshape(weight, [channels, multiplier, kh, kw]))
    attrs = call.attrs
    out_dtype = attrs.out_dtype if str(attrs.out_dtype) not in ("", "void") else None
    return bb.call_te(
        topi.nn.depthwise_conv2d_nchw,
        call.args[0],
        weight,
        [int(s) for s in attrs.strides],
        [int(p) for p in attrs.padding],
        [int(d) for d in attrs.dilation],
        out_dtype,
        primfunc_name_hint="depthwise_conv2d",
    )


def npu_legalize() -> tvm.transform.Pass:
    """LegalizeOps with depthwise conv2d calls lowered by `topi.nn.depthwise_conv2d_nchw` (NPU targets)."""
    return relax.transform.LegalizeOps({"relax.nn.conv2d": _legalize_conv2d})
