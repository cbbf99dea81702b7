"""LLM access over any OpenAI-compatible endpoint: client, prompts, reply parsing, response cache, proposer."""
