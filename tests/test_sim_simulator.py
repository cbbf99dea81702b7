"""simulate(), the functional check and the local SimulatorRunner (MetaSchedule adapter included)."""

import functools

import tvm
from tvm import te
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.s_tir.meta_schedule.runner import RunnerInput

from hawk_tvm.hardware import load_profile
from hawk_tvm.measure.result import decode_error_message
from hawk_tvm.sim import examples, simulate
from hawk_tvm.sim.functional import check_numerics
from hawk_tvm.sim.runner import SimulatorBuilder, SimulatorRunner


@functools.cache
def dav():
    return load_profile("davinci")


def _wrong_matmul(n):
    """C = A @ B^T: same signature as examples.matmul, different numbers."""
    a = te.placeholder((n, n), "float16", name="A")
    b = te.placeholder((n, n), "float16", name="B")
    r = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, r].astype("float32") * b[j, r].astype("float32"), axis=r),
                   name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def test_simulate_good_candidate():
    ref = examples.matmul(64, 64, 64)
    sched = examples.schedule_matmul_npu(ref, dav(), 32, 32, 32, double_buffer=True)
    res = simulate(sched, ref, dav(), isolate=False)
    assert res.ok, res.error
    assert res.cycles > 0 and res.seconds == res.cycles / dav().clock_hz
    for key in ("cube", "dma.global->shared.l1", "roofline_cycles", "roofline_fraction", "cores_used"):
        assert key in res.breakdown
    assert 0 < res.breakdown["roofline_fraction"] <= 1


def test_default_lowering_legal_but_slow():
    ref = examples.matmul(64, 64, 64)
    base = simulate(ref, ref, dav(), functional=False)
    good = simulate(examples.schedule_matmul_npu(ref, dav(), 64, 64, 64), ref, dav(), functional=False)
    assert base.ok and good.ok
    assert base.breakdown["scalar"] == base.cycles
    assert base.cycles > 100 * good.cycles


def test_constraint_failure_is_data():
    ref = examples.add(960)
    res = simulate(examples.schedule_add(ref, 120, 120), ref, dav())
    assert not res.ok and res.error.kind == "sim.alignment" and res.seconds is None
    assert len(res.breakdown["errors"]) >= 2


def test_numerics_error_isolated_worker():
    ref = examples.matmul(32, 32, 32)
    assert check_numerics(examples.schedule_matmul_npu(ref, dav(), 32, 32, 32), ref) is None  # worker process
    err = check_numerics(_wrong_matmul(32), ref, isolate=False)
    assert err is not None and err.kind == "numerics" and err.context["buffer"] == 2
    res = simulate(_wrong_matmul(32), ref, dav(), isolate=False)
    assert not res.ok and res.error.kind == "numerics" and res.cycles is not None


def test_runner_run_modules_and_metaschedule_adapter(tmp_path):
    ref = examples.add(1024)
    good = examples.schedule_add(ref, 256, 128)
    bad = examples.schedule_add(ref, 256, 128, scope_in=None, scope_out=None)
    runner = SimulatorRunner("davinci", reference=ref, isolate=False)
    results = runner.run_modules([(good, None), (bad, ref)])
    assert results[0].ok and not results[1].ok and results[1].error.kind == "sim.offchip_compute"
    builder = SimulatorBuilder(str(tmp_path))
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    built = builder.build([BuilderInput(good, target), BuilderInput(bad, target)])
    assert all(b.error_msg is None for b in built)
    futures = runner.run([RunnerInput(b.artifact_path, "cpu", []) for b in built]
                         + [RunnerInput(str(tmp_path / "missing"), "cpu", [])])
    out = [f.result() for f in futures]
    assert out[0].error_msg is None and out[0].run_secs[0] > 0
    assert decode_error_message(out[1].error_msg).kind == "sim.offchip_compute"
    assert decode_error_message(out[2].error_msg).kind == "run"


def test_npu_kernels_build_for_the_host_with_serial_vector_loops() -> None:
    # the functional check and `hawk run`'s artifact lower an NPU kernel's vectorized loops serially: a 512-lane
    # gather loop is vector-unit work for the cycle model, and LLVM spent 20+ s compiling it as host SIMD
    import numpy as np
    import tvm
    from tvm import s_tir, te

    from hawk_tvm.sim.functional import _build, host_target_dict, npu_host_build

    a = te.placeholder((1024,), "float16", name="A")
    c = te.compute((1024,), lambda i: a[(i * 7) % 1024] + a[i], name="C")
    sch = s_tir.Schedule(tvm.IRModule({"main": te.create_prim_func([a, c])}))
    _, inner = sch.split(sch.get_loops(sch.get_sblock("C"))[0], [None, 512])
    sch.vectorize(inner)
    target = tvm.target.Target(host_target_dict())
    with npu_host_build():
        serial = tvm.compile(sch.mod, target=target).mod.inspect_source("ll")
    assert "<512 x" not in serial and "<512 x" in tvm.compile(sch.mod, target=target).mod.inspect_source("ll")
    x = np.random.default_rng(0).uniform(-1, 1, 1024).astype("float16")
    out = tvm.runtime.tensor(np.zeros(1024, "float16"))
    _build(sch.mod)(tvm.runtime.tensor(x), out)
    np.testing.assert_array_equal(out.numpy(), x[(np.arange(1024) * 7) % 1024] + x)


def test_simulator_target_measures_nothing_past_its_deadline() -> None:
    import time

    from hawk_tvm.sim import examples
    from hawk_tvm.sim.target import SimulatorTarget

    target = SimulatorTarget("davinci")
    mod = examples.add(1024)
    reference = target.reference(mod, None)
    scheduled = examples.schedule_add(mod, 512, 128)
    target.set_deadline(time.monotonic() - 1.0)
    (late,) = target.measure([scheduled], reference)
    assert not late.ok and late.error.kind == "budget" and late.error.budget_stop
    target.set_deadline(None)
    (timed,) = target.measure([scheduled], reference)
    assert timed.ok and timed.cycles > 0
