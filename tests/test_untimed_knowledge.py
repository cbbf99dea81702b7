"""The untimed path (budget spent) applies the top retrieved knowledge entry, not only the generic programs, and
the schedule it installs is still correct (real shapes: softmax over 1000 classes and over 197 tokens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import te, topi

from hawk_tvm.config import HawkConfig
from hawk_tvm.engine import OpSource
from hawk_tvm.session import CompileSession, Task


def _untimed_softmax(tmp_path: Path, shape: tuple[int, ...], target: str, late: bool = False):
    """The untimed path of a fresh compile session on a row softmax of `shape` for `target` (`late`: the
    compile's whole time budget already spent)."""
    import time

    from hawk_tvm.budget import BudgetPlan, Pace
    from hawk_tvm.config import Budget

    x = te.placeholder(shape, name="x", dtype="float32")
    func = te.create_prim_func([x, topi.nn.softmax(x, axis=-1)])
    config = HawkConfig(target=target, database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db", verbose=False)
    session = CompileSession(config)
    try:
        plan = BudgetPlan(Budget(total_time_s=1.0), Pace(1.0), time.monotonic() - 10.0, [1.0]) if late else None
        return session._untimed(Task("softmax", ["main"], func), plan)
    finally:
        session.close()


@pytest.mark.parametrize("shape", [(1, 1000), (12, 197, 197)])
def test_untimed_uses_top_knowledge_entry(tmp_path: Path, shape: tuple[int, ...]) -> None:
    result = _untimed_softmax(tmp_path, shape, "host")
    assert result.source == OpSource.UNTIMED, result.reason
    assert "knowledge host." in result.reason, result.reason
    lib = tvm.compile(result.schedule.mod, target="llvm")
    data = np.random.default_rng(0).standard_normal(shape).astype("float32")
    out = tvm.runtime.empty(shape, "float32")
    lib["main"](tvm.runtime.tensor(data), out)
    expect = np.exp(data - data.max(-1, keepdims=True))
    expect /= expect.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-5, atol=1e-7)


def test_untimed_schedule_that_fails_its_check_never_ships(tmp_path: Path) -> None:
    """A program whose outputs differ from the default lowering is skipped for the next one; when every
    checked program fails, the default lowering stays (a real regression: unchecked untimed schedules once
    shipped a ResNet whose outputs were 1e5 times off)."""
    from fakes import FakeTarget

    from hawk_tvm.errors import HawkError

    x = te.placeholder((64, 197), name="x", dtype="float32")
    func = te.create_prim_func([x, topi.nn.softmax(x, axis=-1)])
    config = HawkConfig(target="host", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db", verbose=False)
    wrong = HawkError("numerics", "output: max abs error 1e6")
    cases = [([wrong, 1e-3, 1e-3], OpSource.UNTIMED, 2), ([wrong, wrong, wrong], OpSource.FALLBACK, 3)]
    for script, expect, checked in cases:
        target = FakeTarget(1e-3, script)
        session = CompileSession(config, target=target)
        try:
            result = session._untimed(Task("softmax", ["main"], func))
        finally:
            session.close()
        assert target.measured == checked, target.measured  # checked one by one until one passes
        assert result.source == expect, result.reason
        if expect == OpSource.FALLBACK:
            assert result.schedule is None and "failed their check" in result.reason
        else:
            assert "outputs checked" in result.reason


@pytest.mark.parametrize("target", ["davinci"])
def test_untimed_on_the_npu_is_a_simulator_checked_kernel(tmp_path: Path, target: str) -> None:
    """Budget spent on an NPU: the top knowledge entry still gives an NPU kernel, checked by the simulator's
    constraints and functional check, with its simulated time (so the model figure does not count it as fallback)."""
    from hawk_tvm.model_report import task_costs

    result = _untimed_softmax(tmp_path, (7, 1000), target)
    assert result.source == OpSource.UNTIMED, result.reason
    assert "outputs checked" in result.reason and result.best_seconds and result.best_seconds > 0
    (cost,) = task_costs([result], {}, {})
    assert cost.npu and cost.seconds == result.best_seconds


def test_past_the_whole_budget_an_npu_task_still_gets_a_checked_kernel(tmp_path: Path) -> None:
    """Once the whole budget is spent the host keeps the default lowering (a host check costs a default run), but
    an NPU task still gets a few simulator checks: its default lowering is an AI-CPU fallback, 10-1000x slower."""
    host = _untimed_softmax(tmp_path / "host", (7, 1000), "host", late=True)
    assert host.source == OpSource.FALLBACK and "total budget spent" in host.reason
    npu = _untimed_softmax(tmp_path / "npu", (7, 1000), "davinci", late=True)
    assert npu.source == OpSource.UNTIMED and "outputs checked" in npu.reason, npu.reason


def test_npu_task_whose_measured_candidates_all_fail_gets_the_checked_list(tmp_path: Path) -> None:
    """On an NPU a measured search whose every candidate failed (here: one that reads off-chip memory from the
    vector unit) does not end in an AI-CPU fallback: the rest of the untimed list is checked on the simulator, and
    the first that passes ships, named as such; nothing is committed to the tuning database for it."""
    from fakes import ScriptedProposer

    from hawk_tvm.config import Budget
    from hawk_tvm.proposer.base import Candidate

    x = te.placeholder((7, 1000), name="x", dtype="float32")
    func = te.create_prim_func([x, topi.nn.softmax(x, axis=-1)])
    offchip = "b = sch.get_sblock(MAIN)\nsch.vectorize(sch.get_loops(b)[-1])"
    config = HawkConfig(target="davinci", database_dir=tmp_path / "db", knowledge_db=tmp_path / "kb.db",
                        verbose=False, budget=Budget(candidates=1, repair_rounds=0, op_time_s=60))
    proposer = ScriptedProposer([[Candidate(offchip, origin="scripted")]])
    session = CompileSession(config, proposer=proposer)
    try:
        task = Task("softmax", ["main"], func)
        result, measured = session._search(task, session._plan([task], 0.0), after=0)
    finally:
        session.close()
    assert proposer.requests, "the measured search ran"
    assert result.source == OpSource.UNTIMED and not measured, result.reason
    assert "all 1 measured candidates failed" in result.reason and "outputs checked" in result.reason
    assert result.schedule is not None and result.best_seconds and result.best_seconds > 0
