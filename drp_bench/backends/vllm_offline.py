"""GPU backend: vLLM's offline engine (``vllm.LLM``), for machines with a GPU and vLLM installed.

vLLM API used here, checked against the vLLM source and documentation:
- ``LLM(model, *, trust_remote_code, tensor_parallel_size, dtype, revision,
  gpu_memory_utilization, enforce_eager, **kwargs)``, extra kwargs such as ``max_model_len``
  going to ``EngineArgs``: vllm/entrypoints/llm.py (``LLM.__init__``), both the 2025 (v0.9-era)
  and the 2026 version of the file.
- ``LLM.chat(messages: list of conversations, sampling_params: SamplingParams | list of one per
  conversation, use_tqdm: bool, ...) -> list[RequestOutput]`` in input order; the model's chat
  template is applied: vllm/entrypoints/llm.py (``LLM.chat``).
- ``SamplingParams(n=1, temperature, top_p, seed, max_tokens)``; ``max_tokens`` defaults to 16 and
  unset fields may take the model's ``generation_config.json`` values, so all are set:
  docs.vllm.ai/en/v0.8.3/api/inference_params.html.
- ``RequestOutput.prompt_token_ids``, ``.outputs[0].text / .token_ids / .finish_reason``
  (``"stop"`` or ``"length"``): vllm/outputs.py (``RequestOutput``, ``CompletionOutput``).
- ``RequestOutput.num_cached_tokens`` ("the number of tokens with prefix cache hit", ``None``
  when not known): the ``RequestOutput`` docstring in vllm/outputs.py (v0.6-era onwards).
- A raw request (``ChatRequest.prompt``, ``prompts.mode: reference_exact``): its text as a
  plain ``str`` prompt to ``LLM.generate(prompts, sampling_params, use_tqdm)``, as the DRP/DPL
  code calls it (DRP ``1_get_diff_outputs_qwen.py:159``, commit 54c0adc); vLLM tokenizes it
  with the model's tokenizer (special-token texts read as such, its BOS added when the
  tokenizer adds one): docs.vllm.ai v0.7.2 ``examples/offline_inference/basic.py`` and the
  v0.6.x ``vllm/entrypoints/llm.py`` (``PromptType``: a ``str`` is a text prompt).
- The reasoning parser exists only in ``vllm serve``: offline output is split at ``</think>`` here.
- A reasoning budget (:mod:`drp_bench.backends.budget`): ``LLM.get_tokenizer()`` (the model's
  Hugging Face tokenizer), its ``apply_chat_template(conversation, tokenize=False,
  add_generation_prompt=True)``; ``LLM.generate(prompts, sampling_params, use_tqdm)`` with
  token prompts ``{"prompt_token_ids": [...]}`` (``TokensPrompt``, vllm/inputs/data.py), the
  text encoded with ``add_special_tokens=False`` since the template writes the BOS token; and
  ``SamplingParams(stop=[...])``, whose stop strings are left out of the output text
  (``include_stop_str_in_output=False`` by default): vllm/sampling_params.py.
- A grammar (``sampling.grammar``, GBNF): ``SamplingParams(structured_outputs=
  StructuredOutputsParams(grammar=...))`` (vllm.sampling_params, v0.10.2 on; the guided_*
  names were removed in v0.12), else ``SamplingParams(guided_decoding=
  GuidedDecodingParams(grammar=...))`` (v0.6-v0.11): docs.vllm.ai "Structured Outputs" of
  v0.6.6, v0.9.1 and latest. Checked against the documentation only: never run on a GPU here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback, SamplingParams
from drp_bench.backends.budget import (
    THINKING_STOP,
    Completion,
    answer_prompt,
    budget_of,
    forced_result,
    no_budget_error,
    thinking_prompt,
    thinking_sampling,
)
from drp_bench.backends.grammar import grammar_text
from drp_bench.backends.reasoning import split_reasoning
from drp_bench.config.models import ModelSpec
from drp_bench.provenance import package_version

INSTALL_HINT = "pip install 'drp-bench[vllm]' on a GPU machine"


def vllm_sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams`` that reproduce one request's sampling."""
    return {
        "n": 1,
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": int(sampling.max_tokens),
        "seed": int(sampling.seed),
    }


def vllm_grammar_kwargs(sampling: SamplingParams, vllm: Any) -> dict[str, Any]:
    """The ``vllm.SamplingParams`` keyword that holds the output to the request's grammar:
    ``structured_outputs=StructuredOutputsParams(grammar=...)`` where vLLM has it (v0.10.2 on;
    the only way from v0.12), else ``guided_decoding=GuidedDecodingParams(grammar=...)``
    (v0.6.x-v0.11, vllm/sampling_params.py); none without a grammar."""
    if sampling.grammar is None:
        return {}
    text = grammar_text(sampling.grammar)
    params = vllm.sampling_params
    if hasattr(params, "StructuredOutputsParams"):
        return {"structured_outputs": params.StructuredOutputsParams(grammar=text)}
    return {"guided_decoding": params.GuidedDecodingParams(grammar=text)}


