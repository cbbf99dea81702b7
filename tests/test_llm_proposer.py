"""LLMProposer over a real scripted server: candidates the sandbox applies, refusals, degradation, cache, repair."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hawk_tvm.config import HawkConfig, LLMConfig
from hawk_tvm.errors import HawkError
from hawk_tvm.knowledge.entry import KnowledgeEntry, Trigger
from hawk_tvm.knowledge.source import RetrievedEntry
from hawk_tvm.llm.cache import ResponseCache
from hawk_tvm.llm.client import ChatClient
from hawk_tvm.llm.proposer import LLMProposer, make_proposer
from hawk_tvm.proposer.base import Candidate, ProposalRequest, ProposalResult, Proposer
from hawk_tvm.sandbox import ScheduleSandbox

try:
    from llm_server import ScriptedLLMServer, closed_port_url, garbage, http_error, reply, serve, slow
except ImportError:  # tests/ imported as a package
    from tests.llm_server import ScriptedLLMServer, closed_port_url, garbage, http_error, reply, serve, slow


try:
    from tir_workloads import MATMUL_ENV, MATMUL_MOD, matmul
except ImportError:  # tests/ imported as a package
    from tests.tir_workloads import MATMUL_ENV, MATMUL_MOD, matmul


MOD, ENV = MATMUL_MOD, MATMUL_ENV
GOOD = """b = sch.get_sblock(MAIN)
i, j, k = sch.get_loops(b)
io, ii = sch.split(i, factors=[None, 8])
jo, ji = sch.split(j, factors=[None, HW['lanes']])
sch.reorder(io, jo, k, ii, ji)
sch.parallel(io)
sch.vectorize(ji)
sch.decompose_reduction(b, k)
"""
GENERIC = "sch.parallel(sch.main_loops()[0])\n"


def fenced(code: str) -> str:
    return f"This tiles for the vector unit.\n```python\n{code}```\n"


class FixedProposer(Proposer):
    """The offline stand-in: always the same generic candidate (a real, if tiny, Proposer)."""

    name = "fixed"

    def __init__(self) -> None:
        self.calls = 0

    def propose(self, request: ProposalRequest) -> ProposalResult:
        self.calls += 1
        return ProposalResult([Candidate(program=GENERIC, origin="generic:parallel")], notes=["fixed proposer"])


def knowledge() -> list[RetrievedEntry]:
    entry = KnowledgeEntry(
        id="host.matmul.register_tile",
        trigger=Trigger(text="matmul compute-bound; needs register blocking", bottleneck="compute"),
        rationale="Keep an MR x NR accumulator tile in vector registers.",
        template="b = sch.get_sblock(MAIN)\n",
        params={"MR": [4, 6]},
    )
    return [RetrievedEntry(entry, score=0.9)]


def request(k: int = 1, **changes: object) -> ProposalRequest:
    values = {
        "workload": matmul,
        "env": dict(ENV),
        "knowledge": knowledge(),
        "profile_summary": "host: 2 cores, AVX2",
        "bottleneck": {"bottleneck": "compute"},
        "k": k,
    }
    values.update(changes)
    return ProposalRequest(**values)


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with serve() as srv:
        yield srv


def proposer_for(
    url: str, tmp_path: Path, fallback: Proposer | None = None, timeout_s: float = 2.0, max_retries: int = 1
) -> LLMProposer:
    config = LLMConfig(model="test-model", base_url=url, timeout_s=timeout_s, max_retries=max_retries)
    client = ChatClient(config, cache=ResponseCache(tmp_path / "llm_cache.db"), backoff_base_s=0.01)
    return LLMProposer(config, fallback=fallback, client=client)


def test_good_reply_becomes_a_candidate_the_sandbox_applies(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(fenced(GOOD), 500, 120))
    result = proposer_for(server.base_url, tmp_path).propose(request())
    assert result.error is None and result.tokens == 620
    (candidate,) = result.candidates
    assert candidate.origin == "llm" and candidate.knowledge_ids == ("host.matmul.register_tile",)
    schedule, error = ScheduleSandbox().apply(MOD, candidate.program, ENV)
    assert error is None
    assert "T.parallel" in schedule.mod.script() and "T.vectorized" in schedule.mod.script()
    prompt = server.requests[0]["messages"][1]["content"]
    assert 'T.sblock("C")' in prompt and "host.matmul.register_tile" in prompt


def test_malformed_code_is_a_sandbox_syntax_error(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(fenced("b = sch.get_sblock(MAIN\nsch.parallel(b)\n")))
    (candidate,) = proposer_for(server.base_url, tmp_path).propose(request()).candidates
    _, error = ScheduleSandbox().apply(MOD, candidate.program, ENV)
    assert error is not None and error.kind == "sandbox.syntax"


@pytest.mark.parametrize(
    "escape",
    [
        "import os\nos.system('touch /tmp/hawk-pwned')\n",
        "x = sch._sch.mod\n",
        "f = ().__class__.__base__.__subclasses__()\n",
        "sch.annotate(sch.main_loops()[0], 'pragma_import_llvm', '/etc/passwd')\n",
    ],
)
def test_escape_attempt_is_refused(server: ScriptedLLMServer, tmp_path: Path, escape: str) -> None:
    server.push(reply(fenced(escape)))
    (candidate,) = proposer_for(server.base_url, tmp_path).propose(request()).candidates
    schedule, error = ScheduleSandbox().apply(MOD, candidate.program, ENV)
    assert schedule is None and error is not None and error.kind == "sandbox.refused"


def test_timeout_retries_then_falls_back(
    server: ScriptedLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.push(slow(1.0), slow(1.0))
    offline = FixedProposer()
    proposer = proposer_for(server.base_url, tmp_path, offline, timeout_s=0.3, max_retries=1)
    with caplog.at_level(logging.WARNING, logger="hawk_tvm.llm"):
        result = proposer.propose(request(k=2))
    assert server.count == 2  # one try plus one retry
    assert [c.origin for c in result.candidates] == ["generic:parallel"]
    assert result.error is not None and result.error.kind == "llm" and "no answer" in result.error.message
    assert any("degraded to the fixed proposer" in n for n in result.notes)
    assert "LLM endpoint failed" in caplog.text
    # the endpoint is not asked again while it is cooling down
    again = proposer.propose(request())
    assert server.count == 2 and offline.calls == 2 and again.candidates[0].origin == "generic:parallel"


def test_non_json_body_falls_back(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(garbage("<html>502 from the proxy</html>"))
    result = proposer_for(server.base_url, tmp_path, FixedProposer()).propose(request())
    assert server.count == 1
    assert result.error is not None and "not JSON" in result.error.message
    assert [c.program for c in result.candidates] == [GENERIC]


def test_unreachable_endpoint_without_fallback_reports_the_error(tmp_path: Path) -> None:
    result = proposer_for(closed_port_url(), tmp_path, None, max_retries=0).propose(request())
    assert result.candidates == [] and result.error is not None and "unreachable" in result.error.message


def test_failure_midway_keeps_llm_candidates_and_fills_up(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(fenced(GOOD)), http_error(500), http_error(500))
    result = proposer_for(server.base_url, tmp_path, FixedProposer()).propose(request(k=3))
    assert [c.origin for c in result.candidates] == ["llm", "generic:parallel"]


def test_429_then_success(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(http_error(429, retry_after="0"), reply(fenced(GOOD)))
    result = proposer_for(server.base_url, tmp_path, FixedProposer()).propose(request())
    assert server.count == 2 and result.error is None
    assert [c.origin for c in result.candidates] == ["llm"]


def test_k_candidates_use_distinct_prompts(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(fenced(GOOD)), reply(fenced(GENERIC)), reply(fenced(GOOD)))
    result = proposer_for(server.base_url, tmp_path).propose(request(k=3))
    prompts = [r["messages"][1]["content"] for r in server.requests]
    assert len(set(prompts)) == 3 and "candidate 3 of 3" in prompts[2]
    assert [c.program for c in result.candidates] == [GOOD, GENERIC]  # the repeat is dropped


def test_unparsable_replies_fall_back(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply("I cannot help with that."))
    result = proposer_for(server.base_url, tmp_path, FixedProposer()).propose(request())
    assert result.error is not None and result.error.kind == "llm.parse"
    assert [c.program for c in result.candidates] == [GENERIC]


def test_cache_serves_the_second_identical_request(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply(fenced(GOOD), 300, 100), reply(fenced(GENERIC)))
    first = proposer_for(server.base_url, tmp_path).propose(request())
    second_proposer = proposer_for(server.base_url, tmp_path)
    second = second_proposer.propose(request())
    assert server.count == 1
    assert second.candidates[0].program == first.candidates[0].program == GOOD
    assert second.tokens == 0 and second_proposer.usage.cache_hits == 1
    assert "1 cached" in second_proposer.summary()


def test_repair_prompt_carries_the_failing_program_and_error(server: ScriptedLLMServer, tmp_path: Path) -> None:
    failing = Candidate(program="b = sch.get_sblock(MAIN)\nsch.vectorize(sch.get_loops(b)[2])\n", origin="llm")
    error = HawkError("schedule", "The loop cannot be vectorized: it is a reduction loop", {"loop": "k"})
    server.push(reply(fenced(GOOD)))
    result = proposer_for(server.base_url, tmp_path).propose(request(failures=[(failing, error)], round=1))
    prompt = server.requests[0]["messages"][1]["content"]
    assert "sch.vectorize(sch.get_loops(b)[2])" in prompt
    assert "Error kind: schedule" in prompt and "it is a reduction loop" in prompt and '"loop": "k"' in prompt
    assert result.candidates[0].program == GOOD


def test_make_proposer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAWK_HOME", str(tmp_path))
    offline = FixedProposer()
    assert make_proposer(HawkConfig(llm=LLMConfig(model=None)), offline) is offline
    chosen = make_proposer(HawkConfig(llm=LLMConfig(model="m", base_url="http://127.0.0.1:9/v1")), offline)
    assert isinstance(chosen, LLMProposer) and chosen.fallback is offline
    assert chosen.client.cache is not None and chosen.client.cache.path == tmp_path / "llm_cache.db"
    no_cache = make_proposer(HawkConfig(llm=LLMConfig(model="m", cache=False)), offline)
    assert isinstance(no_cache, LLMProposer) and no_cache.client.cache is None
