"""A backend that makes no call: it answers from the call cache where it can, otherwise with
a stand-in (a marker of the expected answer's length in tokens), and counts each request's
prompt tokens per stage (a prompt that reads stand-ins: its other text, counted, plus theirs).

The pipeline runs on it exactly as on a model, so the plan has the run's calls (the same
stages, samples, items, rounds and skips) and renders the run's prompts. A prompt that reads an
earlier answer reads the cached answer when there is one and the stand-in otherwise; the
stage's prompt tokens are then an estimate (``inputs_exact`` false).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drp_bench.backends.base import (
    ChatRequest,
    ChatResult,
    Message,
    ProgressCallback,
    SamplingParams,
)
from drp_bench.backends.cache import CallCache, CompletionStats, model_label
from drp_bench.plan.tokens import TokenCounter

#: Characters per token of an answer, to turn the cache's mean answer length into tokens.
CHARS_PER_TOKEN = 4
_MARK = re.compile(r"⟦planned answer: (\d+) tokens⟧")


def stand_in(tokens: int) -> str:
    """A marker standing for an answer not yet made, of ``tokens`` tokens: a prompt that reads
    it is counted as its other text plus ``tokens`` (:func:`count_with_stand_ins`)."""
    return f"⟦planned answer: {max(int(tokens), 1)} tokens⟧"


def count_with_stand_ins(counter: TokenCounter, messages: Sequence[Message]) -> int:
    """Prompt tokens of ``messages`` where the stand-ins they hold count as their tokens."""
    extra = 0
    bare = []
    for message in messages:
        content = message.get("content", "")
        found = [int(n) for n in _MARK.findall(content)]
        if found:
            extra += sum(found)
            message = {**message, "content": _MARK.sub("", content)}
        bare.append(message)
    return counter.count(bare) + extra


@dataclass
class StageTally:
    """One stage's planned calls, as the planning backend saw them."""

    stage: str
    role: str
    model: str
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    prompt_tokens_uncached: int = 0
    completion_tokens_cached: int = 0
    completion_tokens_expected: float = 0.0  # of the calls not in the cache
    read_stand_ins: bool = False  # some prompt may hold a stand-in answer
    over_context: int = 0  # prompts whose tokens plus max_tokens exceed the context length
    completion_source: str = ""
    max_tokens: int = 0


@dataclass
class PlanRecorder:
    """Tallies per stage, in the order stages first appear; whether stand-ins were handed out."""

    stages: dict[str, StageTally] = field(default_factory=dict)
    stand_ins_given: bool = False


class PlanningBackend:
    """Serves one role in a plan: cached answers, else stand-ins; never calls a model."""

    def __init__(
        self,
        role: str,
        identity: dict[str, Any],
        cache: CallCache | None,
        counter: TokenCounter,
        recorder: PlanRecorder,
        completion_tokens: int | None = None,
        context_length: int | None = None,
    ):
        """``completion_tokens``: what a call is expected to produce when the cache has no
        record of the model and stage (None: its ``max_tokens``, an upper bound);
        ``context_length``: the model's, to count prompts that would not fit."""
        self.completion_tokens = completion_tokens
        self.context_length = context_length
        self.role = role
        self.identity = identity
        self.cache = cache
        self.counter = counter
        self.recorder = recorder
        self.model = model_label(identity)
        self._stats: dict[str, CompletionStats | None] = {}

    def _expected(self, stage: str) -> CompletionStats | None:
        if stage not in self._stats:
            found = self.cache.completion_stats(self.model, stage) if self.cache else None
            self._stats[stage] = found
        return self._stats[stage]

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        keys = [CallCache.key(self.identity, r) for r in requests]
        found = self.cache.get_many(keys, count=False) if self.cache is not None else {}
        after_stand_ins = self.recorder.stand_ins_given  # earlier batches' answers are read
        results = []
        for i, (key, request) in enumerate(zip(keys, requests, strict=True)):
            stage = request.stage or "unknown"
            tally = self.recorder.stages.get(stage)
            if tally is None:
                tally = self.recorder.stages[stage] = StageTally(stage, self.role, self.model)
            tally.read_stand_ins |= after_stand_ins
            tokens = count_with_stand_ins(self.counter, request.messages)
            limit = request.sampling.completion_limit()
            tally.calls += 1
            tally.prompt_tokens += _tokens_read(tokens, request.sampling)
            tally.max_tokens = limit
            if self.context_length and tokens + limit > self.context_length:
                tally.over_context += 1
            if key in found:
                result = found[key]
                tally.cached += 1
                tally.completion_tokens_cached += result.completion_tokens
            else:
                result = self._stand_in(stage, request, tally)
                tally.prompt_tokens_uncached += _tokens_read(tokens, request.sampling)
            result.prompt_tokens = _tokens_read(tokens, request.sampling)
            results.append(result)
            if on_result is not None:
                on_result(i, result)
        return results

    def _stand_in(self, stage: str, request: ChatRequest, tally: StageTally) -> ChatResult:
        limit = request.sampling.completion_limit()
        stats = self._expected(stage)
        if stats is not None:
            completion = min(stats.mean_completion_tokens, limit)
            answer = stats.mean_answer_chars / CHARS_PER_TOKEN
            tally.completion_source = (
                f"mean of {stats.calls} cached call(s) of this model and stage"
            )
        elif self.completion_tokens is not None:
            completion = float(min(self.completion_tokens, limit))
            answer = completion
            tally.completion_source = (
                f"assumed {self.completion_tokens} per call (--completion-tokens; no cached "
                "call of this model and stage)"
            )
        else:
            completion = answer = float(limit)
            tally.completion_source = "max_tokens (upper bound: no cached call of this stage)"
        tally.completion_tokens_expected += completion
        self.recorder.stand_ins_given = True
        return ChatResult(text=stand_in(round(answer)), completion_tokens=round(completion))

    def close(self) -> None:
        pass


def _tokens_read(prompt_tokens: int, sampling: SamplingParams) -> int:
    """Prompt tokens a call reads: with a reasoning budget its answer call reads the prompt
    again plus the thinking (at most the budget: an upper bound)."""
    budget = sampling.reasoning_budget
    return prompt_tokens if budget is None else 2 * prompt_tokens + budget


@dataclass
class PlannedStage:
    """A stage of a job's plan, as plan.json and the table show it."""

    stage: str
    role: str
    model: str
    calls: int
    cached: int
    calls_per_sample: float
    prompt_tokens: int
    prompt_tokens_to_compute: int  # of the calls not in the cache
    prompt_tokens_method: str
    prompt_tokens_exact: bool  # own tokenizer, and no prompt read a stand-in answer
    completion_tokens_cached: int
    completion_tokens_expected: float  # of the calls not in the cache
    completion_tokens_source: str
    max_tokens: int
    over_context: int  # prompts whose tokens plus max_tokens exceed the model's context
    device: str
    hardware: str
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    gpus: int
    hours: float
    gpu_hours: float
