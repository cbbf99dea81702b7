"""The tuning database: MetaSchedule's JSONDatabase for schedules, plus Hawk's per-operator result log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_FILE = "hawk_results.jsonl"


def normalise(func: Any) -> Any:
    """The PrimFunc as it is keyed in the database: global symbol `main`, no Hawk marks."""
    func = func.with_attr("global_symbol", "main")
    if func.attrs is not None and "tirx.is_scheduled" in func.attrs:
        func = func.without_attr("tirx.is_scheduled")
    return func


class ScheduleDatabase:
    """Finds and commits schedules for PrimFuncs (MetaSchedule TuningRecords, so MetaSchedule can reuse them)."""

    def __init__(self, path: str | Path) -> None:
        from tvm.s_tir import meta_schedule as ms

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        _drop_torn_lines(self.path / "database_workload.json")
        _drop_torn_lines(self.path / "database_tuning_record.json")
        self.db = ms.database.JSONDatabase(work_dir=str(self.path))

    def lookup(self, func: Any, target: Any) -> Any | None:
        """The best recorded schedule for `func` (a tvm.s_tir.Schedule), or None."""
        import tvm

        mod = tvm.IRModule({"main": normalise(func)})
        if not self.db.has_workload(mod):
            return None
        return self.db.query_schedule(mod, target=target, workload_name="main")

    def commit(self, func: Any, schedule: Any | None, seconds: float, target: Any) -> None:
        """Record `schedule` (None = keep the default lowering: an empty trace) with its measured time."""
        import tvm
        from tvm.s_tir import Schedule
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo
        from tvm.s_tir.meta_schedule.database import TuningRecord

        func = normalise(func)
        mod = tvm.IRModule({"main": func})
        if schedule is None:
            # MetaSchedule ignores records with an empty trace: record a no-op lookup of the first block
            schedule = Schedule(mod)
            blocks = schedule.get_child_blocks(schedule.get_sblock("root"))
            if blocks:
                schedule.get_sblock(schedule.get(blocks[0]).name_hint)
        trace = schedule.trace
        workload = self.db.commit_workload(mod)
        record = TuningRecord(
            trace=trace,
            workload=workload,
            run_secs=[float(seconds)],
            target=target,
            args_info=ArgInfo.from_prim_func(func),
        )
        self.db.commit_tuning_record(record)

    def log_result(self, record: dict[str, Any]) -> None:
        """Append one operator's Hawk result (JSON line, flushed to disk)."""
        with open(self.path / RESULTS_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def results(self) -> list[dict[str, Any]]:
        """Every logged operator result, oldest first (torn lines skipped)."""
        path = self.path / RESULTS_FILE
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def _drop_torn_lines(path: Path) -> None:
    """Remove a trailing partial JSON line left by a process killed mid-write (the rest is kept)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if not data:
        return
    lines = data.split(b"\n")
    good = []
    changed = False
    for line in lines:
        if not line.strip():
            continue
        try:
            json.loads(line)
            good.append(line)
        except ValueError:
            changed = True
    if changed or not data.endswith(b"\n"):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(b"\n".join(good) + b"\n")
        os.replace(tmp, path)
