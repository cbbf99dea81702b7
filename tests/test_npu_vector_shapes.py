"""Any-shape vector kernels on the NPU profiles: operators whose innermost extent times the element size is not a
multiple of the unified buffer's alignment (32 B on davinci, 64 B on edge) get a generated kernel that passes the
simulator's constraints and functional check, and the shipped schedule matches numpy when built for the host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import te, topi

from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.engine import OpSource
from hawk_tvm.session import CompileSession

BUDGET = Budget(candidates=4, repair_rounds=1, op_time_s=60.0)


def _ph(shape, name: str, dtype: str = "float32"):
    """A placeholder with int64 extents, as Relax legalisation builds the operators of an imported model."""
    return te.placeholder([tvm.tirx.IntImm("int64", d) for d in shape], dtype, name)


def _concat():
    a = _ph((1, 3, 7, 7), "a")
    b = _ph((1, 5, 7, 7), "b")
    return [a, b], topi.concatenate((a, b), axis=1), lambda x, y: np.concatenate([x, y], axis=1)


def _np_pool(x: np.ndarray, kind: str, k: int, s: int, pad: int, ceil: bool) -> np.ndarray:
    n, c, h, w = x.shape
    out = [(d + 2 * pad - k + (s - 1 if ceil else 0)) // s + 1 for d in (h, w)]
    res = np.zeros((n, c, *out), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            h0, w0 = i * s - pad, j * s - pad
            win = x[:, :, max(h0, 0):min(h0 + k, h), max(w0, 0):min(w0 + k, w)]
            res[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return res


def _pool(kind: str):
    x = _ph((1, 6, 13, 13), "x")
    y = topi.nn.pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), kind, ceil_mode=True, layout="NCHW",
                       count_include_pad=False)
    return [x], y, lambda v: _np_pool(v, kind, 3, 2, 1, True)


def _softmax(shape):
    x = _ph(shape, "x")

    def ref(v):
        e = np.exp(v - v.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    return [x], topi.nn.softmax(x, axis=-1), ref


def _layer_norm():
    x = _ph((7, 768), "x")
    g = _ph((768,), "g")
    b = _ph((768,), "b")

    def ref(v, gv, bv):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + 1e-5) * gv + bv

    return [x, g, b], topi.nn.layer_norm(x, g, b, axis=[-1], epsilon=1e-5), ref


def _cast():
    x = _ph((1, 5, 13, 13), "x")
    return [x], topi.cast(x, "float16"), lambda v: v.astype("float16")


CASES = {
    "concat_3+5ch_7x7": _concat,
    "max_pool_pad_ceil_13": lambda: _pool("max"),
    "avg_pool_pad_ceil_13": lambda: _pool("avg"),
    "softmax_1000": lambda: _softmax((1, 1000)),
    "softmax_197": lambda: _softmax((3, 197)),
    "layer_norm_768_7rows": _layer_norm,
    "cast_f32_f16_13x13": _cast,
}


@pytest.fixture(scope="module", params=["davinci", "edge"])
def session(request, tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp(f"vec-{request.param}")
    config = HawkConfig(target=request.param, database_dir=tmp / "db", knowledge_db=tmp / "kb.db", verbose=False)
    s = CompileSession(config)
    yield s
    s.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_odd_shape_vector_kernel(session: CompileSession, case: str) -> None:
    inputs, output, ref = CASES[case]()
    func = te.create_prim_func([*inputs, output])
    result = session.engine.generate(func, case, (), BUDGET)
    assert result.source == OpSource.GENERATED, f"{session.target.name} {case}: {result.source}: {result.reason}"
    assert result.best_seconds < result.default_seconds
    lib = tvm.compile(result.schedule.mod, target="llvm")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal([int(d) for d in t.shape]).astype(str(t.dtype)) for t in inputs]
    out = tvm.runtime.empty([int(d) for d in output.shape], str(output.dtype))
    lib["main"](*[tvm.runtime.tensor(a) for a in arrays], out)
    want = ref(*arrays)
    tol = 1e-3 if str(output.dtype) == "float16" else 1e-5
    np.testing.assert_allclose(out.numpy().astype("float32"), want.astype("float32"), rtol=tol, atol=tol)


def test_a_pool_with_an_epilogue_is_tiled_on_the_vector_unit() -> None:
    # SqueezeNet's max pool + the fp16 cast of the precision policy: the pool itself is tiled in UB and the cast
    # runs on its tile (vector), not the pool left in GM on the scalar path (45 ms simulated)
    from seeds import apply_seed

    from hawk_tvm.hardware.profile import load_profile
    from hawk_tvm.sim.simulator import simulate

    x = _ph((1, 64, 55, 55), "x")
    pool = topi.nn.pool2d(x, (3, 3), (2, 2), (1, 1), (0, 0, 0, 0), "max", layout="NCHW")
    ref = tvm.IRModule({"main": te.create_prim_func([x, topi.cast(pool, "float16")])})
    prof = load_profile("davinci")
    sch = apply_seed(ref, "davinci/ub_stage.yaml", "npu.ub_fused_padded_tiles", prof, "float32")
    res = simulate(sch.mod, ref, prof, isolate=False)
    assert res.ok, res.error
    assert res.breakdown.get("scalar", 0.0) == 0.0 and res.breakdown["vector"] > 0
    assert res.breakdown["roofline_fraction"] > 0.1


@pytest.mark.parametrize("kind, c, h, pad, ceil", [("max", 64, 112, 1, False), ("avg", 32, 35, 1, False),
                                                   ("max", 16, 13, 1, True)])
def test_padded_pools_take_the_channel_planes_plan(kind: str, c: int, h: int, pad: int, ceil: bool) -> None:
    # a padded pool's input arrives by one padded transfer per sub-tile (the ResNet stem pool read past the map's
    # edge through a flattened tile copy and fell back to a 2 ms generic kernel)
    from seeds import apply_seed

    from hawk_tvm.hardware.profile import load_profile
    from hawk_tvm.sim.simulator import simulate

    x = _ph((1, c, h, h), "x")
    y = topi.nn.pool2d(x, (3, 3), (2, 2) if kind == "max" else (1, 1), (1, 1), (pad,) * 4, kind, ceil_mode=ceil,
                       layout="NCHW", count_include_pad=False)
    ref = tvm.IRModule({"main": te.create_prim_func([x, y])})
    prof = load_profile("davinci")
    sch = apply_seed(ref, "davinci/conv.yaml", "npu.pool2d.ub_channel_planes", prof, "float32")
    res = simulate(sch.mod, ref, prof, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["vector"] > 0
