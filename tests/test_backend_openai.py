"""The OpenAI-compatible backend, against a real llama.cpp server behind a fault-injecting proxy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drp_bench.backends.base import ChatRequest, SamplingParams
from drp_bench.backends.openai_compat import (
    OpenAIBackend,
    cached_prompt_tokens,
    normalize_base_url,
)
from drp_bench.backends.registry import BACKENDS, create_backend
from tests.conftest import require
from tests.servers import FaultProxy, LlamaServer, free_port

SHORT = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=8, seed=11)


def req(text: str, sampling: SamplingParams = SHORT) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), sampling=sampling)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.backends.bundled import bundled_gguf_path

    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with LlamaServer(bundled_gguf_path(), n_ctx=2048, log_path=log) as server:
        yield server


# ---- no server needed -------------------------------------------------------------------------


def test_unknown_backend_kind_is_a_value_error_listing_known_kinds() -> None:
    with pytest.raises(
        ValueError, match="unknown backend kind 'tgi'; known kinds: llamacpp, openai"
    ):
        create_backend("tgi")
    assert set(BACKENDS) == {"llamacpp", "openai", "vllm"}


def test_registry_builds_openai_backend_with_its_identity() -> None:
    backend = create_backend("openai", base_url="http://127.0.0.1:9/", model="m", revision="abc")
    try:
        assert isinstance(backend, OpenAIBackend)
        assert backend.identity == {
            "backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
            "revision": "abc", "reasoning": False,
        }  # fmt: skip
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("https://example.org/api/openai/v1", "https://example.org/api/openai/v1"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


def test_base_url_without_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="http://host:port/v1"):
        normalize_base_url("localhost:8000")


def test_endpoint_not_listening_gives_failed_results_quickly() -> None:
    backend = OpenAIBackend(
        f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=1, timeout_s=2
    )
    start = time.monotonic()
    results = backend.chat([req("a"), req("b"), req("c")])
    elapsed = time.monotonic() - start
    backend.close()
    assert len(results) == 3
    assert all(not r.ok and r.text == "" and "Connection" in r.error for r in results)
    assert elapsed < 10


def _completion(**extra: object):
    """A chat completion as the ``openai`` client parses it from a server's JSON."""
    from openai.types.chat import ChatCompletion

    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"},
            }
        ],
        **extra,
    }
    return ChatCompletion.model_validate(body)


def test_cached_tokens_are_read_from_the_usage_block() -> None:
    """vLLM (--enable-prefix-caching) and OpenAI report them as prompt_tokens_details."""
    usage = {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123}
    reported = _completion(usage={**usage, "prompt_tokens_details": {"cached_tokens": 96}})
    assert cached_prompt_tokens(reported) == 96
    assert cached_prompt_tokens(_completion(usage=usage)) is None  # not reported
    no_details = {**usage, "prompt_tokens_details": {"cached_tokens": None}}
    assert cached_prompt_tokens(_completion(usage=no_details)) is None
    assert cached_prompt_tokens(_completion()) is None


def test_cached_tokens_fall_back_to_the_llama_cpp_server_timings() -> None:
    usage = {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123}
    timings = {"cache_n": 80, "prompt_n": 40, "predicted_n": 3}
    assert cached_prompt_tokens(_completion(usage=usage, timings=timings)) == 80


# ---- against a real llama.cpp server --------------------------------------------------------


@pytest.mark.slow
def test_batch_through_real_server_returns_text_and_token_counts(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(llama_server.base_url, model="smollm2", max_concurrency=2)
    seen: list[int] = []
    prompts = ["Name a colour.", "Say hello.", "Count to three."]
    results = backend.chat([req(p) for p in prompts], on_result=lambda i, r: seen.append(i))
    backend.close()
    assert sorted(seen) == [0, 1, 2]
    for r in results:
        assert r.ok, r.error
        assert r.text and r.prompt_tokens > 0 and 0 < r.completion_tokens <= 8
        assert r.finish_reason in ("stop", "length") and r.latency_s > 0
        assert r.cached_prompt_tokens is None  # llama-cpp-python's server does not report it


@pytest.mark.slow
def test_sampling_parameters_are_sent_with_each_request(llama_server: LlamaServer) -> None:
    sampling = SamplingParams(temperature=0.7, top_p=0.8, max_tokens=5, seed=1234)
    with FaultProxy(llama_server.root_url) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", extra_body={"top_k": 20})
        (result,) = backend.chat([req("Hi", sampling)])
        backend.close()
    assert result.ok, result.error
    body = json.loads(proxy.bodies[0])
    sent = {k: body[k] for k in ("model", "temperature", "top_p", "max_tokens", "seed", "top_k")}
    assert sent == {
        "model": "smollm2", "temperature": 0.7, "top_p": 0.8, "max_tokens": 5, "seed": 1234,
        "top_k": 20,
    }  # fmt: skip
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["503", "drop"])
def test_injected_failures_are_retried_until_the_call_succeeds(
    llama_server: LlamaServer, mode: str
) -> None:
    with FaultProxy(llama_server.root_url, fail_first=2, mode=mode) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", max_retries=3, timeout_s=60)
        (result,) = backend.chat([req("Say yes.")])
        backend.close()
    assert result.ok, result.error
    assert result.text and result.completion_tokens > 0
    assert (proxy.requests_seen, proxy.failures_injected) == (3, 2)


