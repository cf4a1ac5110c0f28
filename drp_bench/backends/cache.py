"""Persistent, content-addressed cache of model calls (SQLite), and a Backend wrapper using it.

The key of a call is the SHA-256 of the canonical JSON of the backend identity, the sampling
parameters (a reasoning budget and a grammar among them, when set), the messages and, for a
raw completion (``prompts.mode: reference_exact``), its prompt text, so any change in model,
file hash, settings, sampling, prompt or prompt mode is a different entry. Only successful
results are stored; results are JSON, never pickles.

The database runs in WAL mode with a busy timeout, so several processes on one machine (sweep
jobs, joblib workers) can read and write the same file at once. WAL needs shared memory: on a
network file system shared by several machines, give each machine its own cache file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from drp_bench.backends.base import (
    Backend,
    BudgetCalls,
    ChatRequest,
    ChatResult,
    ProgressCallback,
    SamplingParams,
)
from drp_bench.backends.reasoning import split_separated
from drp_bench.storage.sqlite_store import SqliteStore, in_transaction

KEY_VERSION = 1  # bump when the key layout changes: old entries then simply miss
SCHEMA_VERSION = "1"
_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(ChatResult) if f.name != "cached")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS calls (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS calls_model ON calls(model)",
    # which stage(s) made a call: per model and stage statistics (`drp-bench plan`); a table of
    # its own, so files written before it simply gain it
    """CREATE TABLE IF NOT EXISTS call_stages (
        key TEXT NOT NULL,
        stage TEXT NOT NULL,
        PRIMARY KEY (key, stage)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', '" + SCHEMA_VERSION + "')",
)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same value always gives the same string."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


# Sampling fields left out of the key while unset (None), so the keys of calls made before
# the field existed stay the same: a reasoning budget or a grammar is in the key only when
# there is one.
_KEY_WHEN_SET = frozenset({"reasoning_budget", "grammar"})


def sampling_key(sampling: SamplingParams) -> dict[str, Any]:
    """Every field of the sampling parameters, each as its declared type (so ``0`` and ``0.0``
    give one key); a field added to :class:`SamplingParams` is part of the key at once
    (those of ``_KEY_WHEN_SET`` only when set)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(sampling):
        value = getattr(sampling, f.name)
        if value is None and f.name in _KEY_WHEN_SET:
            continue
        kind = {"float": float, "int": int, "bool": bool, "str": str}.get(str(f.type))
        out[f.name] = kind(value) if kind is not None and value is not None else value
    return out


def model_label(identity: dict[str, Any]) -> str:
    """Short name of the model behind an identity, for per-model statistics."""
    return str(identity.get("model") or identity.get("backend") or "unknown")


def result_to_json(result: ChatResult) -> str:
    """The stored form; ``budget`` only when the call had one (entries without stay as
    they were)."""
    data = {name: getattr(result, name) for name in _RESULT_FIELDS}
    budget = data.pop("budget")
    if budget is not None:
        data["budget"] = budget.to_json()
    return canonical_json(data)


def result_from_json(text: str) -> ChatResult:
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError(f"expected a JSON object with a string 'text', found {text[:80]!r}")
    if "reasoning_truncated" not in data:
        data = _upgrade_truncated(data)
    if data.get("budget") is not None:
        data = {**data, "budget": BudgetCalls.from_json(data["budget"])}
    return ChatResult(**{k: v for k, v in data.items() if k in _RESULT_FIELDS}, cached=True)


def _upgrade_truncated(data: dict[str, Any]) -> dict[str, Any]:
    """An entry stored before ``reasoning_truncated``: a reasoning model's output cut off while
    thinking was stored as reasoning with an empty answer. Such an entry (empty text, reasoning,
    finish reason ``length``) reads as today's split makes it: the text is the answer, flagged
    (without a leading ``<think>``, which the old split dropped); any other reads unflagged."""
    split = split_separated(data["text"], data.get("reasoning") or "", data.get("finish_reason"))
    if not split.truncated:
        return {**data, "reasoning_truncated": False}
    return {**data, "text": split.answer, "reasoning": None, "reasoning_truncated": True}


@dataclasses.dataclass(frozen=True)
class CompletionStats:
    """Stored calls of one model and stage: how many, their mean completion tokens and the
    mean length of their answers in characters (without reasoning)."""

    calls: int
    mean_completion_tokens: float
    mean_answer_chars: float


class CallCache(SqliteStore):
    """SQLite store of successful ``ChatResult``s keyed by :meth:`key`.

    One connection per process, opened on first use (so an instance survives ``fork``);
    hit/miss counters are kept in the database so ``stats()`` covers every process and run.
    """

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    KIND = "call cache"
    PRAGMAS = ("PRAGMA synchronous = NORMAL",)

    # ---- keys -----------------------------------------------------------------------------
    @staticmethod
    def key(identity: dict[str, Any], request: ChatRequest) -> str:
        payload = {
            "v": KEY_VERSION,
            "identity": identity,
            "sampling": sampling_key(request.sampling),
            "messages": [dict(m) for m in request.messages],
        }
        if request.prompt is not None:  # a raw completion: chat calls' keys stay as they were
            payload["prompt"] = request.prompt
        try:
            text = canonical_json(payload)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"cache key: backend identity and messages must be plain JSON values ({exc});"
                f" identity was {identity!r}"
            ) from exc
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reads and writes -----------------------------------------------------------------
    def get(self, key: str) -> ChatResult | None:
        """The stored result for ``key`` (with ``cached=True``), or None; counts a hit or miss."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str], count: bool = True) -> dict[str, ChatResult]:
        """Stored results for the distinct ``keys`` found; counts each distinct key once as a
        hit or a miss (``count=False``: a look that is not a use, e.g. ``drp-bench plan``)."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, ChatResult] = {}
        with self._lock:
            conn = self._connect()
            rows = self._select_keys(conn, "SELECT key, result FROM calls WHERE key IN", unique)
            for key, text in rows:
                try:
                    found[key] = result_from_json(text)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{self.path}: unreadable entry {key}: {exc}") from exc
            if count:
                self._count(conn, hits=len(found), misses=len(unique) - len(found))
        return found

    def put(self, key: str, result: ChatResult, model: str = "", stage: str | None = None) -> bool:
        """Store a successful result (the first one stored for a key stays) and the stage that
        made it; True if stored."""
        if not result.ok:
            return False
        text = result_to_json(result)
        with self._lock:
            conn = self._connect()
            cur = conn.execute(
                "INSERT INTO calls(key, model, result, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(key) DO NOTHING",
                (key, model, text, time.time()),
            )
            if stage:
                conn.execute(
                    "INSERT OR IGNORE INTO call_stages(key, stage) VALUES (?, ?)", (key, stage)
                )
        return cur.rowcount > 0

    def tag_stages(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record that the stored calls ``key`` were (also) made by ``stage``."""
        rows = list(dict.fromkeys(pairs))
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            self._retry_locked(
                lambda: in_transaction(
                    conn,
                    lambda: conn.executemany(
                        "INSERT OR IGNORE INTO call_stages(key, stage) VALUES (?, ?)", rows
                    ),
                )
            )

    def completion_stats(self, model: str, stage: str) -> CompletionStats | None:
        """What the stored calls of ``model`` (its :func:`model_label`) made by ``stage``
        produced on average; None when there are none."""
        with self._lock:
            row = (
                self._connect()
                .execute(
                    "SELECT COUNT(*), AVG(json_extract(c.result, '$.completion_tokens')),"
                    " AVG(length(json_extract(c.result, '$.text')))"
                    " FROM call_stages s JOIN calls c ON c.key = s.key"
                    " WHERE c.model = ? AND s.stage = ?",
                    (model, stage),
                )
                .fetchone()
            )
        if not row or not row[0]:
            return None
        return CompletionStats(int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0))

    @staticmethod
    def _count(conn: sqlite3.Connection, hits: int, misses: int) -> None:
        if hits or misses:
            conn.execute(
                "INSERT INTO counters(name, value) VALUES ('hits', ?), ('misses', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (hits, misses),
            )

    def clear(self) -> None:
        """Delete every stored call and reset the counters."""
        with self._lock:
            conn = self._connect()
            with conn:
                conn.execute("DELETE FROM calls")
                conn.execute("DELETE FROM counters")
            conn.execute("VACUUM")

    def stats(self) -> dict[str, Any]:
        """Entries, bytes on disk (database and WAL), hits, misses and entries per model."""
        with self._lock:
            conn = self._connect()
            entries = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
            per_model = dict(
                conn.execute("SELECT model, COUNT(*) FROM calls GROUP BY model ORDER BY model")
            )
        size = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.exists()
        )
        return {
            "path": str(self.path),
            "entries": entries,
            "size_bytes": size,
            "hits": counters.get("hits", 0),
            "misses": counters.get("misses", 0),
            "per_model": per_model,
        }


