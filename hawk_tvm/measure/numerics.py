"""Seeded inputs and output comparison shared by every runner (host, RPC, simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import HawkError

# Tolerances by output dtype (relative, absolute relative to the reference's magnitude).
TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-9), "float16": (1e-2, 1e-3), "bfloat16": (2e-2, 1e-2)}


def make_inputs(shapes: Sequence[Sequence[int]], dtypes: Sequence[str], seed: int) -> list[np.ndarray]:
    """Deterministic random arrays for every argument (outputs included; they are overwritten).

    Floats are drawn from [0.1, 1.0) so logs, square roots and divisions stay finite; integers from [0, 4)
    so index-like inputs stay in range.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, dtype in zip(shapes, dtypes):
        shape = tuple(int(s) for s in shape)
        if dtype.startswith("float") or dtype == "bfloat16":
            arr = rng.uniform(0.1, 1.0, size=shape).astype("float32" if dtype == "bfloat16" else dtype)
        elif dtype == "bool":
            arr = rng.integers(0, 2, size=shape).astype("bool")
        else:
            arr = rng.integers(0, 4, size=shape).astype(dtype)
        arrays.append(arr)
    return arrays


def compare(actual: np.ndarray, expected: np.ndarray, dtype: str, name: str = "output") -> HawkError | None:
    """None when `actual` matches `expected` within the dtype's tolerance, else a `numerics` error."""
    if actual.shape != expected.shape:
        return HawkError("numerics", f"{name}: shape {actual.shape} != {expected.shape}")
    if not (dtype.startswith("float") or dtype == "bfloat16"):
        if np.array_equal(actual, expected):
            return None
        bad = int(np.sum(actual != expected))
        return HawkError("numerics", f"{name}: {bad} of {actual.size} integer elements differ", {"mismatched": bad})
    rtol, atol_rel = TOLERANCES.get(dtype, (1e-4, 1e-5))
    a = actual.astype("float64")
    e = expected.astype("float64")
    scale = float(np.nanmax(np.abs(e))) if e.size and np.isfinite(e).any() else 1.0
    ok = np.isclose(a, e, rtol=rtol, atol=atol_rel * max(scale, 1e-30), equal_nan=True)
    if bool(np.all(ok)):
        return None
    bad = int(np.size(ok) - np.count_nonzero(ok))
    with np.errstate(invalid="ignore"):
        worst = float(np.nanmax(np.abs(a - e))) if a.size else 0.0
    return HawkError(
        "numerics",
        f"{name}: {bad} of {a.size} elements differ (max abs error {worst:.3g}, rtol {rtol})",
        {"mismatched": bad, "max_abs_error": worst, "rtol": rtol},
    )


def compare_all(actual: Sequence[Any], expected: Sequence[Any], dtypes: Sequence[str]) -> HawkError | None:
    """Compare every output; the first mismatch is returned."""
    for i, (a, e, d) in enumerate(zip(actual, expected, dtypes)):
        err = compare(np.asarray(a), np.asarray(e), d, name=f"output {i}")
        if err:
            return err
    return None
