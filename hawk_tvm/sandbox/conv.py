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
    """Stride, kernel, pad and shapes of an NCHW conv2d block (dilation 1, no groups), or None if it is not one."""
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
        if len(coef) != 3 or _const(coef[1]) != 1 or _const(coef[0]) is None:
            return None
        strides.append(_const(coef[0]))
    ch = tvm.sym.detect_linear_equation(idx[1], [c])
    if len(ch) != 2 or _const(ch[0]) != 1:
        return None  # grouped / depthwise: channel index depends on f
    pad = [0, 0, 0, 0]
    producers = list(sch.get_producers(rv))
    hp, wp = (_const(d) for d in _buffer(src).shape[2:])
    if producers:
        pstmt = sch.get(producers[0])
        if len(pstmt.reads) == 1 and len(pstmt.reads[0].region) == 4:
            h, w = (_const(d) for d in _buffer(pstmt.reads[0]).shape[2:])
            top = _const(pstmt.reads[0].region[2].min)
            left = _const(pstmt.reads[0].region[3].min)
            pt = -top if top is not None and top <= 0 else 0
            pl = -left if left is not None and left <= 0 else 0
            pad = [pt, hp - h - pt, pl, wp - w - pl]
    return {"stride": strides, "kernel": ext[5:7], "pad": pad, "out": ext[0:4], "in_channels": ext[4]}


def conv_as_gemm(sch: Any, rv: Any) -> list[Any] | None:
    """Rewrite the conv block `rv` into GEMM form in place; return [M, N, K, load3d geometry string] or None."""
    geo = conv_geometry(sch, rv)
    if geo is None:
        return None
    nb, oc, oh, ow = geo["out"]
    kh, kw = geo["kernel"]
    ic = geo["in_channels"]
    kk = kh * kw
    sch.reindex(rv, ("read", 0))
    sch.reindex(rv, ("read", 1))
    sch.reindex(rv, ("write", 0))
    sch.transform_layout(rv, ("read", 0), lambda n, y, x, c, r, s: (n * oh * ow + y * ow + x, c * kk + r * kw + s))
    sch.transform_layout(rv, ("read", 1), lambda f, c, r, s: (c * kk + r * kw + s, f))
    sch.transform_layout(rv, ("write", 0), lambda n, f, y, x: (n * oh * ow + y * ow + x, f))
    sch.transform_block_layout(
        rv, lambda n, f, y, x, c, r, s: (n * oh * ow + y * ow + x, f, c * kk + r * kw + s))
    text = ",".join(str(v) for v in geo["stride"] + geo["kernel"] + geo["pad"])
    return [nb * oh * ow, oc, ic * kk, text]


def fmap_nc1hwc0(sch: Any, rv: Any, c0: int) -> None:
    """Lay the NCHW buffer written by block `rv` (an L1 feature-map copy) out as NC1HWC0, channels zero-padded to
    `c0` (Ascend's 5HD format: each (h, w) position holds C0 contiguous channels, 32 bytes for fp16)."""
    c0 = int(c0)
    sch.transform_layout(rv, ("write", 0), lambda n, c, h, w: (n, c // c0, h, w, c % c0), pad_value=0.0)
