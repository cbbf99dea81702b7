"""Every seed template is legal and correct on its target: host entries built and run with LLVM, NPU ones simulated."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

from hawk_tvm.knowledge.entry import KnowledgeEntry
from hawk_tvm.knowledge.seed import load_seed_entries

tvm = pytest.importorskip("tvm")
from tvm import te  # noqa: E402

F32 = "float32"


def _pad(x: Any, h: int, w: int) -> Any:
    cond = tvm.tirx.all
    return te.compute(
        (x.shape[0], x.shape[1], h + 2, w + 2),
        lambda n, c, i, j: tvm.tirx.if_then_else(cond(i >= 1, i <= h, j >= 1, j <= w), x[n, c, i - 1, j - 1], 0.0),
        name="pad",
    )


def _matmul(epilogue: bool = False) -> tuple[list[Any], Callable[..., np.ndarray]]:
    a = te.placeholder((64, 64), F32, name="A")
    b = te.placeholder((64, 64), F32, name="B")
    k = te.reduce_axis((0, 64), name="k")
    c = te.compute((64, 64), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="matmul")
    if not epilogue:
        return [a, b, c], lambda x, y: x @ y
    bias = te.placeholder((64,), F32, name="bias")
    d = te.compute((64, 64), lambda i, j: te.max(c[i, j] + bias[j], 0.0), name="bias_relu")
    return [a, b, bias, d], lambda x, y, z: np.maximum(x @ y + z, 0)


def _batch_matmul() -> tuple[list[Any], Callable[..., np.ndarray]]:
    a = te.placeholder((4, 32, 32), F32, name="A")
    b = te.placeholder((4, 32, 32), F32, name="B")
    k = te.reduce_axis((0, 32), name="k")
    c = te.compute((4, 32, 32), lambda n, i, j: te.sum(a[n, i, k] * b[n, k, j], axis=k), name="batch_matmul")
    return [a, b, c], lambda x, y: x @ y


def _conv2d(epilogue: bool = False) -> tuple[list[Any], Callable[..., np.ndarray]]:
    n, c, h, w, oc, r = 1, 8, 16, 16, 16, 3
    x = te.placeholder((n, c, h, w), F32, name="X")
    wt = te.placeholder((oc, c, r, r), F32, name="W")
    p = _pad(x, h, w)
    rc, rh, rw = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, r), "rh"), te.reduce_axis((0, r), "rw")
    o = te.compute(
        (n, oc, h, w),
        lambda b, k, i, j: te.sum(p[b, rc, i + rh, j + rw] * wt[k, rc, rh, rw], axis=[rc, rh, rw]),
        name="conv2d_nchw",
    )

    def ref(xv: np.ndarray, wv: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        xp = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, oc, h, w), F32)
        for i in range(r):
            for j in range(r):
                out += np.einsum("nchw,kc->nkhw", xp[:, :, i : i + h, j : j + w], wv[:, :, i, j])
        return np.maximum(out + rest[0][None, :, None, None], 0) if rest else out

    if not epilogue:
        return [x, wt, o], ref
    bias = te.placeholder((oc,), F32, name="bias")
    e = te.compute((n, oc, h, w), lambda b, k, i, j: te.max(o[b, k, i, j] + bias[k], 0.0), name="bias_relu")
    return [x, wt, bias, e], ref


def _conv2d_nhwc() -> tuple[list[Any], Callable[..., np.ndarray]]:
    """NHWC data, HWIO weights, bias + ReLU: what the host layout pass gives a conv (TOPI's block names)."""
    from tvm import topi

    n, h, w, c, oc, r = 1, 8, 8, 16, 32, 3
    x = te.placeholder((n, h, w, c), F32, name="X")
    wt = te.placeholder((r, r, c, oc), F32, name="W")
    bias = te.placeholder((oc,), F32, name="bias")
    o = topi.nn.conv2d_nhwc(x, wt, 1, 1, 1)
    e = te.compute(o.shape, lambda b, i, j, k: te.max(o[b, i, j, k] + bias[k], 0.0), name="bias_relu")

    def ref(xv: np.ndarray, wv: np.ndarray, bv: np.ndarray) -> np.ndarray:
        xp = np.pad(xv, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((n, h, w, oc), F32)
        for i in range(r):
            for j in range(r):
                out += np.einsum("nhwc,ck->nhwk", xp[:, i : i + h, j : j + w, :], wv[i, j])
        return np.maximum(out + bv, 0)

    return [x, wt, bias, e], ref


def _gemv() -> tuple[list[Any], Callable[..., np.ndarray]]:
    """A batch-1 dense layer (one row times a weight matrix)."""
    a = te.placeholder((1, 96), F32, name="A")
    b = te.placeholder((96, 128), F32, name="B")
    k = te.reduce_axis((0, 96), name="k")
    return [a, b, te.compute((1, 128), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="matmul")], np.matmul


def _depthwise_nhwc() -> tuple[list[Any], Callable[..., np.ndarray]]:
    """A depthwise 3x3 in channels-last layout (HWIO weights, one input channel per group), as the host layout
    pass gives it (TOPI's group_conv2d_nhwc)."""
    from tvm import topi

    n, h, w, c, r = 1, 9, 9, 24, 3
    x = te.placeholder((n, h, w, c), F32, name="X")
    wt = te.placeholder((r, r, 1, c), F32, name="W")
    o = topi.nn.group_conv2d_nhwc(x, wt, 1, 1, 1, c)

    def ref(xv: np.ndarray, wv: np.ndarray) -> np.ndarray:
        xp = np.pad(xv, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((n, h, w, c), F32)
        for i in range(r):
            for j in range(r):
                out += xp[:, i : i + h, j : j + w, :] * wv[i, j, 0]
        return out

    return [x, wt, o], ref


def _depthwise() -> tuple[list[Any], Callable[..., np.ndarray]]:
    n, c, h, w, r = 1, 16, 16, 16, 3
    x = te.placeholder((n, c, h, w), F32, name="X")
    wt = te.placeholder((c, 1, r, r), F32, name="W")
    p = _pad(x, h, w)
    rh, rw = te.reduce_axis((0, r), "rh"), te.reduce_axis((0, r), "rw")
    o = te.compute(
        (n, c, h, w), lambda b, k, i, j: te.sum(p[b, k, i + rh, j + rw] * wt[k, 0, rh, rw], axis=[rh, rw]),
        name="depthwise_conv2d",
    )

    def ref(xv: np.ndarray, wv: np.ndarray) -> np.ndarray:
        xp = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, c, h, w), F32)
        for i in range(r):
            for j in range(r):
                out += xp[:, :, i : i + h, j : j + w] * wv[None, :, 0, i, j][..., None, None]
        return out

    return [x, wt, o], ref


def _pool() -> tuple[list[Any], Callable[..., np.ndarray]]:
    x = te.placeholder((1, 16, 32, 32), F32, name="X")
    rh, rw = te.reduce_axis((0, 2), "rh"), te.reduce_axis((0, 2), "rw")
    o = te.compute((1, 16, 16, 16), lambda n, c, i, j: te.max(x[n, c, i * 2 + rh, j * 2 + rw], axis=[rh, rw]),
                   name="max_pool")
    return [x, o], lambda v: v.reshape(1, 16, 16, 2, 16, 2).max(axis=(3, 5))


def _reduction() -> tuple[list[Any], Callable[..., np.ndarray]]:
    x = te.placeholder((64, 256), F32, name="X")
    k = te.reduce_axis((0, 256), name="k")
    return [x, te.compute((64,), lambda i: te.sum(x[i, k], axis=k), name="row_sum")], lambda v: v.sum(axis=1)


def _softmax() -> tuple[list[Any], Callable[..., np.ndarray]]:
    x = te.placeholder((32, 128), F32, name="X")
    k1, k2 = te.reduce_axis((0, 128), "k1"), te.reduce_axis((0, 128), "k2")
    m = te.compute((32,), lambda i: te.max(x[i, k1], axis=k1), name="maxelem")
    e = te.compute((32, 128), lambda i, j: te.exp(x[i, j] - m[i]), name="exp")
    s = te.compute((32,), lambda i: te.sum(e[i, k2], axis=k2), name="expsum")
    o = te.compute((32, 128), lambda i, j: e[i, j] / s[i], name="softmax_norm")

    def ref(v: np.ndarray) -> np.ndarray:
        ev = np.exp(v - v.max(1, keepdims=True))
        return ev / ev.sum(1, keepdims=True)

    return [x, o], ref


def _norm() -> tuple[list[Any], Callable[..., np.ndarray]]:
    x = te.placeholder((32, 128), F32, name="X")
    g = te.placeholder((128,), F32, name="gamma")
    k1, k2 = te.reduce_axis((0, 128), "k1"), te.reduce_axis((0, 128), "k2")
    s1 = te.compute((32,), lambda i: te.sum(x[i, k1], axis=k1), name="mean_sum")
    s2 = te.compute((32,), lambda i: te.sum(x[i, k2] * x[i, k2], axis=k2), name="sq_sum")

    def body(i: Any, j: Any) -> Any:
        mean = s1[i] / 128.0
        return (x[i, j] - mean) * te.rsqrt(s2[i] / 128.0 - mean * mean + 1e-5) * g[j]

    o = te.compute((32, 128), body, name="layer_norm")

    def ref(v: np.ndarray, gv: np.ndarray) -> np.ndarray:
        mu = v.mean(1, keepdims=True)
        return (v - mu) / np.sqrt(((v - mu) ** 2).mean(1, keepdims=True) + 1e-5) * gv

    return [x, g, o], ref


def _elementwise() -> tuple[list[Any], Callable[..., np.ndarray]]:
    a = te.placeholder((64, 128), F32, name="A")
    b = te.placeholder((64, 128), F32, name="B")
    s = te.compute((64, 128), lambda i, j: a[i, j] + b[i, j], name="add")
    o = te.compute((64, 128), lambda i, j: te.max(s[i, j], 0.0), name="relu")
    return [a, b, o], lambda x, y: np.maximum(x + y, 0)


def _transpose() -> tuple[list[Any], Callable[..., np.ndarray]]:
    a = te.placeholder((64, 128), F32, name="A")
    return [a, te.compute((128, 64), lambda i, j: a[j, i], name="transpose")], lambda x: x.T.copy()


def _layout_transpose() -> tuple[list[Any], Callable[..., np.ndarray]]:
    a = te.placeholder((1, 24, 13, 13), name="a")
    out = te.compute((1, 13, 13, 24), lambda n, h, w, c: a[n, c, h, w], name="T_transpose")
    return [a, out], lambda x: x.transpose(0, 2, 3, 1).copy()


# op class -> small host workloads of that class (te tensors + numpy reference)
HOST_WORKLOADS: dict[str, list[Callable[[], tuple[list[Any], Callable[..., np.ndarray]]]]] = {
    "matmul": [_matmul, lambda: _matmul(epilogue=True), _gemv],
    "batch_matmul": [_batch_matmul],
    "conv2d": [_conv2d, lambda: _conv2d(epilogue=True), _conv2d_nhwc, _depthwise_nhwc],
    "depthwise_conv2d": [_depthwise],
    "pool": [_pool],
    "reduction": [_reduction],
    "softmax": [_softmax],
    "norm": [_norm],
    "elementwise": [_elementwise],
    "injective": [_transpose, _layout_transpose],
}
GENERIC_CLASSES = ("matmul", "conv2d", "elementwise", "softmax")  # where op-class-free entries are tried


@cache
def _all_seed_entries() -> tuple[KnowledgeEntry, ...]:
    entries, errors = load_seed_entries()
    assert not errors, [str(e) for e in errors]
    return tuple(e for _, e in entries)


def _seed_entries(profile: str) -> list[KnowledgeEntry]:
    return [e for e in _all_seed_entries() if profile in e.profiles]


def bind_params(entry: KnowledgeEntry, env: dict[str, Any]) -> dict[str, Any]:
    """First choice of each list; string values are sandbox expressions."""
    from hawk_tvm.proposer.offline import _dependency_order
    from hawk_tvm.sandbox import evaluate_expression

    bound = dict(env)
    for name in _dependency_order(entry.params):  # an expression after the parameters it names
        value = entry.params[name]
        value = value[0] if isinstance(value, list) else value
        if isinstance(value, str):
            value, err = evaluate_expression(value, bound)
            assert err is None, f"{entry.id}: param {name}: {err}"
        bound[name] = value
    return bound


@cache
def _host_target() -> Any:
    return tvm.target.Target({"kind": "llvm", "num-cores": 2})


def test_seed_library_loads_with_enough_entries() -> None:
    entries, errors = load_seed_entries()
    assert not errors, [str(e) for e in errors]
    per_profile = {p: sum(p in e.profiles for _, e in entries) for p in ("host", "davinci", "edge")}
    assert per_profile["host"] >= 15, per_profile
    assert len(entries) >= 40, per_profile


@pytest.mark.parametrize("entry_id", [e.id for e in _seed_entries("host")])
def test_host_seed_template_is_legal_and_correct(entry_id: str) -> None:
    """Per op class of the entry, the first small workload its `when` accepts: applied, built with LLVM, vs numpy."""
    from hawk_tvm.analysis.workload import analyze
    from hawk_tvm.hardware.profile import load_profile
    from hawk_tvm.sandbox import ScheduleSandbox, evaluate_expression

    entry = next(e for e in _seed_entries("host") if e.id == entry_id)
    facts = load_profile("host").program_facts("float32")
    tried = 0
    for op in entry.op_classes or GENERIC_CLASSES:
        for make in HOST_WORKLOADS[op]:
            args, ref = make()
            func = te.create_prim_func(args)
            w = analyze(func)
            assert w.op_class == op
            env = bind_params(entry, w.program_env(facts))
            if entry.when:
                ok, err = evaluate_expression(entry.when, env)
                assert err is None, f"{entry_id}: when: {err}"
                if not ok:
                    continue
            sch, err = ScheduleSandbox().apply(tvm.IRModule({"main": func}), entry.template, env)
            assert err is None, f"{entry_id} on {op}: {err}"
            lib = tvm.compile(sch.mod, target=_host_target())
            dev = tvm.cpu()
            rng = np.random.default_rng(0)
            inputs = [rng.standard_normal([int(s) for s in a.shape]).astype(F32) for a in args[:-1]]
            out = tvm.runtime.empty([int(s) for s in args[-1].shape], F32, dev)
            lib["main"](*[tvm.runtime.tensor(x, dev) for x in inputs], out)
            np.testing.assert_allclose(out.numpy(), ref(*inputs), rtol=1e-4, atol=1e-4)
            tried += 1
            break
    assert tried, f"{entry_id}: no test workload satisfies its `when`"


# ---- NPU entries: legal and correct in the simulator -------------------------------------------------------------
def _npu_matmul(m: int, n: int, k: int, dt: str) -> list[Any]:
    acc = "int32" if dt == "int8" else "float32"
    a = te.placeholder((m, k), dt, name="A")
    b = te.placeholder((k, n), dt, name="B")
    r = te.reduce_axis((0, k), name="k")
    return [a, b, te.compute((m, n), lambda i, j: te.sum(a[i, r].astype(acc) * b[r, j].astype(acc), axis=r), name="C")]


def _npu_batch_matmul(dt: str) -> list[Any]:
    acc = "int32" if dt == "int8" else "float32"
    a = te.placeholder((4, 64, 64), dt, name="A")
    b = te.placeholder((4, 64, 64), dt, name="B")
    r = te.reduce_axis((0, 64), name="k")
    return [a, b, te.compute((4, 64, 64), lambda n, i, j: te.sum(a[n, i, r].astype(acc) * b[n, r, j].astype(acc),
                                                                  axis=r), name="C")]


def _npu_add(dt: str) -> list[Any]:
    a = te.placeholder((64, 1024), dt, name="A")
    b = te.placeholder((64, 1024), dt, name="B")
    return [a, b, te.compute((64, 1024), lambda i, j: a[i, j] + b[i, j], name="add")]


def _npu_softmax(dt: str) -> list[Any]:
    x = te.placeholder((64, 512), dt, name="X")
    k1, k2 = te.reduce_axis((0, 512), "k1"), te.reduce_axis((0, 512), "k2")
    m = te.compute((64,), lambda i: te.max(x[i, k1], axis=k1), name="maxelem")
    e = te.compute((64, 512), lambda i, j: te.exp(x[i, j] - m[i]), name="exp")
    s = te.compute((64,), lambda i: te.sum(e[i, k2], axis=k2), name="expsum")
    return [x, te.compute((64, 512), lambda i, j: e[i, j] / s[i], name="softmax_norm")]


def _npu_norm(dt: str) -> list[Any]:
    x = te.placeholder((64, 512), dt, name="X")
    k1, k2 = te.reduce_axis((0, 512), "k1"), te.reduce_axis((0, 512), "k2")
    s1 = te.compute((64,), lambda i: te.sum(x[i, k1], axis=k1), name="mean_sum")
    s2 = te.compute((64,), lambda i: te.sum(x[i, k2] * x[i, k2], axis=k2), name="sq_sum")
    c = tvm.tirx.const

    def body(i: Any, j: Any) -> Any:
        mean = s1[i] / c(512.0, dt)
        return (x[i, j] - mean) * te.rsqrt(s2[i] / c(512.0, dt) - mean * mean + c(1e-5, dt))

    return [x, te.compute((64, 512), body, name="layer_norm")]


def _npu_reduction(dt: str) -> list[Any]:
    x = te.placeholder((128, 1024), dt, name="X")
    k = te.reduce_axis((0, 1024), "k")
    return [x, te.compute((128,), lambda i: te.sum(x[i, k], axis=k), name="row_sum")]


def _npu_pad(x: Any, ph: int, pw: int) -> Any:
    _, _, h, w = (int(v) for v in x.shape)
    cond = tvm.tirx.all
    return te.compute(
        (x.shape[0], x.shape[1], h + 2 * ph, w + 2 * pw),
        lambda n, c, i, j: tvm.tirx.if_then_else(cond(i >= ph, i < h + ph, j >= pw, j < w + pw),
                                                 x[n, c, i - ph, j - pw], tvm.tirx.const(0, x.dtype)),
        name="pad_temp",
    )


def _npu_bias_relu(o: Any, dt: str) -> tuple[Any, Any]:
    oc = int(o.shape[1])
    bias = te.placeholder((1, oc, 1, 1), dt, name="bias")
    add = te.compute(o.shape, lambda n, c, i, j: o[n, c, i, j] + bias[0, c, 0, 0], name="T_add")
    return bias, te.compute(o.shape, lambda n, c, i, j: te.max(add[n, c, i, j], tvm.tirx.const(0, dt)), name="compute")


def _npu_conv2d(dt: str) -> list[Any]:
    """NCHW 3x3 conv, pad 1, bias + relu epilogue: the fused form the ONNX frontend produces."""
    n, c, h, w, oc, r = 1, 8, 8, 32, 32, 3
    x = te.placeholder((n, c, h, w), dt, name="X")
    wt = te.placeholder((oc, c, r, r), dt, name="W")
    p = _npu_pad(x, 1, 1)
    rc, rh, rw = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, r), "ry"), te.reduce_axis((0, r), "rx")
    o = te.compute((n, oc, h, w), lambda b, k, i, j: te.sum(p[b, rc, i + rh, j + rw] * wt[k, rc, rh, rw],
                                                           axis=[rc, rh, rw]), name="conv2d_nchw")
    bias, out = _npu_bias_relu(o, dt)
    return [x, wt, bias, out]


