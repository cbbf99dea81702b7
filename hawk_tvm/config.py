"""Hawk's configuration: one documented object, usable directly or as a context manager around `tvm.compile`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def hawk_home() -> Path:
    """State directory: ``$HAWK_HOME`` or ``~/.hawk``."""
    return Path(os.environ.get("HAWK_HOME") or Path.home() / ".hawk")


@dataclass(frozen=True)
class LLMConfig:
    """How to reach an OpenAI-compatible chat-completions endpoint.

    model:       model name; the LLM is used only when this is set (``--llm-model`` or ``HAWK_LLM_MODEL``).
    base_url:    endpoint (``--llm-base-url``, ``HAWK_LLM_BASE_URL`` or ``OPENAI_BASE_URL``).
    api_key:     key (``OPENAI_API_KEY`` or ``HAWK_LLM_API_KEY``); a placeholder is sent when unset.
    timeout_s:   per request.
    max_retries: bounded retries with exponential backoff on 429 / 5xx / timeouts.
    temperature: sampling temperature (part of the response-cache key).
    max_tokens:  completion-token limit per request (part of the response-cache key).
    cache:       reuse replies from the response cache (``$HAWK_HOME/llm_cache.db``); ``HAWK_LLM_CACHE=0`` turns it off.
    prompt_price_per_mtok / completion_price_per_mtok: prices per million tokens, for the cost line of the summary.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    temperature: float = 0.2
    max_tokens: int = 2048
    cache: bool = True
    prompt_price_per_mtok: float = 0.0
    completion_price_per_mtok: float = 0.0

    @property
    def enabled(self) -> bool:
        """True when a model is named."""
        return bool(self.model)

    @staticmethod
    def from_env(**overrides: Any) -> LLMConfig:
        """Fill unset fields from the environment variables documented above."""
        env = os.environ
        values = {
            "model": env.get("HAWK_LLM_MODEL"),
            "base_url": env.get("HAWK_LLM_BASE_URL") or env.get("OPENAI_BASE_URL"),
            "api_key": env.get("HAWK_LLM_API_KEY") or env.get("OPENAI_API_KEY"),
        }
        if env.get("HAWK_LLM_CACHE", "").strip().lower() in ("0", "false", "no", "off"):
            values["cache"] = False
        values.update({k: v for k, v in overrides.items() if v is not None})
        return LLMConfig(**values)


@dataclass(frozen=True)
class Budget:
    """Limits on generation.

    candidates:      candidates proposed per round for one operator.
    repair_rounds:   extra rounds that re-propose after failures (0 = no repair).
    op_time_s:       wall-clock cap for one operator (checked between rounds).
    total_time_s:    wall-clock cap for a whole compile (None = no cap); spread by estimated cost.
    max_candidates:  under `total_time_s`, an operator whose share of the time allows it gets up to this many
                     candidates per round (the costliest operators of a model are worth a wider search).
    """

    candidates: int = 6
    repair_rounds: int = 2
    op_time_s: float = 60.0
    total_time_s: float | None = None
    max_candidates: int = 12


@dataclass(frozen=True)
class HawkConfig:
    """Everything the Hawk pass needs.

    target:        ``"host"`` (the LLVM CPU this runs on) or a hardware-profile name (``davinci``, ``edge``)
                   or a path to a profile JSON file.
    database_dir:  MetaSchedule JSON database folder (default ``$HAWK_HOME/database/<target>``).
    knowledge_db:  SQLite knowledge store (default ``$HAWK_HOME/knowledge.db``).
    llm:           LLM settings (off unless a model is named).
    budget:        generation limits.
    seed:          seed for every random choice (offline proposer, inputs of numerics checks).
    use_knowledge: False = generic proposals only (the knowledge-free ablation).
    retrieval:     ``"2d"``, ``"syntactic"`` or ``"semantic"`` (ablations).
    synthesis:     synthesise knowledge from failure->fix and from wins.
    distill_every: run distillation after this many generated operators (0 = never automatically).
    runner:        ``"local"`` or ``"rpc://HOST:PORT/KEY"`` (measure through an RPC tracker).
    layout:        ``"auto"`` (host: channels-last convolutions, see passes.hawk_pass.graph_passes) or ``"keep"``.
    precision:     NPU targets, ATC-style: ``"allow_fp32_to_fp16"`` (default: fp32 matmul/conv on the fp16 cube tile
                   with fp32 accumulation, other ops keep their dtype), ``"force_fp16"`` or
                   ``"must_keep_origin_dtype"`` (passes/precision.py). Ignored on the host.
    fast_math:     host: float32 exp, erf, tanh, sigmoid, SiLU, GELU and softmax lowered to TVM's polynomial
                   approximations (passes/fast_math.py), which vectorise where libm calls stay scalar; within 1e-5
                   relative of numpy (tests/test_fast_math_pass.py). False keeps the libm calls. NPU targets keep
                   their own.
    timing_repeat: timed repeats per candidate on the host (median reported).
    timing_min_ms: minimum duration of one timed repeat, in milliseconds.
    verbose:       print a progress line per operator.
    """

    target: str = "host"
    database_dir: Path | None = None
    knowledge_db: Path | None = None
    llm: LLMConfig = field(default_factory=LLMConfig.from_env)
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    use_knowledge: bool = True
    retrieval: str = "2d"
    synthesis: bool = True
    distill_every: int = 0
    runner: str = "local"
    layout: str = "auto"
    precision: str = "allow_fp32_to_fp16"
    fast_math: bool = True
    timing_repeat: int = 5
    timing_min_ms: int = 40
    verbose: bool = True

    def resolved_database_dir(self) -> Path:
        """The database folder, created if needed."""
        path = Path(self.database_dir) if self.database_dir else hawk_home() / "database" / Path(self.target).stem
        path.mkdir(parents=True, exist_ok=True)
        return path

    def resolved_knowledge_db(self) -> Path:
        """The knowledge store path (its folder created if needed)."""
        path = Path(self.knowledge_db) if self.knowledge_db else hawk_home() / "knowledge.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def replace(self, **changes: Any) -> HawkConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


_STACK: list[HawkConfig] = []


def current_config() -> HawkConfig:
    """The innermost config entered with `use_config`, else the defaults."""
    return _STACK[-1] if _STACK else HawkConfig()


@contextlib.contextmanager
def use_config(config: HawkConfig | None = None, **changes: Any) -> Iterator[HawkConfig]:
    """Make `config` (or the current one with `changes`) current for ``tvm.compile(..., relax_pipeline="hawk")``."""
    cfg = (config or current_config()).replace(**changes) if changes else (config or current_config())
    _STACK.append(cfg)
    try:
        yield cfg
    finally:
        _STACK.pop()
