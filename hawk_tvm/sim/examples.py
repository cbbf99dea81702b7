"""Example kernels and reference NPU schedules, used by tests, benchmarks and docs to exercise the simulator."""

from __future__ import annotations

from typing import Any

from ..hardware.profile import HardwareProfile
from .intrinsics import register_intrinsics


def matmul(m: int, n: int, k: int, in_dtype: str = "float16", out_dtype: str = "float32") -> Any:
    """IRModule of C[m,n] = sum_k cast(A[m,k]) * cast(B[k,n]) (TVM's unscheduled form)."""
    import tvm
    from tvm import te

    a = te.placeholder((m, k), in_dtype, name="A")
    b = te.placeholder((k, n), in_dtype, name="B")
    r = te.reduce_axis((0, k), name="k")
    c = te.compute((m, n), lambda i, j: te.sum(a[i, r].astype(out_dtype) * b[r, j].astype(out_dtype), axis=r), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def add(n: int, dtype: str = "float16") -> Any:
    """IRModule of C[i] = A[i] + B[i]."""
    import tvm
    from tvm import te

    a = te.placeholder((n,), dtype, name="A")
    b = te.placeholder((n,), dtype, name="B")
    c = te.compute((n,), lambda i: a[i] + b[i], name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def schedule_matmul_npu(mod: Any, profile: HardwareProfile, tm: int, tn: int, tk: int, *, in_dtype: str = "float16",
                        l1: bool = True, double_buffer: bool = False, parallel: bool = True,
                        tensorize: bool = True) -> Any:
    """Schedule `matmul` the NPU way: A,B -> (L1) -> L0A/L0B, C in L0C, (tm,tn,tk) block tiles, matrix-unit tiles.

    Block loops (i0, j0) are fused and made parallel (multi-core), k0 is the staging loop; inside it the matrix
    tile loops are tensorized with the profile's MMA intrinsic. `double_buffer` software-pipelines k0.
    """
    from tvm import s_tir

    facts = profile.program_facts(in_dtype)
    register_intrinsics(profile)
    sch = s_tir.Schedule(mod)
    blk = sch.get_sblock("C")
    a_l1 = sch.cache_read(blk, 0, facts["scope_l1"]) if l1 else None
    a_l0 = sch.cache_read(blk, 0, facts["scope_l0a"])
    b_l1 = sch.cache_read(blk, 1, facts["scope_l1"]) if l1 else None
    b_l0 = sch.cache_read(blk, 1, facts["scope_l0b"])
    c_l0 = sch.cache_write(blk, 0, facts["scope_l0c"])
    mm, mn, mk = facts["mma_m"], facts["mma_n"], facts["mma_k"]
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, tm])
    j0, j1 = sch.split(j, [None, tn])
    k0, k1 = sch.split(k, [None, tk])
    i1o, i1i = sch.split(i1, [None, mm])
    j1o, j1i = sch.split(j1, [None, mn])
    k1o, k1i = sch.split(k1, [None, mk])
    sch.reorder(i0, j0, k0, i1o, j1o, k1o, i1i, j1i, k1i)
    sch.reverse_compute_at(c_l0, j0)
    for stage in (a_l0, b_l0, a_l1, b_l1):
        if stage is not None:
            sch.compute_at(stage, k0)
    if parallel:
        sch.parallel(sch.fuse(i0, j0))
    sch.decompose_reduction(blk, k0)
    if tensorize:
        sch.tensorize(sch.blockize(i1i), facts["intrin_mma"])
    if double_buffer:
        n_stages = len(sch.get_child_blocks(k0))
        sch.annotate(k0, "software_pipeline_stage", [0] * (n_stages - 1) + [1])
        sch.annotate(k0, "software_pipeline_order", list(range(n_stages)))
    return sch.mod


def schedule_add(mod: Any, tile: int, vec: int, *, scope_in: str | None = "global.ub",
                 scope_out: str | None = "global.ub", vectorize: bool = True, double_buffer: bool = False) -> Any:
    """Schedule `add`: tiles of `tile` elements staged in `scope_in` / `scope_out`, inner `vec` lanes vectorized."""
    from tvm import s_tir

    sch = s_tir.Schedule(mod)
    blk = sch.get_sblock("C")
    reads = [sch.cache_read(blk, i, scope_in) for i in range(2)] if scope_in else []
    write = sch.cache_write(blk, 0, scope_out) if scope_out else None
    (i,) = sch.get_loops(blk)
    io, ii = sch.split(i, [None, tile])
    _, iv = sch.split(ii, [None, vec])
    if vectorize:
        sch.vectorize(iv)
    for r in reads:
        sch.compute_at(r, io)
    if write is not None:
        sch.reverse_compute_at(write, io)
    if double_buffer:
        for r in reads:
            sch.annotate(r, "double_buffer_scope", 0)
    return sch.mod