def _npu_depthwise(dt: str) -> list[Any]:
    """Depthwise 3x3 conv, pad 1, bias + relu epilogue (MobileNet-style)."""
    n, c, h, w, r = 1, 32, 8, 32, 3
    x = te.placeholder((n, c, h, w), dt, name="X")
    wt = te.placeholder((c, 1, r, r), dt, name="W")
    p = _npu_pad(x, 1, 1)
    rh, rw = te.reduce_axis((0, r), "ry"), te.reduce_axis((0, r), "rx")
    o = te.compute((n, c, h, w), lambda b, k, i, j: te.sum(p[b, k, i + rh, j + rw] * wt[k, 0, rh, rw], axis=[rh, rw]),
                   name="depthwise_conv2d_nchw")
    bias, out = _npu_bias_relu(o, dt)
    return [x, wt, bias, out]


def _npu_pool(dt: str) -> list[Any]:
    x = te.placeholder((1, 32, 32, 64), dt, name="X")
    rh, rw = te.reduce_axis((0, 2), "rh"), te.reduce_axis((0, 2), "rw")
    return [x, te.compute((1, 32, 16, 32), lambda n, c, i, j: te.max(x[n, c, i * 2 + rh, j * 2 + rw], axis=[rh, rw]),
                          name="pool_max")]


