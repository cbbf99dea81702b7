"""Depthwise convs on the davinci vector unit (knowledge npu.depthwise_conv2d.ub_channel_planes): odd shapes (5x5
stride 2, a 13x13 map, 40 / 120 channels that are not a multiple of 16) get a schedule that passes the simulator's
constraints and functional check and matches a numpy depthwise conv when built for the host."""

from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

from hawk_tvm.hardware.profile import load_profile  # noqa: E402
from hawk_tvm.sim.simulator import simulate  # noqa: E402

try:
    from seeds import apply_seed
except ImportError:  # tests/ imported as a package
    from tests.seeds import apply_seed

PROFILE = load_profile("davinci")
ENTRY = "npu.depthwise_conv2d.ub_channel_planes"


def _depthwise(c: int, h: int, k: int, s: int, p: int) -> tvm.IRModule:
    """fp16 depthwise conv with int64 extents, as Relax legalisation builds the operator of an imported model."""
    from tvm import te, topi

    def dims(shape):
        return [tvm.tirx.IntImm("int64", d) for d in shape]

    x = te.placeholder(dims((1, c, h, h)), "float16", name="X")
    w = te.placeholder(dims((c, 1, k, k)), "float16", name="W")
    y = topi.nn.depthwise_conv2d_nchw(x, w, s, p, 1, out_dtype="float16")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


def _np_depthwise(x: np.ndarray, w: np.ndarray, s: int, p: int) -> np.ndarray:
    c, h = x.shape[1], x.shape[2]
    k = w.shape[2]
    xp = np.pad(x.astype("float32"), ((0, 0), (0, 0), (p, p), (p, p)))
    o = (h + 2 * p - k) // s + 1
    out = np.zeros((1, c, o, o), "float32")
    for di in range(k):
        for dj in range(k):
            win = xp[:, :, di:di + (o - 1) * s + 1:s, dj:dj + (o - 1) * s + 1:s]
            out += win * w[None, :, 0, di, dj, None, None].astype("float32")
    return out


# (channels, map, kernel, stride, pad, on the vector unit)
CASES = [
    (40, 13, 5, 2, 2, False),  # every window row count odd and 40 channels: no tile of whole 32-byte units
    (40, 14, 3, 1, 1, True),   # 40 channels: the weights staged whole in padded aligned rows
    (120, 28, 5, 1, 2, True),  # MobileNetV3 5x5 on 120 channels
    (144, 56, 5, 2, 2, True),  # EfficientNet-B0 5x5 stride 2
    (480, 13, 3, 1, 1, True),  # a 13x13 map
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"dw{c[2]}x{c[2]}s{c[3]}_{c[0]}@{c[1]}")
def test_depthwise_vector_entry_odd_shapes_legal_and_correct(case: tuple) -> None:

    c, h, k, s, p, vector = case
    ref = _depthwise(c, h, k, s, p)
    sch = apply_seed(ref, "davinci/conv.yaml", ENTRY, PROFILE)
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown.get("cube", 0) == 0
    assert res.breakdown["cores_used"] >= 8
    if vector:
        assert res.breakdown.get("vector", 0) > 0 and res.breakdown.get("scalar", 0) == 0
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((1, c, h, h)).astype("float16")
    wv = rng.standard_normal((c, 1, k, k)).astype("float16")
    want = _np_depthwise(xv, wv, s, p)
    out = tvm.runtime.tensor(np.zeros(want.shape, "float16"))
    tvm.compile(sch.mod, target="llvm")["main"](tvm.runtime.tensor(xv), tvm.runtime.tensor(wv), out)
    assert np.abs(out.numpy().astype("float32") - want).max() / np.abs(want).max() < 1e-2


def test_depthwise_plan_amortises_start_ups_over_all_cores() -> None:
    """MobileNetV2's 3x3 depthwise on 32 channels at 112: the planned schedule keeps every core busy and overlaps
    its transfers with the vector unit (double-buffered sub-tiles), well above the old 0.174 of its roofline."""
    from tvm import te, topi

    x = te.placeholder((1, 32, 112, 112), "float16", name="X")
    w = te.placeholder((32, 1, 3, 3), "float16", name="W")
    ref = tvm.IRModule({"main": te.create_prim_func(
        [x, w, topi.nn.depthwise_conv2d_nchw(x, w, 1, 1, 1, out_dtype="float16")])})
    sch = apply_seed(ref, "davinci/conv.yaml", ENTRY, PROFILE)
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["cores_used"] == PROFILE.cores
    assert res.breakdown["roofline_fraction"] >= 0.3


def test_depthwise_with_bias_relu_epilogue_fused_into_the_tile() -> None:
    """A depthwise conv with the bias + ReLU epilogue an ONNX model brings: the epilogue runs on the vector unit
    on each sub-tile in UB (no scalar pass over the whole output), and the result matches numpy."""
    from tvm import te, topi

    def dims(shape):
        return [tvm.tirx.IntImm("int64", d) for d in shape]

    c, h = 96, 56
    x = te.placeholder(dims((1, c, h, h)), "float16", name="X")
    w = te.placeholder(dims((c, 1, 3, 3)), "float16", name="W")
    bias = te.placeholder(dims((c,)), "float16", name="B")
    y = topi.nn.depthwise_conv2d_nchw(x, w, 1, 1, 1, out_dtype="float16")
    z = topi.nn.relu(topi.add(y, topi.reshape(bias, (1, c, 1, 1))))
    ref = tvm.IRModule({"main": te.create_prim_func([x, w, bias, z])})
    sch = apply_seed(ref, "davinci/conv.yaml", ENTRY, PROFILE)
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown.get("scalar", 0) == 0 and res.breakdown["roofline_fraction"] >= 0.2
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((1, c, h, h)).astype("float16")
    wv = rng.standard_normal((c, 1, 3, 3)).astype("float16")
    bv = rng.standard_normal((c,)).astype("float16")
    want = np.maximum(_np_depthwise(xv, wv, 1, 1) + bv.astype("float32")[None, :, None, None], 0)
    out = tvm.runtime.tensor(np.zeros(want.shape, "float16"))
    tvm.compile(sch.mod, target="llvm")["main"](*[tvm.runtime.tensor(a) for a in (xv, wv, bv)], out)
    assert np.abs(out.numpy().astype("float32") - want).max() / np.abs(want).max() < 1e-2
