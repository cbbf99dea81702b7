"""Precision policy on NPU targets: bad --precision values, and an fp32 model on davinci's fp16 cube tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
onnx = pytest.importorskip("onnx")

from hawk_tvm.config import Budget, HawkConfig  # noqa: E402
from hawk_tvm.models import zoo  # noqa: E402


@pytest.mark.parametrize("bad", ["fp8", "FORCE_FP16", "allow_mix_precision"])
def test_bad_precision_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, bad: str) -> None:
    from hawk_tvm.cli import main

    model = zoo.save("mlp", tmp_path / "m.onnx", batch=1, features=8, hidden=8, classes=4)
    assert main(["compile", str(model), "--target", "davinci", "--hawk", "--precision", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hawk compile: error:") and "--precision" in err[0], err


def test_default_policy_puts_fp32_matmul_on_the_fp16_tile_within_1e2(tmp_path: Path) -> None:
    """ResNet-style classifier head (batch 1, 1000 classes) in fp32: compiled for davinci under the default policy,
    its matmuls are tensorized with the fp16 -> fp32 cube intrinsic and the output stays within 1e-2 of fp32."""
    from onnx.reference import ReferenceEvaluator
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    import hawk_tvm
    from hawk_tvm.measure.host import host_target
    from hawk_tvm.session import last_report

    model = zoo.mlp(batch=1, features=512, hidden=64, classes=1000)
    config = HawkConfig(target="davinci", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db",
                        budget=Budget(candidates=3, repair_rounds=0, op_time_s=60), verbose=False)
    assert config.precision == "allow_fp32_to_fp16"
    with hawk_tvm.use_config(config):
        ex = tvm.compile(from_onnx(model, keep_params_in_input=False), target=host_target(), relax_pipeline="hawk")
    x = np.random.default_rng(0).standard_normal((1, 512)).astype("float32")
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    want = ReferenceEvaluator(model).run(None, {"input": x})[0]
    assert got.dtype == np.float32 and got.shape == (1, 1000)
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-2
    report = last_report()
    mm = [r for r in report.rows if r.workload is not None and r.workload.op_class == "matmul"]
    assert len(mm) == 2, report.table()
    for r in mm:
        assert r.workload.in_dtype == "float16", report.table()
        assert r.source == "generated" and r.schedule is not None, report.table()
        assert "hawk.davinci.mma.float16.float32" in str(r.schedule.trace), r.name
