"""NPU tensor intrinsics: registration, and an NPU-style tensorized matmul that builds on LLVM and matches numpy."""

import subprocess
import sys
import tempfile

import numpy as np
import tvm

from hawk_tvm.hardware import load_profile
from hawk_tvm.sim import examples
from hawk_tvm.sim.functional import host_target_dict
from hawk_tvm.sim.intrinsics import register_all_intrinsics, register_intrinsics


def test_register_is_idempotent_and_cheap_import():
    dav = load_profile("davinci")
    names = register_intrinsics(dav)
    assert names == register_intrinsics(dav)
    assert "hawk.davinci.mma.float16.float32" in names
    assert "hawk.edge.mma.int8.int32" in register_all_intrinsics()
    assert register_intrinsics(load_profile("host")) == []
    # in a fresh interpreter (other tests stub the package in this one): registering never imports TVM's
    # tensor_intrin package (36 s of CUDA intrinsics)
    code = (
        "import sys\n"
        "from hawk_tvm.hardware import load_profile\n"
        "from hawk_tvm.sim import register_all_intrinsics\n"
        "register_all_intrinsics()\n"
        "print('tvm.s_tir.tensor_intrin' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir()
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_npu_matmul_64_builds_and_matches_numpy():
    dav = load_profile("davinci")
    mod = examples.matmul(64, 64, 64)
    sched = examples.schedule_matmul_npu(mod, dav, 64, 64, 64, parallel=False)
    text = sched.script()
    assert "local.l0a" in text and "local.l0b" in text and "local.l0c" in text and "shared.l1" in text
    assert "hawk.davinci.mma.float16.float32" in text
    lib = tvm.compile(sched, target=tvm.target.Target(host_target_dict()))
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (64, 64)).astype("float16")
    b = rng.uniform(-1, 1, (64, 64)).astype("float16")
    dev = tvm.cpu()
    c = tvm.runtime.empty((64, 64), "float32", dev)
    lib["main"](tvm.runtime.tensor(a, dev), tvm.runtime.tensor(b, dev), c)
    np.testing.assert_allclose(c.numpy(), a.astype("float32") @ b.astype("float32"), rtol=1e-4, atol=1e-4)
