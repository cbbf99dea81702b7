"""Prompt building: the language, the operator, the hardware, the knowledge triples and the repair errors."""

from __future__ import annotations

from dataclasses import dataclass

from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.source import RetrievedEntry
from hawk_tvm.llm.prompt import MAX_KNOWLEDGE, build_messages, prompt_knowledge_ids, system_prompt, user_prompt
from hawk_tvm.proposer.base import Candidate, ProposalRequest
from hawk_tvm.sandbox import ALLOWED_METHODS, HELPERS


@dataclass
class Op:
    """Stands where `hawk_tvm.analysis.workload.Workload` does: the prompt reads its `script`."""

    script: str


def entry(n: int) -> RetrievedEntry:
    return RetrievedEntry(
        KnowledgeEntry(
            id=f"host.matmul.tile{n}",
            trigger=Trigger(kind="pattern", text=f"matmul compute-bound {n}", bottleneck="compute", unit="vector"),
            rationale=f"Register blocking number {n} keeps the accumulators in registers.",
            template=f"b = sch.get_sblock(MAIN)\n# template {n}\n",
            params={"MR": [4, 6], "NR": "HW['lanes'] * 2"},
            when="len(REDUCE) == 1",
        ),
        score=1.0 / (n + 1),
    )


def request(**changes: object) -> ProposalRequest:
    values = {
        "workload": Op("@T.prim_func\ndef main(A: T.Buffer((128, 64), 'float32')): ..."),
        "env": {"MAIN": "C", "OP": "matmul", "SPATIAL": [128, 64], "REDUCE": [32], "HW": {"lanes": 8, "cores": 2}},
        "knowledge": [entry(0), entry(1)],
        "profile_summary": "host: 2 cores, AVX2 (8 x fp32 lanes), L1 32 KiB",
        "bottleneck": {"bottleneck": "compute", "unit": "vector", "fraction_of_peak": 0.04},
        "k": 3,
    }
    values.update(changes)
    return ProposalRequest(**values)


def test_system_prompt_explains_the_language() -> None:
    text = system_prompt()
    for method in ALLOWED_METHODS:
        assert method in text
    for helper in HELPERS:
        assert helper in text
    for name in ("MAIN", "BLOCKS", "SPATIAL", "REDUCE", "HW", "get_sblock", "```python"):
        assert name in text


def test_user_prompt_holds_operator_profile_bottleneck_and_triples() -> None:
    text = user_prompt(request(), 0)
    assert "def main(A: T.Buffer((128, 64)" in text
    assert "SPATIAL = [128, 64]" in text and 'HW = {"cores": 2, "lanes": 8}' in text
    assert "AVX2 (8 x fp32 lanes)" in text
    assert '"fraction_of_peak": 0.04' in text
    for n in (0, 1):
        assert f"host.matmul.tile{n}" in text
        assert f"matmul compute-bound {n}" in text
        assert f"Register blocking number {n}" in text
        assert f"# template {n}" in text
    assert '"NR": "HW[\'lanes\'] * 2"' in text and "len(REDUCE) == 1" in text
    assert "candidate 1 of 3" in text and "Repair" not in text


def test_candidate_index_changes_the_prompt() -> None:
    first, second = (build_messages(request(), i) for i in (0, 1))
    assert first[0] == second[0]
    assert first[1] != second[1] and "candidate 2 of 3" in second[1]["content"]
    assert "differ from the other candidates" in second[1]["content"]


def test_repair_prompt_has_program_and_structured_error() -> None:
    failing = Candidate(program="b = sch.get_sblock(MAIN)\nsch.vectorize(sch.get_loops(b)[2])\n", origin="llm")
    error = HawkError("sim.capacity", "buffer exceeds L0A", {"level": "local.l0a", "requested": 98304, "limit": 65536})
    text = user_prompt(request(failures=[(failing, error)], round=1), 0)
    assert "Repair round 1" in text
    assert "sch.vectorize(sch.get_loops(b)[2])" in text
    assert "Error kind: sim.capacity" in text and "buffer exceeds L0A" in text
    assert '"level": "local.l0a"' in text and '"limit": 65536' in text


def test_knowledge_is_capped_and_ids_match() -> None:
    many = [entry(n) for n in range(MAX_KNOWLEDGE + 3)]
    req = request(knowledge=many)
    ids = prompt_knowledge_ids(req)
    assert len(ids) == MAX_KNOWLEDGE and ids[0] == "host.matmul.tile0"
    text = user_prompt(req)
    assert f"host.matmul.tile{MAX_KNOWLEDGE - 1}" in text and f"host.matmul.tile{MAX_KNOWLEDGE}" not in text


def test_long_scripts_are_cut_and_prompts_are_deterministic() -> None:
    req = request(workload=Op("x" * 50_000))
    assert len(user_prompt(req)) < 20_000
    assert build_messages(req, 1) == build_messages(req, 1)


def test_npu_prompt_carries_the_cube_facts_of_the_profile() -> None:
    from hawk_tvm.sim.target import SimulatorTarget

    hw = SimulatorTarget("davinci").hw_facts("float16")
    text = user_prompt(request(env={"MAIN": "C", "OP": "conv2d", "SPATIAL": [1, 64, 55, 55], "REDUCE": [16, 3, 3],
                                    "HW": hw}))
    assert "## NPU programming facts" in text
    for fact in ("hawk.load3d", "NC1HWC0", "sch.conv_as_gemm", str(hw["cap_l0a"]), hw["intrin_mma"]):
        assert fact in text, fact
    assert "## NPU programming facts" not in user_prompt(request())  # host: none
