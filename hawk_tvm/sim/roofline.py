"""Roofline per operator: the cycles no schedule can beat on a profile (compute peak vs minimal off-chip traffic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..hardware.profile import HardwareProfile
from .nest import Leaf, Loop, Seq, Tree, extract


@dataclass
class Roofline:
    """Limits of one operator on one profile (whole chip, all cores).

    macs / ops:     multiply-accumulates of contractions and other element operations of the operator.
    offchip_bytes:  minimal off-chip traffic: every parameter buffer read or written once.
    unit:           the unit whose peak bounds compute (``cube``, ``vector`` or ``scalar``).
    compute_cycles, memory_cycles, cycles = max of the two; bound = which one.
    """

    macs: float
    ops: float
    offchip_bytes: float
    unit: str
    compute_cycles: float
    memory_cycles: float

    @property
    def cycles(self) -> float:
        """The roofline limit in cycles."""
        return max(self.compute_cycles, self.memory_cycles, 1.0)

    @property
    def bound(self) -> str:
        """``compute`` or ``memory``."""
        return "compute" if self.compute_cycles >= self.memory_cycles else "memory"

    def fraction(self, cycles: float) -> float:
        """Share of the limit a candidate reaches (1.0 = at the roofline)."""
        return self.cycles / cycles if cycles > 0 else 0.0


def _work(tree: Tree) -> tuple[float, float, str]:
    """(MACs of contractions, other element ops, input dtype of the contraction) from the unscheduled tree."""
    macs = ops = 0.0
    in_dtype = ""

    def go(nodes: list, iters: float) -> None:
        nonlocal macs, ops, in_dtype
        for n in nodes:
            if isinstance(n, Loop):
                go(n.body, iters * n.extent)
            elif isinstance(n, Seq):
                go(n.body, iters * n.weight)
            elif isinstance(n, Leaf):
                count = iters * n.elements
                if n.kind == "mma":
                    info = n.intrin or {}
                    macs += count * info.get("m", 1) * info.get("n", 1) * info.get("k", 1)
                    in_dtype = in_dtype or info.get("in_dtype", "")
                    continue
                others = [a for a in n.loads if n.store is None or a.buffer.name != n.store.buffer.name]
                accum = n.store is not None and len(others) < len(n.loads)
                if n.kind == "compute" and accum and len(others) >= 2 and n.ops >= 2:
                    macs += count
                    in_dtype = in_dtype or others[0].buffer.dtype
                elif n.kind == "compute":  # zero-fills are folded into the first MMA / vector op
                    ops += count * max(1, n.ops)

    go(tree.body, 1.0)
    return macs, ops, in_dtype


def roofline(reference_mod: Any, profile: HardwareProfile, tree: Tree | None = None) -> Roofline:
    """Roofline of an operator from its unscheduled module (or its extracted tree)."""
    tree = tree or extract(reference_mod)
    macs, ops, in_dtype = _work(tree)
    dtype = in_dtype or (tree.params[0].dtype if tree.params else "float32")
    tile = profile.matrix.tile_for(dtype) if profile.matrix and macs else None
    cores = profile.cores
    vec_rate = profile.peak_macs_per_cycle(dtype, "vector") * cores
    if tile is not None:  # cube and vector are separate units that overlap: the busier one bounds compute
        unit, compute = "cube", max(macs / (tile.macs_per_cycle * cores), ops / vec_rate)
    elif profile.vector is not None:
        unit, compute = "vector", (macs + ops) / vec_rate
    else:
        unit, compute = "scalar", (macs * 2 + ops) / (profile.scalar.ops_per_cycle * cores)
    nbytes = float(sum(b.nbytes for b in tree.params))
    memory = nbytes / profile.offchip.bandwidth_bytes_per_cycle
    return Roofline(macs, ops, nbytes, unit, compute, memory)
