"""SimulatorRunner: MetaSchedule runner (and builder) that measures candidates on the NPU simulator in-process.

How the runner gets the scheduled module: a MetaSchedule ``RunnerInput`` carries only an ``artifact_path``, so the
simulator pair works through a *sim artifact*: `SimulatorBuilder` "builds" by writing the scheduled module as
TVMScript (JSON ``{"scheduled": text, "reference": text | null}``) to ``artifact_path``, and `SimulatorRunner.run`
reads it back. Hawk's engine skips the files and calls ``run_modules([(scheduled, reference), ...])`` directly.
The reference for the functional check comes from the artifact or, when absent, from the runner's ``reference``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerFuture, RunnerInput, RunnerResult

from ..errors import HawkError
from ..hardware.profile import HardwareProfile, load_profile
from ..measure.result import MeasureResult, encode_error_message
from .functional import module_from_text, module_to_text
from .simulator import simulate

ARTIFACT_SUFFIX = ".hawksim.json"


def write_artifact(path: str, scheduled: Any, reference: Any | None = None) -> str:
    """Write a sim artifact (TVMScript of the scheduled module and optional reference); return the path."""
    data = {"scheduled": module_to_text(scheduled), "reference": module_to_text(reference) if reference else None}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
    return path


def read_artifact(path: str) -> tuple[Any, Any | None]:
    """(scheduled, reference or None) from a sim artifact; a bare TVMScript file is taken as the scheduled module."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        ref = data.get("reference")
        return module_from_text(data["scheduled"]), (module_from_text(ref) if ref else None)
    return module_from_text(text), None


def to_runner_result(result: MeasureResult) -> RunnerResult:
    """A MeasureResult as MetaSchedule's RunnerResult (errors packed with `encode_error_message`)."""
    if result.ok and result.seconds is not None:
        return RunnerResult(run_secs=[float(result.seconds)], error_msg=None)
    error = result.error or HawkError("internal", "simulation failed without an error")
    return RunnerResult(run_secs=None, error_msg=encode_error_message(error))


@derived_object
class SimRunnerFuture(PyRunnerFuture):
    """An already finished simulation."""

    def __init__(self, result: RunnerResult) -> None:
        super().__init__()
        self.res = result

    def done(self) -> bool:
        """Always True."""
        return True

    def result(self) -> RunnerResult:
        """The RunnerResult."""
        return self.res


def _run_inputs(run_modules: Any, reference: Any, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
    """Shared PyRunner adapter: read each artifact, simulate the batch, wrap results as futures."""
    pairs: list[tuple[Any, Any]] = []
    failed: dict[int, MeasureResult] = {}
    for i, rin in enumerate(runner_inputs):
        try:
            sched, ref = read_artifact(str(rin.artifact_path))
            pairs.append((sched, ref if ref is not None else reference))
        except Exception as exc:  # unreadable artifact: an error result for that candidate only
            failed[i] = MeasureResult.failure("run", f"cannot read sim artifact {rin.artifact_path}: {exc}"[:400])
            pairs.append((None, None))
    todo = [p for i, p in enumerate(pairs) if i not in failed]
    results = iter(run_modules(todo)) if todo else iter(())
    out = [failed[i] if i in failed else next(results) for i in range(len(pairs))]
    return [SimRunnerFuture(to_runner_result(r)) for r in out]


@derived_object
class SimulatorRunner(PyRunner):
    """Local NPU simulation (constraints + cycles + functional check) as a MetaSchedule runner."""

    def __init__(self, profile: HardwareProfile | str, *, reference: Any | None = None, functional: bool = True,
                 seed: int = 0, isolate: bool = True) -> None:
        super().__init__()
        self.profile = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
        self.reference = reference
        self.functional = functional
        self.seed = seed
        self.isolate = isolate

    def run_modules(self, pairs: Sequence[tuple[Any, Any | None]]) -> list[MeasureResult]:
        """Simulate (scheduled, reference) pairs; the Hawk-side entry point."""
        return [simulate(s, r if r is not None else self.reference, self.profile, functional=self.functional,
                         seed=self.seed, isolate=self.isolate) for s, r in pairs]

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        """MetaSchedule entry point: artifact paths from `SimulatorBuilder`."""
        return _run_inputs(self.run_modules, self.reference, runner_inputs)


@derived_object
class SimulatorBuilder(PyBuilder):
    """'Builds' a candidate for the simulator by writing its TVMScript as a sim artifact (no compilation)."""

    def __init__(self, work_dir: str | None = None, reference: Any | None = None) -> None:
        super().__init__()
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="hawk-sim-")
        self.reference = reference
        self._count = 0

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        """One artifact per input."""
        results = []
        for bin_ in build_inputs:
            self._count += 1
            path = os.path.join(self.work_dir, f"cand{self._count:06d}{ARTIFACT_SUFFIX}")
            try:
                results.append(BuilderResult(write_artifact(path, bin_.mod, self.reference), None))
            except Exception as exc:  # unprintable module
                results.append(BuilderResult(None, encode_error_message(HawkError("build", str(exc)[:400]))))
        return results
