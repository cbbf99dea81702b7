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
if KEEP_PAD and BLOCKS[0] != MAIN:
    sch.inline_injective([BLOCKS[0]])
    pad_loops = sch.get_loops(sch.get_sblock(BLOCKS[0]))
    sch.parallel(sch.fuse(*pad_loops[:-1]))
    sch.vectorize(pad_loops[-1])
else:
    sch.inline_injective()
b = sch.get_sblock(MAIN)
loops = sch.get_loops(b)
ns = len(SPATIAL)
sp = loops[:ns]
rd = loops[ns:]
if FUSE and ns >= 3:
    sp = sp[:-3] + [sch.fuse(sp[-3], sp[-2]), sp[-1]]
v_o, v_i = sch.split(sp[-1], [None, VEC])
r_o, r_i = sch.split(sp[-2], [None, REG])
if KSPLIT > 1 and len(rd) > 0:
    ko, ki = sch.split(rd[0], [None, KSPLIT])
    rd = [ko, ki] + rd[1:]
if ORDER == 1:
    outer = [v_o] + sp[:-2]
    tile = r_o
else:
    outer = sp[:-2] + [r_o]
    tile = v_o
sch.reorder(*outer, tile, *rd, r_i, v_i)
fo = outer[0] if len(outer) == 1 else sch.fuse(*outer)
sch.parallel(fo)
tail = b
if CACHE:
    tail = sch.cache_write(b, 0, "local")
    sch.reverse_compute_at(tail, tile)
    sch.vectorize(sch.get_loops(tail)[-1])
consumers = sch.get_consumers(tail)
if len(consumers) == 1:
    sch.reverse_compute_at(consumers[0], tile)
    sch.vectorize(sch.get_loops(consumers[0])[-1])
sch.unroll(r_i)
sch.vectorize(v_i)
if len(rd) > 0:
    init = sch.decompose_reduction(b, rd[0])
    sch.vectorize(sch.get_loops(init)[-1])
"""


def _tiled_params(workload: Any, hw: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameter sets for TILED_PROGRAM, most generally useful first. Every split factor divides its extent:
    non-dividing register tiles produced wrong kernels in our measurements (caught by the numerics check)."""
    from ..sandbox import largest_divisor

    lanes = int(hw.get("lanes", 8))
    spatial = workload.spatial
    last, second = spatial[-1], spatial[-2]
    fused = second * spatial[-3] if len(spatial) >= 3 else second
    red = workload.reduce[0] if workload.reduce else 1
    has_pad = len(workload.blocks) > 1 and workload.blocks[0].name != workload.main_block
    out: list[dict[str, Any]] = []
    # (vector cap, register rows cap, k split, fuse the two row axes, channel blocks outermost, keep pad apart):
    # 2 vectors x 4-7 rows keep 8-14 accumulators of the 16 AVX2 registers. Fusing rows helps small feature
    # maps (7x7, 14x14); channel blocks outermost keep a weight panel in L2 while all rows reuse it.
    for vec_cap, reg_cap, ksplit, fuse, order, keep_pad in (
        (2 * lanes, 4, 1, 0, 0, 0),
        (2 * lanes, 7, 1, 1, 0, 1),
        (2 * lanes, 4, 1, 0, 1, 1),
        (2 * lanes, 6, 1, 0, 0, 0),
        (lanes, 8, 1, 0, 0, 0),
        (2 * lanes, 4, 64, 0, 0, 0),
    ):
        rows = fused if fuse and len(spatial) >= 3 else second
        params = {
            "VEC": largest_divisor(last, vec_cap),
            "REG": largest_divisor(rows, reg_cap),
            "KSPLIT": 1,
            "CACHE": 1,
            "FUSE": fuse if len(spatial) >= 3 else 0,
            "ORDER": order,
            "KEEP_PAD": keep_pad if has_pad else 0,
        }
        ks = largest_divisor(red, ksplit) if ksplit > 1 else 1
        params["KSPLIT"] = ks if 1 < ks < red else 1
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