@pytest.mark.slow
def test_request_that_keeps_failing_is_recorded_while_others_succeed(
    llama_server: LlamaServer,
) -> None:
    with FaultProxy(llama_server.root_url, fail_when=lambda body: b"POISON" in body) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", max_retries=2, max_concurrency=3)
        results = backend.chat([req("Say one."), req("POISON"), req("Say two.")])
        backend.close()
    assert [r.ok for r in results] == [True, False, True]
    assert "503" in results[1].error and results[1].text == ""
    assert proxy.failures_injected == 3  # the first try and two retries


def _with_separated_reasoning(body: dict) -> dict:
    """Imitate ``vllm serve --reasoning-parser``: reasoning in its own message field."""
    body["choices"][0]["message"]["reasoning_content"] = "  The user wants brevity.  "
    return body


def _with_think_tags(body: dict) -> dict:
    """Imitate a reasoning model served without a reasoning parser."""
    message = body["choices"][0]["message"]
    message["content"] = "weigh options</think>\n\n" + message["content"]
    return body


@pytest.mark.slow
def test_reasoning_separated_by_the_server_is_taken_as_is(llama_server: LlamaServer) -> None:
    with FaultProxy(llama_server.root_url, rewrite=_with_separated_reasoning) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", reasoning=True)
        (result,) = backend.chat([req("Say yes.")])
        backend.close()
    assert result.ok and result.text
    assert result.reasoning == "The user wants brevity."
    assert "</think>" not in result.text


@pytest.mark.slow
def test_think_tags_in_content_are_split_off(llama_server: LlamaServer) -> None:
    with FaultProxy(llama_server.root_url, rewrite=_with_think_tags) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", reasoning=True)
        (result,) = backend.chat([req("Say yes.")])
        backend.close()
    assert result.ok and result.reasoning == "weigh options"
    assert result.text and "</think>" not in result.text


def _all_reasoning(body: dict) -> dict:
    """Imitate vLLM's ``deepseek_r1`` parser on an output without ``</think>``: all of it is
    reasoning, no content."""
    message = body["choices"][0]["message"]
    message["reasoning_content"], message["content"] = message["content"], None
    return body


@pytest.mark.slow
def test_reasoning_cut_off_at_max_tokens_keeps_the_whole_text(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(llama_server.base_url, model="smollm2", reasoning=True)
    (raw,) = backend.chat([req("Tell me a long story about a dragon.")])  # no </think> in it
    backend.close()
    with FaultProxy(llama_server.root_url, rewrite=_all_reasoning) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2", reasoning=True)
        (parsed,) = backend.chat([req("Tell me a long story about a dragon.")])
        backend.close()
    assert raw.ok and raw.finish_reason == "length" and "</think>" not in raw.text
    assert raw.text and raw.reasoning is None and raw.reasoning_truncated
    # the server-split output reads the same: the reasoning is the answer, flagged
    assert (parsed.text, parsed.reasoning, parsed.reasoning_truncated) == (raw.text, None, True)


def test_server_log_is_kept_for_debugging(tmp_path: Path) -> None:
    """LlamaServer reports a dead server with its log path instead of waiting for the timeout."""
    server = LlamaServer(tmp_path / "missing.gguf", log_path=tmp_path / "log.txt")
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code"):
        server.start()
    assert time.monotonic() - start < 60
    assert (tmp_path / "log.txt").exists()
