"""Padded transfers: an ``if_then_else(in_bounds, x, 0)`` copy is a DMA that reads only the valid region off chip."""

from __future__ import annotations

import pytest

from hawk_tvm.hardware import load_profile

tvm = pytest.importorskip("tvm")
from tvm import te  # noqa: E402


def _padded_copy(rows: int, valid: int) -> object:
    """GM (valid x 512 fp16) -> L1 (rows x 512) with zero rows below `valid`, as pad_einsum + inlining makes it."""
    x = te.placeholder((valid, 512), "float16", name="X")
    pad = te.compute((rows, 512), lambda i, j: tvm.tirx.if_then_else(i < valid, x[i, j], tvm.tirx.const(0, "float16")),
                     name="X_pad")
    y = te.compute((rows, 512), lambda i, j: pad[i, j] * tvm.tirx.const(1, "float16"), name="Y")
    sch = tvm.s_tir.Schedule(te.create_prim_func([x, y]))
    l1 = sch.cache_read(sch.get_sblock("Y"), 0, "shared.l1")
    sch.compute_inline(sch.get_sblock("X_pad"))
    return sch.mod, sch.get(l1).name_hint


def test_padded_copy_is_one_transfer_reading_the_valid_rows() -> None:
    from hawk_tvm.sim.cycles import estimate_cycles
    from hawk_tvm.sim.nest import Leaf, extract, walk

    prof = load_profile("davinci")
    mod, name = _padded_copy(16, 1)
    moves = [n for n, _ in walk(extract(mod).body) if isinstance(n, Leaf) and n.kind == "move" and n.name == name]
    assert len(moves) == 1 and moves[0].elements == 16 * 512
    assert moves[0].valid == pytest.approx(1 / 16)
    est = estimate_cycles(mod, prof)
    assert est.bytes_moved["dma.global->shared.l1"] == pytest.approx(512 * 2)  # one row of 512 fp16 off chip
    full = estimate_cycles(_padded_copy(16, 16)[0], prof)
    assert full.breakdown["dma.global->shared.l1"] > est.breakdown["dma.global->shared.l1"]


def test_padded_copy_passes_the_alignment_check() -> None:
    """A GM -> L1 copy of 1 valid row into an aligned 16-row tile is legal (the mover pads on chip)."""
    from hawk_tvm.sim.constraints import check_constraints

    prof = load_profile("davinci")
    assert [e for e in check_constraints(_padded_copy(16, 1)[0], prof) if e.context.get("code") == "alignment"] == []
