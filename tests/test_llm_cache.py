"""ResponseCache: reruns are served locally, the key ignores the endpoint, errors are never cached."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hawk_tvm.config import LLMConfig
from hawk_tvm.errors import HawkError
from hawk_tvm.llm.cache import ResponseCache, default_cache_path
from hawk_tvm.llm.client import ChatClient, ChatReply

try:
    from llm_server import ScriptedLLMServer, http_error, reply, serve
except ImportError:  # tests/ imported as a package
    from tests.llm_server import ScriptedLLMServer, http_error, reply, serve

MESSAGES = [{"role": "user", "content": "tile this matmul"}]


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with serve() as srv:
        yield srv


def cached_client(url: str, path: Path, **config: object) -> ChatClient:
    settings = {"model": "m", "base_url": url, "timeout_s": 2.0, "max_retries": 0, **config}
    return ChatClient(LLMConfig(**settings), cache=ResponseCache(path))


def test_second_identical_request_does_not_reach_the_server(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply("first answer", 40, 10), reply("a different answer"))
    client = cached_client(server.base_url, tmp_path / "c.db")
    one = client.chat(MESSAGES)
    two = client.chat(MESSAGES)
    assert server.count == 1
    assert isinstance(two, ChatReply) and two.cached and not one.cached
    assert two.text == one.text == "first answer"
    assert client.usage.cache_hits == 1 and client.usage.prompt_tokens == 40 and client.usage.cached_tokens == 50


def test_cache_survives_a_new_process_view(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(reply("kept"))
    cached_client(server.base_url, tmp_path / "c.db").chat(MESSAGES)
    again = cached_client(server.base_url, tmp_path / "c.db").chat(MESSAGES)
    assert isinstance(again, ChatReply) and again.text == "kept" and again.cached and server.count == 1


def test_key_ignores_the_endpoint(tmp_path: Path) -> None:
    with serve() as first, serve() as second:
        first.push(reply("from first"))
        cached_client(first.base_url, tmp_path / "c.db", api_key="k1").chat(MESSAGES)
        result = cached_client(second.base_url, tmp_path / "c.db", api_key="k2").chat(MESSAGES)
        assert isinstance(result, ChatReply) and result.text == "from first" and second.count == 0


def test_key_covers_model_messages_and_sampling(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(*(reply(f"answer {i}") for i in range(4)))
    path = tmp_path / "c.db"
    cached_client(server.base_url, path).chat(MESSAGES)
    cached_client(server.base_url, path, temperature=0.9).chat(MESSAGES)
    cached_client(server.base_url, path, model="other").chat(MESSAGES)
    cached_client(server.base_url, path).chat([{"role": "user", "content": "tile this conv"}])
    assert server.count == 4
    key = ResponseCache.key
    assert key("m", MESSAGES, {"a": 1, "b": 2}) == key("m", MESSAGES, {"b": 2, "a": 1})
    assert key("m", MESSAGES, {"temperature": 0.2}) != key("m", MESSAGES, {"temperature": 0.3})


def test_errors_are_never_cached(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.push(http_error(500), reply("recovered"))
    client = cached_client(server.base_url, tmp_path / "c.db")
    assert isinstance(client.chat(MESSAGES), HawkError)
    result = client.chat(MESSAGES)
    assert isinstance(result, ChatReply) and result.text == "recovered" and not result.cached
    assert server.count == 2 and len(client.cache) == 1


def test_wal_mode(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db")
    cache.put("k", ChatReply("t"), "m")
    cache.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database" * 100)
    cache = ResponseCache(path)
    assert cache.enabled
    cache.put("k", ChatReply("t", 1, 2), "m")
    assert cache.get("k") == ChatReply("t", 1, 2, cached=True)
    assert list(tmp_path.glob("c.db.corrupt-*"))


def test_unusable_location_disables_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = ResponseCache(blocker / "sub" / "c.db")
    assert not cache.enabled
    cache.put("k", ChatReply("t"), "m")
    assert cache.get("k") is None and len(cache) == 0


def test_default_path_is_under_hawk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAWK_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "llm_cache.db"
    assert ResponseCache().path == tmp_path / "llm_cache.db"