NPU_WORKLOADS: dict[str, list[Callable[[str], list[Any]]]] = {
    "matmul": [lambda dt: _npu_matmul(256, 256, 128, dt), lambda dt: _npu_matmul(60, 40, 72, dt)],
    "batch_matmul": [_npu_batch_matmul],
    "elementwise": [_npu_add],
    "injective": [_npu_add],
    "softmax": [_npu_softmax],
    "norm": [_npu_norm],
    "reduction": [_npu_reduction],
    # convolutions are imported from ONNX in fp32; fp16 convs run the same templates (fp16 on the host is slow to JIT)
    "conv2d": [lambda dt: _npu_conv2d("float32")],
    "depthwise_conv2d": [lambda dt: _npu_depthwise("float32")],
    "pool": [_npu_pool],
}


def _entry_dtype(entry: KnowledgeEntry) -> str:
    return "int8" if "dtype_int8" in entry.patterns else "float16"


def _npu_env(entry: KnowledgeEntry, profile: Any, func: Any) -> tuple[dict[str, Any], bool]:
    from hawk_tvm.analysis.workload import analyze
    from hawk_tvm.sandbox import evaluate_expression

    w = analyze(func)
    env = bind_params(entry, w.program_env(profile.program_facts(w.in_dtype)))
    if not entry.when:
        return env, True
    ok, err = evaluate_expression(entry.when, env)
    assert err is None, f"{entry.id}: when: {err}"
    return env, bool(ok)


