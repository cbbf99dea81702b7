"""A real OpenAI-compatible chat-completions server on 127.0.0.1 with scripted behaviours, for the LLM tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass
class Behaviour:
    """What the server does for one request: answer `text` with `status`, or send `body` raw, after `delay` s."""

    text: str = ""
    status: int = 200
    body: str | None = None  # raw body (non-JSON garbage); overrides text
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 100
    completion_tokens: int = 50


def reply(text: str, prompt_tokens: int = 100, completion_tokens: int = 50) -> Behaviour:
    """A normal completion."""
    return Behaviour(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def http_error(status: int, retry_after: str | None = None) -> Behaviour:
    """An HTTP error with an OpenAI-style error body (and Retry-After when given)."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = json.dumps({"error": {"message": f"scripted error {status}", "type": "server_error"}})
    return Behaviour(status=status, body=body, headers=headers)


def garbage(body: str = "<html>not json</html>", status: int = 200) -> Behaviour:
    """A body that is not JSON."""
    return Behaviour(status=status, body=body, headers={"Content-Type": "text/html"})


def slow(seconds: float, text: str = "too late") -> Behaviour:
    """A completion that arrives after `seconds` (longer than the client's timeout in the tests)."""
    return Behaviour(text=text, delay=seconds)


class ScriptedLLMServer:
    """ThreadingHTTPServer serving scripted behaviours in order (then `default`), recording every request body."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or http_error(503)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this server (``http://127.0.0.1:PORT/v1``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        """Requests received so far."""
        with self._lock:
            return len(self.requests)

    def push(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests."""
        with self._lock:
            self._queue.extend(behaviours)

    def start(self) -> ScriptedLLMServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, body: dict[str, Any], path: str) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            return self._queue.popleft() if self._queue else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] not in PATHS:
                    self._send(404, json.dumps({"error": {"message": "not found"}}), {})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                behaviour = server._next(body, self.path)
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                if behaviour.body is not None:
                    self._send(behaviour.status, behaviour.body, behaviour.headers)
                    return
                completion = {
                    "id": f"chatcmpl-{server.count}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": behaviour.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": behaviour.prompt_tokens,
                        "completion_tokens": behaviour.completion_tokens,
                        "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
                    },
                }
                self._send(behaviour.status, json.dumps(completion), behaviour.headers)

            def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    if not any(k.lower() == "content-type" for k in headers):
                        self.send_header("Content-Type", "application/json")
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler


@contextmanager
def serve(default: Behaviour | None = None) -> Iterator[ScriptedLLMServer]:
    """A started server, stopped on exit (use it from a pytest fixture)."""
    server = ScriptedLLMServer(default).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
