"""Precision policy on NPU targets (ATC `--precision_mode`-style): which ops run on the cube's fp16 tile."""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax

from .canonicalize import rewrite_relax_functions

PRECISION_MODES = ("allow_fp32_to_fp16", "force_fp16", "must_keep_origin_dtype")
DEFAULT_PRECISION = "allow_fp32_to_fp16"
DESCRIPTIONS = {
    "allow_fp32_to_fp16": "fp32 matmul/conv on the fp16 cube tile with fp32 accumulation; other ops keep their dtype",
    "force_fp16": "matmul/conv fp16 with fp32 accumulation, elementwise ops in fp16, softmax/norms fp32",
    "must_keep_origin_dtype": "the model's dtypes everywhere (fp32 matmul/conv on the fp32 tile)",
}
_MATRIX_OPS = ("relax.matmul", "relax.nn.conv2d", "relax.nn.conv1d", "relax.nn.conv3d")


@relax.expr_functor.mutator
class _MatrixOpsToFp16(relax.PyExprMutator):
    """fp32 matmul / conv: fp16 operands with fp32 accumulation (`out_dtype="float32"`); nothing else changes."""

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        op = getattr(call.op, "name", "")
        if op not in _MATRIX_OPS or len(call.args) < 2:
            return call
        if any(str(getattr(getattr(a, "ty", None), "dtype", "")) != "float32" for a in call.args[:2]):
            return call
        args = [relax.op.astype(a, "float16") for a in call.args[:2]] + list(call.args[2:])
        if op == "relax.matmul":
            return relax.op.matmul(args[0], args[1], out_dtype="float32")
        fn = {"relax.nn.conv2d": relax.op.nn.conv2d, "relax.nn.conv1d": relax.op.nn.conv1d,
              "relax.nn.conv3d": relax.op.nn.conv3d}[op]
        keep = ("strides", "padding", "dilation", "groups", "data_layout", "kernel_layout", "out_layout")
        kwargs = {k: _py(getattr(call.attrs, k)) for k in keep if hasattr(call.attrs, k)}
        return fn(args[0], args[1], out_dtype="float32", **kwargs)


def _py(value: Any) -> Any:
    """Attribute values as plain Python (arrays of IntImm -> ints, strings as str)."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, str)):
        try:
            return [int(v) for v in value]
        except (TypeError, ValueError):
            return value
    if hasattr(value, "value"):
        return value.value
    return str(value) if not isinstance(value, (int, float)) else value


@tvm.transform.module_pass(opt_level=0, name="HawkMatrixOpsToFp16")
def matrix_ops_to_fp16(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    """Apply `_MatrixOpsToFp16` to every Relax function of the module."""
    return rewrite_relax_functions(_MatrixOpsToFp16(mod), mod)


def precision_passes(mode: str) -> list[tvm.transform.Pass]:
    """Graph passes of a precision mode (before legalization; constant weights are cast at compile time).

    allow_fp32_to_fp16 (default): fp32 matmul/conv take fp16 operands and accumulate in fp32 (the cube's
        16x16x16 fp16 -> fp32 tile); every other op keeps its dtype. Outputs stay within 1e-2 of fp32.
    force_fp16: relax.transform.ToMixedPrecision(out_dtype="float32"): matrix ops as above, and the ops it
        may follow (elementwise, activations) run in fp16 too; softmax/norms stay fp32 (TVM's policy).
    must_keep_origin_dtype: nothing changes (fp32 matrix ops use the fp32 tile, 16x16x8 at 1/4 the rate).
    """
    if mode == "must_keep_origin_dtype":
        return []
    if mode == "force_fp16":
        return [relax.transform.ToMixedPrecision(out_dtype="float32"), relax.transform.FoldConstant()]
    if mode == "allow_fp32_to_fp16":
        return [matrix_ops_to_fp16, relax.transform.FoldConstant()]
    raise ValueError(f"unknown precision mode {mode!r}: choose from {', '.join(PRECISION_MODES)}")
