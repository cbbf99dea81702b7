"""Prompt building: the chat messages that ask an LLM for one schedule program."""

from __future__ import annotations

import json
from typing import Any

from .. import sandbox
from ..errors import HawkError
from ..proposer.base import Candidate, ProposalRequest

MAX_SCRIPT_CHARS = 8_000  # TVMScript longer than this is cut in the middle
MAX_KNOWLEDGE = 6  # retrieved entries shown
MAX_FAILURES = 4  # failing candidates shown on a repair round
MAX_TEMPLATE_CHARS = 2_000
ENV_ORDER = ("MAIN", "BLOCKS", "OP", "SPATIAL", "REDUCE", "DTYPE", "IN_DTYPE", "HW")

_EXTENSIONS = {
    "inline_injective": "sch.inline_injective(keep=(MAIN,)) inlines every other injective block where TVM allows it",
    "main_loops": "sch.main_loops() returns the loops of MAIN, outer to inner",
    "block_names": "sch.block_names() returns the names of the blocks that remain, in program order",
    "iter_kinds": "sch.iter_kinds(block) returns 'S'/'R' per iterator of a block (RV or name), e.g. 'SSR'",
    "extents": "sch.extents(block) returns the extents of the loops around a block (RV or name), outer to inner",
}


def system_prompt() -> str:
    """The fixed instructions: the schedule-program language, its names, helpers and allowed `sch` methods."""
    tvm_methods = sorted(m for m in sandbox.ALLOWED_METHODS if m not in _EXTENSIONS)
    extensions = [f"- {_EXTENSIONS[m]}" for m in sorted(sandbox.ALLOWED_METHODS) if m in _EXTENSIONS]
    helpers = ", ".join([*sorted(k for k in sandbox.SAFE_BUILTINS if k[0].islower()), *sorted(sandbox.HELPERS)])
    return "\n".join(
        [
            "You are an expert Apache TVM (0.27) performance engineer. You write schedule programs that make one",
            "TensorIR operator fast on the hardware described, using the retrieved knowledge where it applies.",
            "",
            "A schedule program is a short text in a restricted subset of Python that drives a",
            "tvm.s_tir.Schedule named `sch`. It runs in a sandbox that checks it before running it:",
            "- allowed: assignments (also `x += 1`), if/elif/else, `for` over range(...) (at most "
            f"{sandbox.MAX_LOOP_RANGE} iterations) or over a list, arithmetic, comparisons, subscripts,",
            "  list/tuple/dict literals, `*args`, keyword arguments, calls of the helpers and of `sch.<method>(...)`.",
            "- refused: import, def, lambda, class, while, comprehensions, try, with, return, f-strings,",
            "  `%` formatting, attribute access on anything but `sch`, names starting with `_`, passing a",
            f"  helper or a method as a value, and strings longer than {sandbox.MAX_STRING} characters.",
            f"- budgets: {sandbox.MAX_STEPS} schedule calls, {sandbox.MAX_ITERATIONS} loop iterations.",
            "",
            "Names the program sees:",
            "- sch: the schedule. MAIN: name of the main block (the reduction block, else the last compute block).",
            "- BLOCKS: all block names in program order. OP: the op class (matmul, conv2d, softmax, ...).",
            "- SPATIAL / REDUCE: extents of the main block's spatial / reduction loops, outer to inner.",
            "- DTYPE / IN_DTYPE: output dtype / first input dtype. HW: hardware facts (dict: cores, vector_bytes,",
            "  lanes, on the host simd_bytes (widest SIMD register), and on NPU profiles the matrix tile, memory",
            "  scopes, capacities, alignment, intrinsic names).",
            f"- helpers: {helpers}; ceil_div(a, b), divisors(n), largest_divisor(n, cap, multiple=1),",
            "  vector_chunk(n, vector_elems, multiple=1, max_vectors=8) (the divisor of n, a multiple of `multiple`,",
            "  that covers n in the fewest vector instructions).",
            "",
            "Schedule methods you may call (tvm.s_tir.Schedule): " + ", ".join(tvm_methods) + ".",
            "Hawk extensions on sch:",
            *extensions,
            "",
            "TVM 0.27 notes: blocks are fetched with sch.get_sblock(name) (not get_block); loops with",
            "sch.get_loops(block); sch.split(loop, factors=[None, 8]) infers the None factor; vectorize the",
            "innermost loop before sch.decompose_reduction(block, loop); memory scopes are strings such as",
            "'global', 'shared.l1', 'local.l0a', 'global.ub' as given in HW; parallelise an outer spatial loop",
            "up to HW['cores']. Every primitive must be legal for the operator, or the whole program fails.",
            "",
            "Answer with exactly one program in a single ```python fenced block: only the program body, no def,",
            "no imports, no `sch = ...` line (sch already exists). A sentence of explanation before the block is",
            "fine; nothing after it.",
        ]
    )