def _npu_cases() -> list[tuple[str, str]]:
    return [(e.id, p) for p in ("davinci", "edge") for e in _seed_entries(p)]


@pytest.mark.parametrize("entry_id,profile_name", _npu_cases())
def test_npu_seed_template_is_legal_and_correct(entry_id: str, profile_name: str) -> None:
    """The first applicable small workload of each op class: the simulator finds no violation and the numerics match."""
    from hawk_tvm.hardware.profile import load_profile
    from hawk_tvm.sandbox import ScheduleSandbox
    from hawk_tvm.sim import register_all_intrinsics, simulate

    register_all_intrinsics()
    profile = load_profile(profile_name)
    entry = next(e for e in _seed_entries(profile_name) if e.id == entry_id)
    tried = 0
    for op in entry.op_classes or ("elementwise",):
        for make in NPU_WORKLOADS[op]:
            func = te.create_prim_func(make(_entry_dtype(entry)))
            env, ok = _npu_env(entry, profile, func)
            if not ok:
                continue
            mod = tvm.IRModule({"main": func})
            sch, err = ScheduleSandbox().apply(mod, entry.template, env)
            assert err is None, f"{entry_id} on {op}/{profile_name}: {err}"
            result = simulate(sch.mod, mod, profile, isolate=False)
            assert result.ok, f"{entry_id} on {op}/{profile_name}: {result.error}"
            tried += 1
            break
    assert tried, f"{entry_id}: no test workload satisfies its `when` on {profile_name}"


