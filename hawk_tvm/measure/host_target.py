"""HostTarget: candidates measured for real on this CPU (LLVM) through TVM's builder and runners."""

from __future__ import annotations

import os
from typing import Any

from .host import EvaluatorSettings, HostMeasurer, Reference, host_target
from .result import MeasureResult
from .target import MeasureTarget

_DTYPE_BYTES = {"float16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int32": 4, "int64": 8}


class HostTarget(MeasureTarget):
    """This machine's CPU. AVX2 here: 32-byte vectors (see ../shared/tvm-notes.md)."""

    name = "host"
    kind = "cpu"

    def __init__(
        self,
        num_cores: int | None = None,
        vector_bytes: int = 32,
        workers: int = 2,
        evaluator: EvaluatorSettings | None = None,
    ) -> None:
        self.num_cores = int(num_cores or os.cpu_count() or 1)
        self.vector_bytes = vector_bytes
        self._target = host_target(self.num_cores)
        self._measurer = HostMeasurer(self._target, workers=workers, evaluator=evaluator)

    def hw_facts(self, dtype: str) -> dict[str, Any]:
        width = _DTYPE_BYTES.get(dtype, 4)
        return {"cores": self.num_cores, "vector_bytes": self.vector_bytes, "lanes": max(1, self.vector_bytes // width)}

    def profile_summary(self) -> str:
        return (
            f"Host CPU ({self._target.attrs.get('mcpu', 'generic')}), {self.num_cores} cores, "
            f"{self.vector_bytes * 8}-bit SIMD (FMA), L1d 32 KB, L2 512 KB per core; LLVM codegen."
        )

    def reference(self, mod: Any, workload: Any) -> Reference:
        return self._measurer.reference(mod, workload)

    def measure(self, mods: list[Any], reference: Any) -> list[MeasureResult]:
        return self._measurer.measure(mods, reference)

    def tvm_target(self) -> Any:
        return self._target

    def wait_ready(self) -> None:
        self._measurer.wait_ready()

    def set_deadline(self, deadline: float | None) -> None:
        self._measurer.set_deadline(deadline)

    def close(self) -> None:
        self._measurer.close()
