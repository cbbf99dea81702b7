"""Upper bounds of a square fp16 GEMM's cube-roofline fraction on a profile without L2 (davinci by default).

Every core fetches its own operands from GM (no shared L2), the GM bandwidth is shared by the active cores (capped
per core by the MTE2 path), the fp32 result is written once, and start-up latencies are ignored (so real
schedules stay below these figures).

- "L0C tiles": output tiles TM x TN whose fp32 accumulator fits L0C, spread over the cores in rounds; per tile the
  operand stream and the cube overlap perfectly, the write-back does not.
- "any blocking": each of P cores owns MN / P outputs as a square block (the least operand traffic for that area),
  perfect overlap of everything; best P.

Run: python benchmarks/results/gemm_davinci/bounds.py [profile]
"""

from __future__ import annotations

import math
import sys

from hawk_tvm.hardware.profile import load_profile


def main(name: str = "davinci") -> None:
    prof = load_profile(name)
    tile = prof.matrix.tile_for("float16")
    mac, cores = tile.macs_per_cycle, prof.cores
    bw = prof.offchip.bandwidth_bytes_per_cycle
    core_bw = prof.path("global", prof.matrix.operand_levels["a"]).bandwidth_bytes_per_cycle
    l0c = prof.level(prof.matrix.operand_levels["c"]).capacity_bytes
    print(f"{name}: {cores} cores x {mac} MAC/cycle, GM {bw} B/cycle, L0C {l0c} B; compute-bound needs "
          f"{mac * cores / bw:.1f} MAC/B; a 256x256 tile gives 64 MAC/B = {64 * bw / (mac * cores):.3f}")
    for n in (512, 1024, 2048, 4096):
        roof = max(n ** 3 / (mac * cores), 8 * n * n / bw)  # 2 B per operand element, 4 B per output
        any_block = min(max(n ** 3 / (mac * p), (4 * n * math.sqrt(n * n * p) + 4 * n * n) / bw)
                        for p in range(1, cores + 1))
        best = None
        for tm in range(16, 257, 16):
            for tn in range(16, 257, 16):
                if tm * tn * 4 > l0c:
                    continue
                tiles = math.ceil(n / tm) * math.ceil(n / tn)
                used = min(tiles, cores)
                b = min(core_bw, bw / used)
                t = math.ceil(tiles / used) * (max(tm * tn * n / mac, (tm + tn) * n * 2 / b) + tm * tn * 4 / b)
                if best is None or t < best[0]:
                    best = (t, tm, tn, used)
        print(f"{n}^3: roofline {roof:.0f} cycles; L0C tiles {roof / best[0]:.3f} ({best[1]}x{best[2]} on "
              f"{best[3]} cores); any blocking {roof / any_block:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
