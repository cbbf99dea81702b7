"""host.rows.fused_rfactor_lanes (schedules/host/rows.yaml) on real row ops, applied through the sandbox and built
for the host: fast softmax (BERT scores, a ViT row of 197), layer norm and RMS norm; outputs against numpy, and the
reductions are split into vector lanes where the row allows it."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from seeds import seed_entry
from tvm import relax, te, topi
from tvm.script import relax as R

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.measure.host import host_target
from hawk_tvm.sandbox.executor import ScheduleSandbox

HOST_FACTS = {"cores": 2, "vector_bytes": 32, "lanes": 8}


def _te_module(shape: tuple[int, ...], fn) -> tvm.IRModule:
    x = te.placeholder(shape, name="x", dtype="float32")
    return tvm.IRModule({"main": te.create_prim_func([x, fn(x)])})


def _layer_norm(shape: tuple[int, ...]) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor(shape, "float32"))
    g = relax.Var("g", R.Tensor(shape[-1:], "float32"))
    b = relax.Var("b", R.Tensor(shape[-1:], "float32"))
    with bb.function("main", [x, g, b]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.nn.layer_norm(x, g, b, axes=[-1])))
        bb.emit_func_output(out)
    mod = relax.get_pipeline("zero")(bb.get())
    (func,) = [f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def _rms_norm(x: te.Tensor) -> te.Tensor:
    n = int(x.shape[-1])
    k = te.reduce_axis((0, n), name="k")
    ss = te.compute(x.shape[:-1], lambda *i: te.sum(x[(*i, k)] * x[(*i, k)], axis=k), name="ss")
    return te.compute(x.shape, lambda *i: x[i] * te.rsqrt(ss[i[:-1]] / float(n) + 1e-6), name="rms")


def _softmax_ref(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ln_ref(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b


CASES = {
    "fast_softmax_bert": (lambda: _te_module((1, 12, 128, 128), lambda x: topi.nn.fast_softmax(x, -1)), True),
    "fast_softmax_vit_197": (lambda: _te_module((1, 3, 197, 197), lambda x: topi.nn.fast_softmax(x, -1)), False),
    "layer_norm_bert": (lambda: _layer_norm((128, 768)), True),
    "rms_norm_llm": (lambda: _te_module((7, 4096), _rms_norm), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("lanes", [8, 16])
def test_rows_entry_matches_numpy(name: str, lanes: int) -> None:
    make, split = CASES[name]
    mod = make()
    entry = seed_entry("host/rows.yaml", "host.rows.fused_rfactor_lanes")
    workload = analyze(mod["main"])
    env = {**workload.program_env(HOST_FACTS), "LANES": lanes}
    sch, err = ScheduleSandbox(timeout_s=120).apply(mod, entry["template"], env)
    assert err is None, err
    script = sch.mod.script()
    assert ("_rf" in script) == split, "reductions split into lanes exactly when the row length allows it"
    assert "T.parallel" in script and "T.vectorized" in script
    shapes = [list(s) for s in workload.arg_shapes]
    rng = np.random.default_rng(0)
    inputs = [(rng.standard_normal(s) * 3).astype("float32") for s in shapes[:-1]]
    lib = tvm.compile(sch.mod, target=host_target(2))
    out = tvm.runtime.empty(shapes[-1], "float32")
    lib["main"](*[tvm.runtime.tensor(a) for a in inputs], out)
    x = inputs[0].astype("float64")
    if name.startswith("fast_softmax"):
        expect = _softmax_ref(x)
    elif name.startswith("layer_norm"):
        expect = _ln_ref(x, inputs[1], inputs[2])
    else:
        expect = x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-4, atol=1e-5 * np.abs(expect).max())
