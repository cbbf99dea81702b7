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


def vector_chunk(n: int, vector_elems: int, multiple: int = 1, max_vectors: int = 8) -> int:
    """The divisor of n (a multiple of `multiple`, at most `max_vectors` vectors long) whose chunks cover n in the
    fewest vector instructions (ceil(chunk / vector_elems) each; ties: the shorter chunk). 3600 fp16 elements on a
    128-lane unit: 240 (15 x 2 instructions at 94 % width), where the largest divisor <= 128 (80) needs 45."""
    lanes, unit = max(1, int(vector_elems)), max(1, int(multiple))
    best: tuple[int, int] | None = None
    for d in divisors(n):
        if d % unit or d > max_vectors * lanes:
            continue
        cost = (int(n) // d) * ceil_div(d, lanes)
        if best is None or cost < best[0]:
            best = (cost, d)
    return best[1] if best else largest_divisor(n, lanes, unit)


def dtype_size(dtype: str) -> int:
    """Bytes per element of a dtype name (``float16`` -> 2)."""
    from ..hardware.profile import dtype_bytes

    return dtype_bytes(str(dtype))


def _const(value: int, like: Any) -> Any:
    """`value` as an integer constant of the index dtype of `like` (int32 from te, int64 from Relax)."""
    from tvm import tirx

    return tirx.const(int(value), str(getattr(like, "dtype", "int64")))


def flat_index_map(extents: list[int], keep: int = 0) -> Any:
    """An index map for `transform_block_layout` that fuses a block's iterators into one row-major iterator,
    except the last `keep` (reduction) iterators, which stay as they are: (i, j, k, r) -> (i*J*K + j*K + k, r)."""
    from tvm.tirx import IndexMap

    ext = [int(e) for e in extents]
    n = len(ext) - int(keep)
    if n < 1 or any(e < 1 for e in ext):
        raise ValueError(f"flat_index_map: bad extents {ext} (keep {keep})")

    def fn(*vs: Any) -> list[Any]:
        flat = vs[0]
        for v, e in zip(vs[1:n], ext[1:n], strict=True):
            flat = flat * _const(e, v) + v
        return [flat, *vs[n:]]

    return IndexMap.from_func(fn, ndim=len(ext))


def first_iter_map(ndim: int) -> Any:
    """An index map for `reindex_cache_write` that lays a cache out by a block's first iterator only (the fused
    spatial iterator of a block whose other iterators are reductions): (f, r0, r1) -> (f,)."""
    from tvm.tirx import IndexMap

    return IndexMap.from_func(lambda *vs: [vs[0]], ndim=int(ndim))


def flat_pad_map(extents: list[int], unit: int) -> Any:
    """An index map for `transform_layout` of an on-chip buffer of these extents: the buffer flattened row-major
    into rows of `unit` elements, the last row padded, (i, j) -> ((i*J + j) // unit, (i*J + j) % unit); a tile
    whose size is not a multiple of the alignment then sits in whole aligned rows."""
    from tvm.tirx import IndexMap

    ext = [int(e) for e in extents]
    u = max(1, int(unit))
    if not ext or any(e < 1 for e in ext):
        raise ValueError(f"flat_pad_map: bad extents {ext}")

    def fn(*vs: Any) -> list[Any]:
        flat = vs[0]
        for v, e in zip(vs[1:], ext[1:], strict=True):
            flat = flat * _const(e, v) + v
        return [flat // _const(u, flat), flat % _const(u, flat)]

    return IndexMap.from_func(fn, ndim=len(ext))


HELPERS: dict[str, Callable[..., Any]] = {
    "ceil_div": ceil_div,
    "divisors": divisors,
    "largest_divisor": largest_divisor,
    "vector_chunk": vector_chunk,
    "dtype_size": dtype_size,
    "flat_index_map": flat_index_map,
    "first_iter_map": first_iter_map,
    "flat_pad_map": flat_pad_map,
}

