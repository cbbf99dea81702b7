"""`hawk explain`: render what Hawk did for an operator from the result log kept beside the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _render(rec: dict[str, Any]) -> str:
    lines = [f"operator {rec['name']}  ({rec.get('source')})"]
    wl = rec.get("workload") or {}
    if wl:
        lines.append(
            f"  class {wl.get('op_class')}, spatial {wl.get('spatial')}, reduce {wl.get('reduce')}, "
            f"dtype {wl.get('dtype')}, {wl.get('flops', 0):.3g} FLOP, {wl.get('bytes', 0):.3g} bytes"
        )
    if rec.get("default_seconds"):
        lines.append(f"  default lowering: {rec['default_seconds'] * 1e3:.4f} ms")
    if rec.get("best_seconds"):
        speed = f" ({rec['speedup']:.2f}x)" if rec.get("speedup") else ""
        lines.append(f"  chosen schedule:  {rec['best_seconds'] * 1e3:.4f} ms{speed}")
    best = rec.get("best") or {}
    bd = best.get("breakdown") or {}
    if "roofline_fraction" in bd:
        lines.append(f"  roofline fraction: {bd['roofline_fraction']:.2%}")
    lines.append(
        f"  candidates {rec.get('candidates')}, failed {rec.get('failed')}, rounds {rec.get('rounds')}, "
        f"{rec.get('wall_s')} s"
    )
    if rec.get("reason"):
        lines.append(f"  note: {rec['reason']}")
    if best:
        lines.append(f"  origin: {best.get('origin')}  params: {json.dumps(best.get('params'))}")
        lines.append("  schedule program:")
        lines += ["    " + ln for ln in (best.get("program") or "").strip().splitlines()]
    used = set(best.get("knowledge_ids") or [])
    if rec.get("knowledge"):
        lines.append("  knowledge retrieved:")
        for k in rec["knowledge"]:
            mark = "*" if k["id"] in used else " "
            lines.append(f"   {mark} {k['id']} (score {k['score']:.3f}): {k['rationale'].strip()[:200]}")
    for err in (rec.get("errors") or [])[:5]:
        e = err["error"]
        lines.append(f"  failed {err['origin']} (round {err['round']}): [{e['kind']}] {e['message'][:160]}")
    return "\n".join(lines)


def _artifact_build(path: str) -> dict[str, Any] | None:
    import tarfile

    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("metadata.json")
            meta = json.load(member) if member else {}
    except (tarfile.TarError, KeyError, ValueError, OSError):
        return None
    return dict(meta.get("build", {}))


def _model_text(build: dict[str, Any]) -> str | None:
    """The model-level NPU figure and the per-operator table by time share (NPU artifacts)."""
    from .model_report import from_json, summary, table

    rows = build.get("model")
    if not rows:
        return None
    costs = from_json(rows)
    return "\n".join([*summary(costs), "", *table(costs)])


def explain(what: str, results: list[dict[str, Any]]) -> str | None:
    """Text for an operator name, or for every operator compiled into an artifact; None when unknown."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in results:
        latest[rec["name"]] = rec
    if what in latest:
        return _render(latest[what])
    if Path(what).is_file():
        build = _artifact_build(what) or {}
        found = [latest[name] for name in build.get("ops", []) if name in latest]
        model = _model_text(build)
        if found or model:
            return "\n\n".join(([model] if model else []) + [_render(r) for r in found])
    return None
