"""The model-level NPU figure: simulated latency (sum over tasks x uses), roofline latency, tasks on the NPU.

A task is on the NPU when Hawk installed a schedule for it (generated or a database hit). The rest keep TVM's
default lowering, which on an Ascend-like part would drop to the AI CPU: they are counted at their simulated
default cost and flagged, each with a one-line reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

NPU_SOURCES = ("generated", "database", "untimed")  # untimed on an NPU: checked on the simulator
MATRIX_CLASSES = ("conv2d", "matmul", "batch_matmul", "dense")  # op classes whose work is a GEMM on the cube
STRICT_NPU_EXIT = 3  # `hawk compile --strict-npu` when a task falls back to the default lowering


@dataclass
class TaskCost:
    """One task's share of the model on the NPU."""

    name: str
    op_class: str
    uses: int
    seconds: float | None  # simulated seconds per call (schedule, or default lowering for a fallback)
    roofline_s: float | None  # the operator's roofline on the profile, per call
    npu: bool
    reason: str = ""
    cube: bool = False  # its schedule tensorizes with the profile's matrix (cube) intrinsic

    @property
    def matrix_class(self) -> bool:
        """Whether the operator's work belongs on the cube (convolutions, matmuls; not depthwise convs)."""
        return self.op_class in MATRIX_CLASSES

    @property
    def total_s(self) -> float:
        """Seconds over all uses (0 when unknown)."""
        return (self.seconds or 0.0) * self.uses


def uses_matrix_intrinsic(schedule: Any) -> bool:
    """Whether a schedule tensorizes a block with a matrix-unit intrinsic (hawk_tvm.sim.intrinsics: the names
    hold '.mma.'), read from its trace."""
    trace = getattr(schedule, "trace", None)
    text = str(trace) if trace is not None else ""
    return "tensorize" in text and ".mma." in text


def task_costs(rows: list[Any], roofline_s: dict[str, float], logged: dict[str, dict[str, Any]],
               cube: set[str] | None = None) -> list[TaskCost]:
    """TaskCosts of a compile's report rows; `logged` (name -> result log record) fills in database hits; `cube`:
    the tasks whose installed schedule runs on the matrix unit (database hits included)."""
    cube = set(cube or ())
    out = []
    for r in rows:
        source = str(r.source)
        seconds = r.best_seconds if source in ("generated", "untimed") else None  # untimed on an NPU: simulated
        if source == "database":
            rec = logged.get(r.name) or {}
            seconds = rec.get("best_seconds") or rec.get("default_seconds")
        elif seconds is None:
            seconds = r.default_seconds
        npu = source in NPU_SOURCES
        reason = "" if npu else (_first_line(r.reason) or f"default lowering ({source})")
        cls = r.workload.op_class if r.workload is not None else ((logged.get(r.name) or {}).get("workload") or {}).get(
            "op_class", "?")
        on_cube = r.name in cube or (npu and uses_matrix_intrinsic(getattr(r, "schedule", None)))
        out.append(TaskCost(r.name, cls, r.uses, seconds, roofline_s.get(r.name), npu, reason, on_cube))
    return out


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0][:140] if (text or "").strip() else ""


def summary(costs: list[TaskCost]) -> list[str]:
    """The lines that end an NPU compile (and head `hawk explain ARTIFACT`)."""
    total = sum(c.total_s for c in costs)
    roof = sum((c.roofline_s or 0.0) * c.uses for c in costs)
    on_npu = sum(1 for c in costs if c.npu)
    fallback = [c for c in costs if not c.npu]
    frac = f"{roof / total:.2%}" if total > 0 else "-"
    unknown = sum(1 for c in costs if c.seconds is None)
    matrix = [c for c in costs if c.matrix_class]
    lines = [
        f"model on the NPU (simulated): {total * 1e3:.4f} ms, roofline {roof * 1e3:.4f} ms, fraction {frac}; "
        f"{on_npu} of {len(costs)} tasks on the NPU"
        + (f" ({len(fallback)} fallback, counted at their simulated default cost)" if fallback else "")
        + (f"; {sum(c.cube for c in matrix)} of {len(matrix)} conv/matmul tasks on the cube" if matrix else "")
        + (f"; {unknown} task(s) without a simulated time" if unknown else "")
    ]
    for c in fallback:
        cost = f"{c.total_s * 1e3:.4f} ms" if c.seconds is not None else "no time"
        lines.append(f"  fallback {c.name} ({c.op_class}, x{c.uses}, {cost}): {c.reason}")
    return lines


def table(costs: list[TaskCost]) -> list[str]:
    """Per-operator lines sorted by share of the model's simulated time."""
    total = sum(c.total_s for c in costs) or 1.0
    head = (f"{'op':<34} {'class':<14} {'uses':>4} {'npu':>4} {'unit':>6} {'ms/call':>10} {'share':>7} "
            f"{'roofline':>9}")
    lines = [head, "-" * len(head)]
    for c in sorted(costs, key=lambda c: -c.total_s):
        ms = f"{c.seconds * 1e3:.4f}" if c.seconds is not None else "-"
        roof = f"{c.roofline_s / c.seconds:.1%}" if c.roofline_s and c.seconds else "-"
        unit = "cube" if c.cube else ("vector" if c.npu else "-")
        lines.append(f"{c.name[:34]:<34} {c.op_class[:14]:<14} {c.uses:>4} {'yes' if c.npu else 'NO':>4} {unit:>6} "
                     f"{ms:>10} {c.total_s / total:>7.1%} {roof:>9}")
    return lines


def to_json(costs: list[TaskCost]) -> list[dict[str, Any]]:
    """JSON rows kept in the artifact's metadata."""
    return [asdict(c) for c in costs]


def from_json(rows: list[dict[str, Any]]) -> list[TaskCost]:
    """Inverse of `to_json` (artifacts made before a field existed get its default)."""
    known = set(TaskCost.__dataclass_fields__)
    return [TaskCost(**{k: v for k, v in r.items() if k in known}) for r in rows]


def task_roofline_s(func: Any, profile: Any) -> float | None:
    """The roofline of one unscheduled PrimFunc on `profile`, in seconds (None when it cannot be analysed)."""
    import tvm

    from .sim.roofline import roofline

    try:
        return roofline(tvm.IRModule({"main": func}), profile).cycles / profile.clock_hz
    except Exception:  # an operator the analysis cannot read: no roofline rather than no compile
        return None
