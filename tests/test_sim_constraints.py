"""Constraint checks: each fires with the right code on a deliberately bad schedule, and not on a good one."""

import dataclasses
import functools

import pytest
from tvm import s_tir

from hawk_tvm.hardware import load_profile
from hawk_tvm.sim import examples
from hawk_tvm.sim.constraints import check_constraints


@functools.cache
def dav():
    return load_profile("davinci")


@functools.cache
def edge():
    return load_profile("edge")


def codes(mod, profile):
    return [e.context["code"] for e in check_constraints(mod, profile)]


def first(mod, profile, code):
    errs = [e for e in check_constraints(mod, profile) if e.context["code"] == code]
    assert errs, f"no {code} among {check_constraints(mod, profile)}"
    return errs[0]


def test_good_schedules_are_legal():
    mm = examples.matmul(256, 256, 256)
    assert codes(examples.schedule_matmul_npu(mm, dav(), 128, 128, 64, double_buffer=True), dav()) == []
    assert codes(examples.schedule_add(examples.add(1024), 256, 128), dav()) == []
    assert codes(examples.schedule_add(examples.add(1024, "int8"), 256, 64), edge()) == []


def test_default_lowering_is_legal():
    assert codes(examples.matmul(64, 64, 64), dav()) == []
    assert codes(examples.add(1024), dav()) == []


def test_capacity_counts_double_buffers():
    mm = examples.matmul(256, 256, 256)
    assert codes(examples.schedule_matmul_npu(mm, dav(), 128, 128, 256), dav()) == []  # L0A exactly 64 KB
    err = first(examples.schedule_matmul_npu(mm, dav(), 128, 128, 256, double_buffer=True), dav(), "capacity")
    assert err.kind == "sim.capacity"
    assert err.context["level"] in ("local.l0a", "local.l0b")
    assert err.context["requested"] == 2 * 65536 and err.context["limit"] == 65536
    assert "x2" in err.context["buffer"]


def test_capacity_double_buffer_scope_annotation():
    mod = examples.add(1 << 17)
    assert codes(examples.schedule_add(mod, 1 << 15, 128), dav()) == []  # 3 x 64 KB in a 256 KB UB
    err = first(examples.schedule_add(mod, 1 << 15, 128, double_buffer=True), dav(), "capacity")
    assert err.context["level"] == "global.ub" and err.context["requested"] == 5 * 65536  # A, B x2 + C


def test_alignment_of_transfers_and_vector_length():
    err = first(examples.schedule_add(examples.add(960), 120, 120), dav(), "alignment")
    assert err.context["level"] == "global.ub" and err.context["requested"] == 240 and err.context["limit"] == 32
    assert err.kind == "sim.alignment"


def test_alignment_of_start_offsets():
    # per-row transfers of 16 fp16 (32 B) into L0A, which needs 512-byte aligned starts and lengths
    mm = examples.matmul(64, 64, 64)
    sch = s_tir.Schedule(examples.schedule_matmul_npu(mm, dav(), 64, 64, 64, parallel=False, tensorize=False))
    *_, ax0, ax1 = sch.get_loops(sch.get_sblock("A_shared.l1_local.l0a"))
    ax1o, ax1i = sch.split(ax1, [None, 16])
    sch.reorder(ax1o, ax0, ax1i)
    sch.unroll(ax1o)  # one 64x16 (2 KB) transfer per unrolled step, starting 32 B apart
    err = first(sch.mod, dav(), "alignment")
    assert err.context["level"] == "local.l0a" and err.context["limit"] == 512


def test_offchip_compute():
    err = first(examples.schedule_add(examples.add(1024), 256, 128, scope_in=None, scope_out=None), dav(),
                "offchip_compute")
    assert err.context["level"] == "global" and err.context["unit"] == "vector"
    # the same loop, scalar: legal (slow)
    assert codes(examples.schedule_add(examples.add(1024), 256, 128, scope_in=None, scope_out=None,
                                       vectorize=False), dav()) == []


def test_vector_operand_level():
    err = first(examples.schedule_add(examples.add(1024), 256, 128, scope_in="shared.l1"), dav(),
                "vector_operand_level")
    assert err.context["level"] == "shared.l1" and err.context["limit"] == "global.ub"


def test_data_path():
    err = first(examples.schedule_add(examples.add(1024), 256, 128, scope_in="local.l0c", vectorize=False), dav(),
                "data_path")
    assert err.context["requested"] == "global->local.l0c"


def test_unknown_scope():
    err = first(examples.schedule_add(examples.add(1024), 256, 128, scope_in="local.scratch"), dav(),
                "unknown_scope")
    assert err.context["level"] == "local.scratch"
    # davinci knowledge (L1 staging) on edge
    sched = examples.schedule_matmul_npu(examples.matmul(64, 64, 64), dav(), 32, 32, 32)
    assert set(codes(sched, edge())) == {"unknown_scope"}


def test_mma_tile_and_dtype_across_profiles():
    mm = examples.matmul(64, 64, 64)
    sched = examples.schedule_matmul_npu(mm, dav(), 32, 32, 32, l1=False, parallel=False)
    assert codes(sched, dav()) == []
    err = first(sched, edge(), "mma_tile")
    assert err.context["requested"] == "16x16x16" and err.context["limit"] == "8x8x8"
    mm32 = examples.matmul(64, 64, 64, "float32", "float32")
    sched32 = examples.schedule_matmul_npu(mm32, dav(), 32, 32, 32, in_dtype="float32", l1=False, parallel=False)
    assert codes(sched32, dav()) == []
    assert first(sched32, edge(), "mma_dtype").context["requested"] == "float32->float32"


def test_mma_operand_level():
    prof = dav()
    moved = dataclasses.replace(prof.matrix, operand_levels={"a": "shared.l1", "b": "local.l0b", "c": "local.l0c"})
    other = dataclasses.replace(prof, name="davinci_l1a", matrix=moved, _by_scope={})
    sched = examples.schedule_matmul_npu(examples.matmul(64, 64, 64), prof, 32, 32, 32)
    err = first(sched, other, "mma_operand_level")
    assert err.context["requested"] == "local.l0a" and err.context["limit"] == "shared.l1"


def test_host_profile_has_no_constraints():
    mod = examples.schedule_add(examples.add(1024), 256, 128, scope_in=None, scope_out=None)
    assert check_constraints(mod, load_profile("host")) == []


@pytest.mark.parametrize("tile", [64, 128])
def test_more_parallel_cores_than_profile_is_legal(tile):
    mm = examples.matmul(1024, 1024, 256)
    assert codes(examples.schedule_matmul_npu(mm, edge(), tile, tile, 64, l1=False), edge()) in ([], ["capacity"])
