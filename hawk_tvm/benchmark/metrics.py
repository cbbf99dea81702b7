"""Benchmark metrics from per-operator results: correctness, fast_p, geometric-mean speedup, roofline, cost."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

P_VALUES = (0.0, 0.8, 1.0, 1.5, 2.0)
FLAG_SPEEDUP = 50.0

# One operator's results as plain dicts (BackendResult.to_dict()), keyed by backend label.
OpRow = Mapping[str, Mapping[str, Any]]


def attempted(r: Mapping[str, Any] | None) -> bool:
    """A measurement of this run: the backend ran on the op (not n/a, not cached from a database, not a bound)."""
    return r is not None and r.get("status") in ("ok", "failed")


def is_correct(r: Mapping[str, Any] | None) -> bool:
    """Delivered a kernel that passed the harness's fresh-input check."""
    return attempted(r) and bool(r.get("correct")) and r.get("seconds") is not None


def speedup(rows_op: OpRow, backend: str, baseline: str) -> float | None:
    """Baseline time over backend time, when both are correct (a bound counts as a time)."""
    b, x = rows_op.get(backend), rows_op.get(baseline)
    if not is_correct(b):
        return None
    if x is None or not (is_correct(x) or (x.get("status") == "bound" and x.get("seconds"))):
        return None
    return float(x["seconds"]) / float(b["seconds"])


def fast_p(rows: Iterable[OpRow], backend: str, baseline: str, p: float) -> tuple[float | None, int]:
    """(fraction, n): among ops the backend attempted and the baseline ran correctly on, the share where the backend
    is correct AND faster than the baseline by more than p. Incorrect kernels count in n, never in the numerator."""
    n = hits = 0
    for op in rows:
        b, x = op.get(backend), op.get(baseline)
        if not attempted(b) or not is_correct(x):
            continue
        n += 1
        s = speedup(op, backend, baseline)
        if s is not None and s > p:
            hits += 1
    return (hits / n if n else None), n


def geomean(values: Iterable[float]) -> float | None:
    """Geometric mean of positive values (None when there are none)."""
    vals = [float(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def geomean_speedup(rows: Iterable[OpRow], backend: str, baseline: str) -> tuple[float | None, int]:
    """(geometric-mean speedup, n) over ops where both are correct."""
    vals = [s for op in rows if (s := speedup(op, backend, baseline)) is not None]
    return geomean(vals), len(vals)


def correctness(rows: Iterable[OpRow], backend: str) -> dict[str, Any]:
    """Correct / attempted; how many kernels were the backend's own schedule; how many were cached (excluded)."""
    rows = list(rows)
    att = [op[backend] for op in rows if attempted(op.get(backend))]
    ok = [r for r in att if is_correct(r)]
    own = [r for r in ok if r.get("own")]
    cached = sum(1 for op in rows if (op.get(backend) or {}).get("status") == "cached")
    return {"attempted": len(att), "correct": len(ok), "rate": len(ok) / len(att) if att else None,
            "own_correct": len(own), "cached_excluded": cached}


def cost(rows: Iterable[OpRow], backend: str) -> dict[str, Any]:
    """Generation wall time, trials and LLM tokens over the attempted ops."""
    att = [op[backend] for op in rows if attempted(op.get(backend))]
    walls = [float(r["gen_wall_s"]) for r in att if r.get("gen_wall_s") is not None]
    firsts = [bool(r["first_candidate_ok"]) for r in att if r.get("first_candidate_ok") is not None]
    return {
        "gen_wall_s_total": sum(walls) if walls else None,
        "gen_wall_s_mean": sum(walls) / len(walls) if walls else None,
        "trials_mean": sum(int(r.get("trials") or 0) for r in att) / len(att) if att else None,
        "tokens_total": sum(int(r.get("tokens") or 0) for r in att),
        "first_candidate_ok_rate": sum(firsts) / len(firsts) if firsts else None,
    }


def roofline_fraction(rows: Iterable[OpRow], backend: str) -> dict[str, Any]:
    """Mean and geometric mean of the roofline fraction of the backend's correct kernels (simulator)."""
    fracs = [float(op[backend]["verdict"]["roofline_fraction"]) for op in rows if is_correct(op.get(backend))
             and (op[backend].get("verdict") or {}).get("roofline_fraction") is not None]
    return {"mean": sum(fracs) / len(fracs) if fracs else None, "geomean": geomean(fracs), "n": len(fracs)}


def flagged(rows: Iterable[OpRow], names: list[str], backends: Iterable[str], baseline: str = "default",
            limit: float = FLAG_SPEEDUP) -> list[dict[str, Any]]:
    """Speedups above `limit` over the baseline: to inspect before believing."""
    out = []
    for name, op in zip(names, rows):
        for b in backends:
            s = speedup(op, b, baseline)
            if s is not None and s > limit:
                out.append({"op": name, "backend": b, "baseline": baseline, "speedup": s})
    return out


def summarise(rows: list[OpRow], names: list[str], backends: list[str], baselines: list[str],
              npu: bool = False) -> dict[str, Any]:
    """Every metric for every backend (against every baseline that ran)."""
    out: dict[str, Any] = {}
    for b in backends:
        entry: dict[str, Any] = {"correctness": correctness(rows, b), "cost": cost(rows, b), "fast_p": {},
                                 "geomean_speedup": {}}
        for base in baselines:
            if base == b:
                continue
            entry["fast_p"][base] = {str(p): dict(zip(("value", "n"), fast_p(rows, b, base, p))) for p in P_VALUES}
            entry["geomean_speedup"][base] = dict(zip(("value", "n"), geomean_speedup(rows, b, base)))
        if npu:
            entry["roofline_fraction"] = roofline_fraction(rows, b)
        out[b] = entry
    return out
