"""A reasoning budget with budget forcing (s1: Muennighoff et al. 2025, "s1: Simple test-time
scaling", section 3.1), shared by the backends that offer raw completions.

With ``sampling.reasoning_budget = B`` one chat request becomes two raw-completion calls on the
prompt the model's chat template renders:

1. **thinking**: the generation prompt with a thinking block open (``<think>\\n`` appended unless
   the template already ends with ``<think>``, as newer DeepSeek-R1-Distill templates do), at
   most ``B`` new tokens, stopping at ``</think>``;
2. **answer**: the first call's prompt + its thinking + ``</think>``, at most ``max_tokens`` new
   tokens. When the budget was reached, the harness closed the thinking; when the model closed
   it before (it stopped at ``</think>``), the second call continues the same text it would have.

The result's ``text`` is the answer, ``reasoning`` the thinking, and its token counts are the
sums of both calls, each call's own counts kept in :class:`BudgetCalls`. A grammar
(``sampling.grammar``) holds the answer call only: the thinking is free text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from drp_bench.backends.base import (
    BudgetCalls,
    CallTokens,
    ChatRequest,
    ChatResult,
    SamplingParams,
)
from drp_bench.backends.reasoning import THINK_CLOSE, THINK_OPEN, split_reasoning

OPEN_THINKING = THINK_OPEN + "\n"
THINKING_STOP = (THINK_CLOSE,)


@dataclass(frozen=True)
class Completion:
    """One raw-completion call as a backend saw it (``error`` set: the call failed)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    cached_prompt_tokens: int | None = None
    error: str | None = None

    def tokens(self) -> CallTokens:
        return CallTokens(
            self.prompt_tokens,
            self.completion_tokens,
            self.finish_reason,
            round(self.latency_s, 4),
            self.cached_prompt_tokens,
        )


def raw_result(completion: Completion, reasoning: bool) -> ChatResult:
    """The chat result of a raw-completion call (``ChatRequest.prompt``): its text split as
    a chat answer is (:func:`~drp_bench.backends.reasoning.split_reasoning`)."""
    if completion.error is not None:
        return ChatResult(text="", latency_s=completion.latency_s, error=completion.error)
    split = split_reasoning(completion.text, reasoning)
    return ChatResult(
        text=split.answer,
        reasoning=split.reasoning,
        reasoning_truncated=split.truncated,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason,
        latency_s=completion.latency_s,
        cached_prompt_tokens=completion.cached_prompt_tokens,
    )


def budget_of(sampling: SamplingParams) -> int | None:
    """The request's thinking budget (None: no budget, today's single call)."""
    return sampling.reasoning_budget


def thinking_sampling(sampling: SamplingParams) -> SamplingParams:
    """The thinking call's sampling: the request's, without its grammar (a grammar holds the
    answer after the thinking, never the thinking)."""
    return replace(sampling, grammar=None) if sampling.grammar is not None else sampling


def no_budget_error(backend: str) -> ChatResult:
    """The result of a budgeted request on a backend built for a non-reasoning model."""
    return ChatResult(
        text="",
        error=f"ValueError: reasoning_budget set for a model with reasoning: false ({backend})",
    )


def thinking_prompt(rendered: str) -> str:
    """The rendered generation prompt with a thinking block open."""
    return rendered if rendered.rstrip().endswith(THINK_OPEN) else rendered + OPEN_THINKING


def thinking_text(thinking: Completion) -> str:
    """What the first call thought: its text up to any ``</think>`` (a server that ignored the
    stop string may return it)."""
    return thinking.text.partition(THINK_CLOSE)[0]


def answer_prompt(prompt: str, thinking: Completion) -> str:
    """The second call's prompt: the first call's prompt + its thinking + ``</think>``."""
    return prompt + thinking_text(thinking) + THINK_CLOSE


def forced_result(budget: int, thinking: Completion, answer: Completion) -> ChatResult:
    """The chat result of the two calls (an error of either is the result's error)."""
    for phase, call in (("thinking", thinking), ("answer", answer)):
        if call.error is not None:
            return ChatResult(
                text="",
                latency_s=thinking.latency_s + answer.latency_s,
                error=f"{phase} call of a reasoning budget: {call.error}",
            )
    cached = [c.cached_prompt_tokens for c in (thinking, answer)]
    return ChatResult(
        text=answer.text.strip(),
        reasoning=thinking_text(thinking).strip() or None,
        prompt_tokens=thinking.prompt_tokens + answer.prompt_tokens,
        completion_tokens=thinking.completion_tokens + answer.completion_tokens,
        finish_reason=answer.finish_reason,
        latency_s=thinking.latency_s + answer.latency_s,
        cached_prompt_tokens=None if None in cached else sum(cached),  # type: ignore[arg-type]
        budget=BudgetCalls(budget, thinking.tokens(), answer.tokens()),
    )


#: ``complete(prompt, sampling, max_tokens, stop)``: one raw-completion call of a backend.
CompleteFn = Callable[[str, SamplingParams, int, Sequence[str]], Completion]


def call_with_budget(
    request: ChatRequest,
    *,
    backend: str,
    reasoning: bool,
    render: Callable[[Sequence[dict[str, str]]], str],
    complete: CompleteFn,
) -> ChatResult:
    """Budget forcing for a backend that renders its chat template (``render``) and makes raw
    completions (``complete``): a thinking call capped at the budget, then an answer call that
    continues from the closed thinking. A raw request (``request.prompt``) is not rendered:
    its text is the prompt."""
    s = request.sampling
    budget = budget_of(s)
    assert budget is not None
    if not reasoning:
        return no_budget_error(backend)
    try:
        rendered = request.prompt if request.prompt is not None else render(request.messages)
        prompt = thinking_prompt(rendered)
    except Exception as exc:  # a failed call is a result, never a crash of the run
        return ChatResult(text="", error=f"chat template: {type(exc).__name__}: {exc}")
    thinking = complete(prompt, thinking_sampling(s), budget, THINKING_STOP)
    if thinking.error is not None:
        return forced_result(budget, thinking, Completion(""))
    answer = complete(answer_prompt(prompt, thinking), s, s.max_tokens, ())
    return forced_result(budget, thinking, answer)
