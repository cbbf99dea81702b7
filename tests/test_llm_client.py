"""ChatClient against a real scripted HTTP server: retries, Retry-After, errors as data, token accounting."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest

from hawk_tvm.config import LLMConfig
from hawk_tvm.errors import HawkError
from hawk_tvm.llm.client import BACKOFF_CAP_S, ChatClient, ChatReply, Usage, parse_completion, retry_after_seconds

try:
    from llm_server import ScriptedLLMServer, closed_port_url, garbage, http_error, reply, serve, slow
except ImportError:  # tests/ imported as a package
    from tests.llm_server import ScriptedLLMServer, closed_port_url, garbage, http_error, reply, serve, slow

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "schedule it"}]


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with serve() as srv:
        yield srv


def client_for(url: str, **config: object) -> ChatClient:
    settings = {"model": "test-model", "base_url": url, "timeout_s": 2.0, "max_retries": 2, **config}
    return ChatClient(LLMConfig(**settings), backoff_base_s=0.01)


def test_reply_and_request_shape(server: ScriptedLLMServer) -> None:
    server.push(reply("hello", prompt_tokens=11, completion_tokens=7))
    client = client_for(server.base_url, temperature=0.3, max_tokens=99)
    result = client.chat(MESSAGES)
    assert result == ChatReply("hello", 11, 7, cached=False)
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["messages"] == MESSAGES
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 99
    assert server.paths == ["/v1/chat/completions"]


def test_429_then_success_honours_retry_after(server: ScriptedLLMServer) -> None:
    server.push(http_error(429, retry_after="0"), reply("second time"))
    client = client_for(server.base_url)
    start = time.monotonic()
    result = client.chat(MESSAGES)
    assert isinstance(result, ChatReply) and result.text == "second time"
    assert server.count == 2 and client.usage.retries == 1 and client.usage.failures == 0
    assert time.monotonic() - start < 1.5


def test_retry_after_value_is_the_wait(server: ScriptedLLMServer) -> None:
    waits: list[float] = []
    server.push(http_error(503, retry_after="7"), http_error(429, retry_after="9999"), reply("ok"))
    client = ChatClient(LLMConfig(model="m", base_url=server.base_url, max_retries=3), sleep=waits.append)
    assert isinstance(client.chat(MESSAGES), ChatReply)
    assert waits == [7.0, BACKOFF_CAP_S]


def test_500s_exhaust_the_retries_and_come_back_as_data(server: ScriptedLLMServer) -> None:
    server.push(http_error(500), http_error(502), http_error(500), reply("never reached"))
    client = client_for(server.base_url, max_retries=2)
    result = client.chat(MESSAGES)
    assert isinstance(result, HawkError) and result.kind == "llm"
    assert result.context["status"] == 500 and result.context["attempts"] == 3
    assert server.count == 3 and client.usage.failures == 1 and client.usage.requests == 3


def test_client_errors_are_not_retried(server: ScriptedLLMServer) -> None:
    server.push(http_error(401))
    result = client_for(server.base_url).chat(MESSAGES)
    assert isinstance(result, HawkError) and result.context["status"] == 401 and server.count == 1


def test_non_json_body_is_an_error_not_an_exception(server: ScriptedLLMServer) -> None:
    server.push(garbage("<html>gateway</html>"))
    result = client_for(server.base_url).chat(MESSAGES)
    assert isinstance(result, HawkError) and result.kind == "llm" and "not JSON" in result.message
    assert server.count == 1


def test_json_that_is_not_a_completion(server: ScriptedLLMServer) -> None:
    server.push(garbage('{"choices": []}', status=200), garbage('{"choices": [{"message": {"content": null}}]}'))
    client = client_for(server.base_url)
    for _ in range(2):
        result = client.chat(MESSAGES)
        assert isinstance(result, HawkError) and "not a chat completion" in result.message


def test_timeout_retries_then_gives_up(server: ScriptedLLMServer) -> None:
    server.push(slow(1.0), slow(1.0))
    client = client_for(server.base_url, timeout_s=0.3, max_retries=1)
    start = time.monotonic()
    result = client.chat(MESSAGES)
    assert isinstance(result, HawkError) and "no answer within" in result.message
    assert result.context["attempts"] == 2 and server.count == 2
    assert time.monotonic() - start < 2.0


def test_unreachable_endpoint() -> None:
    client = client_for(closed_port_url(), max_retries=1)
    result = client.chat(MESSAGES)
    assert isinstance(result, HawkError) and "unreachable" in result.message
    assert client.usage.requests == 2


def test_no_model_is_an_error() -> None:
    result = ChatClient(LLMConfig(model=None)).chat(MESSAGES)
    assert isinstance(result, HawkError) and result.kind == "llm"


def test_usage_accumulates_and_prices(server: ScriptedLLMServer) -> None:
    server.push(reply("a", 1000, 200), reply("b", 3000, 800))
    config = LLMConfig(model="m", base_url=server.base_url, prompt_price_per_mtok=2.0, completion_price_per_mtok=10.0)
    client = ChatClient(config)
    client.chat(MESSAGES)
    client.chat(MESSAGES)
    usage = client.usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, 4000, 1000, 5000)
    assert usage.cost(2.0, 10.0) == pytest.approx(0.018)
    line = usage.summary(config)
    assert "2 calls" in line and "4000 prompt" in line and "$0.0180" in line
    assert usage.to_dict()["total_tokens"] == 5000


def test_backoff_is_bounded_exponential_with_jitter() -> None:
    client = ChatClient(LLMConfig(model="m"), backoff_base_s=1.0)
    first = [client.backoff(0, None) for _ in range(20)]
    assert all(0.5 <= w <= 1.0 for w in first) and len(set(first)) > 1
    assert all(2.0 <= client.backoff(2, None) <= 4.0 for _ in range(20))
    assert client.backoff(30, None) <= BACKOFF_CAP_S
    assert client.backoff(0, 3.0) == 3.0


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_seconds({"Retry-After": later}) <= 30


def test_parse_completion_without_usage() -> None:
    assert parse_completion('{"choices": [{"message": {"content": "x"}}]}') == ChatReply("x")
    assert isinstance(parse_completion("[1, 2]"), HawkError)
    assert Usage().total_tokens == 0
