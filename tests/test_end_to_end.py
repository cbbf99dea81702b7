"""End-to-end: ONNX models compiled with and without Hawk on the host, reuse of the tuning database, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tvm
from onnx.reference import ReferenceEvaluator
from tvm import relax

import hawk_tvm
from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.measure.host import host_target
from hawk_tvm.models import zoo
from hawk_tvm.passes import HawkScheduleGeneration
from hawk_tvm.proposer.base import Candidate, ProposalRequest, ProposalResult, Proposer
from hawk_tvm.session import last_report

QUICK = Budget(candidates=3, repair_rounds=1, op_time_s=30)


def _config(tmp_path: Path, **kw) -> HawkConfig:
    return HawkConfig(
        target="host",
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        budget=QUICK,
        timing_repeat=2,
        timing_min_ms=5,
        verbose=False,
        **kw,
    )


def _run(ex, x: np.ndarray) -> np.ndarray:
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()


def _check(model, mod_x: np.ndarray, ex) -> None:
    expected = ReferenceEvaluator(model).run(None, {"input": mod_x})[0]
    np.testing.assert_allclose(_run(ex, mod_x), expected, rtol=1e-4, atol=1e-5)


def _import(model):
    from tvm.relax.frontend.onnx import from_onnx

    return from_onnx(model, keep_params_in_input=False)


def test_mlp_with_and_without_hawk_matches_onnx_and_reuses_database(tmp_path: Path) -> None:
    model = zoo.mlp(batch=4, features=64, hidden=128, classes=32)
    x = np.random.default_rng(0).standard_normal((4, 64)).astype("float32")
    mod = _import(model)
    _check(model, x, tvm.compile(mod, target=host_target()))
    config = _config(tmp_path)
    with hawk_tvm.use_config(config):
        ex = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
    _check(model, x, ex)
    first = last_report()
    assert first is not None and len(first.rows) == 3
    assert all(r.source in ("generated", "default") for r in first.rows), first.table()
    assert any(r.source == "generated" and r.speedup and r.speedup > 1.0 for r in first.rows), first.table()
    with hawk_tvm.use_config(config):
        ex2 = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
    second = last_report()
    assert second is not first
    assert [r.source for r in second.rows] == ["database"] * 3, second.table()
    assert all(not r.attempts for r in second.rows)
    _check(model, x, ex2)


@pytest.mark.slow
def test_convnet_with_hawk_matches_onnx(tmp_path: Path) -> None:
    model = zoo.small_convnet(size=16)
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype("float32")
    mod = _import(model)
    _check(model, x, tvm.compile(mod, target=host_target()))
    with hawk_tvm.use_config(_config(tmp_path)):
        ex = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
    _check(model, x, ex)
    report = last_report()
    classes = {r.workload.op_class for r in report.rows if r.workload}
    assert {"conv2d", "pool", "matmul"} <= classes


class BrokenProposer(Proposer):
    """Proposes only programs that fail: an unknown block, a refused construct, and a wrong split."""

    name = "broken"

    def propose(self, request: ProposalRequest) -> ProposalResult:
        return ProposalResult(
            [
                Candidate("b = sch.get_sblock('no_such_block')", origin="broken:block"),
                Candidate("import os", origin="broken:import"),
                Candidate(
                    "l = sch.get_loops(sch.get_sblock(MAIN))\nsch.vectorize(l[-1])", origin="broken:vectorize-reduction"
                ),
            ][: request.k]
        )


def test_all_candidates_failing_falls_back_and_compile_succeeds(tmp_path: Path) -> None:
    model = zoo.mlp(batch=2, features=16, hidden=32, classes=8)
    x = np.random.default_rng(2).standard_normal((2, 16)).astype("float32")
    mod = _import(model)
    config = _config(tmp_path)
    pipeline = tvm.transform.Sequential(
        [
            relax.get_pipeline("zero"),
            HawkScheduleGeneration(config, proposer=BrokenProposer()),
            relax.get_pipeline("default_build"),
        ]
    )
    ex = tvm.compile(mod, target=host_target(), relax_pipeline=pipeline)
    _check(model, x, ex)
    report = last_report()
    assert report.rows and all(r.source == "fallback" for r in report.rows), report.table()
    for row in report.rows:
        assert "candidates failed" in row.reason
        kinds = {a.result.error.kind for a in row.attempts}
        assert "sandbox.refused" in kinds and "schedule" in kinds
    assert "fallback" in report.table()


@pytest.mark.parametrize("bad", ["missing", "garbage", "unsupported", "shape", "target"])
def test_cli_bad_input_exits_2_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture, bad: str) -> None:
    from onnx import TensorProto, helper

    from hawk_tvm.cli import main

    good = zoo.save("mlp", tmp_path / "m.onnx", batch=2, features=8, hidden=8, classes=4)
    args = {
        "missing": [str(tmp_path / "none.onnx")],
        "garbage": [str(tmp_path / "garbage.onnx")],
        "unsupported": [str(tmp_path / "celu.onnx")],
        "shape": [str(good), "--input-shapes", "input:[2,x]"],
        "target": [str(good), "--target", "no-such-npu"],
    }[bad]
    (tmp_path / "garbage.onnx").write_bytes(b"definitely not protobuf")
    graph = helper.make_graph(
        [helper.make_node("Celu", ["input"], ["y"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "celu.onnx"))
    assert main(["compile", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hawk compile: error:")
    expected = {
        "missing": "not found",
        "garbage": "not a valid ONNX",
        "unsupported": "Celu",
        "shape": "--input-shapes",
        "target": "unknown target",
    }[bad]
    assert expected in err[0]


def test_cli_compile_and_run_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from hawk_tvm.cli import main

    model_path = zoo.save("mlp", tmp_path / "m.onnx", batch=2, features=16, hidden=16, classes=8)
    art = tmp_path / "m.tar"
    assert main(["compile", str(model_path), "--output", str(art)]) == 0
    x = np.random.default_rng(3).standard_normal((2, 16)).astype("float32")
    np.savez(tmp_path / "in.npz", input=x)
    assert main(["run", str(art), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        expected = ReferenceEvaluator(onnx.load(str(model_path))).run(None, {"input": x})[0]
        np.testing.assert_allclose(out["output_0"], expected, rtol=1e-4, atol=1e-6)
    np.savez(tmp_path / "wrong.npz", input=np.zeros((3, 16), "float32"))
    assert main(["run", str(art), "--inputs", str(tmp_path / "wrong.npz")]) == 2
    assert "expects" in capsys.readouterr().err
