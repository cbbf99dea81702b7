"""Host fast math: transcendental ops as TVM's polynomial approximations, which LLVM vectorises.

On this host (AVX2, no SVML) a call to libm's `expf`/`erff`/`tanhf` stays scalar inside a vectorised loop, so
softmax, GELU, SiLU and tanh are bound by one call per element. TVM's `topi.fast_exp` / `fast_erf` / `fast_tanh`
are plain arithmetic (range reduction and a polynomial) and vectorise; they stay within 1e-5 relative of numpy
(tests/test_fast_math_numerics.py). Relax's FastMathTransform covers softmax, exp, erf and tanh; this pass adds
the ops that lower to them through a libm call of their own (sigmoid, SiLU, GELU).
"""

from __future__ import annotations

import math
from typing import Any

import tvm
from tvm import relax, topi
from tvm.relax import Call, Expr, PyExprMutator, expr_functor


def _fast_sigmoid(x: Any) -> Any:
    return topi.divide(1.0, topi.add(1.0, topi.fast_exp(topi.negative(x))))


def _fast_silu(x: Any) -> Any:
    return topi.multiply(x, _fast_sigmoid(x))


def _fast_gelu(x: Any) -> Any:
    erf = topi.fast_erf(topi.multiply(x, 1.0 / math.sqrt(2.0)))
    return topi.multiply(topi.multiply(x, 0.5), topi.add(erf, 1.0))


def _fast_gelu_tanh(x: Any) -> Any:
    cube = topi.multiply(topi.multiply(x, x), x)
    inner = topi.multiply(topi.add(x, topi.multiply(cube, 0.044715)), math.sqrt(2.0 / math.pi))
    return topi.multiply(topi.multiply(x, 0.5), topi.add(topi.fast_tanh(inner), 1.0))


_ELEMENTWISE = {
    "relax.exp": topi.fast_exp,
    "relax.erf": topi.fast_erf,
    "relax.tanh": topi.fast_tanh,
    "relax.sigmoid": _fast_sigmoid,
    "relax.nn.silu": _fast_silu,
    "relax.nn.gelu": _fast_gelu,
    "relax.nn.gelu_tanh": _fast_gelu_tanh,
}


@expr_functor.mutator
class _FastMathRewriter(PyExprMutator):
    """Replaces float32 calls of the ops above (and softmax) by their fast TE lowerings."""

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        name = getattr(call.op, "name", "")
        if name not in _ELEMENTWISE and name != "relax.nn.softmax":
            return call
        if str(getattr(getattr(call.args[0], "ty", None), "dtype", "")) != "float32":  # float32 approximations
            return call
        if name == "relax.nn.softmax":
            return self.builder_.call_te(topi.nn.fast_softmax, call.args[0], int(call.attrs.axis))
        return self.builder_.call_te(_ELEMENTWISE[name], call.args[0])


@tvm.transform.module_pass(opt_level=0, name="HawkFastMath")
def fast_math(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    """Rewrite every Relax function of `mod` (PrimFuncs already present are left as they are)."""
    rewriter = _FastMathRewriter(mod)
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
    return rewriter.builder_.get()
