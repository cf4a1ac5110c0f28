"""The SQLite file behind the call cache and the embedding cache.

WAL mode with a busy timeout, so several processes on one machine (sweep jobs, joblib workers)
read and write one file at once; one connection per process, opened on first use (an instance
survives ``fork``); the schema is created once, in a transaction, and its version checked.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

#: Keys per ``SELECT ... WHERE key IN (...)``, well under SQLite's variable limit.
KEYS_PER_SELECT = 500


def in_transaction(conn: sqlite3.Connection, action: Callable[[], Any]) -> None:
    """Run ``action`` in an immediate transaction (rolled back if it raises)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        action()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteStore:
    """Base of a store: subclasses set ``SCHEMA`` (statements), ``SCHEMA_VERSION`` and ``KIND``
    (for messages); the schema must fill ``meta(name, value)`` with ``schema_version``."""

    SCHEMA: ClassVar[Sequence[str]] = ()
    SCHEMA_VERSION: ClassVar[str] = "1"
    KIND: ClassVar[str] = "store"
    PRAGMAS: ClassVar[Sequence[str]] = ()

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        for pragma in self.PRAGMAS:
            conn.execute(pragma)
        self._retry_locked(
            lambda: in_transaction(conn, lambda: [conn.execute(s) for s in self.SCHEMA])
        )
        version = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if version is None or version[0] != self.SCHEMA_VERSION:
            conn.close()
            raise ValueError(
                f"{self.path}: {self.KIND} schema version {version and version[0]!r},"
                f" expected {self.SCHEMA_VERSION!r}; use a new cache file"
            )
        self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    def _select_keys(conn: sqlite3.Connection, select: str, keys: Sequence[str]) -> list[Any]:
        """Rows of ``select`` (a query ending in ``WHERE key IN``) for ``keys``, queried in
        chunks of :data:`KEYS_PER_SELECT`."""
        rows: list[Any] = []
        for lo in range(0, len(keys), KEYS_PER_SELECT):
            part = list(keys[lo : lo + KEYS_PER_SELECT])
            marks = ",".join("?" * len(part))
            rows += conn.execute(f"{select} ({marks})", part).fetchall()
        return rows

    def _retry_locked(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying while another process holds a lock the busy handler skips."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