def result_from_output(output: Any, reasoning_model: bool, latency_s: float) -> ChatResult:
    """Convert one ``vllm.RequestOutput`` into a ``ChatResult``."""
    if not output.outputs:
        return ChatResult(text="", latency_s=latency_s, error="vLLM returned no completion")
    completion = output.outputs[0]
    split = split_reasoning(completion.text or "", reasoning_model)
    return ChatResult(
        text=split.answer,
        reasoning=split.reasoning,
        reasoning_truncated=split.truncated,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(completion.token_ids or ()),
        finish_reason=completion.finish_reason,
        latency_s=latency_s,
        cached_prompt_tokens=_cached_tokens(output),
    )


def completion_from_output(output: Any, latency_s: float) -> Completion:
    """One ``vllm.RequestOutput`` of a raw-completion call, unsplit (a budget's thinking or
    answer call)."""
    if not output.outputs:
        return Completion("", latency_s=latency_s, error="vLLM returned no completion")
    completion = output.outputs[0]
    return Completion(
        text=completion.text or "",
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(completion.token_ids or ()),
        finish_reason=completion.finish_reason,
        latency_s=latency_s,
        cached_prompt_tokens=_cached_tokens(output),
    )


def _cached_tokens(output: Any) -> int | None:
    """``RequestOutput.num_cached_tokens`` (prompt tokens with a prefix-cache hit; vLLM fills
    it with prefix caching on, older releases lack it): None when absent."""
    value = getattr(output, "num_cached_tokens", None)
    return int(value) if isinstance(value, int) and value >= 0 else None


