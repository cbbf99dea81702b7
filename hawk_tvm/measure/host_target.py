"""HostTarget: candidates measured for real on this CPU (LLVM) through TVM's builder and runners."""

from __future__ import annotations

import os
from typing import Any

from ..hardware.profile import HardwareProfile, dtype_bytes, load_profile
from .host import EvaluatorSettings, HostMeasurer, Reference, host_target
from .result import MeasureResult
from .target import MeasureTarget


def simd_bytes() -> int:
    """The widest SIMD register of this CPU in bytes, from the Linux CPU flags (64: AVX-512F, 32: AVX2, 16: SSE2;
    0 when unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return 0
    for flag, width in (("avx512f", 64), ("avx2", 32), ("sse2", 16)):
        if flag in flags:
            return width
    return 0


class HostTarget(MeasureTarget):
    """This machine's CPU, described by the `host` hardware profile (vector width, caches); cores are counted."""

    name = "host"
    kind = "cpu"

    def __init__(
        self,
        num_cores: int | None = None,
        vector_bytes: int | None = None,
        workers: int = 2,
        evaluator: EvaluatorSettings | None = None,
        profile: HardwareProfile | None = None,
    ) -> None:
        self.profile = profile or load_profile("host")
        self.num_cores = int(num_cores or os.cpu_count() or 1)
        self.vector_bytes = int(vector_bytes or (self.profile.vector.vector_bytes if self.profile.vector else 16))
        self.simd_bytes = max(self.vector_bytes, simd_bytes())
        self._target = host_target(self.num_cores)
        self._measurer = HostMeasurer(self._target, workers=workers, evaluator=evaluator)

    def hw_facts(self, dtype: str) -> dict[str, Any]:
        """cores, the profile's vector width (bytes, lanes of `dtype`; what knowledge `when` tests are written
        for) and `simd_bytes`, the widest SIMD register this CPU has (64 with AVX-512: a register tile can use
        vectors of 4 x lanes, two registers per row)."""
        width = dtype_bytes(dtype)
        lanes = max(1, self.vector_bytes // width)
        facts = {"cores": self.num_cores, "vector_bytes": self.vector_bytes, "lanes": lanes}
        return {**facts, "simd_bytes": self.simd_bytes}

    def profile_summary(self) -> str:
        return (
            f"Host CPU ({self._target.attrs.get('mcpu', 'generic')}), {self.num_cores} cores, "
            f"{self.simd_bytes * 8}-bit SIMD (FMA), {self._caches()} per core; LLVM codegen."
        )

    def _caches(self) -> str:
        """The per-core caches of the profile, e.g. "L1d 32 KB, L2 512 KB"."""
        names = {"l1d": "L1d", "l2": "L2"}
        per_core = sorted((lv for lv in self.profile.memory if lv.tag in names), key=lambda lv: lv.capacity_bytes)
        return ", ".join(f"{names[lv.tag]} {lv.capacity_bytes // 1024} KB" for lv in per_core)

    def reference(self, mod: Any, workload: Any) -> Reference:
        return self._measurer.reference(mod, workload)

    def measure(self, mods: list[Any], reference: Any) -> list[MeasureResult]:
        return self._measurer.measure(mods, reference)

    def check(self, mod: Any, mods: list[Any], workload: Any) -> list[MeasureResult]:
        return self._measurer.check(mod, mods, workload)

    def tvm_target(self) -> Any:
        return self._target

    def wait_ready(self) -> None:
        self._measurer.wait_ready()

    def set_deadline(self, deadline: float | None) -> None:
        self._measurer.set_deadline(deadline)

    def close(self) -> None:
        self._measurer.close()
