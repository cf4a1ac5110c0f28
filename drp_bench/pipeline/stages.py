"""Run one stage: prompts for every unit of work go to the role's backend as one batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drp_bench.backends.base import Backend, ChatRequest, ChatResult, SamplingParams
from drp_bench.pipeline.progress import StageProgress


@dataclass
class StageCall:
    """One call of a stage as it is stored in predictions.jsonl (``prompt``: the raw text
    sent under ``prompts.mode: reference_exact``, None in chat mode)."""

    messages: list[dict[str, str]]
    result: ChatResult
    skipped: bool = False
    prompt: str | None = None

    @classmethod
    def skip(cls, reason: str) -> StageCall:
        """A call not made because a call it needs failed (its ``error`` says which)."""
        return cls([], ChatResult(text="", error=f"skipped: {reason}"), skipped=True)

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def answer(self) -> str:
        return self.result.text

    def reasoning_tokens(self) -> int:
        """Completion tokens spent on reasoning, estimated by the reasoning's share of the text.

        Backends report one completion-token count; the split follows character counts. With a
        reasoning budget the count is exact: the thinking call's completion tokens.
        """
        if self.result.budget is not None:
            return self.result.budget.thinking.completion_tokens
        reasoning = self.result.reasoning or ""
        if not reasoning:
            return 0
        total_chars = len(reasoning) + len(self.result.text)
        return round(self.result.completion_tokens * len(reasoning) / max(total_chars, 1))

    def record(self) -> dict[str, Any]:
        r = self.result
        return {
            "messages": self.messages,
            **({} if self.prompt is None else {"prompt": self.prompt}),
            "output": r.text,
            "reasoning": r.reasoning,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens(),
            "finish_reason": r.finish_reason,
            "latency_s": round(r.latency_s, 4),
            "error": r.error,
            "skipped": self.skipped,
            "cached": r.cached,
            "reasoning_truncated": r.reasoning_truncated,
            # a result from the call cache: no backend work in this run, so no prefix-cache figure
            "cached_prompt_tokens": None if r.cached else r.cached_prompt_tokens,
            **({} if r.budget is None else {"budget": r.budget.to_json()}),
        }


def prefix_order(messages: Sequence[list[dict[str, str]]]) -> list[int]:
    """Indices of ``messages`` in the order that puts prompts with a common prefix next to each
    other: lexicographic by each message's (role, content) in turn (stable among equals). A
    backend that reuses the KV cache of the previous prompt (llama.cpp) then reuses the longest
    prefixes; one that keeps many (vLLM) schedules prompts with a common prefix together."""
    return sorted(
        range(len(messages)), key=lambda i: [(m["role"], m["content"]) for m in messages[i]]
    )


def run_stage(
    stage: str,
    messages: Sequence[list[dict[str, str]]],
    backend: Backend,
    sampling: SamplingParams | Sequence[SamplingParams],
    progress: StageProgress | None = None,
    ordered: bool = True,
    wrap: Callable[[Sequence[dict[str, str]]], str] | None = None,
) -> list[StageCall]:
    """Send the messages of every call of a stage in one batch; never raises for a failed call.

    ``sampling``: of every call, or one per call. ``ordered``: the batch goes out in
    :func:`prefix_order` (the calls come back in the order given either way). ``progress``
    (made here when not given) counts the calls as they finish. ``wrap``: each call is a raw
    completion of the text it makes of the messages (``prompts.mode: reference_exact``).
    """
    order = prefix_order(messages) if ordered else list(range(len(messages)))
    each = [sampling] * len(messages) if isinstance(sampling, SamplingParams) else list(sampling)
    raw = [None if wrap is None else wrap(m) for m in messages]
    requests = [ChatRequest(tuple(messages[i]), each[i], stage=stage, prompt=raw[i]) for i in order]
    progress = progress or StageProgress(stage, len(requests))

    def on_result(_index: int, result: ChatResult) -> None:
        progress.update(result.completion_tokens, result.cached, not result.ok)

    try:
        sent = backend.chat(requests, on_result=on_result) if requests else []
    finally:
        progress.close()
    if len(sent) != len(requests):
        raise RuntimeError(
            f"stage {stage}: backend returned {len(sent)} results for {len(requests)} requests"
        )
    results = dict(zip(order, sent, strict=True))  # plan index -> its result
    return [StageCall(list(m), results[i], prompt=raw[i]) for i, m in enumerate(messages)]
