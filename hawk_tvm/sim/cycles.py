"""Cycle model: per-pipe busy cycles and the critical path of a scheduled candidate on an NPU profile."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..hardware.profile import HardwareProfile
from .nest import PARALLEL, VECTORIZED, Leaf, Loop, Node, Seq, Tree, extract


@dataclass
class Cost:
    """Critical-path cycles of a subtree and the busy cycles of each pipe within it."""

    time: float = 0.0
    pipes: dict[str, float] = field(default_factory=dict)

    def add(self, other: Cost, times: float = 1.0) -> None:
        """Accumulate `other` executed `times` times in sequence."""
        self.time += other.time * times
        for k, v in other.pipes.items():
            self.pipes[k] = self.pipes.get(k, 0.0) + v * times


@dataclass
class CycleEstimate:
    """The cycle model's answer for one candidate.

    cycles:      critical path of the busiest core.
    breakdown:   busy cycles per pipe on that core (``dma.<src>-><dst>``, ``cube``, ``vector``, ``scalar``).
    cores_used:  cores the outermost parallel loop occupies.
    bytes_moved: bytes per data path (whole chip).
    """

    cycles: float
    breakdown: dict[str, float]
    cores_used: int = 1
    bytes_moved: dict[str, float] = field(default_factory=dict)

    def seconds(self, profile: HardwareProfile) -> float:
        """Cycles / clock."""
        return self.cycles / profile.clock_hz


@dataclass
class _Ctx:
    cores: int = 1
    split: bool = False
    chip_iters: float = 1.0


class CycleModel:
    """Walks the loop tree; see docs/simulator.md for the rules."""

    def __init__(self, profile: HardwareProfile, l2_share: dict[str, float] | None = None) -> None:
        self.p = profile
        self.bytes_moved: dict[str, float] = {}
        self.cores_used = 1
        self.l2_share = l2_share or {}  # GM buffer -> share of its reads the on-chip L2 serves (see l2_shares)
        self.gm_reads: dict[str, float] = {}  # GM buffer -> bytes read over the whole chip
        self.gm_footprint: dict[str, float] = {}  # GM buffer -> its size in bytes

    def resource(self, pipe: str) -> str:
        """The hardware resource a pipe occupies (paths share their mover engine)."""
        if pipe.startswith("dma."):
            src, _, dst = pipe[4:].partition("->")
            path = self.p.path(src, dst)
            return f"mover.{path.mover}" if path else pipe
        return pipe

    def nodes(self, nodes: list[Node], ctx: _Ctx) -> Cost:
        total = Cost()
        for n in nodes:
            total.add(self.node(n, ctx))
        return total

    def node(self, n: Node, ctx: _Ctx) -> Cost:
        if isinstance(n, Leaf):
            return self.leaf(n, ctx, ctx.chip_iters)
        if isinstance(n, Seq):
            inner = _Ctx(ctx.cores, ctx.split, ctx.chip_iters * n.weight)
            cost = Cost()
            cost.add(self.nodes(n.body, inner), n.weight)
            return cost
        return self.loop(n, ctx)

    def loop(self, lp: Loop, ctx: _Ctx) -> Cost:
        if lp.kind == PARALLEL and not ctx.split and self.p.is_npu:
            used = max(1, min(lp.extent, self.p.cores))
            self.cores_used = used
            per_core = math.ceil(lp.extent / used)
            body = self.nodes(lp.body, _Ctx(used, True, ctx.chip_iters * lp.extent))
            cost = Cost()
            cost.add(body, per_core)
            return cost
        if lp.kind == VECTORIZED and lp.body and all(isinstance(b, Leaf) and b.kind != "move" for b in lp.body):
            cost = Cost()
            for leaf in lp.body:
                cost.add(self.vector_leaf(leaf, lp.extent))
            return cost
        body = self.nodes(lp.body, _Ctx(ctx.cores, ctx.split, ctx.chip_iters * lp.extent))
        cost = Cost(pipes={k: v * lp.extent for k, v in body.pipes.items()})
        if (lp.pipelined or lp.overlapped) and lp.extent > 1:
            busy: dict[str, float] = {}
            for pipe, cyc in body.pipes.items():
                res = self.resource(pipe)
                busy[res] = busy.get(res, 0.0) + cyc
            steady = min(body.time, max(busy.values(), default=body.time))
            cost.time = body.time + (lp.extent - 1) * steady
        else:
            cost.time = body.time * lp.extent
        return cost

    def leaf(self, leaf: Leaf, ctx: _Ctx, chip_iters: float) -> Cost:
        p = self.p
        if leaf.kind == "move":
            src, dst = leaf.loads[0].buffer, leaf.store.buffer
            path = p.path(src.scope, dst.scope)
            nbytes = leaf.elements * dst.elem_bytes
            if src.scope == "global":
                nbytes *= leaf.valid  # a padded transfer reads only the valid region off chip
            if path is not None:
                self.bytes_moved[path.pipe] = self.bytes_moved.get(path.pipe, 0.0) + nbytes * chip_iters
                cyc = path.latency_cycles + self.transfer_cycles(path.bandwidth_bytes_per_cycle, src, dst, nbytes, ctx)
                if src.scope == "global":
                    self.gm_reads[src.name] = self.gm_reads.get(src.name, 0.0) + nbytes * chip_iters
                for buf in (src, dst):
                    if buf.scope == "global":
                        self.gm_footprint[buf.name] = float(math.prod(buf.shape) * buf.elem_bytes)
                return Cost(cyc, {path.pipe: cyc})
            cyc = leaf.elements * self.scalar_cycles(leaf)
            return Cost(cyc, {"scalar": cyc})
        if leaf.kind == "mma":
            info = leaf.intrin or {}
            tile = p.matrix.tile_for(info.get("in_dtype", "")) if p.matrix else None
            macs = info.get("m", 16) * info.get("n", 16) * info.get("k", 16)
            cyc = macs / tile.macs_per_cycle if tile else macs / max(p.scalar.ops_per_cycle, 1e-9)
            return Cost(cyc, {"cube": cyc})
        if leaf.kind == "fill" and p.matrix is not None and leaf.store.buffer.scope == p.matrix.operand_levels["c"]:
            level = p.level(leaf.store.buffer.scope)
            cyc = leaf.store.buffer.elem_bytes / level.bandwidth_bytes_per_cycle
            return Cost(cyc, {"cube": cyc})
        cyc = self.scalar_cycles(leaf)
        return Cost(cyc, {"scalar": cyc})

    def transfer_cycles(self, path_bw: float, src: Any, dst: Any, nbytes: float, ctx: _Ctx) -> float:
        """Cycles to move `nbytes` on a path of `path_bw`: an off-chip end shares the HBM bandwidth among the busy
        cores, except for re-reads the L2 serves (its share of the source buffer), which are limited by the path."""
        if "global" not in (src.scope, dst.scope):
            return nbytes / path_bw
        hbm_bw = min(path_bw, self.p.offchip.bandwidth_bytes_per_cycle / ctx.cores)
        hit = self.l2_share.get(src.name, 0.0) if src.scope == "global" else 0.0
        if hit <= 0.0:
            return nbytes / hbm_bw
        l2 = l2_level(self.p)
        l2_bw = min(path_bw, l2.bandwidth_bytes_per_cycle / ctx.cores) if l2 is not None else hbm_bw
        return nbytes * (1.0 - hit) / hbm_bw + nbytes * hit / l2_bw

    def scalar_cycles(self, leaf: Leaf) -> float:
        """One scalar execution: its arithmetic plus one scalar access per operand at the level's access cost."""
        cyc = max(1, leaf.ops) / self.p.scalar.ops_per_cycle
        for buf in leaf.buffers():
            level = self.p.level(buf.scope) or self.p.offchip
            cyc += level.scalar_access_cycles
        return cyc

    def vector_leaf(self, leaf: Leaf, extent: int) -> Cost:
        """A vectorized loop of `extent` over one statement: ceil(bytes / vector width) instructions per op, a
        multiply-add being one (the multiply-accumulate instruction: DaVinci's vmla, Ascend C MulAddDst / Axpy)."""
        vec = self.p.vector
        if vec is None:
            cyc = extent * self.scalar_cycles(leaf)
            return Cost(cyc, {"scalar": cyc})
        elem = max(b.elem_bytes for b in leaf.buffers())
        instrs = math.ceil(extent * elem / vec.vector_bytes) * max(1, leaf.ops - leaf.fused)
        cyc = instrs * vec.vector_bytes / vec.bytes_per_cycle
        return Cost(cyc, {"vector": cyc})


