"""Chat client for any OpenAI-compatible endpoint: bounded retries, response cache, token accounting, errors as data."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import LLMConfig
from ..errors import HawkError
from .cache import ResponseCache
from .types import ChatReply

log = logging.getLogger("hawk_tvm.llm")

PLACEHOLDER_API_KEY = "sk-hawk-no-key"  # sent when no key is configured (local servers ignore it)
BACKOFF_BASE_S = 0.5  # first retry waits about this long
BACKOFF_CAP_S = 30.0  # no single wait is longer (a Retry-After above it is capped too)
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

Message = Mapping[str, str]


@dataclass
class Usage:
    """Running totals of what the LLM cost, for the engine's summary."""

    calls: int = 0  # chat() calls
    cache_hits: int = 0  # calls answered by the cache
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    failures: int = 0  # calls that ended in an error
    prompt_tokens: int = 0  # tokens paid for (cache hits excluded)
    completion_tokens: int = 0
    cached_tokens: int = 0  # tokens the cache saved
    seconds: float = 0.0  # wall time spent waiting for the endpoint

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens paid for."""
        return self.prompt_tokens + self.completion_tokens

    def cost(self, prompt_price_per_mtok: float = 0.0, completion_price_per_mtok: float = 0.0) -> float:
        """Money spent at the given prices per million tokens."""
        return (self.prompt_tokens * prompt_price_per_mtok + self.completion_tokens * completion_price_per_mtok) / 1e6

    def summary(self, config: LLMConfig | None = None) -> str:
        """One line for the engine's report."""
        line = (
            f"LLM: {self.calls} calls ({self.cache_hits} cached, {self.failures} failed, {self.retries} retries), "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, {self.seconds:.1f} s"
        )
        if config and (config.prompt_price_per_mtok or config.completion_price_per_mtok):
            line += f", ${self.cost(config.prompt_price_per_mtok, config.completion_price_per_mtok):.4f}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**self.__dict__, "total_tokens": self.total_tokens}


class ChatClient:
    """Sends chat requests through the `openai` package; `chat` returns a `ChatReply` or a `HawkError`, never raises.

    cache: a `ResponseCache` (None = no cache). usage: totals to add to (shared across clients if given).
    backoff_base_s: first retry's wait without Retry-After (doubles each retry, capped, with jitter).
    sleep / rng: injectable for tests (defaults `time.sleep`, a seeded `random.Random`).
    """

    def __init__(
        self,
        config: LLMConfig,
        cache: ResponseCache | None = None,
        usage: Usage | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
    ) -> None:
        self.config = config
        self.cache = cache
        self.usage = usage if usage is not None else Usage()
        self._sleep = sleep
        self._rng = rng or random.Random(0)
        self.backoff_base_s = backoff_base_s
        self._lock = threading.Lock()
        self._openai: Any = None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Sampling settings sent with each request (also part of the cache key)."""
        values = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return values

    def chat(self, messages: list[Message], **overrides: Any) -> ChatReply | HawkError:
        """One completion for `messages` (cache first, then the endpoint with bounded retries)."""
        if not self.config.model:
            return HawkError("llm", "no model configured (set HAWK_LLM_MODEL or --llm-model)")
        settings = self.settings(**overrides)
        key = None
        with self._lock:
            self.usage.calls += 1
        if self.cache is not None:
            key = self.cache.key(self.config.model, messages, settings)
            hit = self.cache.get(key)
            if hit is not None:
                with self._lock:
                    self.usage.cache_hits += 1
                    self.usage.cached_tokens += hit.prompt_tokens + hit.completion_tokens
                return hit
        start = time.monotonic()
        result = self._with_retries(messages, settings)
        with self._lock:
            self.usage.seconds += time.monotonic() - start
            if isinstance(result, HawkError):
                self.usage.failures += 1
            else:
                self.usage.prompt_tokens += result.prompt_tokens
                self.usage.completion_tokens += result.completion_tokens
        if isinstance(result, ChatReply) and self.cache is not None and key is not None:
            self.cache.put(key, result, self.config.model)
        return result

    def _with_retries(self, messages: list[Message], settings: dict[str, Any]) -> ChatReply | HawkError:
        attempts = 1 + max(0, int(self.config.max_retries))
        error = HawkError("llm", "no attempt made")
        for attempt in range(attempts):
            with self._lock:
                self.usage.requests += 1
            result, retry_after = self._attempt(messages, settings)
            if isinstance(result, ChatReply):
                return result
            error = result
            if not result.context.get("retryable") or attempt + 1 == attempts:
                break
            delay = self.backoff(attempt, retry_after)
            log.warning(
                "LLM request failed (%s); retry %d/%d in %.2f s", result.message, attempt + 1, attempts - 1, delay
            )
            with self._lock:
                self.usage.retries += 1
            self._sleep(delay)
        context = {k: v for k, v in error.context.items() if k != "retryable"}
        context["attempts"] = attempt + 1
        return HawkError(error.kind, error.message, context)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry `attempt + 1`: Retry-After when given, else exponential with jitter."""
        if retry_after is not None:
            return min(max(0.0, retry_after), BACKOFF_CAP_S)
        ceiling = min(BACKOFF_CAP_S, self.backoff_base_s * 2**attempt)
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def _client(self) -> Any:
        if self._openai is None:
            import openai

            self._openai = openai.OpenAI(
                base_url=self.config.base_url,
                api_key=self.config.api_key or PLACEHOLDER_API_KEY,
                timeout=self.config.timeout_s,
                max_retries=0,
            )
        return self._openai

    def _attempt(self, messages: list[Message], settings: dict[str, Any]) -> tuple[ChatReply | HawkError, float | None]:
        """One HTTP request; a reply, or an error whose context says whether a retry may help."""
        import openai

        try:
            raw = self._client().chat.completions.with_raw_response.create(
                model=self.config.model, messages=[dict(m) for m in messages], **settings
            )
            body = raw.http_response.text
        except openai.APIStatusError as exc:
            status = exc.status_code
            return (
                HawkError(
                    "llm",
                    f"endpoint answered HTTP {status}: {_short(_error_text(exc))}",
                    {"status": status, "retryable": status in RETRYABLE_STATUS},
                ),
                retry_after_seconds(exc.response.headers if exc.response is not None else {}),
            )
        except openai.APITimeoutError:
            return HawkError("llm", f"no answer within {self.config.timeout_s:g} s", {"retryable": True}), None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            return HawkError("llm", f"endpoint unreachable: {_short(str(cause))}", {"retryable": True}), None
        except Exception as exc:  # anything else the client library raises is still an endpoint problem
            return HawkError("llm", f"request failed: {type(exc).__name__}: {_short(str(exc))}"), None
        return parse_completion(body), None


def parse_completion(body: str) -> ChatReply | HawkError:
    """The text and token counts of a chat-completions JSON body, or an error saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return HawkError("llm", f"endpoint answered with a body that is not JSON: {_short(body)!r}")
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content")
        if text is None:
            text = choice.get("text")
        if not isinstance(text, str):
            raise TypeError("no text content")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        return HawkError("llm", f"endpoint answered JSON that is not a chat completion ({exc}): {_short(body)!r}")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return ChatReply(text, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by `retry-after-ms` / `Retry-After` (seconds or an HTTP date); None when absent or bad."""
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        return json.dumps(body)[:200]
    return str(getattr(exc, "message", exc))


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
