"""The tuning database shared by concurrent compiles: no record on the wrong workload, repairs keep indexes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hawk_tvm.database import ScheduleDatabase
from hawk_tvm.sim import examples

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _funcs():
    return examples.add(1024)["main"], examples.matmul(64, 48, 32)["main"]


def _target():
    import tvm

    return tvm.target.Target("llvm")


def _schedule(func):
    import tvm
    from tvm import s_tir

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    blk = sch.get_sblock("C")
    sch.split(sch.get_loops(blk)[0], [None, 16])
    return sch


def _loops(sch) -> int:
    return len(sch.get_loops(sch.get_sblock("C")))


def test_two_databases_opened_together_keep_their_records_apart(tmp_path: Path) -> None:
    add, mm = _funcs()
    first, second = ScheduleDatabase(tmp_path), ScheduleDatabase(tmp_path)  # both open before either writes
    first.commit(add, _schedule(add), 1e-3, _target())
    second.commit(mm, _schedule(mm), 2e-3, _target())
    reopened = ScheduleDatabase(tmp_path)
    got_add, got_mm = reopened.lookup(add, _target()), reopened.lookup(mm, _target())
    assert got_add is not None and got_mm is not None
    assert _loops(got_add) == 2 and _loops(got_mm) == 4  # each record replays on its own workload
    rows = [json.loads(line) for line in (tmp_path / "database_tuning_record.json").read_text().splitlines()]
    assert sorted(r[0] for r in rows) == [0, 1]


def test_a_damaged_middle_workload_line_does_not_shift_later_records(tmp_path: Path) -> None:
    add, mm = _funcs()
    mm2 = examples.matmul(16, 16, 16)["main"]
    db = ScheduleDatabase(tmp_path)
    for func in (add, mm, mm2):
        db.commit(func, _schedule(func), 1e-3, _target())
    wpath = tmp_path / "database_workload.json"
    lines = wpath.read_text().splitlines()
    lines[0] = lines[0][: len(lines[0]) // 2]  # the add workload's line is damaged (not the last line)
    wpath.write_text("\n".join(lines) + "\n")
    reopened = ScheduleDatabase(tmp_path)  # opens (no 'workload_index out of range')
    assert reopened.lookup(add, _target()) is None  # its workload is gone, so is its record
    assert _loops(reopened.lookup(mm, _target())) == 4 and _loops(reopened.lookup(mm2, _target())) == 4
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def _compile(model: Path, db: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hawk_tvm.cli", "compile", str(model), "--hawk", "--database", str(db),
            "--trials", "2", "--repair-rounds", "0", "--no-knowledge", "-o", str(out)]


def _sources(stdout: str) -> list[str]:
    kinds = ("generated", "default", "fallback", "database", "untimed")
    return [p[3] for p in (line.split() for line in stdout.splitlines()) if len(p) >= 4 and p[3] in kinds]


@pytest.mark.slow
def test_two_concurrent_hawk_compiles_on_one_database(tmp_path: Path) -> None:
    import numpy as np

    from hawk_tvm.artifact import load_artifact
    from hawk_tvm.models import save

    mlp, conv = save("mlp", tmp_path / "m.onnx"), save("small_convnet", tmp_path / "c.onnx", size=8)
    db = tmp_path / "db"
    env = {**os.environ, "TVM_NUM_THREADS": "1"}
    procs = [subprocess.Popen(_compile(m, db, tmp_path / f"{m.stem}.tar"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) for m in (mlp, conv)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    third = subprocess.run(_compile(conv, db, tmp_path / "c2.tar"), capture_output=True, text=True, env=env,
                           timeout=300)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Traceback" not in third.stderr
    assert _sources(third.stdout) and set(_sources(third.stdout)) == {"database"}, third.stdout
    for m in (mlp,):  # the mlp's records are found too
        again = subprocess.run(_compile(m, db, tmp_path / "m2.tar"), capture_output=True, text=True, env=env,
                               timeout=300)
        assert again.returncode == 0 and set(_sources(again.stdout)) == {"database"}, again.stdout
    # the database-only conv build is correct: it matches onnxruntime on the same input
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype("float32")
    runner = load_artifact(tmp_path / "c2.tar")
    name = runner.meta["inputs"][0]["name"]
    want = ort.InferenceSession(str(conv), providers=["CPUExecutionProvider"]).run(None, {name: x})[0]
    np.testing.assert_allclose(runner.run({name: x})[0], want, rtol=1e-4, atol=1e-4)
