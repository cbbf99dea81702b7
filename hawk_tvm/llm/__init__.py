"""LLM access over any OpenAI-compatible endpoint: client, prompts, reply parsing, response cache, proposer."""

from .cache import ResponseCache, default_cache_path
from .client import ChatClient, ChatReply, Usage
from .parse import extract_program
from .prompt import build_messages, system_prompt, user_prompt
from .proposer import LLMProposer, make_proposer

__all__ = [
    "ChatClient",
    "ChatReply",
    "LLMProposer",
    "ResponseCache",
    "Usage",
    "build_messages",
    "default_cache_path",
    "extract_program",
    "make_proposer",
    "system_prompt",
    "user_prompt",
]
