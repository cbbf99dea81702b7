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


def _rows():
    from hawk_tvm.engine import OpResult, OpSource

    gen = OpResult("softmax", None, OpSource.GENERATED, default_seconds=4e-3, best_seconds=1e-5, uses=2)
    fb = OpResult("concatenate", None, OpSource.FALLBACK, default_seconds=3e-3,
                  reason="no candidate worked: [sim.alignment] transfer moves 196 bytes\nsecond line", uses=1)
    return [gen, fb]


def test_model_summary_counts_uses_fallbacks_and_roofline() -> None:
    from hawk_tvm.model_report import summary, table, task_costs

    costs = task_costs(_rows(), {"softmax": 5e-6, "concatenate": 1e-6}, {})
    lines = summary(costs)
    total_ms = (2 * 1e-5 + 3e-3) * 1e3  # the fallback at its simulated default cost
    assert f"{total_ms:.4f} ms" in lines[0] and "1 of 2 tasks on the NPU" in lines[0]
    assert f"roofline {(2 * 5e-6 + 1e-6) * 1e3:.4f} ms" in lines[0] and "1 fallback" in lines[0]
    assert lines[1].startswith("  fallback concatenate") and "[sim.alignment]" in lines[1] and "second" not in lines[1]
    ordered = [ln.split()[0] for ln in table(costs)[2:]]
    assert ordered == ["concatenate", "softmax"]  # by share of the model's time


def test_strict_npu_exits_3_listing_the_fallback_tasks(capsys) -> None:
    import argparse

    from hawk_tvm.cli import _strict_npu
    from hawk_tvm.model_report import STRICT_NPU_EXIT, task_costs
    from hawk_tvm.session import CompileReport

    report = CompileReport("davinci", rows=_rows())
    report.costs = task_costs(report.rows, {}, {})
    args = argparse.Namespace(strict_npu=True, target="davinci", hawk=True)
    assert STRICT_NPU_EXIT == 3 and _strict_npu(args, report) == 3
    assert "concatenate" in capsys.readouterr().err
    report.costs = [c for c in report.costs if c.npu]
    assert _strict_npu(args, report) == 0
    assert _strict_npu(argparse.Namespace(strict_npu=False, target="davinci", hawk=True), CompileReport("x")) == 0


def _odd_graph(path) -> None:
    """Concat of 7x7 maps with 3 and 5 channels, a padded ceil-mode max pool, softmax over 1000 classes-like rows
    of 13, a layer norm over 55: innermost extents that are not multiples of the 32-byte UB alignment."""
    import onnx

    from hawk_tvm.models.graph import GraphBuilder

    g = GraphBuilder(0)
    b = g.node("Relu", ["input"])
    c = g.node("Concat", ["input", b], axis=1)  # 1x6x7x7
    p = g.max_pool(c, 3, 2, pad=1, ceil=True)  # 1x6x4x4
    r = g.reshape(p, [1, 6, 16])
    s = g.node("Softmax", [r], axis=-1)
    onnx.save(g.model([1, 3, 7, 7], s, [1, 6, 16], "odd"), str(path))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("target", ["davinci", "edge"])
def test_odd_shape_model_end_to_end_reports_the_model_line(tmp_path, target: str) -> None:
    import subprocess
    import sys

    import onnxruntime as ort

    model = tmp_path / "odd.onnx"
    _odd_graph(model)
    art = tmp_path / "odd.tar"
    cmd = [sys.executable, "-m", "hawk_tvm.cli", "compile", str(model), "--target", target, "--hawk", "--quiet",
           "--time-budget", "40s", "-o", str(art), "--strict-npu"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 3), out.stderr[-2000:]
    assert "tasks on the NPU" in out.stdout and "roofline" in out.stdout
    assert (out.returncode == 3) == ("not on the NPU" in out.stderr)
    x = np.random.default_rng(0).standard_normal((1, 3, 7, 7)).astype("float32")
    np.savez(tmp_path / "in.npz", input=x)
    run = subprocess.run([sys.executable, "-m", "hawk_tvm.cli", "run", str(art), "--inputs", str(tmp_path / "in.npz"),
                          "--outputs", str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["output_0"], want, rtol=1e-2, atol=1e-3)
    text = subprocess.run([sys.executable, "-m", "hawk_tvm.cli", "explain", str(art), "--target", target],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0 and "tasks on the NPU" in text.stdout and "share" in text.stdout


def _writes_past_the_end() -> tvm.IRModule:
    """The reference's values, plus one element written just past the output: inside the alignment slack that no
    guard page covers (4000 bytes end 32 bytes short of a 64-byte boundary)."""

    @T.prim_func(s_tir=True)
    def main(a: T.Buffer((N,), "float32"), b: T.Buffer((N,), "float32")):
        for i in range(N + 1):
            with T.sblock("b"):
                vi = T.axis.spatial(N + 1, i)
                b[vi] = T.if_then_else(vi >= 1, a[T.min(vi, N) - 1], T.float32(0))  # = _reference below N

    return tvm.IRModule({"main": main})


def test_a_write_into_the_alignment_slack_is_caught_by_the_canary() -> None:
    """Regression (a single-tile UB write-back 4 bytes past the output passed the guarded check, then corrupted
    the heap in a real run): the slack beside each operand holds a canary, and a kernel that overwrites it fails."""
    from hawk_tvm.sim.functional import check_numerics_local

    err = check_numerics_local(_writes_past_the_end(), _reference())
    assert err is not None and err.kind == "run" and err.context.get("out_of_bounds"), err
    assert check_numerics_local(_reference(), _reference()) is None
