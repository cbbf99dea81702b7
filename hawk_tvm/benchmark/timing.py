"""Wall-clock timing of a callable for the benchmark scripts (whole models, one-node models, torch eager)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_call_seconds(fn: Callable[[], Any], min_s: float = 1.0, min_runs: int = 5, max_runs: int = 200) -> float:
    """Median seconds of `fn()` over at least `min_runs` calls and `min_s` seconds (after one warm-up call),
    at most `max_runs` calls."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_s:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= max_runs:
            break
    return float(np.median(times))
