"""The engine driven by an LLM over a real local OpenAI-compatible server, on the simulated NPU: every scripted
behaviour ends with a correct kernel or a clean fallback, never an exception out of the compile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import relax, te

import hawk_tvm
from hawk_tvm.config import Budget, HawkConfig, LLMConfig
from hawk_tvm.engine import Engine
from hawk_tvm.llm.proposer import LLMProposer
from hawk_tvm.measure.host import host_target
from hawk_tvm.proposer.offline import OfflineProposer
from hawk_tvm.session import last_report
from hawk_tvm.sim.target import SimulatorTarget

pytestmark = pytest.mark.integration

try:
    from llm_server import ScriptedLLMServer, garbage, http_error, reply, serve, slow
except ImportError:  # tests/ imported as a package
    from tests.llm_server import ScriptedLLMServer, garbage, http_error, reply, serve, slow

# Passes TVM's compiler but breaks the NPU: the vector unit reads off-chip memory directly.
OFFCHIP = """```python
b = sch.get_sblock(MAIN)
f = sch.fuse(*sch.get_loops(b))
o, i = sch.split(f, [None, 64])
sch.vectorize(i)
```"""

# Legal: stage both inputs and the output through the unified buffer, vectorize on chip.
STAGED = """Stage through UB.
```python
b = sch.get_sblock(MAIN)
f = sch.fuse(*sch.get_loops(b))
o, i = sch.split(f, [None, 512])
a0 = sch.cache_read(b, 0, HW['scope_ub'])
a1 = sch.cache_read(b, 1, HW['scope_ub'])
c = sch.cache_write(b, 0, HW['scope_ub'])
sch.compute_at(a0, o)
sch.compute_at(a1, o)
sch.reverse_compute_at(c, o)
io, iv = sch.split(i, [None, 64])
sch.vectorize(iv)
```"""

MALFORMED = "```python\nb = sch.get_sblock(MAIN\nsch.split(\n```"
ESCAPE = "```python\nx = ().__class__.__base__.__subclasses__()\nimport os\nos.system('touch /tmp/pwned')\n```"


def _add_func(n: int = 4096) -> tvm.tirx.PrimFunc:
    a = te.placeholder((n,), "float32", name="A")
    b = te.placeholder((n,), "float32", name="B")
    c = te.compute((n,), lambda i: a[i] + b[i], name="C")
    return te.create_prim_func([a, b, c])


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with serve() as srv:
        yield srv


def _engine(server: ScriptedLLMServer, tmp_path: Path, **llm: float) -> tuple[Engine, LLMProposer]:
    llm_cfg = LLMConfig(
        model="scripted",
        base_url=server.base_url,
        api_key="test",
        cache=False,
        timeout_s=llm.get("timeout_s", 5.0),
        max_retries=int(llm.get("max_retries", 2)),
    )
    config = HawkConfig(
        target="davinci",
        llm=llm_cfg,
        budget=Budget(candidates=1, repair_rounds=2),
        knowledge_db=tmp_path / "kb.db",
        use_knowledge=False,
        verbose=False,
    )
    proposer = LLMProposer(llm_cfg, fallback=OfflineProposer(), cache_path=None)
    return Engine(config, SimulatorTarget("davinci"), proposer), proposer


def test_crash_on_target_is_repaired_in_round_two(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(OFFCHIP), reply(STAGED))
    engine, proposer = _engine(server, tmp_path)
    result = engine.generate(_add_func(), "add")
    assert result.source == "generated", result.reason
    first, second = result.attempts[0], result.attempts[1]
    assert first.round == 0 and first.result.error is not None and first.result.error.kind == "sim.offchip_compute"
    assert second.round == 1 and second.result.ok and result.best is second
    repair_prompt = "\n".join(m["content"] for m in server.requests[1]["messages"])
    assert "sim.offchip_compute" in repair_prompt and "sch.vectorize(i)" in repair_prompt
    assert result.speedup and result.speedup > 1.0
    assert proposer.usage.prompt_tokens >= 200


@pytest.mark.parametrize("case", ["malformed", "escape", "non_json", "timeout", "rate_limited"])
def test_bad_llm_behaviour_ends_in_a_kernel_or_a_clean_fallback(
    server: ScriptedLLMServer, tmp_path: Path, case: str
) -> None:
    script = {
        "malformed": [reply(MALFORMED), reply(STAGED)],
        "escape": [reply(ESCAPE), reply(STAGED)],
        "non_json": [garbage(), garbage(), garbage()],
        "timeout": [slow(3.0), slow(3.0), slow(3.0)],
        "rate_limited": [http_error(429, retry_after="0"), reply(STAGED)],
    }[case]
    server.push(*script)
    engine, _ = _engine(server, tmp_path, timeout_s=1.0, max_retries=1)
    result = engine.generate(_add_func(), "add")  # must not raise
    assert result.source in ("generated", "fallback", "default")
    if case in ("malformed", "escape"):
        assert result.attempts[0].result.error.kind in ("sandbox.syntax", "sandbox.refused", "llm.parse")
        assert result.source == "generated" and result.best.result.ok
    if case == "rate_limited":
        assert result.source == "generated" and result.attempts[0].result.ok
    if case in ("non_json", "timeout"):
        assert any("fall" in n or "offline" in n or "LLM" in n for n in result.notes), result.notes
    assert not Path("/tmp/pwned").exists()


def test_compile_with_unreachable_llm_degrades_to_offline(tmp_path: Path) -> None:
    from onnx.reference import ReferenceEvaluator
    from tvm.relax.frontend.onnx import from_onnx

    from hawk_tvm.models import zoo

    model = zoo.mlp(batch=2, features=16, hidden=16, classes=8)
    config = HawkConfig(
        target="host",
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        llm=LLMConfig(
            model="nobody", base_url="http://127.0.0.1:9/v1", api_key="x", timeout_s=0.5, max_retries=0, cache=False
        ),
        budget=Budget(candidates=2, repair_rounds=0),
        timing_repeat=2,
        timing_min_ms=5,
        verbose=False,
    )
    with hawk_tvm.use_config(config):
        ex = tvm.compile(from_onnx(model, keep_params_in_input=False), target=host_target(), relax_pipeline="hawk")
    x = np.random.default_rng(0).standard_normal((2, 16)).astype("float32")
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    np.testing.assert_allclose(out, ReferenceEvaluator(model).run(None, {"input": x})[0], rtol=1e-4, atol=1e-6)
    report = last_report()
    # the offline proposer took over: every operator was searched with measured candidates (whether one beat
    # the default lowering of this tiny MLP is up to the machine's load, so that is not asserted)
    assert all(r.source in ("generated", "default") and r.attempts for r in report.rows), report.table()
