"""Whole models on the NPU: the functional check catches out-of-bounds staging (the davinci max-pool segfault),
explain reads tensorized records, the model-level report and --strict-npu, odd-shape vector kernels."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.script import tirx as T

from hawk_tvm.sim.functional import _run, check_numerics, random_args
from hawk_tvm.sim.guarded import GuardedArrays

N = 1000  # 4000 bytes: an operand of its own size, like a 1x1000 classifier row


def _reference() -> tvm.IRModule:
    @T.prim_func(s_tir=True)
    def main(a: T.Buffer((N,), "float32"), b: T.Buffer((N,), "float32")):
        for i in range(N):
            with T.sblock("b"):
                vi = T.axis.spatial(N, i)
                b[vi] = T.if_then_else(vi >= 1, a[vi - 1], T.float32(0))

    return tvm.IRModule({"main": main})


def _staged(shift: int) -> tvm.IRModule:
    """The bug's shape: a staging copy that reads the operand without the consumer's padding guard
    (a[i - 1] at i = 0 is one element before the buffer; shift=17 reads 16 elements past its end instead)."""

    @T.prim_func(s_tir=True)
    def main(a: T.Buffer((N,), "float32"), b: T.Buffer((N,), "float32")):
        s = T.alloc_buffer((N,), "float32", scope="global.ub")
        for i in range(N):
            with T.sblock("stage"):
                vi = T.axis.spatial(N, i)
                T.reads(a[vi - 1 + shift])
                s[vi] = a[vi - 1 + shift]
        for i in range(N):
            with T.sblock("b"):
                vi = T.axis.spatial(N, i)
                if shift == 0:
                    b[vi] = T.if_then_else(vi >= 1, s[vi], T.float32(0))
                else:
                    b[vi] = T.if_then_else(vi >= 1, a[vi - 1], s[vi] * T.float32(0))

    return tvm.IRModule({"main": main})


@pytest.mark.parametrize("shift", [0, 17])
def test_out_of_bounds_staging_is_rejected_by_the_functional_check(shift: int) -> None:
    """Regression (max-pool 1x64x112x112 on davinci: checked, committed, then `hawk run` segfaulted in
    TVMBackendParallelLaunch): a staged read before (or after) the operand gives the right numbers on heap
    arrays, so the old check passed it; on guarded operands it faults and the candidate is rejected."""
    ref, cand = _reference(), _staged(shift)
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    arrays = random_args(ref["main"], 0)
    want = _run(tvm.compile(ref, target=target)["main"], arrays)
    got = _run(tvm.compile(cand, target=target)["main"], arrays)
    np.testing.assert_allclose(got[1], want[1])  # the hole: unguarded memory hides the bad access
    err = check_numerics(cand, ref)
    assert err is not None and err.kind == "run" and err.context.get("crash") is True
    assert check_numerics(ref, ref) is None  # in-bounds code passes the guarded check


@pytest.mark.parametrize("edge", ["head", "tail"])
def test_guarded_arrays_sit_against_a_guard_page(edge: str) -> None:
    import mmap

    data = np.arange(N, dtype="float32")
    with GuardedArrays([data], edge) as g:
        view = g.arrays[0]
        np.testing.assert_array_equal(view, data)
        addr = view.ctypes.data
        if edge == "head":
            assert addr % mmap.PAGESIZE == 0
        else:
            assert addr % 64 == 0 and (addr + view.nbytes + 63) // 64 * 64 % mmap.PAGESIZE == 0


def _tensorized_schedule() -> tuple[tvm.IRModule, object]:
    """A 32^3 fp16 matmul scheduled onto davinci's cube intrinsic (a `tensorize` step in its trace)."""
    from tvm import s_tir

    from hawk_tvm.hardware import load_profile
    from hawk_tvm.sim import examples
    from hawk_tvm.sim.intrinsics import register_intrinsics

    profile = load_profile("davinci")
    facts = profile.program_facts("float16")
    register_intrinsics(profile)
    mod = examples.matmul(32, 32, 32)
    sch = s_tir.Schedule(mod)
    blk = sch.get_sblock("C")
    stages = [sch.cache_read(blk, index, facts[scope]) for index, scope in ((0, "scope_l0a"), (1, "scope_l0b"))]
    c_l0 = sch.cache_write(blk, 0, facts["scope_l0c"])
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, facts["mma_m"]])
    j0, j1 = sch.split(j, [None, facts["mma_n"]])
    k0, k1 = sch.split(k, [None, facts["mma_k"]])
    sch.reorder(i0, j0, k0, i1, j1, k1)
    sch.reverse_compute_at(c_l0, j0)
    for stage in stages:
        sch.compute_at(stage, k0)
    sch.decompose_reduction(blk, k0)
    sch.tensorize(sch.blockize(i1), facts["intrin_mma"])
    return mod, sch


def test_explain_reads_a_database_with_tensorized_records(tmp_path) -> None:
    """Regression: `hawk explain ARTIFACT --target davinci` died with "TensorIntrin 'hawk.davinci.mma...' is not
    registered" (opening the database replays every trace; only a compile had registered the intrinsics)."""
    import json
    import subprocess
    import sys

    from hawk_tvm.database import ScheduleDatabase

    mod, sch = _tensorized_schedule()
    assert "tensorize" in "\n".join(sch.trace.as_python())
    db_dir = tmp_path / "db"
    db = ScheduleDatabase(db_dir)
    db.commit(mod["main"], sch, 1e-6, tvm.target.Target({"kind": "llvm", "num-cores": 1}))
    db.log_result({"name": "matmul", "source": "generated", "best_seconds": 1e-6})
    out = subprocess.run([sys.executable, "-m", "hawk_tvm.cli", "explain", "matmul", "--target", "davinci",
                          "--database", str(db_dir)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "operator matmul" in out.stdout and "not registered" not in out.stderr
    assert json.loads((db_dir / "database_tuning_record.json").read_text().splitlines()[0])
