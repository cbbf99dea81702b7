"""The sandbox's trusted schedule helpers that report buffers (offchip_reads, read_bytes) and stage reads
(plain_cache_read)."""

from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm import te  # noqa: E402

from hawk_tvm.sandbox import ALLOWED_METHODS, ScheduleSandbox  # noqa: E402

ENV = {"MAIN": "out"}


def _bias_relu() -> object:
    """x[64, 128] * scale[128] with a relu epilogue: one broadcast operand."""
    x = te.placeholder((64, 128), "float32", name="x")
    s = te.placeholder((128,), "float32", name="scale")
    y = te.compute((64, 128), lambda i, j: x[i, j] * s[j], name="mul")
    out = te.compute((64, 128), lambda i, j: te.max(y[i, j], 0.0), name="out")
    return tvm.IRModule({"main": te.create_prim_func([x, s, out])})


def _reshaped_sum() -> object:
    """out[i, j] = x[i // 4, (i % 4) * 32 + j]: a reshape folded into its consumer."""
    x = te.placeholder((16, 128), "float32", name="x")
    out = te.compute((64, 32), lambda i, j: x[i // 4, (i % 4) * 32 + j] + 1.0, name="out")
    return tvm.IRModule({"main": te.create_prim_func([x, out])})


def _facts(mod: object, program: str) -> dict:
    """Run `program`, which annotates the block `out` with what the helpers returned; read the annotations back."""
    sch, err = ScheduleSandbox().apply(mod, program, ENV)
    assert err is None, err
    block = sch.get(sch.get_sblock("out"))
    return {k: [int(v) for v in val] for k, val in block.annotations.items()}


def test_helpers_are_whitelisted() -> None:
    assert {"offchip_reads", "read_bytes", "plain_cache_read"} <= ALLOWED_METHODS


def test_read_bytes_tells_a_broadcast_operand_from_a_full_one() -> None:
    program = """
sch.compute_inline(sch.get_sblock("mul"))
b = sch.get_sblock("out")
sch.annotate(b, "bytes", sch.read_bytes(b))
sch.annotate(b, "offchip", sch.offchip_reads(b))
"""
    facts = _facts(_bias_relu(), program)
    assert facts["bytes"] == [64 * 128 * 4, 128 * 4]
    assert facts["offchip"] == [0, 1]


def test_offchip_reads_skip_intermediates_moved_on_chip() -> None:
    program = """
sch.set_scope(sch.get_sblock("mul"), 0, "global.ub")
b = sch.get_sblock("out")
sch.annotate(b, "offchip", sch.offchip_reads(b) + [-1])
sch.annotate(b, "params", sch.param_reads(b) + [-1])
"""
    facts = _facts(_bias_relu(), program)
    assert facts["offchip"] == [-1]  # reads only `mul`, now in UB
    assert facts["params"] == [-1]


def test_plain_cache_read_keeps_the_layout_of_a_plain_read() -> None:
    program = """
sch.compute_inline(sch.get_sblock("mul"))
b = sch.get_sblock("out")
sch.plain_cache_read(b, 1, "global")
"""
    sch, err = ScheduleSandbox().apply(_bias_relu(), program, ENV)
    assert err is None, err
    assert "scale_global = T.sblock_alloc_buffer((128,)" in sch.mod.script()


def test_plain_cache_read_lays_a_folded_read_out_by_the_iterators() -> None:
    """The cache of a reshaped read is indexed [i, j] by the consumer, so a tile of rows compacts to its rows."""
    program = """
b = sch.get_sblock("out")
c = sch.plain_cache_read(b, 0, "global")
i, j = sch.get_loops(b)
io, ii = sch.split(i, [None, 8])
sch.compute_at(c, io)
"""
    mod = _reshaped_sum()
    sch, err = ScheduleSandbox().apply(mod, program, ENV)
    assert err is None, err
    script = sch.mod.script()
    assert "x_global = T.sblock_alloc_buffer((64, 32)" in script
    assert "x_global[v_i, v_j] + T.float32(1.0)" in script
    compacted = tvm.s_tir.transform.CompactBufferAllocation()(
        tvm.s_tir.transform.ConvertBlocksToOpaque()(
            tvm.s_tir.transform.PlanAndUpdateBufferAllocationLocation()(sch.mod)
        )
    ).script()
    assert "x_global = T.sblock_alloc_buffer((8, 32)" in compacted
    lib = tvm.compile(sch.mod, target="llvm")
    xv = np.random.default_rng(0).standard_normal((16, 128)).astype("float32")
    out = tvm.runtime.empty((64, 32), "float32", tvm.cpu())
    lib["main"](tvm.runtime.tensor(xv, tvm.cpu()), out)
    np.testing.assert_allclose(out.numpy(), xv.reshape(64, 32) + 1.0, rtol=1e-6)


def test_vector_chunk_needs_the_fewest_vector_instructions() -> None:
    from hawk_tvm.sandbox.helpers import vector_chunk

    assert vector_chunk(3600, 128, 16) == 240  # 15 x 2 instructions; the largest divisor <= 128 (80) needs 45
    assert vector_chunk(1024, 128, 16) == 128  # ties keep the one-vector chunk
    assert vector_chunk(784, 128, 16) == 112
    assert vector_chunk(7, 128, 16) == 7  # no aligned divisor: the largest one <= a vector
    program = "sch.annotate(sch.get_sblock('out'), 'q', [vector_chunk(3600, 128, 16)])"  # a sandbox helper too
    assert _facts(_bias_relu(), program)["q"] == [240]
