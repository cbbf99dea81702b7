"""Plan choices of the cube conv template (davinci.conv2d.cube_implicit_gemm) that must stay legal and correct on
odd shapes: a K padded past the next C0 multiple so that a larger L0 K step divides it."""

from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")

from hawk_tvm.hardware.profile import load_profile  # noqa: E402
from hawk_tvm.sim.simulator import simulate  # noqa: E402

try:
    from seeds import apply_seed
except ImportError:  # tests/ imported as a package
    from tests.seeds import apply_seed

PROFILE = load_profile("davinci")


def _conv(ci: int, h: int, co: int, k: int, s: int, p: int) -> tvm.IRModule:
    from tvm import te, topi

    x = te.placeholder((1, ci, h, h), "float16", name="X")
    w = te.placeholder((co, ci, k, k), "float16", name="W")
    y = topi.nn.conv2d_nchw(x, w, s, p, 1, out_dtype="float32")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


def _apply(mod: tvm.IRModule):
    return apply_seed(mod, "davinci/conv_cube.yaml", None, PROFILE)


def test_prime_k_is_padded_to_a_larger_k_step_and_stays_correct() -> None:
    """AlexNet's conv1 reduction, 3 x 11 x 11 = 363: the next C0 multiple 368 = 23 x 16 only admits 16-deep L0 steps
    (an MTE1 start-up per 16 of K); the plan pads K further inside the last C0 channel block (384) and the padded
    channels must read as zeros (the simulator's functional check runs the kernel against the reference)."""
    ref = _conv(3, 63, 96, 11, 4, 2)
    sch = _apply(ref)
    pads = [ln for ln in str(sch.trace).splitlines() if "pad_einsum" in ln and "[1, 1" not in ln]
    assert len(pads) == 1 and pads[0].rstrip().endswith(", 384])"), pads
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["cube"] > 0


def test_small_plain_gemm_conv_fills_l0_straight_from_gm_and_stays_correct() -> None:
    """A 1x1 conv on an odd 13 x 13 map (SqueezeNet fire, 64 -> 256; K = 64 is one L0 step): one M tile per core, no
    reuse, so the plan skips L1 (MTE2 fills L0A / L0B from GM); no L1 buffer, no load3d, and correct (tails padded)."""
    from hawk_tvm.sim.intrinsics import LOAD3D_ATTR

    ref = _conv(64, 13, 256, 1, 1, 0)
    sch = _apply(ref)
    script = sch.mod.script()
    assert "shared.l1" not in script and LOAD3D_ATTR not in script
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["dma.global->local.l0a"] > 0 and res.breakdown["dma.global->local.l0b"] > 0
    assert "dma.global->shared.l1" not in res.breakdown


def test_weights_stationary_in_l0b_on_an_odd_map_stay_correct() -> None:
    """SqueezeNet fire 3x3 32 -> 128 on 27 x 27 (padded, odd map, two K steps): a core's weight tile fits L0B, so the
    plan loads it GM -> L0B once and keeps it for every K step; the map still goes through L1 by load3d, and the
    kernel is correct."""
    from hawk_tvm.sim.intrinsics import LOAD3D_ATTR

    ref = _conv(32, 27, 128, 3, 1, 1)
    sch = _apply(ref)
    script = sch.mod.script()
    assert LOAD3D_ATTR in script and "W_reindex_shared.l1" not in script
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    moved = res.breakdown["bytes_moved"]
    assert "dma.shared.l1->local.l0b" not in moved and moved["dma.global->local.l0b"] > 0
    assert moved["dma.shared.l1->local.l0a"] > 0
