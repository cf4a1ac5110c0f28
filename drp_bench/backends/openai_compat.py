"""Any OpenAI-compatible chat endpoint (vllm serve, llama.cpp server, hosted APIs).

Retries are the ``openai`` client's own: it retries connection errors, timeouts, 408, 409, 429
and 5xx with exponential backoff (0.5 s doubling up to 8 s, jittered), and honours the server's
``retry-after`` / ``retry-after-ms`` headers. A request that still fails becomes a result with
``error`` set; the other requests of the batch go on.

A request with a reasoning budget (:mod:`drp_bench.backends.budget`) is two raw completions
(``POST /v1/completions``) on the prompt the server's own chat template renders: llama.cpp's
server renders it at ``POST /apply-template``; ``vllm serve`` has no such endpoint, so there the
prompt is ``POST /tokenize`` (chat messages, ``add_generation_prompt``) then ``POST
/detokenize``. Chat continuation (vLLM's ``continue_final_message``) is not used: the
DeepSeek-R1-Distill templates drop everything before ``</think>`` from an assistant message,
the very thinking the answer must continue from.

A raw request (``ChatRequest.prompt``, ``prompts.mode: reference_exact``) is one ``POST
/v1/completions`` of its text, which ``vllm serve`` and llama.cpp's server tokenize as
``vllm.LLM.generate`` does a text prompt (special-token texts read as such, the tokenizer's BOS
added); its output is split as a chat answer is.

A request with a grammar (``sampling.grammar``) sends its GBNF text in the request body, in the
field ``backend.options.grammar_field`` names (:data:`GRAMMAR_FIELDS`): ``grammar`` (llama.cpp's
server, the default), ``structured_outputs`` (``{"grammar": ...}``: ``vllm serve`` v0.11 on, the
only form from v0.12) or ``guided_grammar`` (``vllm serve`` v0.6-v0.11). A server that does not
read the field answers unconstrained (vLLM v0.12 on ignores ``guided_grammar``), so an answer
that ends (``stop``) outside the grammar is a failed call naming the option.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback, SamplingParams
from drp_bench.backends.budget import (
    Completion,
    budget_of,
    call_with_budget,
    raw_result,
)
from drp_bench.backends.grammar import admits, grammar_text
from drp_bench.backends.reasoning import split_reasoning, split_separated
from drp_bench.config.models import ModelSpec

# Fields in which servers return reasoning they already split off the answer:
# vllm serve --reasoning-parser (``reasoning_content``; newer releases ``reasoning``).
_REASONING_FIELDS = ("reasoning_content", "reasoning")
#: Where a server reads a grammar in the request body (``backend.options.grammar_field``).
GRAMMAR_FIELDS = ("grammar", "structured_outputs", "guided_grammar")


def grammar_body(field: str, text: str) -> dict[str, Any]:
    """The request-body field that carries a GBNF grammar to a server reading ``field``."""
    if field == "structured_outputs":
        return {"structured_outputs": {"grammar": text}}
    return {field: text}


def outside_grammar(
    s: SamplingParams, text: str, finish_reason: str | None, field: str
) -> str | None:
    """The error of an answer that ended (not cut at max_tokens) outside the request's grammar:
    the server ignored it (None: no grammar, or the answer is in it)."""
    if s.grammar is None or finish_reason == "length" or admits(s.grammar, text):
        return None
    return (
        f"the server answered outside the {s.grammar} grammar: does it read the grammar in the"
        f" request field {field!r} (backend.options.grammar_field, one of {GRAMMAR_FIELDS})?"
    )


def normalize_base_url(base_url: str) -> str:
    """Strip trailing slashes; a bare ``http://host:port`` gets the conventional ``/v1``."""
    parts = urlsplit(base_url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"base_url must look like http://host:port/v1, found {base_url!r}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def server_root(base_url: str) -> str:
    """The server's root URL (``base_url`` without a trailing ``/v1``): where llama.cpp's
    ``/apply-template`` and vLLM's ``/tokenize`` live."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _server_reasoning(message: Any) -> str | None:
    for name in _REASONING_FIELDS:
        value = getattr(message, name, None)
        if isinstance(value, str):
            return value
    return None


def _field(value: Any, name: str) -> Any:
    """``value.name`` or ``value[name]`` (extra fields of a response may stay plain dicts)."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def cached_prompt_tokens(response: Any) -> int | None:
    """Prompt tokens the server took from its prefix cache, when it says so (else None).

    ``usage.prompt_tokens_details.cached_tokens``: the OpenAI usage field, which ``vllm serve
    --enable-prefix-caching`` and recent llama.cpp servers fill; ``timings.cache_n``: the
    llama.cpp server's own report (tokens reused from the slot's cache).
    """
    details = _field(_field(response, "usage"), "prompt_tokens_details")
    cached = _field(details, "cached_tokens")
    if cached is None:
        cached = _field(_field(response, "timings"), "cache_n")
    return int(cached) if isinstance(cached, int | float) and cached >= 0 else None


class OpenAIBackend:
    """Send chat requests concurrently (at most ``max_concurrency`` in flight) to one endpoint."""

    name = "openai"
    exclusive_gpu = False  # the server holds the GPU, not this process

    @classmethod
    def spec_kwargs(cls, spec: ModelSpec) -> dict[str, Any]:
        options = spec.options()
        if not options.get("base_url"):
            raise ValueError(
                f"model {spec.name}: the openai backend needs backend.options.base_url "
                "(e.g. +extractor.backend.options.base_url=http://127.0.0.1:8000/v1)"
            )
        options.setdefault("model", spec.hub_id)
        options.setdefault("revision", spec.revision)
        return {"reasoning": spec.reasoning, **options}

    @classmethod
    def identity_for(
        cls,
        base_url: str,
        model: str,
        revision: str | None = None,
        reasoning: bool = False,
        extra_body: dict[str, Any] | None = None,
        grammar_field: str = "grammar",
        **_: Any,
    ) -> dict[str, Any]:
        """The identity an instance built with these arguments has, without connecting (the
        grammar field only when not the default, so identities before it stay as they were)."""
        identity: dict[str, Any] = {
            "backend": cls.name,
            "base_url": normalize_base_url(base_url),
            "model": model,
            "revision": revision,
            "reasoning": reasoning,
        }
        if extra_body:
            identity["extra_body"] = dict(extra_body)
        if grammar_field != "grammar":
            identity["grammar_field"] = grammar_field
        return identity

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 600,
        max_retries: int = 5,
        reasoning: bool = False,
        extra_body: dict[str, Any] | None = None,
        revision: str | None = None,
        grammar_field: str = "grammar",
    ) -> None:
        import openai

        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, found {max_concurrency}")
        if grammar_field not in GRAMMAR_FIELDS:
            raise ValueError(
                f"backend.options.grammar_field: expected one of {GRAMMAR_FIELDS},"
                f" found {grammar_field!r}"
            )
        self.grammar_field = grammar_field
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.max_concurrency = max_concurrency
        self.reasoning = reasoning
        self.extra_body = dict(extra_body or {})
        self.identity = self.identity_for(
            base_url=base_url,
            model=model,
            revision=revision,
            reasoning=reasoning,
            extra_body=extra_body,
            grammar_field=grammar_field,
        )
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout_s,
            max_retries=max_retries,
        )

    def _call(self, request: ChatRequest) -> ChatResult:
        if budget_of(request.sampling) is not None:
            return self._call_with_budget(request)
        s = request.sampling
        if request.prompt is not None:  # reference_exact: the text as it is
            return raw_result(self.complete(request.prompt, s, s.max_tokens), self.reasoning)
        start = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[dict(m) for m in request.messages],  # type: ignore[misc]
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                seed=s.seed,
                n=1,
                extra_body=self._body(s),
            )
            if not response.choices:
                raise ValueError("response has no choices")
        except Exception as exc:  # a failed call is a result, never a crash of the run
            return ChatResult(
                text="",
                latency_s=time.perf_counter() - start,
                error=f"{type(exc).__name__}: {exc}",
            )
        latency = time.perf_counter() - start
        choice = response.choices[0]
        content = choice.message.content or ""
        separated = _server_reasoning(choice.message)
        if separated is not None:
            split = split_separated(content, separated, choice.finish_reason)
        else:
            split = split_reasoning(content, self.reasoning)
        error = outside_grammar(s, split.answer, choice.finish_reason, self.grammar_field)
        if error is not None:
            return ChatResult(text="", latency_s=latency, error=error)
        usage = response.usage
        return ChatResult(
            text=split.answer,
            reasoning=split.reasoning,
            reasoning_truncated=split.truncated,
            prompt_tokens=int(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=int(usage.completion_tokens or 0) if usage else 0,
            finish_reason=choice.finish_reason,
            latency_s=latency,
            cached_prompt_tokens=cached_prompt_tokens(response),
        )

    def _body(self, s: SamplingParams) -> dict[str, Any] | None:
        """The request's extra body: the entry's ``extra_body`` and the grammar, if any."""
        body = dict(self.extra_body)
        if s.grammar is not None:
            body.update(grammar_body(self.grammar_field, grammar_text(s.grammar)))
        return body or None

    def _call_with_budget(self, request: ChatRequest) -> ChatResult:
        """Budget forcing (:func:`drp_bench.backends.budget.call_with_budget`)."""
        return call_with_budget(
            request,
            backend=self.name,
            reasoning=self.reasoning,
            render=self.render,
            complete=self.complete,
        )

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The generation prompt the server's chat template makes of ``messages``: llama.cpp's
        ``/apply-template``, else (404) vLLM's ``/tokenize`` + ``/detokenize``."""
        import openai

        root, chat = server_root(self.base_url), [dict(m) for m in messages]
        try:
            body = self._client.post(
                f"{root}/apply-template", body={"messages": chat}, cast_to=object
            )
            return str(body["prompt"])  # type: ignore[index]
        except openai.NotFoundError:
            pass
        tokens = self._client.post(
            f"{root}/tokenize",
            body={"model": self.model, "messages": chat, "add_generation_prompt": True},
            cast_to=object,
        )["tokens"]  # type: ignore[index]
        body = self._client.post(
            f"{root}/detokenize", body={"model": self.model, "tokens": tokens}, cast_to=object
        )
        return str(body["prompt"])  # type: ignore[index]

    def complete(
        self, prompt: str, s: SamplingParams, max_tokens: int, stop: Sequence[str] = ()
    ) -> Completion:
        """One ``/v1/completions`` call on a raw prompt; never raises."""
        start = time.perf_counter()
        try:
            response = self._client.completions.create(
                model=self.model,
                prompt=prompt,
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=max_tokens,
                seed=s.seed,
                n=1,
                extra_body=self._body(s),
                **({"stop": list(stop)} if stop else {}),
            )
            if not response.choices:
                raise ValueError("response has no choices")
        except Exception as exc:
            return Completion(
                "", latency_s=time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}"
            )
        choice, usage = response.choices[0], response.usage
        error = outside_grammar(
            s, (choice.text or "").strip(), choice.finish_reason, self.grammar_field
        )
        if error is not None:
            return Completion("", latency_s=time.perf_counter() - start, error=error)
        return Completion(
            text=choice.text or "",
            prompt_tokens=int(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=int(usage.completion_tokens or 0) if usage else 0,
            finish_reason=choice.finish_reason,
            latency_s=time.perf_counter() - start,
            cached_prompt_tokens=cached_prompt_tokens(response),
        )

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        """Run all requests; ``on_result`` is called in the calling thread as each one finishes."""
        results: list[ChatResult | None] = [None] * len(requests)
        if not requests:
            return []
        pool = ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(requests)), thread_name_prefix="openai"
        )
        try:
            futures: dict[Future[ChatResult], int] = {
                pool.submit(self._call, r): i for i, r in enumerate(requests)
            }
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_result is not None:
                    on_result(i, results[i])  # type: ignore[arg-type]
        finally:
            # On an interrupt (or a raising callback) do not start the calls still queued.
            pool.shutdown(wait=True, cancel_futures=True)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._client.close()