def user_prompt(request: ProposalRequest, candidate_index: int = 0) -> str:
    """The request-specific part: operator, names, hardware, bottleneck, knowledge, failures, and the task."""
    parts = [
        "## Operator (TVMScript)",
        "```python",
        _operator_script(request.workload),
        "```",
        "",
        "## Names bound in the program",
        *_env_lines(request.env),
        "",
        "## Hardware",
        request.profile_summary.strip() or "(no summary)",
        "",
        "## Bottleneck report",
        _json(request.bottleneck) if request.bottleneck else "(none)",
    ]
    hw = request.env.get("HW") or {}
    if hw.get("kind") == "npu":
        parts += ["", "## NPU programming facts", *npu_facts(hw)]
    if request.knowledge:
        parts += ["", "## Retrieved knowledge (trigger, rationale, template), best first"]
        for retrieved in request.knowledge[:MAX_KNOWLEDGE]:
            parts += _knowledge_lines(retrieved)
    if request.failures:
        parts += ["", f"## Repair round {request.round}: these programs failed; fix the cause"]
        for n, (candidate, error) in enumerate(request.failures[:MAX_FAILURES], 1):
            parts += _failure_lines(n, candidate, error)
    k = max(1, request.k)
    parts += ["", "## Task", f"Write candidate {candidate_index + 1} of {k} for this operator."]
    if request.failures:
        parts.append("Avoid every error listed above; keep what was sound in the failing programs.")
    if candidate_index > 0:
        parts.append(
            "Make it differ from the other candidates (other tile sizes, loop order, cache placement or"
            " knowledge entry), while staying legal."
        )
    parts.append("Reply with exactly one ```python fenced block holding the program.")
    return "\n".join(parts)


def npu_facts(hw: dict[str, Any]) -> list[str]:
    """The facts the NPU knowledge relies on, stated for the profile in HW (the same facts the seed entries of
    schedules/davinci cite: Ascend C programming guide, cube / load3d / fixpipe sections)."""
    m, n, k = hw.get("mma_m", 16), hw.get("mma_n", 16), hw.get("mma_k", 16)
    return [
        f"- Vector and cube units compute only on on-chip buffers: elementwise work on {hw.get('scope_ub')} "
        f"(transfers multiples of {hw.get('align_ub')} bytes: pad or overfetch a tile, write back the valid part);",
        f"  matmul/conv on the cube: operands {hw.get('scope_l1')} -> {hw.get('scope_l0a')} / {hw.get('scope_l0b')},"
        f" results in {hw.get('scope_l0c')}, tile {m}x{n}x{k} (tensorize with {hw.get('intrin_mma')}).",
        f"- Capacities (bytes): L1 {hw.get('cap_l1')}, L0A {hw.get('cap_l0a')}, L0B {hw.get('cap_l0b')}, "
        f"L0C {hw.get('cap_l0c')}, UB {hw.get('cap_ub')}; tile M, N and K panels so every live buffer fits, and "
        "double-buffer (two stages) so copies overlap the cube.",
        "- A convolution is an implicit GEMM: sch.conv_as_gemm(block) rewrites it (M = N*OH*OW output pixels,",
        f"  N = output channels, K = C_in*KH*KW); feature maps live in L1 channel-blocked (NC1HWC0, C0 = {k});",
        "  the L1 -> L0A copy annotated 'hawk.load3d' is the img2col window expansion (stride 1..63, kernel <= 255,",
        "  padding through the pad registers, not a padded copy); weights are constants packed at compile time.",
        "- Channels or extents that are not multiples of the tile are padded inside the packed layout; never",
        "  leave a conv, matmul or elementwise op off-chip: the simulator rejects off-chip compute.",
    ]


