"""Value types shared by the LLM client and its response cache (kept apart so neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatReply:
    """A completion: its text, the tokens it cost (as the endpoint reported them), and whether the cache served it."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
