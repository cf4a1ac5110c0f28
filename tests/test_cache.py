"""The persistent call cache and the CachedBackend wrapper."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import pytest

from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback, SamplingParams
from drp_bench.backends.cache import CachedBackend, CallCache, canonical_json

IDENTITY = {"backend": "test", "model": "m1", "sha256": "ab" * 32}


def req(text: str, **sampling: float) -> ChatRequest:
    return ChatRequest(
        messages=({"role": "user", "content": text},), sampling=SamplingParams(**sampling)
    )


def ok(text: str) -> ChatResult:
    return ChatResult(
        text=text, reasoning="why", prompt_tokens=7, completion_tokens=3,
        finish_reason="stop", latency_s=0.25,
    )  # fmt: skip


class CountingBackend:
    """A stand-in model for testing the code around the model: echoes, and records batches."""

    def __init__(self, identity: dict | None = None, fail_on: str | None = None) -> None:
        self.identity = identity or dict(IDENTITY)
        self.fail_on = fail_on
        self.batches: list[list[ChatRequest]] = []
        self.closed = False

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        self.batches.append(list(requests))
        out = []
        for i, r in enumerate(requests):
            content = r.messages[-1]["content"]
            if content == self.fail_on:
                res = ChatResult(text="", error="boom")
            else:
                res = ChatResult(
                    text=f"echo {content}", prompt_tokens=len(content), completion_tokens=2,
                    finish_reason="stop",
                )  # fmt: skip
            out.append(res)
            if on_result:
                on_result(i, res)
        return out

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def cache(tmp_path: Path):
    with CallCache(tmp_path / "calls.sqlite") as c:
        yield c


def test_identical_request_hits_and_returns_every_field(cache: CallCache) -> None:
    key = CallCache.key(IDENTITY, req("hello"))
    assert cache.get(key) is None
    assert cache.put(key, ok("hi"), model="m1")
    # A new, equal request object (not the same instance) maps to the same key.
    got = cache.get(CallCache.key(dict(IDENTITY), req("hello")))
    assert got == ChatResult(
        text="hi", reasoning="why", prompt_tokens=7, completion_tokens=3,
        finish_reason="stop", latency_s=0.25, cached=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("identity", "request_"),
    [
        ({**IDENTITY, "model": "m2"}, req("hello")),
        ({**IDENTITY, "sha256": "cd" * 32}, req("hello")),
        ({**IDENTITY, "n_ctx": 4096}, req("hello")),
        (IDENTITY, req("hello", temperature=0.7)),
        (IDENTITY, req("hello", top_p=0.5)),
        (IDENTITY, req("hello", max_tokens=16)),
        (IDENTITY, req("hello", seed=7)),
        (IDENTITY, req("hello!")),
        (
            IDENTITY,
            ChatRequest(
                messages=(
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hello"},
                )
            ),
        ),
    ],
)
def test_any_change_in_identity_sampling_or_messages_misses(
    cache: CallCache, identity: dict, request_: ChatRequest
) -> None:
    cache.put(CallCache.key(IDENTITY, req("hello")), ok("hi"))
    assert cache.get(CallCache.key(identity, request_)) is None


def test_key_ignores_int_versus_float_spelling_of_sampling() -> None:
    assert CallCache.key(IDENTITY, req("x", temperature=0)) == CallCache.key(
        IDENTITY, req("x", temperature=0.0)
    )


def test_key_layout_is_unchanged_so_existing_caches_still_hit() -> None:
    """The key as drp-bench 0.1.0 computed it, field by field (KEY_VERSION 1)."""
    import hashlib

    from drp_bench.backends.cache import KEY_VERSION, canonical_json

    payload = {
        "v": KEY_VERSION,
        "identity": IDENTITY,
        "sampling": {"temperature": 0.0, "top_p": 0.95, "max_tokens": 4096, "seed": 42},
        "messages": [{"role": "user", "content": "x"}],
    }
    expected = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    assert CallCache.key(IDENTITY, req("x")) == expected


def test_a_field_added_to_the_sampling_parameters_is_part_of_the_key() -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class WithMinP(SamplingParams):
        min_p: float = 0.0

    plain = CallCache.key(IDENTITY, req("x"))
    messages = req("x").messages
    assert CallCache.key(IDENTITY, ChatRequest(messages, WithMinP())) != plain
    assert CallCache.key(IDENTITY, ChatRequest(messages, WithMinP(min_p=0.1))) != CallCache.key(
        IDENTITY, ChatRequest(messages, WithMinP())
    )


def test_key_rejects_identity_that_is_not_json() -> None:
    with pytest.raises(TypeError, match="plain JSON"):
        CallCache.key({"backend": "x", "path": Path("/tmp")}, req("x"))


def test_only_successful_results_are_stored(cache: CallCache) -> None:
    key = CallCache.key(IDENTITY, req("fails"))
    assert not cache.put(key, ChatResult(text="", error="HTTP 503"))
    assert cache.get(key) is None
    assert cache.stats()["entries"] == 0


def test_first_stored_result_for_a_key_stays(cache: CallCache) -> None:
    key = CallCache.key(IDENTITY, req("x"))
    assert cache.put(key, ok("first"))
    assert not cache.put(key, ok("second"))
    assert cache.get(key).text == "first"


def test_entries_and_counters_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with CallCache(path) as c:
        c.put(CallCache.key(IDENTITY, req("a")), ok("A"), model="m1")
        c.get(CallCache.key(IDENTITY, req("a")))
        c.get(CallCache.key(IDENTITY, req("b")))
    with CallCache(path) as c:
        s = c.stats()
        assert (s["entries"], s["hits"], s["misses"]) == (1, 1, 1)
        assert c.get(CallCache.key(IDENTITY, req("a"))).text == "A"


def test_unreadable_entry_is_reported_with_file_and_key(cache: CallCache) -> None:
    key = CallCache.key(IDENTITY, req("a"))
    cache.put(key, ok("A"))
    cache._connect().execute("UPDATE calls SET result = '[1, 2]'")
    with pytest.raises(ValueError, match=rf"calls\.sqlite: unreadable entry {key}"):
        cache.get(key)


def _writer(path: str, worker: int, n_own: int, n_shared: int, barrier) -> None:
    cache = CallCache(path)
    cache.stats()  # open the database before the race starts
    barrier.wait()
    shared = [f"shared-{i}" for i in range(n_shared)]
    own = [f"w{worker}-{i}" for i in range(n_own)]
    for name in (shared + own) if worker == 0 else (own + shared[::-1]):
        key = CallCache.key(IDENTITY, req(name))
        cache.put(key, ok(name), model=f"model-{worker}")
        assert cache.get(key) is not None
    cache.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    n_own, n_shared = 300, 100
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, w, n_own, n_shared, barrier)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    with CallCache(path) as c:
        names = [f"w{w}-{i}" for w in (0, 1) for i in range(n_own)]
        names += [f"shared-{i}" for i in range(n_shared)]
        found = c.get_many(CallCache.key(IDENTITY, req(n)) for n in names)
        assert len(found) == len(names) == c.stats()["entries"]
        assert all(found[CallCache.key(IDENTITY, req(n))].text == n for n in names)
        s = c.stats()
        assert s["hits"] == 2 * (n_own + n_shared) + len(names)
        assert sum(s["per_model"].values()) == len(names)


def test_cached_backend_sends_only_misses_in_one_batch_and_dedupes(cache: CallCache) -> None:
    inner = CountingBackend()
    backend = CachedBackend(inner, cache)
    assert backend.identity == inner.identity

    first = backend.chat([req("a"), req("b"), req("a")])
    assert [r.text for r in first] == ["echo a", "echo b", "echo a"]
    assert not any(r.cached for r in first)
    assert [[m.messages[0]["content"] for m in b] for b in inner.batches] == [["a", "b"]]

    seen: list[tuple[int, str, bool]] = []
    second = backend.chat(
        [req("c"), req("a"), req("b"), req("d")],
        on_result=lambda i, r: seen.append((i, r.text, r.cached)),
    )
    assert [r.text for r in second] == ["echo c", "echo a", "echo b", "echo d"]
    assert [r.cached for r in second] == [False, True, True, False]
    assert [[m.messages[0]["content"] for m in b] for b in inner.batches[1:]] == [["c", "d"]]
    assert sorted(seen) == [
        (0, "echo c", False), (1, "echo a", True), (2, "echo b", True), (3, "echo d", False)
    ]  # fmt: skip

    third = backend.chat([req("d"), req("c")])
    assert all(r.cached for r in third) and len(inner.batches) == 2


def test_cached_backend_does_not_cache_failures(cache: CallCache) -> None:
    inner = CountingBackend(fail_on="bad")
    backend = CachedBackend(inner, cache)
    results = backend.chat([req("good"), req("bad")])
    assert results[0].ok and results[1].error == "boom"
    backend.chat([req("good"), req("bad")])
    assert [[m.messages[0]["content"] for m in b] for b in inner.batches] == [
        ["good", "bad"],
        ["bad"],
    ]


def test_cached_backend_keeps_results_finished_before_a_crash(cache: CallCache) -> None:
    class DiesAfterFirst(CountingBackend):
        def chat(self, requests, on_result=None):
            def forward(i, r):
                on_result(i, r)
                if i == 0:
                    raise KeyboardInterrupt  # the run is killed after the first call

            return super().chat(requests, on_result=forward)

    with pytest.raises(KeyboardInterrupt):
        CachedBackend(DiesAfterFirst(), cache).chat([req("one"), req("two")])
    inner = CountingBackend()
    results = CachedBackend(inner, cache).chat([req("one"), req("two")])
    assert [r.cached for r in results] == [True, False]
    assert [[m.messages[0]["content"] for m in b] for b in inner.batches] == [["two"]]


def test_stats_count_entries_hits_misses_and_models(cache: CallCache) -> None:
    CachedBackend(CountingBackend(), cache).chat([req("a"), req("b")])
    other = CountingBackend(identity={"backend": "test", "model": "m2"})
    CachedBackend(other, cache).chat([req("a"), req("a")])
    CachedBackend(CountingBackend(), cache).chat([req("a"), req("c")])
    s = cache.stats()
    assert s["entries"] == 4
    assert s["per_model"] == {"m1": 3, "m2": 1}
    assert (s["hits"], s["misses"]) == (1, 4)
    assert s["size_bytes"] > 0


def test_cached_backend_close_closes_inner_only(cache: CallCache) -> None:
    inner = CountingBackend()
    CachedBackend(inner, cache).close()
    assert inner.closed
    assert cache.stats()["entries"] == 0  # the cache is still usable


def _store_raw(cache: CallCache, key: str, result: dict) -> None:
    """An entry as an older drp-bench wrote it (the JSON of that version's ChatResult)."""
    cache._connect().execute(
        "INSERT INTO calls(key, model, result, created_at) VALUES (?, 'm1', ?, 0)",
        (key, canonical_json(result)),
    )


OLD_FIELDS = {"reasoning": None, "prompt_tokens": 7, "completion_tokens": 12, "latency_s": 0.5,
              "error": None}  # fmt: skip


def test_truncation_flag_round_trips(cache: CallCache) -> None:
    key = CallCache.key(IDENTITY, req("think"))
    cache.put(
        key, ChatResult(text="Let me think", finish_reason="length", reasoning_truncated=True)
    )
    got = cache.get(key)
    assert got is not None and got.reasoning_truncated and got.text == "Let me think"


def test_entries_stored_before_the_truncation_flag_still_load(cache: CallCache) -> None:
    plain, think, cut = (CallCache.key(IDENTITY, req(t)) for t in ("plain", "think", "cut"))
    _store_raw(cache, plain, {**OLD_FIELDS, "text": "Fine.", "finish_reason": "stop"})
    _store_raw(cache, think, {**OLD_FIELDS, "text": "Fine.", "reasoning": "hmm", "finish_reason": "stop"})  # fmt: skip  # noqa: E501
    # the old split of a reasoning model's output cut off before </think>: all reasoning
    _store_raw(cache, cut, {**OLD_FIELDS, "text": "", "reasoning": "Let me think", "finish_reason": "length"})  # fmt: skip  # noqa: E501
    got = cache.get_many([plain, think, cut])
    assert (got[plain].text, got[plain].reasoning_truncated) == ("Fine.", False)
    assert (got[think].reasoning, got[think].reasoning_truncated) == ("hmm", False)
    assert (got[cut].text, got[cut].reasoning, got[cut].reasoning_truncated) == (
        "Let me think", None, True,
    )  # fmt: skip


def test_get_many_reads_more_keys_than_one_select_holds(tmp_path: Path) -> None:
    from drp_bench.storage.sqlite_store import KEYS_PER_SELECT

    cache = CallCache(tmp_path / "many.sqlite")
    n = 2 * KEYS_PER_SELECT + 200
    for i in range(n):
        cache.put(f"k{i}", ok(str(i)))
    found = cache.get_many([f"k{i}" for i in range(n + 100)])
    assert len(found) == n and found[f"k{n - 1}"].text == str(n - 1)
