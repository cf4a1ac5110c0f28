"""Persistent, content-addressed cache of text embeddings (SQLite; vectors as float32 bytes).

The key of a vector is the SHA-256 of the canonical JSON of the embedder's identity (model name,
a fingerprint of the model's files, the prompt it encodes with, the library version) and the
text, so a sweep embeds each review once and a changed model or prompt simply misses. Vectors
are stored as little-endian float32 bytes, never pickled. WAL mode and a busy timeout let
several processes on one machine share the file, as with the call cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from drp_bench.storage.sqlite_store import SqliteStore, in_transaction

KEY_VERSION = 1  # bump when the key layout changes: old entries then simply miss
SCHEMA_VERSION = "1"
FILE_NAME = "embeddings.sqlite"
_DTYPE = np.dtype("<f4")
_WHOLE_FILE_LIMIT = 8 << 20  # files up to 8 MiB are hashed whole
_EDGE = 1 << 20  # of larger files (weights): size + first and last MiB

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS embeddings (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', '" + SCHEMA_VERSION + "')",
)


def embedding_cache_path(call_cache_path: str | os.PathLike[str] | None) -> Path | None:
    """``embeddings.sqlite`` next to the call cache; None (no call cache) disables it."""
    return None if call_cache_path is None else Path(call_cache_path).parent / FILE_NAME


def _file_digest(path: Path) -> str:
    """SHA-256 of a small file's bytes; of a large one's size, first and last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= _WHOLE_FILE_LIMIT:
            digest.update(fh.read())
        else:
            digest.update(str(size).encode())
            digest.update(fh.read(_EDGE))
            fh.seek(size - _EDGE)
            digest.update(fh.read(_EDGE))
    return digest.hexdigest()


def folder_fingerprint(folder: str | os.PathLike[str]) -> str:
    """SHA-256 over every file of a model folder (relative path, size, :func:`_file_digest`);
    hidden files and folders are skipped. Configs, tokenizer and prompts are hashed whole,
    weights by size and edges, so a changed model file changes the fingerprint."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"embedding model folder not found: {root}")
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        entry = f"{rel.as_posix()}\t{path.stat().st_size}\t{_file_digest(path)}\n"
        digest.update(entry.encode("utf-8"))
    return digest.hexdigest()


def embedding_key(identity: Mapping[str, Any], text: str) -> str:
    """SHA-256 of the canonical JSON of the key version, the embedder identity and the text."""
    payload = {"v": KEY_VERSION, "identity": dict(identity), "text": text}
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _to_blob(vector: np.ndarray) -> bytes:
    arr = np.asarray(vector)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"expected a finite 1-d vector, found shape {arr.shape}")
    return arr.astype(_DTYPE).tobytes()


class EmbeddingCache(SqliteStore):
    """SQLite store of vectors keyed by :func:`embedding_key`; one connection per process."""

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    KIND = "embedding cache"

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors (float32) of the distinct ``keys`` found."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            conn = self._connect()
            select = "SELECT key, dim, vector FROM embeddings WHERE key IN"
            for key, dim, blob in self._select_keys(conn, select, unique):
                found[key] = self._vector(key, dim, blob)
        return found

    def _vector(self, key: str, dim: int, blob: bytes) -> np.ndarray:
        if len(blob) != dim * _DTYPE.itemsize:
            raise ValueError(
                f"{self.path}: unreadable entry {key}: {len(blob)} bytes for {dim} float32"
            )
        return np.frombuffer(blob, dtype=_DTYPE).copy()

    def put_many(self, items: Iterable[tuple[str, np.ndarray]], model: str = "") -> int:
        """Store ``(key, vector)`` pairs (the first vector stored for a key stays); returns how
        many were new."""
        rows = [(k, model, len(np.ravel(v)), _to_blob(v), time.time()) for k, v in items]
        if not rows:
            return 0
        with self._lock:
            conn = self._connect()
            before = conn.total_changes
            self._retry_locked(
                lambda: in_transaction(
                    conn,
                    lambda: conn.executemany(
                        "INSERT INTO embeddings(key, model, dim, vector, created_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                        rows,
                    ),
                )
            )
            return conn.total_changes - before

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
