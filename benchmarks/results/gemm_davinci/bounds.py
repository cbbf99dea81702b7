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
    lat = prof.path("global", prof.matrix.operand_levels["a"]).latency_cycles
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
        st = startup_bound(n, prof, mac, cores, bw, core_bw, l2_bw)
        print(f"    with start-ups ({lat} cycles per GM transfer), one operand resident, the other streamed per L0C "
              f"tile: {roof / st[0]:.3f} ({st[1]}x{st[2]} block, {st[3]} tiles per core on {st[4]} cores)")


def startup_bound(n: int, prof, mac: float, cores: int, bw: float, core_bw: float, l2_bw: float) -> tuple:
    """Best time of the family `cube_panel_pipeline` v6 picks from, costed by the simulator's rules with the GM
    start-up latency: P cores each own a TMc x TNc block; the A rows (TMc x K) are loaded in one transfer and stay
    resident, the B columns stream in NJ tile transfers (TMc x TNc / NJ tiles), the L0C is double-buffered so a
    tile's write-back overlaps the next tile, and the tile loop costs its first tile in full plus NJ - 1 times its
    busiest resource (MTE2, cube, write-back); L1 -> L0 steps, L1 capacity and the L2 capacity are ignored (an
    upper bound on the fraction of this family, not of every schedule)."""
    lat = prof.path("global", prof.matrix.operand_levels["a"]).latency_cycles
    best = (math.inf, 0, 0, 0, 0)
    for p in range(1, cores + 1):
        hbm = min(core_bw, bw / p)
        reread = min(core_bw, l2_bw / p) if l2_bw else hbm
        for gm in range(1, p + 1):
            if p % gm or n % gm or n % (p // gm):
                continue
            tmc, tnc = n // gm, n // (p // gm)

            def cost(nbytes: float, reads: float, hbm: float = hbm, reread: float = reread) -> float:
                """Cycles of one core's `nbytes` of an operand read `reads` times over the chip (first read at
                the HBM share, the rest from L2)."""
                hit = 1 - 1 / reads
                return nbytes * ((1 - hit) / hbm + hit / reread)

            pre = cost(2 * tmc * n, p // gm) + lat
            for nj in range(1, 33):
                if tnc % nj:
                    continue
                stream = cost(2 * n * tnc / nj, gm) + lat
                cube = tmc * tnc * n / nj / mac
                wb = 4 * tmc * tnc / nj / hbm + lat
                t = pre + stream + cube + wb + (nj - 1) * max(stream, cube, wb)
                if t < best[0]:
                    best = (t, tmc, tnc, nj, p)
    return best


if __name__ == "__main__":
    main(*sys.argv[1:2])
