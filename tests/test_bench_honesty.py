"""The harness's honesty: a fast wrong kernel is counted incorrect, and a database hit is never a measurement."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import tvm
from tvm import te

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.benchmark import backends as bk
from hawk_tvm.benchmark.runner import BenchSettings, run_bench
from hawk_tvm.benchmark.verify import HostVerifier, SimVerifier, TimingSettings
from hawk_tvm.config import Budget
from hawk_tvm.measure.host import host_target

FAST_TIMING = TimingSettings(repeat=2, min_repeat_ms=1)


def _matmul(k_used: int | None = None) -> tvm.IRModule:
    """C = A @ B for 32x64x64; with `k_used` only the first k_used terms of the sum (fast and wrong)."""
    a = te.placeholder((32, 64), "float32", name="A")
    b = te.placeholder((64, 64), "float32", name="B")
    r = te.reduce_axis((0, k_used or 64), name="k")
    c = te.compute((32, 64), lambda i, j: te.sum(a[i, r] * b[r, j], axis=r), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c]).with_attr("global_symbol", "main")})


def test_fast_wrong_kernel_is_incorrect_on_host() -> None:
    ref, wrong = _matmul(), _matmul(k_used=1)
    verifier = HostVerifier(host_target(), FAST_TIMING)
    try:
        good = verifier.verify(ref, analyze(ref["main"]), kernel=ref)
        bad = verifier.verify(ref, analyze(ref["main"]), kernel=wrong)
    finally:
        verifier.close()
    assert good.correct and good.seconds
    assert not bad.correct and "seed 1000" in (bad.error or "")
    assert bad.seconds is not None and bad.seconds < good.seconds  # it was fast, and still counts as wrong


def test_wrong_kernel_is_incorrect_on_the_simulator() -> None:
    from hawk_tvm.hardware.profile import load_profile

    a = te.placeholder((1024,), "float32", name="A")
    b = te.placeholder((1024,), "float32", name="B")
    ref = tvm.IRModule({"main": te.create_prim_func([a, b, te.compute((1024,), lambda i: a[i] + b[i], name="C")])})
    bad = tvm.IRModule({"main": te.create_prim_func([a, b, te.compute((1024,), lambda i: a[i] - b[i], name="C")])})
    verdict = SimVerifier(load_profile("davinci")).verify(ref, analyze(ref["main"]), kernel=bad)
    assert not verdict.correct and "numerics" in (verdict.error or "")


@pytest.fixture
def wrong_backend():
    """A backend that delivers a fast kernel computing something else."""

    @bk.register_backend("wrong-fast", targets=("cpu",))
    def wrong(ctx: bk.OpContext) -> list[bk.BackendResult]:
        return [bk.BackendResult("wrong-fast", ctx.case.name, kernel=_matmul(k_used=1), source="generated")]

    yield "wrong-fast"
    bk.BACKENDS.pop("wrong-fast", None)


def test_harness_counts_a_fast_wrong_kernel_as_incorrect(wrong_backend: str) -> None:
    settings = replace(BenchSettings.for_mode(True), suite="tiny", target="host", only=("tiny_gemm",),
                       baselines=("default", wrong_backend), timing=FAST_TIMING, progress=False)
    run = run_bench(settings)
    res = run["ops"][0]["results"][wrong_backend]
    assert res["status"] == "failed" and res["correct"] is False and res["seconds"] is None
    assert res["verdict"]["seconds"] < run["ops"][0]["results"]["default"]["seconds"]  # faster, yet not counted
    summary = run["summary"][wrong_backend]
    assert summary["correctness"]["correct"] == 0
    assert summary["fast_p"]["default"]["1.0"] == {"value": 0.0, "n": 1}
    assert summary["geomean_speedup"]["default"]["value"] is None


@pytest.mark.slow
def test_database_hit_is_reported_cached_and_excluded(tmp_path: Path) -> None:
    settings = replace(BenchSettings.for_mode(True), suite="tiny", target="host", only=("tiny_bias",),
                       baselines=("default", "hawk"), hawk_budget=Budget(candidates=2, repair_rounds=0),
                       timing=FAST_TIMING, database=tmp_path / "state", progress=False)
    first = run_bench(settings)
    assert first["ops"][0]["results"]["hawk"]["status"] in ("ok", "failed")
    second = run_bench(settings)  # same state folder: Hawk finds its own record
    res = second["ops"][0]["results"]["hawk"]
    assert res["status"] == "cached" and res["seconds"] is None and res["verdict"] is None
    c = second["summary"]["hawk"]["correctness"]
    assert c["attempted"] == 0 and c["cached_excluded"] == 1
    assert second["summary"]["hawk"]["fast_p"]["default"]["1.0"]["n"] == 0


def test_metaschedule_with_an_existing_record_is_cached(tmp_path: Path) -> None:
    from hawk_tvm.benchmark.metaschedule import tune
    from hawk_tvm.database import ScheduleDatabase

    mod, target = _matmul(), host_target()
    ScheduleDatabase(tmp_path).commit(mod["main"], None, 1e-3, target)
    run = tune(mod, target, min_trials=4, work_dir=str(tmp_path))
    assert run.cached and not run.trials
