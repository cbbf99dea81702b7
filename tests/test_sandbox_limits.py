"""Sandbox resource limits: single-C-call bombs, slice copies, and the time limit off the main thread."""

from __future__ import annotations

import threading
import time

import pytest

from hawk_tvm.sandbox import ScheduleSandbox

try:
    from tir_workloads import MATMUL_ENV, MATMUL_MOD
except ImportError:  # tests/ imported as a package
    from tests.tir_workloads import MATMUL_ENV, MATMUL_MOD

# Two separately built nested lists: `==` visits every element in one C call (1e8 comparisons here).
EQUAL_BOMB = "a = [[0] * 10000] * 10000\nb = [[0] * 10000] * 10000\nok = a == b\n"
BOMBS = {
    "equal-nested-lists": EQUAL_BOMB,
    "less-than-nested-lists": "a = [[0] * 10000] * 10000\nb = [[0] * 10000] * 10000\nok = a < b\n",
    "in-nested-list": "a = [[0] * 10000] * 10000\nok = [1] in a\n",
    "max-nested-lists": "a = [[0] * 10000] * 10000\nb = [[0] * 10000] * 10000\nm = max(a, b)\n",
    "slice-copies": "big = [0] * 10000\nd = {}\nfor i in range(1000):\n    d[i] = big[:]\n",
}
SPIN = "x = 0\nfor i in range(1000):\n    for j in range(1000):\n        x = x + 1\n"


def _apply(program: str, timeout_s: float = 0.5, **kw: int):
    t0 = time.monotonic()
    _, err = ScheduleSandbox(timeout_s=timeout_s, **kw).apply(MATMUL_MOD, program, MATMUL_ENV)
    return err, time.monotonic() - t0


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_single_c_call_bombs_are_refused_quickly(name: str) -> None:
    err, seconds = _apply(BOMBS[name])
    assert err is not None and err.kind == "sandbox.refused", err
    assert seconds < 0.5, seconds  # refused before the C call, not stopped after it


def test_small_comparisons_and_slices_still_work() -> None:
    program = ("a = [1, 2, 3]\nb = a[:2]\nassert_ok = a[:2] == b and 2 in a and max(a) == 3 and a[1:] != b\n"
               "if not assert_ok:\n    sch.get_sblock('nonexistent')\n")
    err, _ = _apply(program)
    assert err is None, err


@pytest.mark.parametrize("program", [SPIN, EQUAL_BOMB], ids=["python-loop", "equal-bomb"])
def test_limits_hold_off_the_main_thread(program: str) -> None:
    out: dict = {}

    def worker() -> None:
        # a high iteration budget: the time limit, not the loop budget, has to stop the spin
        out["err"], out["s"] = _apply(program, timeout_s=0.3, max_iterations=10**9)

    th = threading.Thread(target=worker)
    th.start()
    th.join(timeout=30)
    assert not th.is_alive()
    assert out["err"] is not None and out["err"].kind in ("sandbox.timeout", "sandbox.refused"), out
    if program is SPIN:
        assert out["err"].kind == "sandbox.timeout", out
    assert out["s"] < 3.0, out


def test_no_late_timeout_after_a_thread_program_finishes() -> None:
    out: dict = {}

    def worker() -> None:
        out["err"], _ = _apply("x = 1\n", timeout_s=0.05)
        time.sleep(0.2)  # past the time limit: nothing may be raised here
        out["after"] = True

    th = threading.Thread(target=worker)
    th.start()
    th.join(timeout=10)
    assert out.get("err") is None and out.get("after") is True, out
