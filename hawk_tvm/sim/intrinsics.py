"""NPU tensor intrinsics (matrix-unit MMA per profile tile), registered lazily with tvm.s_tir.TensorIntrin."""

from __future__ import annotations

import threading

from ..hardware.profile import HardwareProfile, MatrixTile

INTRIN_ATTR = "hawk.intrin"
# load3d / img2col (MTE1, L1 -> L0A): the block annotation a schedule puts on the L0A copy that expands conv windows
# of an L1 feature map (NC1HWC0) into the cube's A operand; its value is the conv geometry "sh,sw,kh,kw,pt,pb,pl,pr"
# (see load3d_geometry). Public source: Huawei CANN Ascend C API, LoadData 3D (Load3Dv2: L1 -> L0A/L0B img2col,
# strideH/W 1..63, filter 1..255, padList 0..255 given to the instruction, pad value from the fmatrix registers);
# CCE intrinsic img2colv2_cbuf_to_ca.
LOAD3D_ATTR = "hawk.load3d"
LOAD3D_LIMITS = {"stride": (1, 63), "kernel": (1, 255), "pad": (0, 255)}


def load3d_geometry(value: str) -> dict[str, list[int]] | None:
    """Parse a load3d annotation "sh,sw,kh,kw,pt,pb,pl,pr" into stride/kernel/pad lists; None if malformed."""
    try:
        v = [int(x) for x in str(value).split(",")]
    except ValueError:
        return None
    if len(v) != 8:
        return None
    return {"stride": v[0:2], "kernel": v[2:4], "pad": v[4:8]}
_LOCK = threading.Lock()
_REGISTERED: set[str] = set()


def _mma_pair(name: str, tile: MatrixTile, scopes: dict[str, str]):
    """TVMScript desc and impl of C[m,n] += cast(A[m,k]) * cast(B[k,n]) with operands in the given scopes."""
    from tvm.script import tirx as T

    m, n, k, ind, outd = tile.m, tile.n, tile.k, tile.in_dtype, tile.out_dtype
    sa, sb, sc = scopes["a"], scopes["b"], scopes["c"]

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (m, k), ind, offset_factor=1, scope=sa)
        B = T.match_buffer(b, (k, n), ind, offset_factor=1, scope=sb)
        C = T.match_buffer(c, (m, n), outd, offset_factor=1, scope=sc)
        with T.sblock("root"):
            T.reads(C[0:m, 0:n], A[0:m, 0:k], B[0:k, 0:n])
            T.writes(C[0:m, 0:n])
            for i, j, kk in T.grid(m, n, k):
                with T.sblock("update"):
                    vi, vj, vk = T.axis.remap("SSR", [i, j, kk])
                    C[vi, vj] = C[vi, vj] + T.Cast(outd, A[vi, vk]) * T.Cast(outd, B[vk, vj])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (m, k), ind, offset_factor=1, scope=sa, strides=[T.int32(), 1])
        B = T.match_buffer(b, (k, n), ind, offset_factor=1, scope=sb, strides=[T.int32(), 1])
        C = T.match_buffer(c, (m, n), outd, offset_factor=1, scope=sc, strides=[T.int32(), 1])
        with T.sblock("root"):
            T.reads(C[0:m, 0:n], A[0:m, 0:k], B[0:k, 0:n])
            T.writes(C[0:m, 0:n])
            with T.sblock("hawk_mma"):
                T.reads(C[0:m, 0:n], A[0:m, 0:k], B[0:k, 0:n])
                T.writes(C[0:m, 0:n])
                T.sblock_attr({INTRIN_ATTR: name})
                for i, j, kk in T.grid(m, n, k):
                    C[i, j] = C[i, j] + T.Cast(outd, A[i, kk]) * T.Cast(outd, B[kk, j])

    return desc, impl


def intrinsic_names(profile: HardwareProfile) -> dict[str, str]:
    """Intrinsic names of a profile keyed by role, e.g. ``{"mma.float16": "hawk.davinci.mma.float16.float32"}``."""
    if profile.matrix is None:
        return {}
    return {f"mma.{t.in_dtype}": profile.intrinsic_name("mma", t.in_dtype, t.out_dtype) for t in profile.matrix.tiles}


def register_intrinsics(profile: HardwareProfile) -> list[str]:
    """Register the profile's tensor intrinsics once per process (idempotent); return their names."""
    if not profile.is_npu or profile.matrix is None:
        return []
    from tvm.s_tir import TensorIntrin

    names = []
    with _LOCK:
        for tile in profile.matrix.tiles:
            name = profile.intrinsic_name("mma", tile.in_dtype, tile.out_dtype)
            names.append(name)
            if name in _REGISTERED:
                continue
            desc, impl = _mma_pair(name, tile, profile.matrix.operand_levels)
            TensorIntrin.register(name, desc, impl, override=True)
            _REGISTERED.add(name)
    return names


def register_all_intrinsics() -> list[str]:
    """Register the intrinsics of every shipped NPU profile (so knowledge written for one profile can be tried on
    another and fail in the simulator with a precise error rather than as an unknown intrinsic)."""
    from ..hardware.profile import list_profiles, load_profile

    names: list[str] = []
    for name in list_profiles():
        names += register_intrinsics(load_profile(name))
    return names
