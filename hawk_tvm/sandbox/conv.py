"""Trusted conv helpers for schedule programs: a conv2d block as an implicit GEMM, feature maps in NC1HWC0.

`conv_as_gemm` rewrites an NCHW conv2d block (iterators n, f, y, x | c, r, s) in place into a GEMM block
C[m, f] += A[m, k] * B[k, f] with m = (n, y, x) and k = (c, r, s), the way TVM's MultiLevelTilingTensorCore
prepares a block for tensorization (reindex + transform_layout + transform_block_layout). The A operand's
reindex block is the im2col view of the (padded) input: inlined into the L0A copy it becomes the load3d/img2col
step of Ascend's conv (Ascend C LoadData 3D), reading an L1 feature map with the pad as a predicate.
"""

from __future__ import annotations

from typing import Any


def _buffer(region: Any) -> Any:
    source = getattr(region, "source", None)  # TensorRegion.source (TVM 0.27) or BufferRegion.buffer
    return source if source is not None else region.buffer


def _const(expr: Any) -> int | None:
    return int(expr.value) if hasattr(expr, "value") else None


def conv_geometry(sch: Any, rv: Any) -> dict[str, Any] | None:
    """Stride, kernel, pad, groups and shapes of an NCHW conv2d block (dilation 1; in_channels is per group), or None
    if it is not one."""
    import tvm

    stmt = sch.get(rv)
    ivs = stmt.iter_vars
    kinds = "".join("S" if int(iv.iter_type) == 0 else "R" for iv in ivs)
    if kinds != "SSSSRRR" or len(stmt.reads) < 2:
        return None
    _n, _f, y, x, c, r, s = (iv.var for iv in ivs)
    ext = [_const(iv.dom.extent) for iv in ivs]
    src = stmt.reads[0]
    idx = [rg.min for rg in src.region]
    if len(idx) != 4:
        return None
    strides = []
    for pos, (o, k) in zip((2, 3), ((y, r), (x, s)), strict=True):
        coef = tvm.sym.detect_linear_equation(idx[pos], [o, k])
        unit = (0, 1) if int(ivs[5 if pos == 2 else 6].dom.extent) == 1 else (1,)  # a 1-tap kernel axis may vanish
        if len(coef) != 3 or _const(coef[1]) not in unit or _const(coef[0]) is None:
            return None
        strides.append(_const(coef[0]))
    ch = tvm.sym.detect_linear_equation(idx[1], [c])
    if len(ch) != 2 or _const(ch[0]) != 1:
        return None
    groups = 1
    if _const(ch[1]) != 0:  # grouped conv: input channel = f // (OC / G) * (C / G) + c (topi group_conv2d_nchw)
        total = _const(_buffer(src).shape[1])
        ic_g, oc = ext[4], ext[1]
        if total is None or ic_g is None or oc is None or total % ic_g or oc % (total // ic_g):
            return None
        groups = total // ic_g
        want = tvm.tirx.floordiv(_f, oc // groups) * ic_g
        if not tvm.sym.Analyzer().can_prove_equal(ch[1], want):
            return None
    pad = [0, 0, 0, 0]
    producers = list(sch.get_producers(rv))
    hp, wp = (_const(d) for d in _buffer(src).shape[2:])
    h, w = hp, wp
    if producers:
        pstmt = sch.get(producers[0])
        if len(pstmt.reads) == 1 and len(pstmt.reads[0].region) == 4:
            h, w = (_const(d) for d in _buffer(pstmt.reads[0]).shape[2:])
            top = _const(pstmt.reads[0].region[2].min)
            left = _const(pstmt.reads[0].region[3].min)
            pt = -top if top is not None and top <= 0 else 0
            pl = -left if left is not None and left <= 0 else 0
            pad = [pt, hp - h - pt, pl, wp - w - pl]
    return {"stride": strides, "kernel": ext[5:7], "pad": pad, "out": ext[0:4], "in_channels": ext[4],
            "in_hw": [h, w], "groups": groups}


def _index_map(dims: list[str], layout: Any) -> Any:
    from tvm import tirx
    from tvm.tirx import IndexMap

    def exprs(*vs: Any) -> list[Any]:  # a unit axis folds to the Python int 0: IndexMap wants PrimExprs
        out = layout({d: v for d, v in zip(dims, vs, strict=True) if d})
        return [tirx.const(x, "int32") if isinstance(x, int) else x for x in out]

    return IndexMap.from_func(exprs, ndim=len(dims), index_dtype="int32")


def _unit_axes(stmt: Any, one_pixel: bool) -> set[str]:
    """The block's extent-1 iterators (always 0: kept out of the GEMM maps). On a 1x1 output map at batch 1
    (`one_pixel`) the batch iterator n stays in, as the GEMM's M iterator: reindex keeps n in every access, and
    without it M would vanish from them (the cube intrinsic then cannot match an M tile padded to 16)."""
    unit = {iv.var.name for iv in stmt.iter_vars if int(iv.dom.extent) == 1}
    if one_pixel:
        unit.discard(stmt.iter_vars[0].var.name)
    return unit


def conv_as_gemm(sch: Any, rv: Any, row: int = 0) -> list[Any] | None:
    """Rewrite the conv block `rv` into GEMM form in place; return [M, N, K, load3d geometry string, KH, KW, SH, SW,
    OH, OW, IH, IW, C_in, batch, load3d geometry with pads 0, G] (IH, IW: the input map before padding; the
    geometry with pads 0 is for an L1 map that already holds the zero border) or None if `rv` is not an NCHW conv.

    A grouped conv (G groups, topi group_conv2d_nchw) becomes G independent GEMMs, a batch axis in front:
    C[g, m, f] += A[g, m, k] * B[g, k, f]; N, K and C_in are then per group (N = OC / G, C_in = C / G).

    `row` > OW lays each output row out `row` pixels wide in the GEMM (m = (n * OH + oh) * row + ow; the pixels
    ow >= OW are zero padding, computed on chip and never written back), so that M tiles of whole output rows can
    be multiples of the cube's 16 rows on odd maps (13 -> 16, 55 -> 56). `row` < 0 only returns the geometry
    (M as it would be with -row), changing nothing."""
    geo = conv_geometry(sch, rv)
    if geo is None:
        return None
    nb, oc, oh, ow = geo["out"]
    kh, kw = geo["kernel"]
    ic = geo["in_channels"]
    groups = geo["groups"]
    og = oc // groups
    kk = kh * kw
    stmt = sch.get(rv)
    names = [iv.var.name for iv in stmt.iter_vars]
    unit = _unit_axes(stmt, nb * oh * ow == 1)
    wide = abs(int(row)) if abs(int(row)) > ow and names[3] not in unit else ow
    text = ",".join(str(v) for v in geo["stride"] + geo["kernel"] + geo["pad"])
    unpadded = ",".join(str(v) for v in geo["stride"] + geo["kernel"] + [0, 0, 0, 0])
    out = [nb * oh * wide, og, ic * kk, text, kh, kw, *geo["stride"], oh, ow, *geo["in_hw"], ic, nb, unpadded, groups]
    if int(row) < 0:
        return out
    pos = {"n": 0, "g": None, "f": 1, "y": 2, "x": 3, "c": 4, "r": 5, "s": 6}
    if groups > 1 and og == 1:  # one output channel per group: f is the group
        pos.update(g=1, f=None)
    elif groups > 1:  # split f into (group, channel in group) so that the input access depends on the group only
        old = list(names)
        sch.transform_block_layout(rv, _index_map(old, lambda v: (
            v[old[0]], v[old[1]] // og, v[old[1]] % og, *(v[d] for d in old[2:]))))
        pos = {"n": 0, "g": 1, "f": 2, "y": 3, "x": 4, "c": 5, "r": 6, "s": 7}
        stmt = sch.get(rv)
        names = [iv.var.name for iv in stmt.iter_vars]
        unit = _unit_axes(stmt, nb * oh * ow == 1)

    def at(v: dict[str, Any], key: str) -> Any:
        i = pos[key]
        return 0 if i is None or names[i] in unit else v.get(names[i], 0)

    def m_of(v: dict[str, Any]) -> Any:
        return at(v, "n") * oh * wide + at(v, "y") * wide + at(v, "x")

    def k_of(v: dict[str, Any]) -> Any:
        return at(v, "c") * kk + at(v, "r") * kw + at(v, "s")

    def g_of(v: dict[str, Any]) -> tuple[Any, ...]:
        return (at(v, "g"),) if groups > 1 else ()

    layouts = {("read", 0): lambda v: (*g_of(v), m_of(v), k_of(v)),
               ("read", 1): lambda v: (*g_of(v), k_of(v), at(v, "f")),
               ("write", 0): lambda v: (*g_of(v), m_of(v), at(v, "f"))}
    for key in layouts:
        sch.reindex(rv, key)
    if wide > ow:  # every access is plain iterators now: pad the ow iterator to `wide` (an einsum padding)
        sch.pad_einsum(rv, [wide if i == pos["x"] else 1 for i in range(len(names))])
    for key, layout in layouts.items():
        new = sch.get(rv)
        region = (new.reads if key[0] == "read" else new.writes)[key[1]].region
        dims = [str(r.min.name) if hasattr(r.min, "name") else "" for r in region]  # the iterators reindex kept
        sch.transform_layout(rv, key, _index_map(dims, layout))
    sch.transform_block_layout(rv, _index_map(names, lambda v: (*g_of(v), m_of(v), at(v, "f"), k_of(v))))
    return out


def fmap_nc1hwc0(sch: Any, rv: Any, c0: int, flat: bool = False, group: int = 0, merge: int = 1) -> None:
    """Lay the NCHW buffer written by block `rv` (an L1 feature-map copy) out as NC1HWC0, channels zero-padded to
    `c0` (Ascend's 5HD format: each (h, w) position holds C0 contiguous channels, 32 bytes for fp16).

    `flat` merges H and W into one pixel axis (N, C1, H*W, C0): for a 1x1 stride-1 unpadded conv the GEMM row m is
    that pixel, so an M tile of any 16 rows is one contiguous pixel range of the map (a plain GEMM operand).

    `group` > 0 names a grouped conv's channels per group when that is not a multiple of `c0`: a group's channel
    range then starts mid-block, so the map copy must cover `merge` whole groups (lcm(group, c0) channels, whole C0
    blocks: the schedule places the copy outside a loop over `merge` groups, as Ascend merges groups into C0
    blocks); the groups must split evenly into such sets."""
    c0 = int(c0)
    cg, merge = int(group), int(merge)
    if cg > 0:
        total = int(_buffer(sch.get(rv).writes[0]).shape[1])
        if (cg * merge) % c0 or total % (cg * merge):
            raise ValueError(f"grouped conv with {cg} channels per group: {merge} groups per map copy are not whole "
                             f"C0 = {c0} blocks of the {total} channels (group merging needs lcm({cg}, {c0}) | C)")
    if flat:
        width = int(_buffer(sch.get(rv).writes[0]).shape[3])
        sch.transform_layout(rv, ("write", 0), lambda n, c, h, w: (n, c // c0, h * width + w, c % c0),
                             pad_value=0.0)
        # the copy must iterate the pixel axis too, so compute_at derives its range from the tile's rows exactly;
        # with channel padding TVM already rewrote the copy to iterate the new layout (n, c1, pixel, c0)
        stmt = sch.get(rv)
        if [int(iv.dom.extent) for iv in stmt.iter_vars] != [int(d) for d in _buffer(stmt.writes[0]).shape]:
            sch.transform_block_layout(rv, lambda n, c, h, w: (n, c, h * width + w))
        return
    sch.transform_layout(rv, ("write", 0), lambda n, c, h, w: (n, c // c0, h, w, c % c0), pad_value=0.0)
