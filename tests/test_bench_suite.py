"""The operator suite builds real-model PrimFuncs; a tiny suite runs end to end and writes JSON, Markdown and PNGs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hawk_tvm.benchmark.output import write_run
from hawk_tvm.benchmark.runner import BenchSettings, run_bench
from hawk_tvm.benchmark.suite import get_suite
from hawk_tvm.benchmark.verify import TimingSettings
from hawk_tvm.config import Budget


def test_suite_covers_categories_and_builds_one_primfunc_per_op() -> None:
    from tvm import tirx

    for kind in ("cpu", "npu"):
        cases = get_suite("operators", kind)
        assert len(cases) >= 30 and len({c.category for c in cases}) >= 8
        assert len({c.name for c in cases}) == len(cases)
        assert 8 <= len(get_suite("operators", kind, quick=True)) <= 12
        for case in cases:
            assert isinstance(case.build(), tirx.PrimFunc), case.name
    npu_gemms = [c for c in get_suite("operators", "npu") if c.category == "gemm"]
    assert sum(c.dtype == "float16" for c in npu_gemms) > len(npu_gemms) / 2  # the cube unit is fp16
    host_gemms = [c for c in get_suite("operators", "cpu") if c.category == "gemm"]
    assert {c.dtype for c in host_gemms} == {"float32", "float16"}


def test_tiny_suite_end_to_end_on_host(tmp_path: Path) -> None:
    settings = replace(BenchSettings.for_mode(True), suite="tiny", target="host", only=("tiny_bias",),
                       baselines=("default", "hawk", "metaschedule", "numpy"), ms_trials=2, ms_max_trials=2,
                       hawk_budget=Budget(candidates=2, repair_rounds=0),
                       timing=TimingSettings(repeat=2, min_repeat_ms=1), progress=False)
    run = run_bench(settings)
    results = run["ops"][0]["results"]
    assert {"default", "hawk", "ms-trials", "ms-budget", "numpy"} <= set(results)
    assert results["default"]["correct"] and results["default"]["seconds"] > 0
    assert results["numpy"]["status"] == "n/a"  # no numpy equivalent for this op
    assert results["ms-trials"]["trials"] <= 2
    assert results["hawk"]["gen_wall_s"] > 0 and results["hawk"]["status"] in ("ok", "failed")
    assert run["summary"]["hawk"]["correctness"]["attempted"] == 1
    paths = write_run(run, tmp_path)
    assert paths["json"].exists() and "## Headline" in paths["md"].read_text()
    assert all(p.stat().st_size > 1000 for k, p in paths.items() if str(p).endswith(".png"))


def test_cli_lists_the_suite(capsys) -> None:
    from hawk_tvm.cli import main

    assert main(["bench", "--suite", "tiny", "--list"]) == 0
    assert "tiny_gemm_f32" in capsys.readouterr().out
