"""Graph canonicalisation before layout and fusion: remove frontend artefacts that are no-ops at inference.

The Relax ONNX frontend imports some old-style (opset <= 9) constructs literally:
- ``Dropout`` becomes ``R.nn.dropout`` returning a tuple (output, mask). At inference dropout is the identity
  (ONNX operator spec: "in test mode ... the output is the same as the input"), and the tuple blocks
  ``ConvertLayout`` (``Expected nested to match tuple``).
- ``Sum``/``Mean``/``Max``/``Min`` of N inputs become ``broadcast_to`` of every input, ``R.stack`` along a new
  leading axis and a reduction over it: a tensor N times the size is materialised, and the extra rank breaks
  ``ConvertLayout`` (``Invalid SLayout: can't find S in source layout ABCDE``). They are N-1 elementwise
  ``add``/``maximum``/``minimum`` (ONNX defines them with multidirectional broadcasting, which the binary ops
  share), divided by N for ``Mean``.
The rewritten graph computes the same values; the bindings left unused are removed by dead-code elimination.
"""

from __future__ import annotations

import functools

import tvm
import tvm_ffi
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

# reduction over the stacked axis -> the pairwise op that replaces it (None: add, then divide by N)
_STACK_REDUCTIONS = {
    "relax.sum": "add",
    "relax.mean": None,
    "relax.max": "maximum",
    "relax.min": "minimum",
}


def _op_name(expr: relax.Expr) -> str | None:
    if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
        return expr.op.name
    return None


def _int_list(values) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


@mutator
class _Canonicalizer(PyExprMutator):
    """Rewrites inference dropout to its input and stacked N-ary reductions to pairwise elementwise ops."""

    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.rewrites = 0

    def _resolve(self, expr: relax.Expr) -> relax.Expr:
        """The value bound to a dataflow variable (the expression itself otherwise)."""
        while isinstance(expr, relax.Var):
            bound = self.lookup_binding(expr)
            if bound is None:
                break
            expr = bound
        return expr

    def visit_tuple_getitem_(self, op: relax.TupleGetItem) -> relax.Expr:
        producer = self._resolve(op.tuple_value)
        if op.index == 0 and _op_name(producer) == "relax.nn.dropout":
            self.rewrites += 1
            return self.visit_expr(producer.args[0])
        return super().visit_tuple_getitem_(op)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        name = _op_name(call)
        if name in _STACK_REDUCTIONS and not call.attrs.keepdims and _int_list(call.attrs.axis) == [0]:
            stacked = self._resolve(call.args[0])
            if _op_name(stacked) == "relax.stack" and int(stacked.attrs.axis) == 0:
                fields = self._resolve(stacked.args[0])
                if isinstance(fields, relax.Tuple) and len(fields.fields) >= 1:
                    return self._pairwise(name, [self._unbroadcast(f) for f in fields.fields], call)
        return super().visit_call_(call)

    def _unbroadcast(self, expr: relax.Expr) -> relax.Expr:
        """The input of a ``broadcast_to`` the frontend inserted (the pairwise ops broadcast by themselves)."""
        bound = self._resolve(expr)
        return bound.args[0] if _op_name(bound) == "relax.broadcast_to" else expr

    def _pairwise(self, name: str, inputs: list[relax.Expr], original: relax.Call) -> relax.Expr:
        binary = getattr(relax.op, _STACK_REDUCTIONS[name] or "add")
        values = [self.visit_expr(x) for x in inputs]
        out = functools.reduce(lambda a, b: self.builder_.normalize(binary(a, b)), values)
        if name == "relax.mean":
            dtype = original.ty.dtype
            out = self.builder_.normalize(relax.op.divide(out, relax.const(len(values), dtype)))
        target = original.ty.shape
        if not tvm_ffi.structural_equal(out.ty.shape, target):
            # a single input (or inputs that all broadcast to a smaller shape) keeps the original output shape
            out = self.builder_.normalize(relax.op.broadcast_to(out, target))
        self.rewrites += 1
        return out


def rewrite_relax_functions(mutator: PyExprMutator, mod: tvm.IRModule) -> tvm.IRModule:
    """Apply `mutator` (built on `mod`) to every Relax function of `mod`; the rewritten module."""
    for gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gvar, mutator.visit_expr(func))
    return mutator.builder_.get()


@tvm.transform.module_pass(opt_level=0, name="HawkCanonicalizeInference")
def canonicalize_inference(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    """Inference-time canonicalisation of every Relax function, then dead-code elimination."""
    rewriter = _Canonicalizer(mod)
    out = rewrite_relax_functions(rewriter, mod)
    if not rewriter.rewrites:
        return mod
    return relax.transform.DeadCodeElimination()(out)
