"""Upper bounds of a square fp16 GEMM's cube-roofline fraction on davinci, as the simulator models GM (since 3ff62ff).

GM model: the first read of each operand and every write share the HBM bandwidth among the active cores; re-reads
(another core's tile, a later tile of the same core) are served by the shared L2 (when the GM footprint fits it) at
min(L2 bandwidth / active cores, the core's MTE2 path). Start-up latencies are ignored, so real schedules stay below.

- "no L2": every read pays the HBM share (the bound of the previous round, for comparison).
- "L0C tiles, with L2": output tiles TM x TN whose fp32 accumulator fits L0C twice (double-buffered, so a tile's
  write-back overlaps the next tile), operands streamed per tile, all pipes overlapped across the tiles of a core;
  the last tile's write-back is exposed. Tiles are spread over the cores in rounds.
- "any blocking, with L2": each of P cores owns MN / P outputs as a square block, reads its A rows and B columns
  once, perfect overlap of cube, MTE2 and write-back; best P.

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
    l2 = next((lv for lv in prof.memory if lv.cache and not lv.offchip), None)
    l2_bw = l2.bandwidth_bytes_per_cycle if l2 is not None else 0.0
    print(f"{name}: {cores} cores x {mac} MAC/cycle, HBM {bw} B/cycle, L2 {l2_bw} B/cycle, MTE2 {core_bw} B/cycle "
          f"per core, L0C {l0c} B")
    for n in (512, 1024, 2048, 4096):
        first = 4 * n * n  # A and B, 2 B per element, read once from HBM
        out = 4 * n * n  # fp32 result
        roof = max(n ** 3 / (mac * cores), (first + out) / bw)

        def reread_bw(p: int) -> float:
            return min(core_bw, l2_bw / p) if l2_bw else min(core_bw, bw / p)

        def mte2(p: int, per_core: float, first: float = first) -> float:
            """Cycles of one core's reads: its share of the first reads at the HBM share, the rest re-reads."""
            share = first / p
            return share / min(core_bw, bw / p) + max(0.0, per_core - share) / reread_bw(p)

        any_block = min(max(n ** 3 / (mac * p), mte2(p, 4 * n * math.sqrt(n * n / p)), out / bw)
                        for p in range(1, cores + 1))
        no_l2 = min(max(n ** 3 / (mac * p), (4 * n * math.sqrt(n * n * p) + out) / bw) for p in range(1, cores + 1))
        best = None
        for tm in range(16, 257, 16):
            for tn in range(16, 257, 16):
                if 2 * tm * tn * 4 > l0c:
                    continue
                tiles = math.ceil(n / tm) * math.ceil(n / tn)
                p = min(tiles, cores)
                per_core = math.ceil(tiles / p)
                wb = tm * tn * 4 / min(core_bw, bw / p)
                t = max(per_core * tm * tn * n / mac, mte2(p, per_core * (tm + tn) * n * 2), (per_core - 1) * wb) + wb
                if best is None or t < best[0]:
                    best = (t, tm, tn, p, per_core)
        print(f"{n}^3: roofline {roof:.0f} cycles; no L2 (any blocking) {roof / no_l2:.3f}; with L2: L0C tiles "
              f"{roof / best[0]:.3f} ({best[1]}x{best[2]}, {best[4]} per core on {best[3]} cores), any blocking "
              f"{roof / any_block:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
