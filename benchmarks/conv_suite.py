"""Conv suite on the davinci simulator: the knowledge template davinci.conv2d.cube_implicit_gemm applied through
the sandbox to the convs of real networks (batch 1, fp16 operands, fp32 accumulation: the fp16 cube tile), each
simulated with the functional check. Usage: python benchmarks/conv_suite.py [out.md]"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import tvm
import yaml
from tvm import te, topi

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.hardware.profile import load_profile
from hawk_tvm.sandbox import evaluate_expression
from hawk_tvm.sandbox.executor import ScheduleSandbox
from hawk_tvm.sim.intrinsics import register_intrinsics
from hawk_tvm.sim.roofline import roofline
from hawk_tvm.sim.simulator import simulate

# (name, c_in, c_out, map, kernel, stride, pad[, groups])
CONVS = [
    ("resnet_stem_7x7s2_3-64@224", 3, 64, 224, 7, 2, 3),
    ("resnet18_3x3_64-64@56", 64, 64, 56, 3, 1, 1),
    ("resnet18_3x3s2_64-128@56", 64, 128, 56, 3, 2, 1),
    ("resnet18_1x1s2_64-128@56", 64, 128, 56, 1, 2, 0),
    ("resnet18_3x3_128-128@28", 128, 128, 28, 3, 1, 1),
    ("resnet18_3x3_256-256@14", 256, 256, 14, 3, 1, 1),
    ("resnet18_3x3_512-512@7", 512, 512, 7, 3, 1, 1),
    ("resnet50_1x1_64-256@56", 64, 256, 56, 1, 1, 0),
    ("resnet50_1x1_256-64@56", 256, 64, 56, 1, 1, 0),
    ("resnet50_1x1_1024-256@14", 1024, 256, 14, 1, 1, 0),
    ("resnet50_1x1_2048-512@7", 2048, 512, 7, 1, 1, 0),
    ("mobilenet_pw_32-64@112", 32, 64, 112, 1, 1, 0),
    ("mobilenet_pw_512-512@14", 512, 512, 14, 1, 1, 0),
    ("mobilenet_stem_3x3s2_3-32@224", 3, 32, 224, 3, 2, 1),
    ("squeezenet_stem_3x3s2_3-64@224", 3, 64, 224, 3, 2, 0),
    ("squeezenet_fire_1x1_64-16@55", 64, 16, 55, 1, 1, 0),
    ("squeezenet_fire_3x3_16-64@55", 16, 64, 55, 3, 1, 1),
    ("squeezenet_fire_1x1_16-64@55", 16, 64, 55, 1, 1, 0),
    ("squeezenet_fire_3x3_32-128@27", 32, 128, 27, 3, 1, 1),
    ("squeezenet_fire_1x1_64-256@13", 64, 256, 13, 1, 1, 0),
    ("squeezenet_fire_3x3_64-256@13", 64, 256, 13, 3, 1, 1),
    ("squeezenet_cls_1x1_512-1000@13", 512, 1000, 13, 1, 1, 0),
    ("inception_5x5_48-64@35", 48, 64, 35, 5, 1, 2),
    ("inception_1x1_192-64@35", 192, 64, 35, 1, 1, 0),
    ("vgg_3x3_64-64@224", 64, 64, 224, 3, 1, 1),
    ("densenet_1x1_88-128@56", 88, 128, 56, 1, 1, 0),
    ("densenet_1x1_232-128@28", 232, 128, 28, 1, 1, 0),
    ("alexnet_conv1_11x11s4_3-96@224", 3, 96, 224, 11, 4, 2),
    # (..., groups): grouped convs as per-group GEMMs on the cube, depthwise (groups = channels) on the vector unit
    ("resnext50_3x3_g32_512-512@14", 512, 512, 14, 3, 1, 1, 32),
    ("resnext50_3x3s2_g32_256-256@56", 256, 256, 56, 3, 2, 1, 32),
    ("shufflenet_g3_1x1_240-60@28", 240, 60, 28, 1, 1, 0, 3),
    ("mobilenetv2_dw_3x3_32@112", 32, 32, 112, 3, 1, 1, 32),
    ("mobilenetv2_dw_3x3s2_144@56", 144, 144, 56, 3, 2, 1, 144),
    ("mobilenetv2_dw_3x3_384@14", 384, 384, 14, 3, 1, 1, 384),
    ("efficientnet_b0_dw_5x5s2_144@56", 144, 144, 56, 5, 2, 2, 144),
    ("mobilenetv3_dw_5x5_960@7", 960, 960, 7, 5, 1, 2, 960),
    ("efficientnet_b1_dw_5x5_480@15", 480, 480, 15, 5, 1, 2, 480),
]


def conv_module(ci: int, co: int, hw: int, k: int, s: int, p: int, groups: int = 1) -> tvm.IRModule:
    x = te.placeholder((1, ci, hw, hw), "float16", name="X")
    w = te.placeholder((co, ci // groups, k, k), "float16", name="W")
    if groups > 1:
        y = topi.nn.group_conv2d_nchw(x, w, s, p, 1, groups, out_dtype="float32")
    else:
        y = topi.nn.conv2d_nchw(x, w, s, p, 1, out_dtype="float32")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


MS_RESULTS = Path("benchmarks/results/ms_sim/conv_suite_ms.json")  # made by benchmarks/ms_baseline.py --suite conv


def ms_baseline() -> tuple[dict, float | None]:
    """MetaSchedule-through-the-simulator results per conv name (best simulated cycles) and their time budget."""
    if not MS_RESULTS.exists():
        return {}, None
    data = json.loads(MS_RESULTS.read_text())
    return data.get("ops", {}), data.get("budget_s")


def depthwise_module(c: int, hw: int, k: int, s: int, p: int) -> tvm.IRModule:
    x = te.placeholder((1, c, hw, hw), "float16", name="X")
    w = te.placeholder((c, 1, k, k), "float16", name="W")
    y = topi.nn.depthwise_conv2d_nchw(x, w, s, p, 1, out_dtype="float16")
    return tvm.IRModule({"main": te.create_prim_func([x, w, y])})


def first_params(entry: dict) -> dict:
    return {k: v[0] if isinstance(v, list) else v for k, v in entry["params"].items()}


def best_vector(ref: tvm.IRModule, prof, entries: list[dict], sandbox: ScheduleSandbox):
    """As the engine does for a depthwise conv: every conv.yaml entry whose `when` holds (first param values),
    simulated; the fastest legal schedule wins (else the first error)."""
    best, failing, first_err = None, None, None
    for e in entries:
        env = analyze(ref["main"]).program_env(prof.program_facts("float16"))
        env.update(first_params(e))
        ok, werr = evaluate_expression(e["when"], env) if e.get("when") else (True, None)
        if werr or not ok:
            continue
        sch, err = sandbox.apply(ref, e["template"], env)
        if err is not None:
            first_err = first_err or err
            continue
        r = simulate(sch.mod, ref, prof, isolate=False, functional=False)
        if r.ok and (best is None or r.cycles < best[0]):
            best = (r.cycles, sch, e["id"])
        elif not r.ok and failing is None:
            failing = (sch, e["id"])
    if best is not None:
        return best[1], None, best[2]
    if failing is not None:  # the caller simulates it and reports the simulator's error
        return failing[0], None, failing[1]
    return None, first_err, "-"


def main() -> None:
    prof = load_profile("davinci")
    register_intrinsics(prof)
    entry = yaml.safe_load(Path("schedules/davinci/conv_cube.yaml").read_text())[0]
    vec_entries = [e for e in yaml.safe_load(Path("schedules/davinci/conv.yaml").read_text())
                   if "depthwise_conv2d" in e.get("op_classes", [])]  # depthwise: the vector unit
    ms, ms_budget = ms_baseline()
    rows, sandbox = [], ScheduleSandbox(timeout_s=120)
    for name, ci, co, hw, k, s, p, *grp in CONVS:
        groups = grp[0] if grp else 1
        dw = groups > 1 and groups == ci == co
        ref = depthwise_module(ci, hw, k, s, p) if dw else conv_module(ci, co, hw, k, s, p, groups)
        t0 = time.time()
        if dw:
            sch, err, used = best_vector(ref, prof, vec_entries, sandbox)
        else:
            env = analyze(ref["main"]).program_env(prof.program_facts("float16"))
            env.update(first_params(entry))
            sch, err = sandbox.apply(ref, entry["template"], env)
            used = entry["id"]
        m = ms.get(name) or {}
        lim = roofline(ref, prof)  # the same limit without the reference's element ops (its pad copy's predicates)
        ms_us = f"{m['best_us']:.1f}" if m.get("best_us") else ("no valid program" if m else "not run")
        ms_fr = f"{lim.cycles / m['best_cycles']:.2e}" if m.get("best_cycles") else "-"
        unit = f"vector ({used})" if dw else "cube"
        if err is not None:
            rows.append((name, unit, "no", "-", "-", "-", "-", ms_us, ms_fr, f"{err.kind}: {err.message[:70]}"))
            print(name, rows[-1][1:], flush=True)
            continue
        r = simulate(sch.mod, ref, prof, isolate=False)
        b = r.breakdown or {}
        own = "yes" if r.ok else "no (fails the simulator: falls back)"
        if dw:
            bound = lim.cycles
        else:
            bound = max(lim.macs / (prof.matrix.tile_for("float16").macs_per_cycle * prof.cores),
                        lim.offchip_bytes / prof.offchip.bandwidth_bytes_per_cycle)
        rows.append((name, unit, own, "yes" if r.ok else "-", f"{(r.cycles or 0) / prof.clock_hz * 1e6:.1f}",
                     f"{b.get('roofline_fraction', 0):.3f}", f"{bound / r.cycles:.3f}" if r.ok else "-",
                     ms_us, ms_fr, "" if r.ok else str(r.error)[:70]))
        print(name, rows[-1][1:], f"{time.time() - t0:.1f}s", flush=True)
    fr = [float(r[5]) if r[3] == "yes" else 0.0 for r in rows]  # a conv that fails counts as 0
    strict = [float(r[6]) if r[3] == "yes" else 0.0 for r in rows]
    budget = f"{ms_budget:.0f} s wall clock per conv" if ms_budget else "no MetaSchedule results found"
    lines = ["Command: `python benchmarks/conv_suite.py benchmarks/results/conv_suite_davinci.md` (davinci simulator, "
             "fp16 operands / fp32 accumulation, roofline against the fp16 cube tile; first value of each template "
             "param, no search; depthwise convs: fp16 on the vector unit, the fastest legal one of the conv.yaml "
             "entries that take depthwise convs, named in the unit column). "
             "'MAC/byte bound' = max(cube MACs at peak, operator bytes at "
             "HBM bandwidth) / simulated: the simulator's roofline also counts the reference's element ops (the "
             "pad copy's predicates) as vector work, which an implicit GEMM never runs. MetaSchedule columns: "
             f"MetaSchedule through the same simulator, {budget} (from {MS_RESULTS}, made by "
             "`python benchmarks/ms_baseline.py --suite conv --conv-budget 30`); its roofline fraction is recomputed "
             "here against the current simulator's roofline ('not run': conv added after that run)\n",
             "| conv | unit | own kernel | correct | simulated us | roofline fraction | MAC/byte bound "
             "| MS simulated us | MS roofline fraction | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append(f"\n{len(rows)} convs; own kernel {sum(r[2] == 'yes' for r in rows)}, correct "
                 f"{sum(r[3] == 'yes' for r in rows)}; roofline fraction mean {sum(fr) / max(len(fr), 1):.3f}, "
                 f"min {min(fr, default=0):.3f}; MAC/byte bound mean {sum(strict) / max(len(strict), 1):.3f}, "
                 f"min {min(strict, default=0):.3f}")
    text = "\n".join(lines)
    print(text)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n")


if __name__ == "__main__":
    main()
