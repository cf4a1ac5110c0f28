"""Run one stage: prompts for every unit of work go to the role's backend as one batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drp_bench.backends.base import Backend, ChatRequest, ChatResult, SamplingParams
from drp_bench.progress import StageProgress


@dataclass
class StageCall:
    """One call of a stage as it is stored in predictions.jsonl."""

    messages: list[dict[str, str]]
    result: ChatResult
    skipped: bool = False

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

        Backends report one completion-token count; the split follows character counts.
        """
        reasoning = self.result.reasoning or ""
        if not reasoning:
            return 0
        total_chars = len(reasoning) + len(self.result.text)
        return round(self.result.completion_tokens * len(reasoning) / max(total_chars, 1))

    def record(self) -> dict[str, Any]:
        r = self.result
        return {
            "messages": self.messages,
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
        }


def run_stage(
    stage: str,
    messages: Sequence[list[dict[str, str]]],
    backend: Backend,
    sampling: SamplingParams,
    progress: StageProgress | None = None,
) -> list[StageCall]:
    """Send the messages of every call of a stage in one batch; never raises for a failed call.

    ``progress`` (made here when not given) counts the calls as they finish.
    """
    requests = [ChatRequest(tuple(m), sampling, stage=stage) for m in messages]
    progress = progress or StageProgress(stage, len(requests))

    def on_result(_index: int, result: ChatResult) -> None:
        progress.update(result.completion_tokens, result.cached, not result.ok)

    try:
        results = backend.chat(requests, on_result=on_result) if requests else []
    finally:
        progress.close()
    if len(results) != len(requests):
        raise RuntimeError(
            f"stage {stage}: backend returned {len(results)} results for {len(requests)} requests"
        )
    return [StageCall(list(m), r) for m, r in zip(messages, results, strict=True)]
