"""Response cache: LLM replies in SQLite (WAL), keyed by model, prompt messages and sampling settings."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import hawk_home
from .types import ChatReply

log = logging.getLogger("hawk_tvm.llm")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """``$HAWK_HOME/llm_cache.db``."""
    return hawk_home() / "llm_cache.db"


class ResponseCache:
    """Replies by request key. Only successful replies are stored; a broken cache file is set aside, never fatal.

    The key leaves out the endpoint address and the API key, so the same request to another server that
    serves the same model is answered from the cache, and reruns are free and reproducible.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = self._open()

    @staticmethod
    def key(model: str, messages: Any, settings: Mapping[str, Any]) -> str:
        """sha256 over the canonical JSON of (schema version, model, messages, sampling settings)."""
        payload = {
            "v": SCHEMA_VERSION,
            "model": model,
            "messages": [{"role": str(m["role"]), "content": str(m["content"])} for m in messages],
            "settings": {k: settings[k] for k in sorted(settings)},
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def enabled(self) -> bool:
        """False when the cache file could not be opened (the client then works without it)."""
        return self._conn is not None

    def get(self, key: str) -> ChatReply | None:
        """The stored reply (marked cached), or None."""
        row = self._run("SELECT text, prompt_tokens, completion_tokens FROM responses WHERE key = ?", (key,))
        if not row:
            return None
        text, prompt_tokens, completion_tokens = row[0]
        return ChatReply(str(text), int(prompt_tokens), int(completion_tokens), cached=True)

    def put(self, key: str, reply: ChatReply, model: str) -> None:
        """Store a successful reply (the first one stored for a key wins, so reruns stay reproducible)."""
        self._run(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, reply.text, reply.prompt_tokens, reply.completion_tokens, time.time()),
            write=True,
        )

    def __len__(self) -> int:
        rows = self._run("SELECT COUNT(*) FROM responses", ())
        return int(rows[0][0]) if rows else 0

    def clear(self) -> None:
        """Drop every stored reply."""
        self._run("DELETE FROM responses", (), write=True)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open(self) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                conn.execute("SELECT COUNT(*) FROM responses").fetchone()
                return conn
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and self.path.exists():
                    aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                    log.warning("LLM cache %s is unreadable (%s); moving it to %s", self.path, exc, aside)
                    try:
                        self.path.replace(aside)
                        for suffix in ("-wal", "-shm"):
                            Path(str(self.path) + suffix).unlink(missing_ok=True)
                        continue
                    except OSError:
                        pass
                log.warning("LLM cache disabled: %s", exc)
                return None
            except OSError as exc:
                log.warning("LLM cache disabled: %s", exc)
                return None
        return None

    def _run(self, sql: str, params: tuple[Any, ...], write: bool = False) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None:
                return []
            try:
                if write:
                    with self._conn:  # one transaction
                        self._conn.execute("BEGIN IMMEDIATE")
                        self._conn.execute(sql, params)
                    return []
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                log.warning("LLM cache error (%s); continuing without it for this request", exc)
                return []
