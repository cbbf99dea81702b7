"""Model coverage: every whole-model builder imports into TVM, and Hawk builds match onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

import hawk_tvm
from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.measure.host import host_target
from hawk_tvm.models import SUITE, build, input_shape
from hawk_tvm.session import last_report

# Every model x {host, davinci} costs ~5-30 s each on the 2-core host: the default run takes a representative
# few (residual, depthwise + channel shuffle, attention); HAWK_ALL_MODELS=1 runs the whole matrix.
DEFAULT_CASES = {("resnet18", "host"), ("transformer", "host"), ("shufflenet_v2", "davinci")}
ALL = os.environ.get("HAWK_ALL_MODELS") == "1"
CASES = [(m, t) for m in SUITE for t in ("host", "davinci") if ALL or (m, t) in DEFAULT_CASES]


def _reference(model, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("name", SUITE)
def test_every_builder_checks_and_imports(name: str) -> None:
    model = build(name, small=True)  # onnx.checker runs inside
    mod = from_onnx(model, keep_params_in_input=False)
    assert "main" in [gv.name_hint for gv in mod.get_global_vars()]
    assert model.opset_import[0].version == 17 and input_shape(model)[0] == 1


@pytest.mark.slow
@pytest.mark.parametrize(("name", "target"), CASES)
def test_hawk_build_matches_onnxruntime(tmp_path: Path, name: str, target: str) -> None:
    model = build(name, small=True)
    x = np.random.default_rng(0).standard_normal(input_shape(model)).astype("float32")
    config = HawkConfig(
        target=target,
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        budget=Budget(candidates=2, repair_rounds=0, total_time_s=8.0),
        timing_repeat=2,
        timing_min_ms=5,
        verbose=False,
    )
    with hawk_tvm.use_config(config):
        ex = tvm.compile(from_onnx(model, keep_params_in_input=False), target=host_target(), relax_pipeline="hawk")
    report = last_report()
    assert report is not None and report.rows
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    ref = _reference(model, x)
    # fp32: rtol 1e-4, atol 1e-5 of the output scale (deep nets without batch norm grow their activations)
    if target == "host":
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(ref).max())))
    else:  # NPU targets: the default precision policy (allow_fp32_to_fp16) bounds max abs error / max abs value
        assert float(np.abs(out - ref).max()) <= 1e-2 * float(np.abs(ref).max()), name
