"""Apply one seed knowledge entry (schedules/<profile>/<file>.yaml) to a module through the sandbox, as the
engine applies it with the first value of each parameter: for tests of a template on chosen shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEDULES = Path(__file__).resolve().parents[1] / "schedules"


def seed_entry(path: str, entry_id: str | None = None) -> dict[str, Any]:
    """The entry `entry_id` of schedules/`path` (its first entry when None)."""
    import yaml

    entries = yaml.safe_load((SCHEDULES / path).read_text())
    return entries[0] if entry_id is None else next(e for e in entries if e["id"] == entry_id)


def apply_seed(mod: Any, path: str, entry_id: str | None, profile: Any, dtype: str = "float16") -> Any:
    """The Schedule of seed entry `entry_id` (schedules/`path`) applied to `mod` with `profile`'s facts; asserts
    that the program applied."""
    from hawk_tvm.analysis.workload import analyze
    from hawk_tvm.sandbox.executor import ScheduleSandbox
    from hawk_tvm.sim.intrinsics import register_intrinsics

    register_intrinsics(profile)
    entry = seed_entry(path, entry_id)
    env = analyze(mod["main"]).program_env(profile.program_facts(dtype))
    env.update({k: v[0] if isinstance(v, list) else v for k, v in entry.get("params", {}).items()})
    sch, err = ScheduleSandbox(timeout_s=120).apply(mod, entry["template"], env)
    assert err is None, err
    return sch
