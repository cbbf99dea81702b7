"""Resumable compiles: `hawk compile` killed with SIGKILL mid-generation continues where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hawk_tvm.database import RESULTS_FILE, ScheduleDatabase
from hawk_tvm.models import save

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _compile(model: Path, db: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hawk_tvm.cli", "compile", str(model), "--hawk", "--database", str(db),
            "--trials", "2", "--repair-rounds", "0", "--no-knowledge", "-o", str(out)]  # fmt: skip


def _rows(stdout: str) -> dict[str, str]:
    """op name -> source, from the summary table."""
    rows: dict[str, str] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] in ("generated", "default", "fallback", "database", "untimed"):
            rows[parts[0]] = parts[3]
    return rows


def test_killed_compile_resumes_without_regenerating(tmp_path: Path) -> None:
    model = save("small_convnet", tmp_path / "c.onnx", size=8)  # 5 operators: conv, pool, conv, mean, gemm
    db = tmp_path / "db"
    log = db / RESULTS_FILE
    env = {**os.environ, "TVM_NUM_THREADS": "2"}
    first = subprocess.Popen(
        _compile(model, db, tmp_path / "a.tar"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group: the kill takes its measurement workers too
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if log.exists() and len(log.read_text().splitlines()) >= 1:
                break
            time.sleep(0.2)
        assert first.poll() is None, "the first compile finished before it could be killed"
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    done_before = {json.loads(line)["structural_key"] for line in log.read_text().splitlines() if line.strip()}
    assert len(done_before) >= 1

    second = subprocess.run(
        _compile(model, db, tmp_path / "b.tar"), capture_output=True, text=True, env=env, timeout=300
    )
    assert second.returncode == 0, second.stderr[-2000:]
    rows = _rows(second.stdout)
    hits = [n for n, s in rows.items() if s == "database"]
    generated = [n for n, s in rows.items() if s != "database"]
    assert len(hits) >= len(done_before) - 1 and generated, second.stdout  # (a fallback is never recorded)
    # nothing generated twice: every structural key appears once in the results log
    keys = [json.loads(line)["structural_key"] for line in log.read_text().splitlines() if line.strip()]
    assert len(keys) == len(set(keys)), keys
    assert len(keys) == len(rows), second.stdout
    # the database loads and answers for every operator of the model
    database = ScheduleDatabase(db)
    assert len(database.results()) == len(rows)
    assert (tmp_path / "b.tar").exists()
