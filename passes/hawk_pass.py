"""HawkScheduleGeneration: a Relax module pass that schedules every PrimFunc without a tuned kernel."""

from __future__ import annotations

import logging
from typing import Any

import tvm

from hawk_tvm.config import HawkConfig, current_config
from hawk_tvm.session import CompileSession

from .canonicalize import canonicalize_inference
from .fast_math import fast_math
from .layout import channels_last
from .npu_legalize import npu_legalize
from .precision import precision_passes

log = logging.getLogger("hawk_tvm.passes")


@tvm.transform.module_pass(opt_level=0, name="HawkScheduleGeneration")
class HawkScheduleGeneration:
    """For each PrimFunc not marked `tirx.is_scheduled`: reuse the tuning database's schedule, else hand it to
    the Hawk engine, apply the winner, mark it scheduled and commit a TuningRecord. Operators whose candidates
    all fail keep TVM's default lowering; the compile never fails because of them.

    config:   the HawkConfig to use (default: `hawk_tvm.current_config()` when the pass runs).
    proposer: a Proposer to use instead of the configured one (offline or LLM).
    """

    def __init__(self, config: HawkConfig | None = None, proposer: Any = None) -> None:
        self.config = config
        self.proposer = proposer

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        session = CompileSession(self.config or current_config(), proposer=self.proposer)
        try:
            return session.schedule_module(mod)
        finally:
            session.close()


def guarded(passes: list[tvm.transform.Pass], name: str) -> tvm.transform.Pass:
    """Run `passes` in sequence as one transparent step: if any of them fails, or leaves an ill-formed module, the
    module is kept as it was and one warning line names the step and the reason. A graph rewrite that only exists
    to make kernels faster must never turn a model that plain TVM compiles into a failed compile."""
    from tvm import relax

    seq = tvm.transform.Sequential(passes)

    @tvm.transform.module_pass(opt_level=0, name=f"HawkGuarded{name}")
    def _run(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        try:
            out = seq(mod)
            relax.analysis.well_formed(out)  # raises on the first violation
        except Exception as exc:  # any failure of the rewrite keeps the original graph
            log.warning("hawk: graph pass %s skipped, the graph is kept as imported: %s", name, _reason(exc))
            return mod
        return out

    return _run


def _reason(exc: Exception) -> str:
    """The last non-empty line of an exception (TVM puts the check that failed there), at most 200 characters."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]


def graph_passes(config: HawkConfig) -> list[tvm.transform.Pass]:
    """Graph-level canonicalisation and layout knowledge applied before fusion, each step guarded.

    Canonicalisation (all targets): inference Dropout removed, stacked N-ary Sum/Mean/Max/Min as pairwise ops
    (passes/canonicalize.py). Layout (host, `layout="auto"`): conv2d to channels-last (NHWC data, HWIO weights,
    folded at compile time) when the graph has a dense conv (passes/layout.py). Fast math (host, `fast_math`):
    exp/erf/tanh/softmax as TVM's polynomial approximations, which vectorise (a BERT softmax 0.67 -> 0.30 ms
    before any schedule; passes/fast_math.py). NPU profiles keep the imported layout; there the precision policy
    casts matrix ops, and depthwise convs are legalized as depthwise convs (passes/npu_legalize.py).
    """
    steps = [guarded([canonicalize_inference], "CanonicalizeInference")]
    if config.layout == "auto" and config.target == "host":
        steps.append(guarded([channels_last], "ConvertLayout"))
    if config.fast_math and config.target == "host":  # vectorisable exp/erf/tanh (scalar libm calls otherwise)
        steps.append(guarded([fast_math], "FastMath"))
    if config.target != "host" and config.precision != "must_keep_origin_dtype":
        steps.append(guarded(precision_passes(config.precision), "Precision"))
    if config.target != "host":  # depthwise convs as depthwise (vector unit), not as grouped convs (cube)
        steps.append(guarded([npu_legalize()], "NpuLegalize"))
    return steps


def hawk_pipeline(config: HawkConfig | None = None, **_kwargs: Any) -> tvm.transform.Pass:
    """[canonicalise, layout] -> zero (legalize + fuse) -> HawkScheduleGeneration -> default_build.

    Registered as `relax_pipeline="hawk"`. Should anything in it still fail, the module is built with TVM's default
    pipeline for the target instead (one warning line): Hawk never fails a compile that plain TVM completes.
    """
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="HawkPipeline")
    def _pipeline(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        cfg = config or current_config()
        seq = tvm.transform.Sequential(
            [
                *graph_passes(cfg),
                relax.get_pipeline("zero"),
                HawkScheduleGeneration(cfg),
                relax.get_pipeline("default_build"),
            ]
        )
        try:
            return seq(mod)
        except Exception as exc:  # the plain build is the safe fallback of the whole pipeline
            target = tvm.target.Target.current(allow_none=True)
            if target is None:
                raise
            log.warning("hawk: the Hawk pipeline failed, building with TVM's default pipeline: %s", _reason(exc))
            return relax.get_default_pipeline(target)(mod)

    return _pipeline


def register() -> None:
    """Register `hawk` as a named Relax pipeline (idempotent)."""
    from tvm.relax import pipeline

    if "hawk" not in pipeline.PIPELINE_MAP:
        pipeline.register_pipeline("hawk")(hawk_pipeline)