class CachedBackend:
    """A Backend that answers from a ``CallCache`` and sends only the misses to ``inner``.

    All misses go to ``inner.chat`` in one batch (batching engines get full batches); identical
    requests within a batch are sent once. Each new result is written to the cache as soon as
    ``inner`` reports it, so a killed run keeps everything already computed. ``close()`` closes
    ``inner``; the cache belongs to the caller.
    """

    def __init__(self, inner: Backend, cache: CallCache) -> None:
        self.inner = inner
        self.cache = cache
        self.identity: dict[str, Any] = inner.identity
        self._model = model_label(inner.identity)

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        keys = [CallCache.key(self.identity, r) for r in requests]
        found = self.cache.get_many(keys)
        hits = zip(keys, requests, strict=True)
        self.cache.tag_stages((k, r.stage) for k, r in hits if k in found and r.stage)
        results: list[ChatResult | None] = [None] * len(requests)
        waiting: dict[str, list[int]] = {}  # missed key -> indices of the requests wanting it
        for i, key in enumerate(keys):
            if key in found:
                results[i] = dataclasses.replace(found[key])
                if on_result is not None:
                    on_result(i, results[i])  # type: ignore[arg-type]
            else:
                waiting.setdefault(key, []).append(i)
        if not waiting:
            return results  # type: ignore[return-value]

        miss_keys = list(waiting)
        delivered = [False] * len(miss_keys)

        def deliver(j: int, result: ChatResult) -> None:
            if delivered[j]:
                return
            delivered[j] = True
            stage = requests[waiting[miss_keys[j]][0]].stage
            self.cache.put(miss_keys[j], result, self._model, stage)
            for n, i in enumerate(waiting[miss_keys[j]]):
                results[i] = result if n == 0 else dataclasses.replace(result)
                if on_result is not None:
                    on_result(i, results[i])  # type: ignore[arg-type]

        returned = self.inner.chat([requests[waiting[k][0]] for k in miss_keys], on_result=deliver)
        if len(returned) != len(miss_keys):
            raise RuntimeError(
                f"{type(self.inner).__name__}.chat returned {len(returned)} results"
                f" for {len(miss_keys)} requests"
            )
        for j, result in enumerate(returned):  # in case inner skipped on_result for some
            deliver(j, result)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self.inner.close()
