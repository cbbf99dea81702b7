"""LLMProposer: asks an LLM for schedule programs, degrading to the offline proposer when the endpoint fails."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..config import HawkConfig, LLMConfig
from ..errors import HawkError
from ..proposer.base import Candidate, ProposalRequest, ProposalResult, Proposer
from .cache import ResponseCache
from .client import ChatClient, ChatReply, Usage
from .parse import extract_program
from .prompt import build_messages, prompt_knowledge_ids

log = logging.getLogger("hawk_tvm.llm")

DEFAULT_COOLDOWN_S = 300.0  # after an endpoint failure, go straight to the fallback for this long


class LLMProposer(Proposer):
    """Proposes `k` candidates by asking the LLM `k` times (one prompt per candidate index).

    fallback:   the proposer used when the endpoint is unreachable or keeps failing (the engine passes the
                offline proposer); None = return what the LLM gave, possibly nothing, with the error.
    cache_path: SQLite response cache (default ``$HAWK_HOME/llm_cache.db``); unused when ``config.cache`` is off.
    cooldown_s: after an endpoint failure, skip the endpoint for this long, so one dead server does not
                cost every operator of a compile its full retry budget.
    """

    name = "llm"

    def __init__(
        self,
        config: LLMConfig,
        fallback: Proposer | None = None,
        cache_path: Path | str | None = None,
        *,
        client: ChatClient | None = None,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
    ) -> None:
        self.config = config
        self.fallback = fallback
        self.cooldown_s = cooldown_s
        if client is None:
            cache = ResponseCache(cache_path) if config.cache else None
            client = ChatClient(config, cache=cache)
        self.client = client
        self._down_until = 0.0
        self._down_reason: HawkError | None = None

    @property
    def usage(self) -> Usage:
        """Token and request totals so far."""
        return self.client.usage

    def summary(self) -> str:
        """One line of LLM usage and cost for the engine's report."""
        return self.usage.summary(self.config)

    def propose(self, request: ProposalRequest) -> ProposalResult:
        """Ask for `request.k` programs; on endpoint failure fill up from the fallback. Never raises."""
        try:
            return self._propose(request)
        except Exception as exc:  # a bug here must not break the compile: degrade like an endpoint failure
            log.warning("LLM proposer failed unexpectedly: %s: %s", type(exc).__name__, exc)
            error = HawkError("internal", f"LLM proposer: {type(exc).__name__}: {exc}")
            return self._degrade(request, [], [], 0, error)

    def _propose(self, request: ProposalRequest) -> ProposalResult:
        if time.monotonic() < self._down_until and self._down_reason is not None:
            note = f"LLM endpoint skipped after an earlier failure ({self._down_reason.message})"
            return self._degrade(request, [], [note], 0, self._down_reason)
        ids = prompt_knowledge_ids(request)
        candidates: list[Candidate] = []
        seen: set[str] = set()
        notes: list[str] = []
        tokens = 0
        parse_errors: list[HawkError] = []
        for index in range(request.k):
            reply = self.client.chat(build_messages(request, index))
            if isinstance(reply, HawkError):
                self._down_until = time.monotonic() + self.cooldown_s
                self._down_reason = reply
                log.warning("LLM endpoint failed: %s", reply)
                notes.append(f"LLM endpoint failed on candidate {index + 1}: {reply.message}")
                return self._degrade(request, candidates, notes, tokens, reply)
            tokens += _paid_tokens(reply)
            program = extract_program(reply.text)
            if isinstance(program, HawkError):
                parse_errors.append(program)
                notes.append(f"LLM reply {index + 1} unusable: {program.message}")
                continue
            candidate = Candidate(program=program, knowledge_ids=ids, origin="llm")
            if candidate.key() not in seen:
                seen.add(candidate.key())
                candidates.append(candidate)
        if not candidates and parse_errors:
            return self._degrade(request, [], notes, tokens, parse_errors[-1])
        return ProposalResult(candidates, notes=notes, tokens=tokens)

    def _degrade(
        self, request: ProposalRequest, candidates: list[Candidate], notes: list[str], tokens: int, error: HawkError
    ) -> ProposalResult:
        """Fill up to `k` candidates from the fallback proposer, keeping the LLM's own."""
        if self.fallback is None:
            return ProposalResult(candidates, notes=notes, tokens=tokens, error=error)
        missing = max(0, request.k - len(candidates))
        notes = [*notes, f"degraded to the {self.fallback.name} proposer for {missing} candidate(s)"]
        if missing == 0:
            return ProposalResult(candidates, notes=notes, tokens=tokens, error=error)
        try:
            backup = self.fallback.propose(request)
        except Exception as exc:  # the fallback breaking its contract must still not break the compile
            notes.append(f"fallback proposer failed: {type(exc).__name__}: {exc}")
            return ProposalResult(candidates, notes=notes, tokens=tokens, error=error)
        seen = {c.key() for c in candidates}
        extra = [c for c in backup.candidates if c.key() not in seen][:missing]
        return ProposalResult(
            [*candidates, *extra], notes=[*notes, *backup.notes], tokens=tokens + backup.tokens, error=error
        )


def make_proposer(config: HawkConfig, offline: Proposer, cache_path: Path | str | None = None) -> Proposer:
    """The LLM proposer (falling back to `offline`) when ``config.llm`` names a model, else `offline`."""
    if config.llm.enabled:
        return LLMProposer(config.llm, fallback=offline, cache_path=cache_path)
    return offline


def _paid_tokens(reply: ChatReply) -> int:
    return 0 if reply.cached else reply.prompt_tokens + reply.completion_tokens
