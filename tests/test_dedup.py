"""Task de-duplication: repeated blocks of a model become one task with a use count, generated once."""

from __future__ import annotations

from pathlib import Path

import tvm
import tvm_ffi
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

from hawk_tvm.config import Budget, HawkConfig
from hawk_tvm.database import ScheduleDatabase
from hawk_tvm.models import build
from hawk_tvm.session import CompileSession, call_counts, last_report


def _config(tmp_path: Path, **budget) -> HawkConfig:
    return HawkConfig(
        target="host",
        database_dir=tmp_path / "db",
        knowledge_db=tmp_path / "kb.db",
        budget=Budget(candidates=2, repair_rounds=0, **budget),
        timing_repeat=2,
        timing_min_ms=5,
        verbose=False,
    )


def _fused(name: str, **kw) -> tvm.IRModule:
    return relax.get_pipeline("zero")(from_onnx(build(name, small=True, **kw), keep_params_in_input=False))


def test_repeated_resnet_blocks_are_one_task_with_uses(tmp_path: Path) -> None:
    mod = _fused("resnet18")
    session = CompileSession(_config(tmp_path))
    try:
        tasks = session.tasks(mod)
    finally:
        session.close()
    calls = call_counts(mod)
    keys = [t.key for t in tasks]
    assert len(keys) == len(set(keys))
    # every called PrimFunc is covered once, and the uses add up to the model's call sites
    assert sum(t.uses for t in tasks) == sum(calls[n] for t in tasks for n in t.names)
    # ResNet-18 repeats its identity basic block once per stage: 4 stages x (conv+relu, conv+add+relu) pairs
    repeated = [t for t in tasks if t.uses >= 2]
    assert len(repeated) >= 4, [(t.names, t.uses) for t in tasks]
    assert all(isinstance(mod[n], tvm.tirx.PrimFunc) for t in tasks for n in t.names)


def test_structurally_identical_primfuncs_under_two_names_are_generated_once(tmp_path: Path) -> None:
    mod = _fused("transformer")
    func = next(f for gv, f in mod.functions_items() if gv.name_hint.startswith("fused_matmul"))
    other = next(f for gv, f in mod.functions_items() if gv.name_hint == "softmax")
    # two names for one computation (as two imported models or unfused copies give), plus one other kernel
    twins = tvm.IRModule({"kernel_a": func, "kernel_b": func.with_attr("global_symbol", "kernel_b"), "soft": other})
    session = CompileSession(_config(tmp_path))
    try:
        tasks = session.tasks(twins)
        assert sorted(len(t.names) for t in tasks) == [1, 2]
        merged = next(t for t in tasks if len(t.names) == 2)
        assert merged.uses == 2 and set(merged.names) == {"kernel_a", "kernel_b"}
        out = session.schedule_module(twins)
    finally:
        session.close()
    report = last_report()
    assert len(report.rows) == 2, report.table()
    row = next(r for r in report.rows if r.name in merged.names)
    assert row.uses == 2 and row.source in ("generated", "default"), report.table()
    head = report.table().splitlines()[0].split()
    assert "uses" in head
    a, b = (out[n].with_attr("global_symbol", "k") for n in ("kernel_a", "kernel_b"))
    assert tvm_ffi.structural_equal(a, b)  # both names got the one schedule
    if row.source == "generated":
        assert bool(a.attrs["tirx.is_scheduled"]) and not tvm_ffi.structural_equal(
            a, func.with_attr("global_symbol", "k")
        )
    logged = [r["name"] for r in ScheduleDatabase(tmp_path / "db").results()]
    assert sorted(logged) == sorted(r.name for r in report.rows)  # generated and logged once each
