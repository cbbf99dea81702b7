"""HostTarget.check: the candidate builds while the reference runs on the other worker; a wrong candidate fails its
check, a right one passes, also across a worker recycle (which must not kill a running reference)."""

from __future__ import annotations

import tvm
from tvm import s_tir, te

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.measure.host_target import HostTarget, simd_bytes


def _module(scale: float = 2.0) -> tvm.IRModule:
    a = te.placeholder((64, 96), name="a")
    return tvm.IRModule({"main": te.create_prim_func([a, te.compute((64, 96), lambda i, j: a[i, j] * scale)])})


def _scheduled(mod: tvm.IRModule) -> tvm.IRModule:
    sch = s_tir.Schedule(mod)
    i, j = sch.get_loops(sch.get_sblock("compute"))
    sch.parallel(i)
    sch.vectorize(j)
    return sch.mod


def test_check_passes_right_and_fails_wrong_candidates_across_recycles() -> None:
    target = HostTarget(num_cores=2)
    target._measurer._builder.recycle = 1  # recycle the workers after every build
    try:
        mod, workload = _module(), analyze(_module()["main"])
        for _ in range(3):
            right, wrong = target.check(mod, [_scheduled(mod), _scheduled(_module(3.0))], workload)
            assert right.ok, right.error
            assert not wrong.ok and wrong.error.kind == "numerics", wrong
    finally:
        target.close()


def test_host_facts_state_the_widest_simd_register() -> None:
    target = HostTarget(num_cores=2)
    try:
        facts = target.hw_facts("float32")
    finally:
        target.close()
    assert facts["simd_bytes"] >= facts["vector_bytes"] and facts["lanes"] == facts["vector_bytes"] // 4
    assert simd_bytes() in (0, 16, 32, 64)
