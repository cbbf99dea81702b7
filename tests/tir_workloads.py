"""Small TensorIR workloads shared by the sandbox and LLM tests."""

from __future__ import annotations

import tvm
from tvm.script import tirx as T


@T.prim_func(s_tir=True)
def matmul(a: T.handle, b: T.handle, c: T.handle) -> None:
    A = T.match_buffer(a, (64, 64), "float32")
    B = T.match_buffer(b, (64, 64), "float32")
    C = T.match_buffer(c, (64, 64), "float32")
    for i, j, k in T.grid(64, 64, 64):
        with T.sblock("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


# The matmul as a module, and the names a schedule program sees for it on a 2-core AVX2 host.
MATMUL_MOD = tvm.IRModule({"main": matmul})
MATMUL_ENV = {
    "MAIN": "C",
    "BLOCKS": ["C"],
    "OP": "matmul",
    "SPATIAL": [64, 64],
    "REDUCE": [64],
    "DTYPE": "float32",
    "IN_DTYPE": "float32",
    "HW": {"cores": 2, "vector_bytes": 32, "lanes": 8},
}
