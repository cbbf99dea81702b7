"""Host layout: convolutions to channels-last (NHWC data, HWIO weights), when the graph has a dense conv.

NHWC pays for a dense conv: the output channels become the contiguous innermost axis, so a SIMD register tile over
them reads weights with unit stride (a ResNet 3x3 conv ~12 ms in the best NCHW tile, ~3 ms in NHWC, measured here).
A graph whose only convs are depthwise gains little from it and pays a transpose at each layout boundary (a
one-node MobileNet depthwise conv: 0.51 ms NCHW default, 3.1 ms NHWC with its two transposes): it keeps NCHW.
"""

from __future__ import annotations

import tvm
from tvm import relax


def has_dense_conv(mod: tvm.IRModule) -> bool:
    """Whether any Relax function of `mod` calls conv2d with groups == 1."""
    found: list[bool] = []

    def visit(expr: relax.Expr) -> None:
        conv = isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.nn.conv2d"
        if conv and int(expr.attrs.groups) == 1:
            found.append(True)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return bool(found)


def to_channels_last() -> tvm.transform.Pass:
    """ConvertLayout of every conv2d to NHWC data / HWIO weights, the converted weights folded at compile time."""
    return tvm.transform.Sequential(
        [relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]}), relax.transform.FoldConstant()]
    )


@tvm.transform.module_pass(opt_level=0, name="HawkChannelsLast")
def channels_last(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    """`to_channels_last` when the graph has a dense conv; otherwise the graph as it is."""
    return to_channels_last()(mod) if has_dense_conv(mod) else mod
