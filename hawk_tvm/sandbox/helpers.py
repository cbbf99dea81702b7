"""The names a schedule program may call: guarded builtins and Hawk's integer helpers."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from .limits import bounded_range

SAFE_BUILTINS: dict[str, Any] = {
    "min": min,
    "max": max,
    "abs": abs,
    "len": len,
    "range": bounded_range,
    "int": int,
    "list": list,
    "tuple": tuple,
    "enumerate": enumerate,
    "zip": zip,
    "sum": sum,
    "reversed": reversed,
    "True": True,
    "False": False,
    "None": None,
}


@functools.lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


def ceil_div(a: int, b: int) -> int:
    """Ceiling division."""
    return -(-int(a) // int(b))


def divisors(n: int) -> list[int]:
    """Divisors of n in increasing order."""
    return list(_divisors(int(n)))


def largest_divisor(n: int, cap: int, multiple: int = 1) -> int:
    """Largest divisor of n that is <= cap and a multiple of `multiple` (falls back to the largest <= cap)."""
    cands = [d for d in divisors(n) if d <= max(1, int(cap))]
    aligned = [d for d in cands if d % max(1, int(multiple)) == 0]
    return max(aligned or cands or [1])


HELPERS: dict[str, Callable[..., Any]] = {
    "ceil_div": ceil_div,
    "divisors": divisors,
    "largest_divisor": largest_divisor,
}

