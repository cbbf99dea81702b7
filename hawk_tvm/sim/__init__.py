"""The NPU simulator: constraint checks, cycle model, functional check, runners and the RPC server entry."""

from .constraints import check_constraints
from .cycles import CycleEstimate, estimate_cycles
from .functional import check_numerics
from .intrinsics import register_all_intrinsics, register_intrinsics
from .roofline import Roofline, roofline
from .simulator import simulate

__all__ = [
    "CycleEstimate",
    "Roofline",
    "check_constraints",
    "check_numerics",
    "estimate_cycles",
    "register_all_intrinsics",
    "register_intrinsics",
    "roofline",
    "simulate",
]
