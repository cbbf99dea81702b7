"""MetaSchedule through the NPU simulator (hawk_tvm/benchmark/ms_sim.py): the runner returns simulated times or
structured errors for every candidate, the best program is a real simulation, the budget holds, nothing raises."""

from __future__ import annotations

import pytest
import tvm

from hawk_tvm.benchmark.ms_sim import MSSimResult, _classes, tune_on_sim
from hawk_tvm.errors import known_kind
from hawk_tvm.hardware.profile import load_profile
from hawk_tvm.sim import examples
from hawk_tvm.sim.runner import SimulatorBuilder
from hawk_tvm.sim.simulator import simulate


def _check_trials(res: MSSimResult) -> None:
    assert res.tuner_error is None, res.tuner_error
    assert res.tried > 0
    for t in res.trials:
        if t.seconds is not None:
            assert t.seconds > 0 and t.cycles > 0 and t.error is None
            assert 0 < t.roofline_fraction <= 1
        else:
            assert t.error and t.error.startswith(f"[{t.error_kind}]") and known_kind(t.error_kind), t.error


def _resimulated_us(res: MSSimResult, ref: tvm.IRModule) -> float:
    again = simulate(res.best_mod, ref, load_profile("davinci"), isolate=False)
    assert again.ok, again.error
    return again.seconds * 1e6


def test_runner_reports_time_or_constraint_error(tmp_path) -> None:
    """Deterministic: a scalar off-chip add is legal (slow) and simulated; the same add vectorised on GM is a failed
    run with sim.offchip_compute; the runner stops at its deadline without counting the rest as tried."""
    import time

    from tvm.s_tir.meta_schedule.builder import BuilderInput

    prof = load_profile("davinci")
    ref = examples.add(1024)
    good = examples.schedule_add(examples.add(1024), 256, 128, scope_in=None, scope_out=None, vectorize=False)
    bad = examples.schedule_add(examples.add(1024), 256, 128, scope_in=None, scope_out=None)
    target = tvm.target.Target({"kind": "llvm", "num-cores": 32})
    built = SimulatorBuilder(work_dir=str(tmp_path)).build([BuilderInput(m, target) for m in (good, bad)])
    runner_cls, _ = _classes()
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    inputs = [RunnerInput(b.artifact_path, "cpu", []) for b in built]
    result = MSSimResult("add", "davinci", 10.0)
    start = time.monotonic()
    runner = runner_cls(prof, ref, result, start, start + 60.0, True, 0)
    outs = [f.result() for f in runner.run(inputs)]
    assert outs[0].error_msg is None and outs[0].run_secs[0] > 0
    assert outs[1].run_secs is None and "sim.offchip_compute" in outs[1].error_msg
    assert [t.error_kind for t in result.trials] == [None, "sim.offchip_compute"]
    assert result.trials[0].all_kinds == () and "sim.offchip_compute" in result.trials[1].all_kinds
    assert result.valid == 1 and result.best_mod is not None
    late = runner_cls(prof, ref, MSSimResult("add", "davinci", 0.0), start, start, True, 0)
    outs = [f.result() for f in late.run(inputs)]
    assert all(o.run_secs is None and "budget" in o.error_msg for o in outs) and late.result.tried == 0


def test_elementwise_within_budget() -> None:
    ref = examples.add(4096)
    res = tune_on_sim(ref, "davinci", budget_s=8.0, name="add")
    _check_trials(res)
    assert res.wall_s < 8.0 + 45.0  # at most one batch past the deadline (load on the shared machine)
    d = res.to_dict()
    assert d["tried"] == res.tried and d["default_us"] > 0 and d["roofline_us"] > 0
    if res.valid:
        assert d["best_us"] == pytest.approx(_resimulated_us(res, ref), rel=1e-9)
        assert d["improvements"][-1][1] == pytest.approx(d["best_us"])
    else:
        assert d["first_error"]


def test_small_matmul_within_budget() -> None:
    ref = examples.matmul(64, 64, 64)
    res = tune_on_sim(ref, "davinci", budget_s=15.0, name="matmul")
    _check_trials(res)
    assert res.wall_s < 15.0 + 45.0
    # MetaSchedule's LLVM space vectorises its inner loops on GM buffers: such candidates are failed runs
    assert any((t.error_kind or "").startswith("sim.") for t in res.trials)
    if res.valid:
        assert res.best.seconds * 1e6 == pytest.approx(_resimulated_us(res, ref), rel=1e-9)
        assert res.best.seconds < res.default_seconds  # a tiled scalar program beats the naive default lowering


def test_bad_input_is_a_result() -> None:
    two = tvm.IRModule({"a": examples.add(64)["main"], "b": examples.add(128)["main"]})
    res = tune_on_sim(two, "davinci", budget_s=1.0)
    assert res.tried == 0 and "one PrimFunc" in res.tuner_error
