"""The channels-last pooling seed entry applies and is correct on odd maps real networks pool (SqueezeNet and
AlexNet 3x3 stride 2: 111 -> 55, 55 -> 27, 27 -> 13; the ResNet stem 112 -> 56 with padding 1)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import te, topi

from hawk_tvm.analysis.workload import analyze
from hawk_tvm.knowledge.seed import load_seed_entries
from hawk_tvm.proposer.offline import bind_parameters
from hawk_tvm.sandbox import ScheduleSandbox

ENTRY = "host.pool.nhwc_channel_vector"
AVX2 = {"cores": 2, "vector_bytes": 32, "lanes": 8}  # the host profile's facts for float32


def _numpy_maxpool(x: np.ndarray, pad: int) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-np.inf)
    oh = (xp.shape[1] - 3) // 2 + 1
    ow = (xp.shape[2] - 3) // 2 + 1
    out = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf, dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            out = np.maximum(out, xp[:, i : i + 2 * oh : 2, j : j + 2 * ow : 2, :])
    return out


@pytest.mark.parametrize("hw, c, pad", [(111, 64, 0), (55, 128, 0), (27, 256, 0), (112, 64, 1)])
def test_nhwc_pool_entry_applies_and_matches_numpy(hw: int, c: int, pad: int) -> None:
    x = te.placeholder((1, hw, hw, c), name="x", dtype="float32")
    y = topi.nn.pool2d(x, (3, 3), (2, 2), (1, 1), (pad, pad, pad, pad), "max", layout="NHWC")
    workload = analyze(te.create_prim_func([x, y]), "main")
    env = workload.program_env(AVX2)
    entry = next(e for _, e in load_seed_entries()[0] if e.id == ENTRY)
    bindings = bind_parameters(entry, env)
    assert bindings, env["SPATIAL"]
    data = np.random.default_rng(1).standard_normal((1, hw, hw, c)).astype("float32")
    expect = _numpy_maxpool(data, pad)
    for params in bindings:
        sch, err = ScheduleSandbox().apply(workload.module, entry.template, {**env, **params})
        assert err is None, err
        lib = tvm.compile(sch.mod, target="llvm")
        out = tvm.runtime.empty(expect.shape, "float32")
        lib["main"](tvm.runtime.tensor(data), out)
        np.testing.assert_array_equal(out.numpy(), expect)