def l2_level(profile: HardwareProfile) -> Any:
    """The on-chip cache between the cores and HBM (a `cache` level of an NPU profile), or None."""
    if not profile.is_npu:
        return None
    return next((lv for lv in profile.memory if lv.cache and not lv.offchip), None)


def l2_shares(model: CycleModel, profile: HardwareProfile) -> dict[str, float]:
    """Per GM buffer, the share of its reads that hit the L2 after a first pass counted them: every byte read
    beyond the buffer's own size is a re-read (another core's tile, a later K panel), served by the L2 when the
    kernel's GM footprint fits it (scaled down by capacity / footprint when it does not)."""
    l2 = l2_level(profile)
    if l2 is None or not model.gm_reads:
        return {}
    footprint = sum(model.gm_footprint.values())
    fits = min(1.0, l2.capacity_bytes / footprint) if footprint > 0 else 1.0
    shares = {}
    for name, read in model.gm_reads.items():
        size = model.gm_footprint.get(name, read)
        if read > size > 0:
            shares[name] = (1.0 - size / read) * fits
    return shares


def estimate_tree(tree: Tree, profile: HardwareProfile) -> CycleEstimate:
    """Cycle estimate of an extracted tree (two passes when the profile has an L2: count GM re-reads, then cost
    them at the L2's bandwidth)."""
    model = CycleModel(profile)
    cost = model.nodes(tree.body, _Ctx())
    shares = l2_shares(model, profile)
    if shares:
        model = CycleModel(profile, shares)
        cost = model.nodes(tree.body, _Ctx())
    breakdown = {k: round(v, 3) for k, v in sorted(cost.pipes.items())}
    return CycleEstimate(cost.time, breakdown, model.cores_used, dict(model.bytes_moved))


def estimate_cycles(scheduled_mod: Any, profile: HardwareProfile) -> CycleEstimate:
    """Cheap static estimate of a scheduled module (no build, no run): rank candidates with it."""
    return estimate_tree(extract(scheduled_mod), profile)
