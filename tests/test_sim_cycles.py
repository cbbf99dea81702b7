"""Cycle model and roofline: hand-computed counts for small kernels and monotonic sanity."""

import dataclasses
import functools

import pytest

from hawk_tvm.hardware import load_profile
from hawk_tvm.sim import examples
from hawk_tvm.sim.cycles import estimate_cycles
from hawk_tvm.sim.roofline import roofline


@functools.cache
def dav():
    return load_profile("davinci")


def test_default_add_is_scalar_at_global_cost():
    # per element: 1 add + 3 scalar accesses to global at 8 cycles each
    est = estimate_cycles(examples.add(1024), dav())
    assert est.cycles == pytest.approx(1024 * (1 + 3 * 8))
    assert set(est.breakdown) == {"scalar"}


def test_vector_add_hand_computed():
    # 2 tiles of 512 fp16 (1 KB): 2 MTE2 loads + 1 MTE3 store at 200 + 1024/128 each, 4 vector instructions
    est = estimate_cycles(examples.schedule_add(examples.add(1024), 512, 128), dav())
    assert est.cycles == pytest.approx(2 * (3 * (200 + 8) + 4))
    assert est.breakdown["vector"] == pytest.approx(8)
    assert est.breakdown["dma.global->global.ub"] == pytest.approx(4 * 208)


def test_npu_matmul_hand_computed():
    est = estimate_cycles(examples.schedule_matmul_npu(examples.matmul(64, 64, 64), dav(), 64, 64, 64,
                                                       parallel=False), dav())
    parts = {
        "cube": 64 * 64 * 4 / 1024 + 64,  # L0C zero-fill + 64 tiles at one cycle each
        "dma.global->shared.l1": 2 * (200 + 8192 / 128),
        "dma.shared.l1->local.l0a": 20 + 8192 / 512,
        "dma.shared.l1->local.l0b": 20 + 8192 / 256,
        "dma.local.l0c->global": 200 + 16384 / 128,
    }
    assert est.breakdown == pytest.approx(parts)
    assert est.cycles == pytest.approx(sum(parts.values()))


def test_bigger_tiles_move_fewer_bytes():
    mm = examples.matmul(1024, 1024, 1024)
    small = estimate_cycles(examples.schedule_matmul_npu(mm, dav(), 64, 64, 64), dav())
    big = estimate_cycles(examples.schedule_matmul_npu(mm, dav(), 256, 256, 64), dav())
    key = "dma.global->shared.l1"
    assert big.bytes_moved[key] < small.bytes_moved[key] / 3
    assert big.cycles < small.cycles


def test_double_buffering_lowers_cycles():
    mm = examples.matmul(1024, 1024, 1024)
    single = estimate_cycles(examples.schedule_matmul_npu(mm, dav(), 128, 128, 64), dav())
    double = estimate_cycles(examples.schedule_matmul_npu(mm, dav(), 128, 128, 64, double_buffer=True), dav())
    assert double.cycles < single.cycles
    assert double.breakdown == pytest.approx(single.breakdown)  # same work, overlapped
    add = examples.add(1 << 16)
    assert estimate_cycles(examples.schedule_add(add, 4096, 128, double_buffer=True), dav()).cycles < \
        estimate_cycles(examples.schedule_add(add, 4096, 128), dav()).cycles


def test_more_cores_help_until_the_outer_loop_runs_out():
    sched = examples.schedule_matmul_npu(examples.matmul(256, 256, 256), dav(), 128, 128, 64)  # 4 blocks
    cycles = []
    for cores in (1, 2, 4, 8):
        prof = dataclasses.replace(dav(), cores=cores, _by_scope={})
        est = estimate_cycles(sched, prof)
        assert est.cores_used == min(cores, 4)
        cycles.append(est.cycles)
    assert cycles[0] > cycles[1] > cycles[2]
    assert cycles[3] == pytest.approx(cycles[2])
    # load imbalance: 3 cores take ceil(4/3) = 2 rounds, like 2 cores
    three = estimate_cycles(sched, dataclasses.replace(dav(), cores=3, _by_scope={}))
    assert three.cycles == pytest.approx(cycles[1])


def test_default_lowering_slower_than_good_schedule():
    mm = examples.matmul(256, 256, 256)
    base = estimate_cycles(mm, dav()).cycles
    good = estimate_cycles(examples.schedule_matmul_npu(mm, dav(), 128, 128, 64, double_buffer=True), dav()).cycles
    assert good * 100 < base


def test_roofline():
    roof = roofline(examples.matmul(1024, 1024, 1024), dav())
    assert roof.unit == "cube" and roof.bound == "compute"
    assert roof.macs == 1024 ** 3
    assert roof.compute_cycles == pytest.approx(1024 ** 3 / (4096 * 32), rel=0.01)
    assert roof.offchip_bytes == 1024 * 1024 * (2 + 2 + 4)
    add = roofline(examples.add(1 << 20), dav())
    assert add.bound == "memory" and add.memory_cycles == pytest.approx(3 * 2 * (1 << 20) / 1200)
    good = estimate_cycles(examples.schedule_matmul_npu(examples.matmul(1024, 1024, 1024), dav(), 256, 256, 64,
                                                        double_buffer=True), dav())
    assert 0.05 < roof.fraction(good.cycles) <= 1.0


def _three_input_ub(expr) -> object:
    """C = expr(A, B, D) over 1024 fp16 elements, staged in UB in tiles of 512 and vectorized by 128."""
    import tvm
    from tvm import s_tir, te

    a, b, d = (te.placeholder((1024,), "float16", name=n) for n in "ABD")
    c = te.compute((1024,), lambda i: expr(a[i], b[i], d[i]), name="C")
    sch = s_tir.Schedule(tvm.IRModule({"main": te.create_prim_func([a, b, d, c])}))
    blk = sch.get_sblock("C")
    reads = [sch.cache_read(blk, i, "global.ub") for i in range(3)]
    write = sch.cache_write(blk, 0, "global.ub")
    io, ii = sch.split(sch.get_loops(blk)[0], [None, 512])
    sch.vectorize(sch.split(ii, [None, 128])[1])
    for r in reads:
        sch.compute_at(r, io)
    sch.reverse_compute_at(write, io)
    return sch.mod


def test_vector_multiply_add_is_one_instruction():
    # vmla: c + a * b is one vector instruction per 256 bytes, as the roofline's vector peak assumes; (a - b) * d is two
    fma = estimate_cycles(_three_input_ub(lambda a, b, d: a + b * d), dav()).breakdown["vector"]
    fma_cast = estimate_cycles(_three_input_ub(lambda a, b, d: (a.astype("float32") + (b * d).astype("float32"))
                                               .astype("float16")), dav()).breakdown["vector"]
    two = estimate_cycles(_three_input_ub(lambda a, b, d: (a - b) * d), dav()).breakdown["vector"]
    assert fma == pytest.approx(2 * 4)  # 2 tiles x 4 instructions of 256 bytes
    assert fma_cast == pytest.approx(fma)
    assert two == pytest.approx(2 * fma)
