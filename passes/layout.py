"""Host layout: convolutions to channels-last (NHWC data, HWIO weights), when the graph has a dense conv.

NHWC pays for a dense conv: the output channels become the contiguous innermost axis, so a SIMD register tile over
them reads weights with unit stride (a ResNet 3x3 conv ~12 ms in the best NCHW tile, ~3 ms in NHWC, measured here).
A graph whose only convs are depthwise gains little from it and pays a transpose at each layout boundary (a
one-node MobileNet depthwise conv: 0.51 ms NCHW default, 3.1 ms NHWC with its two transposes): it keeps NCHW.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax import Call, PyExprVisitor, expr_functor


@expr_functor.visitor
class _DenseConvFinder(PyExprVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_call_(self, call: Call) -> None:
        if getattr(call.op, "name", "") == "relax.nn.conv2d" and int(call.attrs.groups) == 1:
            self.found = True
        super().visit_call_(call)


def has_dense_conv(mod: tvm.IRModule) -> bool:
    """Whether any Relax function of `mod` calls conv2d with groups == 1."""
    finder = _DenseConvFinder()
    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            finder.visit_expr(func)
    return finder.found


@tvm.transform.module_pass(opt_level=0, name="HawkChannelsLast")
def channels_last(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    """ConvertLayout of every conv2d to NHWC/HWIO (weights folded at compile time), if the graph has a dense conv."""
    if not has_dense_conv(mod):
        return mod
    seq = tvm.transform.Sequential(
        [relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]}), relax.transform.FoldConstant()]
    )
    return seq(mod)
