"""fast_p, geometric mean, correctness and flags of the benchmark harness, on hand-made results."""

from __future__ import annotations

import math

import pytest

from hawk_tvm.benchmark.metrics import correctness, fast_p, flagged, geomean, geomean_speedup, speedup


def _r(seconds: float | None, correct: bool = True, status: str = "ok", own: bool = True) -> dict:
    return {"status": status, "correct": correct if status in ("ok", "failed") else None,
            "seconds": seconds if correct or status == "bound" else None, "own": own}


ROWS = [
    {"default": _r(1.0), "hawk": _r(0.5), "ms": _r(0.25)},  # hawk 2x, ms 4x
    {"default": _r(1.0), "hawk": _r(0.9), "ms": _r(1.0)},  # hawk 1.11x
    {"default": _r(1.0), "hawk": _r(0.01, correct=False, status="failed"), "ms": _r(2.0)},  # fast but wrong
    {"default": _r(1.0), "hawk": _r(2.0), "ms": _r(None, correct=False, status="failed")},  # hawk 0.5x
    {"default": _r(1.0), "hawk": _r(None, status="cached"), "ms": _r(0.5)},  # cached: not a measurement
]


def test_fast_p_counts_only_correct_and_faster_and_skips_cached() -> None:
    assert fast_p(ROWS, "hawk", "default", 0.0) == (3 / 4, 4)  # the wrong kernel counts in n, not the numerator
    assert fast_p(ROWS, "hawk", "default", 1.0) == (2 / 4, 4)
    assert fast_p(ROWS, "hawk", "default", 1.5) == (1 / 4, 4)
    assert fast_p(ROWS, "hawk", "default", 2.0) == (0.0, 4)  # strictly greater than p
    # against MetaSchedule: ops where MetaSchedule itself failed are left out of n
    assert fast_p(ROWS, "hawk", "ms", 1.0) == (1 / 3, 3)  # 1.0/0.9 = 1.11; 0.25/0.5 = 0.5
    assert fast_p(ROWS, "hawk", "ms", 0.4) == (2 / 3, 3)


def test_geomean_and_speedup() -> None:
    assert geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert geomean([]) is None
    value, n = geomean_speedup(ROWS, "hawk", "default")
    assert n == 3  # the wrong kernel and the cached one never enter a speedup
    assert value == pytest.approx(math.exp((math.log(2.0) + math.log(1 / 0.9) + math.log(0.5)) / 3))
    assert speedup(ROWS[2], "hawk", "default") is None
    assert speedup({"roofline": _r(0.1, status="bound"), "hawk": _r(0.2)}, "hawk", "roofline") == pytest.approx(0.5)


def test_correctness_excludes_cached_and_separates_fallbacks() -> None:
    rows = [*ROWS, {"default": _r(1.0), "hawk": _r(1.0, own=False)}]
    c = correctness(rows, "hawk")
    assert c["attempted"] == 5 and c["correct"] == 4 and c["own_correct"] == 3 and c["cached_excluded"] == 1


def test_large_speedups_are_flagged() -> None:
    rows = [{"default": _r(1.0), "hawk": _r(0.01)}, {"default": _r(1.0), "hawk": _r(0.5)}]
    flags = flagged(rows, ["a", "b"], ["hawk"])
    assert [f["op"] for f in flags] == ["a"] and flags[0]["speedup"] == pytest.approx(100.0)
