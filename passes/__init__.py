"""TVM passes of hawk-tvm (installed as hawk_tvm.passes)."""

from .hawk_pass import HawkScheduleGeneration, hawk_pipeline, register

__all__ = ["HawkScheduleGeneration", "hawk_pipeline", "register"]