class VLLMBackend:
    """Batch chat requests through ``vllm.LLM.chat`` in chunks of ``batch_size``.

    ``latency_s`` of each result is its chunk's wall time divided by the chunk size (vLLM runs
    the chunk as one batch). If a chunk fails (e.g. one prompt longer than ``max_model_len``),
    its requests are retried one at a time so that only the failing ones carry an error.
    """

    name = "vllm"
    exclusive_gpu = True  # a local engine owns its GPUs: load one at a time

    @classmethod
    def spec_kwargs(cls, spec: ModelSpec) -> dict[str, Any]:
        return {
            "model": spec.hub_id,
            "revision": spec.revision,
            "tensor_parallel_size": spec.tensor_parallel_size,
            "max_model_len": spec.context_length,
            "reasoning": spec.reasoning,
            **spec.options(),
        }

    @classmethod
    def identity_for(
        cls,
        model: str,
        revision: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        reasoning: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        """The identity an instance built with these arguments has, without loading vLLM."""
        return {
            "backend": cls.name,
            "model": model,
            "revision": revision,
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "vllm_version": package_version("vllm") or "not-installed",
            "reasoning": reasoning,
        }

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        reasoning: bool = False,
        enforce_eager: bool = False,
        trust_remote_code: bool = False,
        batch_size: int = 256,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(f"VLLMBackend needs vLLM: {INSTALL_HINT}") from exc
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, found {batch_size}")
        self._vllm = vllm
        self.reasoning = reasoning
        self.batch_size = batch_size
        self.identity = self.identity_for(
            model=model,
            revision=revision,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            reasoning=reasoning,
        )
        engine_kwargs: dict[str, Any] = {}
        if max_model_len is not None:
            engine_kwargs["max_model_len"] = max_model_len
        self._llm = vllm.LLM(
            model=model,
            revision=revision,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            trust_remote_code=trust_remote_code,
            **engine_kwargs,
        )

    def _generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """The chunk's results in order: requests with a reasoning budget through
        :meth:`_generate_budgeted`, raw ones (``prompt``) through one ``LLM.generate`` call,
        the others through one ``LLM.chat`` call."""
        budgeted = [i for i, r in enumerate(requests) if budget_of(r.sampling) is not None]
        raw = [i for i, r in enumerate(requests) if r.prompt is not None and i not in budgeted]
        if not budgeted and not raw:
            return self._generate_chat(requests)
        plain = [i for i in range(len(requests)) if i not in set(budgeted) | set(raw)]
        results: list[ChatResult | None] = [None] * len(requests)
        groups = (
            (plain, self._generate_chat),
            (raw, self._generate_raw),
            (budgeted, self._generate_budgeted),
        )
        for indices, run in groups:
            if indices:
                for i, result in zip(indices, run([requests[i] for i in indices]), strict=True):
                    results[i] = result
        return results  # type: ignore[return-value]

    def _generate_budgeted(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """Budget forcing for the chunk: one batch of thinking calls capped at the budget, then
        one batch of answer calls, each continuing from its closed thinking."""
        if not self.reasoning:
            return [no_budget_error(self.name) for _ in requests]
        tokenizer = self._llm.get_tokenizer()
        prompts = [
            thinking_prompt(
                r.prompt
                if r.prompt is not None
                else tokenizer.apply_chat_template(
                    [dict(m) for m in r.messages], tokenize=False, add_generation_prompt=True
                )
            )
            for r in requests
        ]
        raw = [r.prompt is not None for r in requests]
        budgets = [int(budget_of(r.sampling) or 0) for r in requests]
        thinking = self._complete(
            tokenizer,
            prompts,
            [
                (thinking_sampling(r.sampling), b, THINKING_STOP)
                for r, b in zip(requests, budgets, strict=True)
            ],
            raw,
        )
        answers = self._complete(
            tokenizer,
            [answer_prompt(p, t) for p, t in zip(prompts, thinking, strict=True)],
            [(r.sampling, r.sampling.max_tokens, ()) for r in requests],
            raw,
        )
        return [forced_result(b, t, a) for b, t, a in zip(budgets, thinking, answers, strict=True)]

    def _complete(
        self,
        tokenizer: Any,
        prompts: Sequence[str],
        limits: Sequence[tuple[SamplingParams, int, Sequence[str]]],
        add_special: Sequence[bool],
    ) -> list[Completion]:
        """One ``LLM.generate`` call on raw text prompts (``limits``: each prompt's sampling,
        max_tokens and stop strings; ``add_special``: the tokenizer's BOS added, as for a text
        prompt, else none: the chat template wrote it)."""
        inputs = [
            {"prompt_token_ids": tokenizer.encode(p, add_special_tokens=add)}
            for p, add in zip(prompts, add_special, strict=True)
        ]
        params = [
            self._vllm.SamplingParams(
                **{**vllm_sampling_kwargs(s), "max_tokens": int(n), "stop": list(stop)},
                **vllm_grammar_kwargs(s, self._vllm),
            )
            for s, n, stop in limits
        ]
        start = time.perf_counter()
        outputs = self._llm.generate(inputs, sampling_params=params, use_tqdm=False)
        per_request = (time.perf_counter() - start) / max(len(prompts), 1)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} inputs")
        return [completion_from_output(o, per_request) for o in outputs]

    def _generate_raw(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """One ``LLM.generate`` call on the chunk's raw text prompts, each a plain ``str`` as
        the reference code passes it; raises if vLLM rejects the chunk."""
        prompts = [str(r.prompt) for r in requests]
        params = [
            self._vllm.SamplingParams(
                **vllm_sampling_kwargs(r.sampling), **vllm_grammar_kwargs(r.sampling, self._vllm)
            )
            for r in requests
        ]
        start = time.perf_counter()
        outputs = self._llm.generate(prompts, sampling_params=params, use_tqdm=False)
        per_request = (time.perf_counter() - start) / max(len(requests), 1)
        if len(outputs) != len(requests):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} inputs")
        return [result_from_output(o, self.reasoning, per_request) for o in outputs]

    def _generate_chat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """One ``LLM.chat`` call for the whole chunk; raises if vLLM rejects the chunk."""
        conversations = [[dict(m) for m in r.messages] for r in requests]
        params = [
            self._vllm.SamplingParams(
                **vllm_sampling_kwargs(r.sampling), **vllm_grammar_kwargs(r.sampling, self._vllm)
            )
            for r in requests
        ]
        start = time.perf_counter()
        outputs = self._llm.chat(conversations, sampling_params=params, use_tqdm=False)
        per_request = (time.perf_counter() - start) / max(len(requests), 1)
        if len(outputs) != len(requests):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} inputs")
        return [result_from_output(o, self.reasoning, per_request) for o in outputs]

    def _generate_chunk(self, chunk: Sequence[ChatRequest]) -> list[ChatResult]:
        try:
            return self._generate(chunk)
        except Exception as exc:
            if len(chunk) == 1:
                return [ChatResult(text="", error=f"{type(exc).__name__}: {exc}")]
        return [self._generate_chunk([r])[0] for r in chunk]

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        results: list[ChatResult] = []
        for lo in range(0, len(requests), self.batch_size):
            chunk_results = self._generate_chunk(requests[lo : lo + self.batch_size])
            for offset, result in enumerate(chunk_results):
                results.append(result)
                if on_result is not None:
                    on_result(lo + offset, result)
        return results

    def close(self) -> None:
        """Release the engine and its GPU memory, so another model can load in this process.

        ``cleanup_dist_env_and_memory`` is what vLLM's maintainers point to for this
        (vllm-project/vllm issues #18806, #23793); older releases lack it.
        """
        if self._llm is None:
            return
        self._llm = None
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:  # pragma: no cover - old vLLM
            import gc

            gc.collect()
            return
        cleanup_dist_env_and_memory()
