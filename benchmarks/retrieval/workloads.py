"""Small te operators analysed into real Workloads, and the engine's query dicts built from them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

F32, F16, I8, I32 = "float32", "float16", "int8", "int32"


def _te() -> Any:
    from tvm import te

    return te


def matmul(m: int, n: int, k: int, in_dtype: str = F32, out_dtype: str = F32, epilogue: bool = False) -> list[Any]:
    """C[m,n] = sum_k A*B (cast when the dtypes differ), optionally + bias then relu."""
    te = _te()
    a = te.placeholder((m, k), in_dtype, name="A")
    b = te.placeholder((k, n), in_dtype, name="B")
    r = te.reduce_axis((0, k), name="k")
    if in_dtype == out_dtype:
        c = te.compute((m, n), lambda i, j: te.sum(a[i, r] * b[r, j], axis=r), name="matmul")
    else:
        c = te.compute(
            (m, n), lambda i, j: te.sum(a[i, r].astype(out_dtype) * b[r, j].astype(out_dtype), axis=r), name="C"
        )
    if not epilogue:
        return [a, b, c]
    bias = te.placeholder((n,), out_dtype, name="bias")
    d = te.compute((m, n), lambda i, j: te.max(c[i, j] + bias[j], te.const(0, out_dtype)), name="bias_relu")
    return [a, b, bias, d]


def batch_matmul(bs: int, m: int, n: int, k: int, in_dtype: str = F32, out_dtype: str = F32) -> list[Any]:
    """C[b,m,n] = sum_k A[b,m,k] * B[b,k,n]."""
    te = _te()
    a = te.placeholder((bs, m, k), in_dtype, name="A")
    b = te.placeholder((bs, k, n), in_dtype, name="B")
    r = te.reduce_axis((0, k), name="k")
    c = te.compute(
        (bs, m, n),
        lambda x, i, j: te.sum(a[x, i, r].astype(out_dtype) * b[x, r, j].astype(out_dtype), axis=r),
        name="batch_matmul",
    )
    return [a, b, c]


def _pad(x: Any, h: int, w: int, p: int) -> Any:
    import tvm

    te = _te()
    cond = tvm.tirx.all
    return te.compute(
        (x.shape[0], x.shape[1], h + 2 * p, w + 2 * p),
        lambda n, c, i, j: tvm.tirx.if_then_else(
            cond(i >= p, i < h + p, j >= p, j < w + p), x[n, c, i - p, j - p], te.const(0, x.dtype)
        ),
        name="pad",
    )


def conv2d(n: int, c: int, hw: int, oc: int, r: int = 3, epilogue: bool = False, dtype: str = F32) -> list[Any]:
    """NCHW conv2d, stride 1, same padding, optionally + bias then relu."""
    te = _te()
    x = te.placeholder((n, c, hw, hw), dtype, name="X")
    wt = te.placeholder((oc, c, r, r), dtype, name="W")
    p = _pad(x, hw, hw, r // 2)
    rc, rh, rw = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, r), "rh"), te.reduce_axis((0, r), "rw")
    o = te.compute(
        (n, oc, hw, hw),
        lambda b, k, i, j: te.sum(p[b, rc, i + rh, j + rw] * wt[k, rc, rh, rw], axis=[rc, rh, rw]),
        name="conv2d",
    )
    if not epilogue:
        return [x, wt, o]
    bias = te.placeholder((oc,), dtype, name="bias")
    e = te.compute((n, oc, hw, hw), lambda b, k, i, j: te.max(o[b, k, i, j] + bias[k], te.const(0, dtype)),
                   name="bias_relu")
    return [x, wt, bias, e]


def depthwise(n: int, c: int, hw: int, r: int = 3, dtype: str = F32) -> list[Any]:
    """NCHW depthwise conv2d, stride 1, same padding."""
    te = _te()
    x = te.placeholder((n, c, hw, hw), dtype, name="X")
    wt = te.placeholder((c, 1, r, r), dtype, name="W")
    p = _pad(x, hw, hw, r // 2)
    rh, rw = te.reduce_axis((0, r), "rh"), te.reduce_axis((0, r), "rw")
    o = te.compute(
        (n, c, hw, hw), lambda b, k, i, j: te.sum(p[b, k, i + rh, j + rw] * wt[k, 0, rh, rw], axis=[rh, rw]),
        name="depthwise_conv2d",
    )
    return [x, wt, o]


def max_pool(n: int, c: int, hw: int, win: int = 2, dtype: str = F32) -> list[Any]:
    """2D max pooling, window = stride = `win`."""
    te = _te()
    x = te.placeholder((n, c, hw, hw), dtype, name="X")
    rh, rw = te.reduce_axis((0, win), "rh"), te.reduce_axis((0, win), "rw")
    o = te.compute(
        (n, c, hw // win, hw // win),
        lambda b, k, i, j: te.max(x[b, k, i * win + rh, j * win + rw], axis=[rh, rw]),
        name="max_pool",
    )
    return [x, o]


def row_sum(rows: int, cols: int, dtype: str = F32) -> list[Any]:
    """Sum over the innermost axis."""
    te = _te()
    x = te.placeholder((rows, cols), dtype, name="X")
    k = te.reduce_axis((0, cols), name="k")
    return [x, te.compute((rows,), lambda i: te.sum(x[i, k], axis=k), name="row_sum")]


def softmax(rows: int, cols: int, dtype: str = F32) -> list[Any]:
    """Row softmax as max, exp, sum, divide."""
    te = _te()
    x = te.placeholder((rows, cols), dtype, name="X")
    k1, k2 = te.reduce_axis((0, cols), "k1"), te.reduce_axis((0, cols), "k2")
    m = te.compute((rows,), lambda i: te.max(x[i, k1], axis=k1), name="maxelem")
    e = te.compute((rows, cols), lambda i, j: te.exp(x[i, j] - m[i]), name="exp")
    s = te.compute((rows,), lambda i: te.sum(e[i, k2], axis=k2), name="expsum")
    o = te.compute((rows, cols), lambda i, j: e[i, j] / s[i], name="softmax_norm")
    return [x, o]


def layer_norm(rows: int, cols: int, dtype: str = F32) -> list[Any]:
    """Row layer norm (no bias) from sum and sum of squares."""
    te = _te()
    x = te.placeholder((rows, cols), dtype, name="X")
    g = te.placeholder((cols,), dtype, name="gamma")
    k1, k2 = te.reduce_axis((0, cols), "k1"), te.reduce_axis((0, cols), "k2")
    s1 = te.compute((rows,), lambda i: te.sum(x[i, k1], axis=k1), name="mean_sum")
    s2 = te.compute((rows,), lambda i: te.sum(x[i, k2] * x[i, k2], axis=k2), name="sq_sum")
    inv = 1.0 / cols

    def body(i: Any, j: Any) -> Any:
        mean = s1[i] * te.const(inv, dtype)
        var = s2[i] * te.const(inv, dtype) - mean * mean
        return (x[i, j] - mean) * te.rsqrt(var + te.const(1e-5, dtype)) * g[j]

    return [x, g, te.compute((rows, cols), body, name="layer_norm")]


def add_relu(shape: tuple[int, ...], dtype: str = F32) -> list[Any]:
    """relu(A + B), two fused elementwise blocks."""
    te = _te()
    a = te.placeholder(shape, dtype, name="A")
    b = te.placeholder(shape, dtype, name="B")
    s = te.compute(shape, lambda *i: a(*i) + b(*i), name="add")
    o = te.compute(shape, lambda *i: te.max(s(*i), te.const(0, dtype)), name="relu")
    return [a, b, o]


def add(shape: tuple[int, ...], dtype: str = F32) -> list[Any]:
    """A + B, one block."""
    te = _te()
    a = te.placeholder(shape, dtype, name="A")
    b = te.placeholder(shape, dtype, name="B")
    return [a, b, te.compute(shape, lambda *i: a(*i) + b(*i), name="add")]


def transpose(rows: int, cols: int, dtype: str = F32) -> list[Any]:
    """2D transpose."""
    te = _te()
    a = te.placeholder((rows, cols), dtype, name="A")
    return [a, te.compute((cols, rows), lambda i, j: a[j, i], name="transpose")]


# name -> builder; the query set refers to these names.
OPERATORS: dict[str, Callable[[], list[Any]]] = {
    "matmul_f32_256": lambda: matmul(256, 256, 256),
    "matmul_f32_2048": lambda: matmul(2048, 2048, 2048),
    "matmul_bias_relu_f32": lambda: matmul(256, 256, 256, epilogue=True),
    "matmul_f16_1024": lambda: matmul(1024, 1024, 1024, F16, F32),
    "matmul_f16_100": lambda: matmul(100, 100, 100, F16, F32),
    "matmul_f16_4096": lambda: matmul(4096, 4096, 4096, F16, F32),
    "matmul_i8_256": lambda: matmul(256, 256, 256, I8, I32),
    "matmul_f16_256": lambda: matmul(256, 256, 256, F16, F32),
    "batch_matmul_f32": lambda: batch_matmul(16, 32, 32, 32),
    "batch_matmul_f16": lambda: batch_matmul(32, 64, 64, 64, F16, F32),
    "conv2d_f32": lambda: conv2d(1, 64, 56, 64),
    "conv2d_bias_relu_f32": lambda: conv2d(1, 64, 28, 128, epilogue=True),
    "depthwise_f32": lambda: depthwise(1, 128, 56),
    "max_pool_f32": lambda: max_pool(1, 64, 112),
    "row_sum_f32": lambda: row_sum(512, 4096),
    "row_sum_f16": lambda: row_sum(1024, 2048, F16),
    "softmax_f32": lambda: softmax(128, 1024),
    "softmax_f16": lambda: softmax(256, 8192, F16),
    "layer_norm_f32": lambda: layer_norm(128, 768),
    "layer_norm_f16": lambda: layer_norm(512, 4096, F16),
    "add_relu_f32": lambda: add_relu((256, 1024)),
    "add_f32_small": lambda: add((16, 32)),
    "add_relu_f16": lambda: add_relu((1024, 1024), F16),
    "add_i8": lambda: add((512, 1024), I8),
    "transpose_f32": lambda: transpose(1024, 512),
    "transpose_f16": lambda: transpose(1024, 1024, F16),
}


@cache
def workload(name: str) -> Any:
    """The analysed Workload of a named operator, with its IRModule attached (as the engine does)."""
    import tvm
    from tvm import te

    from hawk_tvm.analysis.workload import analyze

    func = te.create_prim_func(OPERATORS[name]())
    wl = analyze(func, name)
    wl.module = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
    return wl


@cache
def _sim_target(profile: str) -> Any:
    from hawk_tvm.sim.target import SimulatorTarget

    return SimulatorTarget(profile)


def bottleneck(name: str, profile: str) -> dict[str, Any]:
    """The engine's bottleneck report: arithmetic intensity on host, plus the roofline on NPU profiles."""
    wl = workload(name)
    if profile == "host":
        intensity = wl.flops / max(1.0, wl.bytes)  # MeasureTarget.bottleneck (HostTarget does not override it)
        return {"arithmetic_intensity": intensity, "bottleneck": "compute" if intensity > 4 else "memory"}
    return _sim_target(profile).bottleneck(wl)
