"""Speed of the simulator's static path: estimate_cycles / check_constraints on a 1024^3 GEMM (target < 100 ms)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

from hawk_tvm.hardware import load_profile
from hawk_tvm.sim import examples
from hawk_tvm.sim.constraints import check_constraints
from hawk_tvm.sim.cycles import estimate_tree
from hawk_tvm.sim.nest import extract
from hawk_tvm.sim.simulator import simulate

OUT = Path(__file__).parent / "results" / "sim_speed.json"


def _time(fn, repeat: int = 20) -> float:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> dict:
    """Measure and write benchmarks/results/sim_speed.json."""
    prof = load_profile("davinci")
    ref = examples.matmul(1024, 1024, 1024)
    sched = examples.schedule_matmul_npu(ref, prof, 256, 256, 64, double_buffer=True)
    result = simulate(sched, ref, prof, functional=False)
    figures = {
        "workload": "matmul 1024x1024x1024 fp16->fp32, davinci, tiles 256x256x64, double-buffered, 32 cores",
        "estimate_cycles_ms": _time(lambda: estimate_tree(extract(sched), prof)) * 1e3,
        "check_constraints_ms": _time(lambda: check_constraints(sched, prof)) * 1e3,
        "simulate_no_functional_ms": _time(lambda: simulate(sched, ref, prof, functional=False)) * 1e3,
        "default_lowering_estimate_ms": _time(lambda: estimate_tree(extract(ref), prof)) * 1e3,
        "cycles": result.cycles,
        "roofline_fraction": result.breakdown.get("roofline_fraction"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "budget_ms": 100.0,
    }
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
