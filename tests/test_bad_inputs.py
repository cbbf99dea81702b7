"""The bad-input corpus through `hawk compile`: every malformed model or profile gets exit 2 and one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from hawk_tvm.cli import main

MAKER = Path(__file__).parent / "data" / "make_bad_inputs.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    """The corpus as the script generates it, plus one valid model to pair with the bad profiles."""
    spec = importlib.util.spec_from_file_location("make_bad_inputs", MAKER)
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    out = tmp_path_factory.mktemp("bad_inputs")
    counts = maker.generate(out)
    from hawk_tvm.models import save

    return out, save("mlp", out / "good.onnx"), counts


def _cases(root: Path, good: Path) -> list[tuple[str, list[str]]]:
    cases = [(p.name, [str(p)]) for p in sorted((root / "onnx").iterdir())]
    cases += [(p.name, [str(good), "--target", str(p)]) for p in sorted((root / "profiles").iterdir())]
    return cases


def _one_line_error(code: int, err: str) -> str | None:
    """None when (code, stderr) is a proper bad-input refusal, else what is wrong."""
    lines = err.strip().splitlines()
    if code != 2:
        return f"exit {code}"
    if len(lines) != 1 or "Traceback" in err:
        return f"{len(lines)} stderr lines: {lines[:3]}"
    return None if lines[0].startswith("hawk compile: error: ") else f"unexpected line {lines[0]!r}"


def test_corpus_size(corpus) -> None:
    _, _, counts = corpus
    assert counts["onnx"] >= 50 and counts["profiles"] >= 30, counts


def test_every_bad_input_is_refused_in_one_line(corpus, capfd, tmp_path: Path) -> None:
    root, good, _ = corpus
    problems = {}
    for name, args in _cases(root, good):
        code = main(["compile", *args, "-o", str(tmp_path / "x.tar")])
        err = capfd.readouterr().err  # file-descriptor level: C++ warnings count too
        problem = _one_line_error(code, err)
        if problem:
            problems[name] = problem
    assert not problems, problems
    assert not (tmp_path / "x.tar").exists()


SAMPLE = ("truncated_model.onnx", "custom_domain_relu.onnx", "shape_1e12x4.onnx", "matmul_mismatch.onnx",
          "nested_subgraph_custom_op.onnx", "maxpool_kernel_too_big.onnx", "clock_nan.json", "cores_inf.json",
          "memory_missing.json", "root_array.json", "sources_number.json", "capacity_nan.json")


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.slow
def test_a_sample_as_real_subprocesses(corpus, tmp_path: Path) -> None:
    root, good, _ = corpus
    cases = dict(_cases(root, good))
    for name in SAMPLE:
        proc = subprocess.run([sys.executable, "-m", "hawk_tvm.cli", "compile", *cases[name], "-o",
                               str(tmp_path / "x.tar")], capture_output=True, text=True, timeout=120)
        assert _one_line_error(proc.returncode, proc.stderr) is None, (name, proc.returncode, proc.stderr)


def test_float64_input_is_recorded_as_float64(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import helper

    from hawk_tvm.artifact import load_artifact

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [1, 13])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, [1, 13])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "f64.onnx")
    assert main(["compile", str(tmp_path / "f64.onnx"), "-o", str(tmp_path / "f64.tar")]) == 0
    runner = load_artifact(tmp_path / "f64.tar")
    assert runner.meta["inputs"][0]["dtype"] == "float64"
    x = np.linspace(-1, 1, 13).reshape(1, 13)  # float64 values float32 cannot hold exactly
    x[0, 6] = 1e-300
    y = runner.run({"x": x})[0]
    assert y.dtype == np.float64 and y[0, 6] == 1e-300
    np.testing.assert_array_equal(y, np.maximum(x, 0))
