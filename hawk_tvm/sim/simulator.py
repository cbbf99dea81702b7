"""simulate(): constraints, cycle model, roofline and functional check of one candidate -> MeasureResult."""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import HawkError
from ..hardware.profile import HardwareProfile, load_profile
from ..measure.result import MeasureResult
from .constraints import check_constraints
from .cycles import estimate_tree
from .functional import check_numerics
from .nest import extract
from .roofline import Roofline, roofline

_ROOF_CACHE: dict[tuple[str, str], Roofline] = {}


def _roofline_cached(reference_mod: Any, profile: HardwareProfile) -> Roofline:
    key = (profile.name, hashlib.sha256(reference_mod.script().encode()).hexdigest())
    if key not in _ROOF_CACHE:
        if len(_ROOF_CACHE) > 256:
            _ROOF_CACHE.clear()
        _ROOF_CACHE[key] = roofline(reference_mod, profile)
    return _ROOF_CACHE[key]


def _as_module(mod: Any) -> Any:
    import tvm

    return tvm.IRModule({"main": mod}) if isinstance(mod, tvm.tirx.PrimFunc) else mod


def simulate(scheduled_mod: Any, reference_mod: Any | None, profile: HardwareProfile | str, *,
             functional: bool = True, seed: int = 0, isolate: bool = True) -> MeasureResult:
    """Simulate one candidate on an NPU profile.

    Returns ``ok`` with seconds = cycles / clock, cycles, and a breakdown (busy cycles per pipe, ``roofline_cycles``,
    ``roofline_fraction``, ``roofline_bound``, ``cores_used``, ``bytes_moved``); or the first error (a ``sim.<code>``
    constraint, ``numerics``, ``build``, ``run`` or ``internal``), with every constraint error under
    ``breakdown["errors"]``. The functional check (LLVM on the host, seeds `seed` and `seed + 1`) runs only when
    `functional` and a reference is given; `isolate` runs it in a worker process.
    """
    prof = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
    mod = _as_module(scheduled_mod)
    ref = _as_module(reference_mod) if reference_mod is not None else None
    try:
        tree = extract(mod)
    except Exception as exc:  # malformed IR from an untrusted schedule: report, never unwind
        return MeasureResult(ok=False, error=HawkError("internal", f"cannot analyse the module: {_short(exc)}"))
    errors = check_constraints(tree, prof)
    if errors:
        return MeasureResult(ok=False, error=errors[0], breakdown={"errors": [e.to_dict() for e in errors]})
    estimate = estimate_tree(tree, prof)
    breakdown: dict[str, Any] = dict(estimate.breakdown)
    breakdown["cores_used"] = estimate.cores_used
    breakdown["bytes_moved"] = {k: round(v) for k, v in estimate.bytes_moved.items()}
    try:
        roof = _roofline_cached(ref if ref is not None else mod, prof)
        breakdown.update(roofline_cycles=round(roof.cycles, 3), roofline_bound=roof.bound, roofline_unit=roof.unit,
                         roofline_fraction=round(roof.fraction(estimate.cycles), 6))
    except Exception as exc:  # roofline is informative only
        breakdown["roofline_error"] = _short(exc)
    if functional and ref is not None:
        err = check_numerics(mod, ref, seeds=(seed, seed + 1), isolate=isolate)
        if err is not None:
            return MeasureResult(ok=False, cycles=estimate.cycles, breakdown=breakdown, error=err)
    return MeasureResult(ok=True, seconds=estimate.cycles / prof.clock_hz, cycles=estimate.cycles, breakdown=breakdown)


def _short(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