def test_profile_specific_knowledge_breaks_the_other_profile() -> None:
    """Hard-coded davinci 16x16 fractals and edge 8x8 fractals fail (schedule or simulator error) on the other NPU."""
    from hawk_tvm.hardware.profile import load_profile
    from hawk_tvm.sandbox import ScheduleSandbox
    from hawk_tvm.sim import register_all_intrinsics, simulate

    register_all_intrinsics()
    entries = {e.id: e for _, e in load_seed_entries()[0]}
    outcomes = {}
    for eid, target, dt in (("davinci.matmul.cube_big_tile_fp16", "edge", "float16"),
                            ("edge.matmul.int8_8x8_tile", "davinci", "int8")):
        entry, profile = entries[eid], load_profile(target)
        func = te.create_prim_func(_npu_matmul(256, 256, 128, dt))
        env, ok = _npu_env(entry, profile, func)
        assert ok
        mod = tvm.IRModule({"main": func})
        sch, err = ScheduleSandbox().apply(mod, entry.template, env)
        outcomes[eid] = err.kind if err else simulate(sch.mod, mod, profile, isolate=False, functional=False).error
    for eid, outcome in outcomes.items():
        kind = outcome if isinstance(outcome, str) else getattr(outcome, "kind", None)
        assert kind is not None and (kind in ("schedule", "program") or kind.startswith("sim.")), (eid, outcome)