def build_messages(request: ProposalRequest, candidate_index: int = 0) -> list[dict[str, str]]:
    """System and user messages for candidate `candidate_index` of the request."""
    return [
        {"role": "system", "content": system_prompt()},
        {"role": "user", "content": user_prompt(request, candidate_index)},
    ]


def prompt_knowledge_ids(request: ProposalRequest) -> tuple[str, ...]:
    """Ids of the knowledge entries the prompt shows (the ones that shaped an LLM candidate)."""
    return tuple(r.entry.id for r in request.knowledge[:MAX_KNOWLEDGE])


def _operator_script(workload: Any) -> str:
    """TVMScript of a `Workload` (its `script` field), a PrimFunc or IRModule (`script()`), else `str`."""
    script = getattr(workload, "script", None)
    if callable(script):
        try:
            script = script()
        except Exception:
            script = None
    if not isinstance(script, str) or not script:
        script = str(workload)
    if len(script) <= MAX_SCRIPT_CHARS:
        return script
    half = MAX_SCRIPT_CHARS // 2
    return script[:half] + f"\n# ... {len(script) - MAX_SCRIPT_CHARS} characters left out ...\n" + script[-half:]


def _env_lines(env: dict[str, Any]) -> list[str]:
    names = [n for n in ENV_ORDER if n in env] + sorted(n for n in env if n not in ENV_ORDER)
    return [f"{name} = {_json(env[name], indent=None)}" for name in names] or ["(none)"]


def _knowledge_lines(retrieved: Any) -> list[str]:
    entry = retrieved.entry
    trigger = entry.trigger
    facts = {
        k: v
        for k, v in (
            ("kind", trigger.kind),
            ("bottleneck", trigger.bottleneck),
            ("unit", trigger.unit),
            ("level", trigger.level),
            ("error_kind", trigger.error_kind),
        )
        if v
    }
    template = entry.template.strip()
    if len(template) > MAX_TEMPLATE_CHARS:
        template = template[:MAX_TEMPLATE_CHARS] + "\n# ... cut ..."
    lines = [
        "",
        f"### {entry.id} (score {retrieved.score:.2f})",
        f"Trigger: {trigger.text.strip()} {_json(facts, indent=None)}",
        f"Rationale: {' '.join(entry.rationale.split())}",
    ]
    if entry.params:
        lines.append(f"Parameters (choices or expressions; bind concrete values): {_json(entry.params, indent=None)}")
    if entry.when:
        lines.append(f"Applies when: {entry.when}")
    lines += ["Template:", "```python", template, "```"]
    return lines


def _failure_lines(n: int, candidate: Candidate, error: HawkError) -> list[str]:
    origin = candidate.origin or "unknown"
    lines = ["", f"### Failed program {n} (origin {origin})", "```python", candidate.program.strip(), "```"]
    if candidate.params:
        lines.append(f"Parameters: {_json(candidate.params, indent=None)}")
    lines.append(f"Error kind: {error.kind}")
    lines.append(f"Error message: {error.message}")
    if error.context:
        lines.append(f"Error context: {_json(error.context, indent=None)}")
    return lines


def _json(value: Any, indent: int | None = 1) -> str:
    return json.dumps(value, indent=indent, sort_keys=True, default=str)
