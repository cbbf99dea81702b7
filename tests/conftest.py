"""Shared fixtures: an isolated HAWK_HOME per test, and small ONNX models built in the test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def hawk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HAWK_HOME, so no state leaks between tests or from the user's ~/.hawk."""
    home = tmp_path / "hawk_home"
    monkeypatch.setenv("HAWK_HOME", str(home))
    for var in ("HAWK_LLM_MODEL", "HAWK_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


def pytest_configure(config: pytest.Config) -> None:
    """Register the `slow` marker (tests over ~20 s; deselect with -m 'not slow') and the `integration` marker
    (tests that start real servers or subprocesses: RPC trackers, sim-servers, `hawk` processes)."""
    config.addinivalue_line("markers", "slow: takes more than ~20 s")
    config.addinivalue_line("markers", "integration: starts real servers or subprocesses")
