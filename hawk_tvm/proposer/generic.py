"""Generic, knowledge-free schedule programs: the floor every operator gets, and the no-knowledge ablation."""

from __future__ import annotations

from typing import Any

from .base import Candidate

# Parallel + vectorised loops for every block: injective blocks fused, reduction blocks parallel over rows.
SPATIAL_PROGRAM = """
sch.inline_injective()
for name in sch.block_names():
    b = sch.get_sblock(name)
    loops = sch.get_loops(b)
    kinds = sch.iter_kinds(b)
    ext = sch.extents(b)
    if len(loops) == 0 or len(kinds) != len(loops):
        continue
    ns = 0
    run = 1
    for k in kinds:
        run = run * (1 if k == "S" else 0)
        ns = ns + run
    total = 1
    for e in ext[:ns]:
        total = total * e
    if ns == len(loops):
        f = loops[0] if ns == 1 else sch.fuse(*loops)
        vec = largest_divisor(total, VEC_CAP)
        if vec > 1 and total >= PAR_MIN:
            o, i = sch.split(f, [None, vec])
            sch.parallel(o)
            sch.vectorize(i)
        elif vec > 1:
            o, i = sch.split(f, [None, vec])
            sch.vectorize(i)
    elif ns > 0 and total >= HW["cores"] and total * ext[-1] >= PAR_MIN:
        f = loops[0] if ns == 1 else sch.fuse(*loops[:ns])
        sch.parallel(f)
"""

# Register-tiled main block (BLIS-like micro-kernel) for matmul / conv / batch matmul:
# parallel outer spatial loops, REG x VEC accumulator tile, reduction loops in between, epilogue fused.
TILED_PROGRAM = """
sch.inline_injective()
b = sch.get_sblock(MAIN)
loops = sch.get_loops(b)
ns = len(SPATIAL)
sp = loops[:ns]
rd = loops[ns:]
v_o, v_i = sch.split(sp[-1], [None, VEC])
r_o, r_i = sch.split(sp[-2], [None, REG])
ko = None
if KSPLIT > 1 and len(rd) > 0:
    ko, ki = sch.split(rd[0], [None, KSPLIT])
    rd = [ko, ki] + rd[1:]
outer = sp[:-2] + [r_o]
if KSPLIT > 1 and len(rd) > 0:
    sch.reorder(*outer, v_o, rd[0], *rd[1:], r_i, v_i)
else:
    sch.reorder(*outer, v_o, *rd, r_i, v_i)
fo = outer[0] if len(outer) == 1 else sch.fuse(*outer)
sch.parallel(fo)
tail = b
if CACHE:
    tail = sch.cache_write(b, 0, "local")
    sch.reverse_compute_at(tail, v_o)
    sch.vectorize(sch.get_loops(tail)[-1])
consumers = sch.get_consumers(tail)
if len(consumers) == 1:
    sch.reverse_compute_at(consumers[0], v_o)
    sch.vectorize(sch.get_loops(consumers[0])[-1])
sch.unroll(r_i)
sch.vectorize(v_i)
if len(rd) > 0:
    init = sch.decompose_reduction(b, rd[0])
    sch.vectorize(sch.get_loops(init)[-1])
"""


def _tiled_params(workload: Any, hw: dict[str, Any]) -> list[dict[str, Any]]:
    from ..sandbox import largest_divisor

    lanes = int(hw.get("lanes", 8))
    last = workload.spatial[-1]
    second = workload.spatial[-2]
    red = workload.reduce[0] if workload.reduce else 1
    out: list[dict[str, Any]] = []
    # (vector tile cap, register rows cap, k split, cache accumulator): 2 vectors x 4-6 rows keeps the
    # accumulators (8-12 of the 16 AVX2 registers) plus operands in registers.
    for vec_cap, reg_cap, ksplit, cache in (
        (2 * lanes, 4, 1, 1),
        (2 * lanes, 6, 1, 1),
        (lanes, 8, 1, 1),
        (2 * lanes, 4, 64, 1),
        (4 * lanes, 3, 1, 1),
        (lanes, 4, 1, 0),
    ):
        vec = largest_divisor(last, vec_cap)
        reg = largest_divisor(second, reg_cap)
        ks = largest_divisor(red, ksplit) if ksplit > 1 else 1
        params = {"VEC": vec, "REG": reg, "KSPLIT": ks if 1 < ks < red else 1, "CACHE": cache}
        if params not in out:
            out.append(params)
    return out


def generic_candidates(workload: Any, hw: dict[str, Any], k: int) -> list[Candidate]:
    """Knowledge-free candidates for the host: tiled micro-kernels where they fit, else parallel+vector loops."""
    lanes = int(hw.get("lanes", 8))
    cands: list[Candidate] = []
    if workload.op_class in ("matmul", "batch_matmul", "conv2d", "depthwise_conv2d") and len(workload.spatial) >= 2:
        for params in _tiled_params(workload, hw):
            cands.append(Candidate(TILED_PROGRAM, params, (), "generic:tiled"))
    for vec_cap, par_min in ((4 * lanes, 4096), (2 * lanes, 1024), (lanes, 1 << 30)):
        cands.append(Candidate(SPATIAL_PROGRAM, {"VEC_CAP": vec_cap, "PAR_MIN": par_min}, (), "generic:spatial"))
    return cands[: max(1, k)]
