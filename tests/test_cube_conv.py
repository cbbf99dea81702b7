"""Convs on the davinci cube: load3d (img2col L1 -> L0A) semantics against numpy, its constraints as sim.* errors,
and one-node ONNX convs at odd shapes compiled end to end (knowledge davinci.conv2d.cube_implicit_gemm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
onnx = pytest.importorskip("onnx")

from hawk_tvm.config import Budget, HawkConfig  # noqa: E402
from hawk_tvm.hardware.profile import load_profile  # noqa: E402
from hawk_tvm.sandbox.conv import conv_as_gemm, fmap_nc1hwc0  # noqa: E402
from hawk_tvm.sim.intrinsics import LOAD3D_ATTR, register_intrinsics  # noqa: E402
from hawk_tvm.sim.simulator import simulate  # noqa: E402

try:
    from seeds import apply_seed
except ImportError:  # tests/ imported as a package
    from tests.seeds import apply_seed

PROFILE = load_profile("davinci")


def _conv(ci: int, h: int, co: int, k: int, s: int, pad: list[int]) -> tvm.IRModule:
    from tvm import te, topi

    x = te.placeholder((1, ci, h, h), "float16", name="X")
    w = te.placeholder((co, ci, k, k), "float16", name="W")
    y = topi.nn.conv2d_nchw(x, w, s, pad, 1, out_dtype="float32")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


def _cube(mod: tvm.IRModule, geometry: str | None = None, l0a_at_tile: bool = False) -> tvm.IRModule:
    """The knowledge template's steps, written out: implicit GEMM, NC1HWC0 L1 map, load3d into L0A, MMA in L0C."""
    from tvm.s_tir import Schedule

    register_intrinsics(PROFILE)
    sch = Schedule(mod)
    b = sch.get_sblock("conv2d_nchw")
    m, n, k, geo = conv_as_gemm(sch, b)[:4]
    tm, tn, pk = 64, 64, -(-k // 16) * 16
    sch.pad_einsum(b, [-(-m // tm) * tm, -(-n // tn) * tn, pk])
    pads, cut = sch.get_producers(b), sch.get_consumers(b)[0]
    sch.set_scope(b, 0, "local.l0c")
    a_l0 = sch.cache_read(b, 0, "local.l0a")
    b_l1 = sch.cache_read(b, 1, "shared.l1")
    b_l0 = sch.cache_read(b, 1, "local.l0b")
    for p in pads:
        sch.compute_inline(p)
    for _ in range(3):
        for p in list(sch.get_producers(a_l0)) + list(sch.get_producers(b_l1)):
            sch.compute_inline(p)
    x_l1 = sch.cache_read(a_l0, 0, "shared.l1")
    fmap_nc1hwc0(sch, x_l1, 16)
    sch.annotate(a_l0, LOAD3D_ATTR, geometry or geo)
    for c in sch.get_consumers(cut):
        sch.reverse_compute_inline(c)
    i, j, kk = sch.get_loops(b)[-3:]
    i0, i1, i2 = sch.split(i, [None, tm // 16, 16])
    j0, j1, j2 = sch.split(j, [None, tn // 16, 16])
    k0, k1, k2 = sch.split(kk, [None, 1, 16])
    sch.reorder(i0, j0, k0, i1, j1, k1, i2, j2, k2)
    sch.reverse_compute_at(cut, j0)
    sch.compute_at(a_l0, j0 if l0a_at_tile else k0)
    sch.compute_at(b_l0, k0)
    sch.compute_at(x_l1, j0)
    sch.compute_at(b_l1, j0)
    sch.parallel(sch.fuse(i0, j0))
    sch.decompose_reduction(b, k0)
    sch.tensorize(sch.blockize(i2), PROFILE.intrinsic_name("mma", "float16", "float32"))
    return sch.mod


def _img2col_conv(x: np.ndarray, w: np.ndarray, s: int, p: int) -> np.ndarray:
    """Numpy conv via an explicit img2col matrix [OH*OW, C*KH*KW] times the weights [C*KH*KW, CO]."""
    h = x.shape[2]
    co, _, k, _ = w.shape
    xp = np.pad(x[0], ((0, 0), (p, p), (p, p)))
    oh = (h + 2 * p - k) // s + 1
    cols = np.stack([xp[:, y * s:y * s + k, z * s:z * s + k].reshape(-1) for y in range(oh) for z in range(oh)])
    return (cols @ w.reshape(co, -1).T).T.reshape(1, co, oh, oh)


def test_load3d_conv_matches_numpy_img2col_and_is_charged_on_mte1() -> None:
    """3 -> 64 channels, 3x3 stride 2 pad 1 on an odd 23x23 map: channels padded to C0 in L1, M = 144 and K = 27
    padded to the tile on chip; the simulator accepts it (load3d on the L1 -> L0A path) and the numbers match."""
    ref = _conv(3, 23, 64, 3, 2, [1, 1])
    cand = _cube(ref)
    res = simulate(cand, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["dma.shared.l1->local.l0a"] > 0 and res.breakdown["cube"] > 0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 23, 23)).astype("float16")
    w = rng.standard_normal((64, 3, 3, 3)).astype("float16")
    f = tvm.compile(cand, target="llvm")["main"]
    out = tvm.runtime.tensor(np.zeros((1, 64, 12, 12), "float32"))
    f(tvm.runtime.tensor(x), tvm.runtime.tensor(w), out)
    want = _img2col_conv(x.astype("float32"), w.astype("float32"), 2, 1)
    assert np.abs(out.numpy() - want).max() / np.abs(want).max() < 1e-3


def test_wrong_window_fails_the_functional_check() -> None:
    """A load3d whose window is shifted (pad 2 top/left, 0 bottom/right: same output shape) is legal on the
    hardware but computes another conv: the functional check must reject it."""
    ref = _conv(8, 13, 16, 3, 1, [1, 1])
    cand = _cube(_conv(8, 13, 16, 3, 1, [2, 2, 0, 0]))
    res = simulate(cand, ref, PROFILE, isolate=False)
    assert not res.ok and res.error.kind == "numerics", res


@pytest.mark.parametrize(("geometry", "field"), [("64,1,3,3,1,1,1,1", "stride"), ("1,1,3,3,256,1,1,1", "pad"),
                                                 ("1,1,300,3,1,1,1,1", "kernel"), ("1,1,3", None)])
def test_load3d_limits_are_sim_errors(geometry: str, field: str | None) -> None:
    """Stride 1..63, kernel 1..255 and pad 0..255 are the instruction's limits (Ascend C LoadData 3D)."""
    ref = _conv(8, 13, 16, 3, 1, [1, 1])
    res = simulate(_cube(ref, geometry), ref, PROFILE, functional=False)
    assert not res.ok and res.error.kind == "sim.load3d", res
    if field is not None:
        assert res.error.context["field"] == field and field in res.error.message


def test_l0a_overflow_is_a_capacity_error() -> None:
    """The whole im2col operand of a 64-row tile with K = 64*9 = 576 staged at once (72 KB fp16) overflows L0A."""
    ref = _conv(64, 13, 64, 3, 1, [1, 1])
    res = simulate(_cube(ref, l0a_at_tile=True), ref, PROFILE, functional=False)
    assert not res.ok and res.error.kind == "sim.capacity" and "l0a" in res.error.message, res


def _one_conv(cin: int, h: int, cout: int, k: int, s: int, p: int, group: int = 1) -> onnx.ModelProto:
    from hawk_tvm.models.graph import GraphBuilder

    g = GraphBuilder(0)
    y = g.conv("input", cin, cout, k, s, p, group)
    oh = (h + 2 * p - k) // s + 1
    return g.model([1, cin, h, h], y, [1, cout, oh, oh], "conv")


@pytest.mark.parametrize("shape", [(3, 27, 64, 3, 2, 1), (64, 7, 1000, 1, 1, 0), (64, 14, 64, 3, 1, 1, 8)])
def test_odd_shape_conv_end_to_end_on_the_cube(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """One-node ONNX convs (3 -> 64 3x3 s2 on an odd 27 map; 1x1 with 1000 outputs on 7x7; a ResNeXt-style
    grouped 3x3 with 8 channels per group) compiled for davinci: the conv is Hawk's cube kernel (load3d + mma in
    its trace) and the output is within 1e-2 of the ONNX reference."""
    from onnx.reference import ReferenceEvaluator
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    import hawk_tvm
    from hawk_tvm.measure.host import host_target
    from hawk_tvm.session import last_report

    model = _one_conv(*shape)
    config = HawkConfig(target="davinci", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db",
                        budget=Budget(candidates=2, repair_rounds=0, op_time_s=60), verbose=False)
    with hawk_tvm.use_config(config):
        ex = tvm.compile(from_onnx(model, keep_params_in_input=False), target=host_target(), relax_pipeline="hawk")
    x = np.random.default_rng(0).standard_normal((1, shape[0], shape[1], shape[1])).astype("float32")
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    want = ReferenceEvaluator(model).run(None, {"input": x})[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-2
    convs = [r for r in last_report().rows if r.workload is not None and r.workload.op_class == "conv2d"]
    assert len(convs) == 1, last_report().table()
    trace = str(convs[0].schedule.trace)
    # img2col by load3d from L1, or (a 1x1 plain-GEMM tile with no reuse on its core) L0A filled straight from GM
    direct = shape[3] == 1 and "shared.l1" not in trace
    assert (LOAD3D_ATTR in trace or direct) and "hawk.davinci.mma" in trace, last_report().table()
    from hawk_tvm.model_report import summary, table

    (cost,) = [c for c in last_report().costs if c.op_class == "conv2d"]  # the model report names the unit
    assert cost.cube and cost.npu
    assert "1 of 1 conv/matmul tasks on the cube" in summary(last_report().costs)[0]
    assert any(ln.startswith(cost.name[:34]) and " cube " in ln for ln in table(last_report().costs))


def _template_schedule(mod: tvm.IRModule, profile=PROFILE):
    """The knowledge entry davinci.conv2d.cube_implicit_gemm applied through the sandbox, as the engine applies it
    (first value of each param), facts from `profile`."""
    return apply_seed(mod, "davinci/conv_cube.yaml", None, profile).mod


def _run(mod: tvm.IRModule, ci: int, h: int, co: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, ci, h, h)).astype("float16")
    w = (rng.standard_normal((co, ci, k, k)) / np.sqrt(ci * k * k)).astype("float16")
    out_shape = [int(d) for d in mod["main"].params[2].shape] if hasattr(mod["main"].params[2], "shape") else None
    out_shape = out_shape or [int(d) for d in mod["main"].buffer_map[mod["main"].params[2]].shape]
    out = tvm.runtime.tensor(np.zeros(out_shape, "float32"))
    tvm.compile(mod, target="llvm")["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(w), out)
    return x, w, out.numpy()


@pytest.mark.parametrize("shape", [(3, 55, 32, 3, 2, 1), (88, 13, 128, 1, 1, 0), (48, 13, 64, 5, 1, 2),
                                   (16, 27, 32, 3, 4, 1), (64, 7, 1000, 1, 1, 0), (32, 27, 48, 3, 1, 1),
                                   (64, 1, 16, 1, 1, 0), (512, 1, 10, 1, 1, 0), (64, 1, 64, 3, 1, 1),
                                   (64, 2, 48, 3, 2, 1)])
def test_template_odd_shape_convs_match_numpy(shape: tuple[int, ...]) -> None:
    """The knowledge template on odd shapes (maps 55/13/27/7, 3 / 88 channels padded to C0, 5x5, stride 4,
    1000 outputs; a 1x1 output map at batch 1 as in squeeze-excitation blocks and pooled heads, where the GEMM has
    one row, padded to 16): legal on the davinci simulator, cube + load3d used, and the output equals a numpy
    img2col conv."""
    ci, h, co, k, s, p = shape
    ref = _conv(ci, h, co, k, s, [p, p])
    cand = _template_schedule(ref)
    res = simulate(cand, ref, PROFILE, isolate=False, functional=False)
    assert res.ok, res.error
    assert res.breakdown["cube"] > 0
    if k == 1 and s == 1 and "dma.global->local.l0a" in res.breakdown:  # a plain-GEMM tile filled from GM
        assert LOAD3D_ATTR not in cand.script() and "dma.shared.l1->local.l0a" not in res.breakdown
    else:
        assert res.breakdown["dma.shared.l1->local.l0a"] > 0 and LOAD3D_ATTR in cand.script()
    x, w, got = _run(cand, ci, h, co, k)
    want = _img2col_conv(x.astype("float32"), w.astype("float32"), s, p)
    assert got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-3


@pytest.mark.parametrize("shape", [(64, 112, 64, 3, 1, 1), (512, 7, 512, 3, 1, 1)])
def test_template_tiles_a_conv_larger_than_the_buffers(shape: tuple[int, ...]) -> None:
    """64 -> 64 3x3 on 112x112 (a 3.2 MB fp32 output: L0C is 256 KB) and 512 -> 512 3x3 on 7x7 (4.7 MB of
    weights: L1 is 1 MB) must be tiled in M / N / K to pass the capacity checks; the map is read off chip about
    once (halo rows only), the work spreads over the cores, and the output equals numpy."""
    ci, h, co, k, s, p = shape
    ref = _conv(ci, h, co, k, s, [p, p])
    cand = _template_schedule(ref)
    res = simulate(cand, ref, PROFILE, isolate=False, functional=False)
    assert res.ok, res.error
    assert res.breakdown["cores_used"] >= 16
    moved = res.breakdown["bytes_moved"]["dma.global->shared.l1"]
    fmap, weights = ci * h * h * 2, co * ci * k * k * 2
    assert moved < 3 * fmap + 32 * weights  # no whole-map re-read per output tile
    x, w, got = _run(cand, ci, h, co, k)
    want = _img2col_conv(x.astype("float32"), w.astype("float32"), s, p)
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-3


def test_template_tiles_from_the_profile_buffers(tmp_path: Path) -> None:
    """The same template on a davinci variant with half the L1, L0A/L0B and L0C still yields a schedule that is
    legal there (tiles come from the profile's buffer sizes, not constants), and a different one than on davinci."""
    import json

    data = json.loads((Path(__file__).resolve().parents[1] / "hawk_tvm" / "hardware" / "profiles" /
                       "davinci.json").read_text())
    for level in data["memory"]:
        if level["tag"] in ("l1", "l0a", "l0b", "l0c"):
            level["capacity_bytes"] //= 4
    (tmp_path / "small.json").write_text(json.dumps(data))
    small = load_profile(tmp_path / "small.json")
    ref = _conv(64, 56, 128, 3, 1, [1, 1])
    cand = _template_schedule(ref, small)
    res = simulate(cand, ref, small, isolate=False)
    assert res.ok, res.error
    assert simulate(_template_schedule(ref), ref, small, functional=False).error.kind == "sim.capacity"


def _numpy_conv(x: np.ndarray, w: np.ndarray, s: int, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Direct NCHW conv in float32 (any kernel, map and pads top/left/bottom/right)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[2]), (pad[1], pad[3])))
    _, _, kh, kw = w.shape
    oh, ow = (xp.shape[2] - kh) // s + 1, (xp.shape[3] - kw) // s + 1
    cols = np.stack([xp[:, :, r:r + s * oh:s, c:c + s * ow:s] for r in range(kh) for c in range(kw)], axis=2)
    return np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], w.shape[1], kh * kw))


@pytest.mark.parametrize("case", [(1, 64, 32, 17, 17, 1, 7, 1, (0, 3, 0, 3)),
                                  (1, 64, 48, 17, 17, 7, 1, 1, (3, 0, 3, 0)),
                                  (2, 32, 64, 14, 14, 3, 3, 1, (1, 1, 1, 1)),
                                  (1, 64, 64, 13, 20, 3, 3, 1, (1, 1, 1, 1))])
def test_template_non_square_and_batched_convs_match_numpy(case: tuple) -> None:
    """Inception-v3's 1x7 / 7x1 convs (pads 0/3), batch 2, a non-square 13x20 map: legal on the simulator and equal
    to a direct numpy conv."""
    n, ci, co, h, w, kh, kw, s, pad = case
    from tvm import te, topi

    x = te.placeholder((n, ci, h, w), "float16", name="X")
    wt = te.placeholder((co, ci, kh, kw), "float16", name="W")
    y = topi.nn.conv2d_nchw(x, wt, s, list(pad), 1, out_dtype="float32")
    ref = tvm.IRModule({"main": te.create_prim_func([x, wt, y])})
    cand = _template_schedule(ref)
    res = simulate(cand, ref, PROFILE, isolate=False, functional=False)
    assert res.ok, res.error
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((n, ci, h, w)).astype("float16")
    wv = (rng.standard_normal((co, ci, kh, kw)) / np.sqrt(ci * kh * kw)).astype("float16")
    want = _numpy_conv(xv.astype("float32"), wv.astype("float32"), s, pad)
    out = tvm.runtime.tensor(np.zeros(want.shape, "float32"))
    tvm.compile(cand, target="llvm")["main"](tvm.runtime.tensor(xv), tvm.runtime.tensor(wv), out)
    assert np.abs(out.numpy() - want).max() / np.abs(want).max() < 1e-3


def _group_conv(ci: int, co: int, h: int, k: int, s: int, p: int, g: int) -> tvm.IRModule:
    from tvm import te, topi

    x = te.placeholder((1, ci, h, h), "float16", name="X")
    w = te.placeholder((co, ci // g, k, k), "float16", name="W")
    y = topi.nn.group_conv2d_nchw(x, w, s, p, 1, g, out_dtype="float32")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


def _numpy_group_conv(x: np.ndarray, w: np.ndarray, s: int, p: int, g: int) -> np.ndarray:
    cg, og = x.shape[1] // g, w.shape[0] // g
    return np.concatenate([_numpy_conv(x[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og], s, (p, p, p, p))
                           for i in range(g)], axis=1)


@pytest.mark.parametrize("case", [(64, 64, 14, 3, 1, 1, 4),    # 16 channels per group: one C0 block each
                                  (64, 64, 28, 3, 2, 1, 8),    # 8 per group (ResNeXt): 2 groups share a C0 block
                                  (32, 32, 13, 3, 1, 1, 8),    # 4 per group, odd map: 4 groups per block
                                  (96, 48, 13, 1, 1, 0, 3),    # ShuffleNet-style grouped 1x1 (a flat GEMM)
                                  (64, 64, 1, 3, 1, 1, 4)])    # a 1x1 output map: one GEMM row per group
def test_template_grouped_convs_are_per_group_gemms(case: tuple) -> None:
    """Grouped convs run on the cube as per-group GEMMs (the group is a batch axis of the GEMM, in the parallel
    tile loop): legal on the simulator, cube + load3d used, the work spread over several cores, and equal to a
    numpy grouped conv."""
    from tvm.s_tir import Schedule

    ci, co, h, k, s, p, g = case
    ref = _group_conv(ci, co, h, k, s, p, g)
    sch = Schedule(ref)
    geo = conv_as_gemm(sch, sch.get_sblock("group_conv2d_nchw"), -1)
    assert geo is not None and geo[15] == g and geo[1] == co // g and geo[12] == ci // g
    cand = _template_schedule(ref)
    res = simulate(cand, ref, PROFILE, isolate=False, functional=False)
    assert res.ok, res.error
    assert res.breakdown["cube"] > 0 and res.breakdown["cores_used"] >= 2
    assert LOAD3D_ATTR in cand.script()
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((1, ci, h, h)).astype("float16")
    wv = (rng.standard_normal((co, ci // g, k, k)) / np.sqrt(ci // g * k * k)).astype("float16")
    want = _numpy_group_conv(xv.astype("float32"), wv.astype("float32"), s, p, g)
    out = tvm.runtime.tensor(np.zeros(want.shape, "float32"))
    tvm.compile(cand, target="llvm")["main"](tvm.runtime.tensor(xv), tvm.runtime.tensor(wv), out)
    assert np.abs(out.numpy() - want).max() / np.abs(want).max() < 1e-3


def test_grouped_conv_that_cannot_merge_into_c0_blocks_is_one_clear_error() -> None:
    """20 channels per group in 60 (lcm(20, 16) = 80 channels do not divide 60): the template stops with one line
    naming the reason, not an internal TVM error."""
    import yaml

    from hawk_tvm.analysis.workload import analyze
    from hawk_tvm.sandbox.executor import ScheduleSandbox

    register_intrinsics(PROFILE)
    ref = _group_conv(60, 240, 28, 1, 1, 0, 3)
    entry = yaml.safe_load((Path(__file__).resolve().parents[1] / "schedules" / "davinci" /
                            "conv_cube.yaml").read_text())[0]
    env = analyze(ref["main"]).program_env(PROFILE.program_facts("float16"))
    env.update({k: v[0] if isinstance(v, list) else v for k, v in entry["params"].items()})
    _, err = ScheduleSandbox(timeout_s=120).apply(ref, entry["template"], env)
    assert err is not None and "20 channels per group" in err.message and "\n" not in err.message.strip()


@pytest.mark.parametrize("case", [(384, 14, 1), (960, 7, 1), (192, 28, 1), (144, 56, 2), (576, 14, 2)])
def test_depthwise_odd_maps_pass_the_vector_constraints(case: tuple) -> None:
    """MobileNetV2 3x3 depthwise convs on maps whose rows are not whole 32-byte units (14 / 7 / 28 pixels, stride 2
    on 56): the vector entry npu.depthwise_conv2d.ub_channel_planes yields a schedule that passes the davinci
    constraints and the simulator's functional check, on the vector unit (no cube), over several cores."""
    from tvm import te, topi


    c, h, s = case
    x = te.placeholder((1, c, h, h), "float16", name="X")
    w = te.placeholder((c, 1, 3, 3), "float16", name="W")
    y = topi.nn.depthwise_conv2d_nchw(x, w, s, 1, 1, out_dtype="float16")
    ref = tvm.IRModule({"main": te.create_prim_func([x, w, y])})
    sch = apply_seed(ref, "davinci/conv.yaml", "npu.depthwise_conv2d.ub_channel_planes", PROFILE)
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown.get("vector", 0) > 0 and res.breakdown.get("cube", 0) == 0
    assert res.breakdown["cores_used"] >= 8


def test_whole_epilogue_chain_rides_the_write_back() -> None:
    """Conv + bias + ReLU as an ONNX model brings it (the fused Relax task): the whole epilogue chain is inlined into
    the L0C write-back instead of leaving the ReLU as a second scalar pass over the output in GM (on a small map that
    pass cost five times the conv); legal on the simulator and correct."""
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    from hawk_tvm.models.graph import GraphBuilder
    from hawk_tvm.passes.hawk_pass import graph_passes

    g = GraphBuilder(0)
    y = g.conv_relu("input", 16, 16, 3, 1, 1)
    model = g.model([1, 16, 8, 8], y, [1, 16, 8, 8], "conv_relu")
    config = HawkConfig(target="davinci")
    mod = tvm.transform.Sequential([*graph_passes(config), relax.get_pipeline("zero")])(from_onnx(model))
    (func,) = [f for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc) and "conv2d" in gv.name_hint]
    ref = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
    cand = _template_schedule(ref)
    res = simulate(cand, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown["cube"] > 0
    outputs = 16 * 8 * 8
    assert res.breakdown.get("scalar", 0) <= 8 * outputs, res.breakdown  # one scalar epilogue step per output


def _conv_epilogue(ci: int, h: int, co: int, k: int, s: int, p: int, residual: bool) -> tvm.IRModule:
    """conv + bias (+ a residual input) + ReLU + the fp16 cast, as a real model's fused conv task."""
    from tvm import te, topi

    x = te.placeholder((1, ci, h, h), "float16", name="X")
    w = te.placeholder((co, ci, k, k), "float16", name="W")
    bias = te.placeholder((1, co, 1, 1), "float32", name="B")
    y = topi.add(topi.nn.conv2d_nchw(x, w, s, p, 1, out_dtype="float32"), bias)
    ins = [x, w, bias]
    if residual:
        r = te.placeholder([int(d) for d in y.shape], "float32", name="R")
        y, ins = topi.add(y, r), [*ins, r]
    out = topi.cast(topi.nn.relu(y), "float16")
    return tvm.IRModule({"main": te.create_prim_func([*ins, out])})


@pytest.mark.parametrize("shape", [(64, 55, 64, 3, 1, 1, False), (64, 13, 256, 1, 1, 0, False),
                                   (256, 14, 512, 3, 2, 1, True), (64, 56, 64, 3, 1, 1, True)])
def test_conv_epilogues_run_on_the_vector_unit_in_ub(shape: tuple) -> None:
    """Bias, residual add, ReLU and cast of a conv (widened 55-pixel rows, a 1x1 plain-GEMM tile, whole 7-pixel
    rows, 56-pixel rows) run on the UB tile as vector work: no scalar pass, and the outputs match."""
    from seeds import apply_seed

    ref = _conv_epilogue(*shape)
    sch = apply_seed(ref, "davinci/conv_cube.yaml", None, PROFILE)
    res = simulate(sch.mod, ref, PROFILE, isolate=False)
    assert res.ok, res.error
    assert res.breakdown.get("scalar", 0.0) == 0.0 and res.breakdown["vector"] > 0, res.breakdown
    assert res.breakdown["dma.local.l0c->global.ub"] > 0 and "hawk.davinci.mma" in sch.mod.script()
