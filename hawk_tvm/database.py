"""The tuning database: MetaSchedule's JSONDatabase for schedules, plus Hawk's per-operator result log."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS_FILE = "hawk_results.jsonl"
LOCK_FILE = ".lock"


def normalise(func: Any) -> Any:
    """The PrimFunc as it is keyed in the database: global symbol `main`, no Hawk marks."""
    func = func.with_attr("global_symbol", "main")
    if func.attrs is not None and "tirx.is_scheduled" in func.attrs:
        func = func.without_attr("tirx.is_scheduled")
    return func


def register_record_intrinsics(profile: Any = None) -> None:
    """Register the NPU tensor intrinsics before any record is parsed: JSONDatabase replays every trace when it
    opens, and a trace with a `tensorize` step names its intrinsic, so every opener (compile, explain, bench)
    needs them registered, not only a compile that built the NPU target. `profile` adds a user profile."""
    from .sim.intrinsics import register_all_intrinsics, register_intrinsics

    register_all_intrinsics()
    if profile is not None:
        register_intrinsics(profile)


class ScheduleDatabase:
    """Finds and commits schedules for PrimFuncs (MetaSchedule TuningRecords, so MetaSchedule can reuse them)."""

    def __init__(self, path: str | Path) -> None:
        from tvm.s_tir import meta_schedule as ms

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._ms = ms
        register_record_intrinsics()
        with self.locked():
            repair(self.path)
            self.db = ms.database.JSONDatabase(work_dir=str(self.path))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock (fcntl) on the database folder: every compile of a user shares it, e.g. ``make -j2``.

        Held while the files are repaired or read and around each read-modify-write commit, so two processes never
        give their records the same workload index.
        """
        with open(self.path / LOCK_FILE, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

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
        with self.locked():
            # re-read under the lock: another compile may have appended workloads since this one opened the files,
            # and a workload index is a line number in the workload file
            self.db = self._ms.database.JSONDatabase(work_dir=str(self.path))
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


def _json_lines(path: Path) -> tuple[list[Any | None], bool]:
    """Each line of a JSON-lines file parsed (None for a damaged line), and whether the file needs rewriting."""
    if not path.exists():
        return [], False
    data = path.read_bytes()
    if not data:
        return [], False
    out: list[Any | None] = []
    dirty = not data.endswith(b"\n")
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(None)
            dirty = True
    return out, dirty


def repair(folder: Path) -> dict[str, int]:
    """Drop damaged lines (a process killed mid-write, a corrupted disk block) from a MetaSchedule JSON database.

    Records name their workload by line index, so dropping a damaged *workload* line renumbers the records that
    follow it and drops the records of the lost workload; indexes never shift onto another workload. Call with the
    folder's lock held. Returns the number of workload and record lines dropped.
    """
    wpath, rpath = folder / "database_workload.json", folder / "database_tuning_record.json"
    workloads, wdirty = _json_lines(wpath)
    records, rdirty = _json_lines(rpath)
    if not (wdirty or rdirty):
        return {"workloads": 0, "records": 0}
    new_index: dict[int, int] = {}
    kept_w = []
    for i, w in enumerate(workloads):
        if w is not None:
            new_index[i] = len(kept_w)
            kept_w.append(w)
    kept_r = []
    for r in records:
        if isinstance(r, list) and len(r) == 2 and isinstance(r[0], int) and r[0] in new_index:
            kept_r.append([new_index[r[0]], r[1]])
    _atomic_write(wpath, kept_w)
    _atomic_write(rpath, kept_r)
    return {"workloads": len(workloads) - len(kept_w), "records": len(records) - len(kept_r)}


def _atomic_write(path: Path, rows: list[Any]) -> None:
    """Replace `path` with JSON lines: a unique temp file in the same folder, fsynced, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
