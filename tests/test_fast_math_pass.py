"""passes/fast_math: the host's transcendental ops become TVM's vectorisable approximations, built and run on the
host within 1e-5 relative of numpy (float64), and only float32 calls are rewritten."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tvm
import tvm_ffi
from tvm import relax
from tvm.script import relax as R

from hawk_tvm.measure.host import host_target
from hawk_tvm.passes.fast_math import fast_math

SHAPE = (64, 384)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


CASES = {
    "sigmoid": (relax.op.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "silu": (relax.op.nn.silu, lambda x: x / (1 + np.exp(-x))),
    "gelu": (relax.op.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (
        relax.op.nn.gelu_tanh,
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    "softmax": (lambda v: relax.op.nn.softmax(v, axis=-1), _softmax),
    "exp": (relax.op.exp, np.exp),
    "erf": (relax.op.erf, _erf),
    "tanh": (relax.op.tanh, np.tanh),
}


def _module(op, dtype: str = "float32") -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor(SHAPE, dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(op(x)))
        bb.emit_func_output(out)
    return bb.get()


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewritten_op_within_1e5_relative_of_numpy(name: str) -> None:
    op, ref = CASES[name]
    mod = fast_math(_module(op))
    assert "fast_" in mod.script(), "the op was not rewritten to a fast lowering"
    lo, hi = (-10.0, 10.0) if name != "exp" else (-20.0, 20.0)
    data = np.random.default_rng(0).uniform(lo, hi, SHAPE).astype("float32")
    vm = relax.VirtualMachine(tvm.compile(mod, target=host_target(2)), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(data)).numpy()
    expect = ref(data.astype("float64"))
    big = np.abs(expect) > 5e-2 * np.abs(expect).max()  # relative where the value is not a near-zero tail
    assert (np.abs(out - expect)[big] / np.abs(expect)[big]).max() < 1e-5
    assert np.abs(out - expect)[~big].max(initial=0.0) < 2e-6 * max(1.0, float(np.abs(expect).max()))


def test_float16_and_other_ops_are_left_alone() -> None:
    half = _module(relax.op.sigmoid, "float16")
    assert tvm_ffi.structural_equal(fast_math(half), half)
    relu = _module(relax.op.nn.relu)
    assert tvm_ffi.structural_equal(fast_math(relu), relu)
