"""The backend contract shared by llama.cpp, OpenAI-compatible servers and vLLM."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from drp_bench.config.models import SamplingParams

__all__ = [
    "Backend",
    "BudgetCalls",
    "CallTokens",
    "ChatRequest",
    "ChatResult",
    "Message",
    "ProgressCallback",
    "SamplingParams",
]

Message = dict[str, str]
ProgressCallback = Callable[[int, "ChatResult"], None]


@dataclass(frozen=True)
class ChatRequest:
    """One call. ``stage`` names the stage that makes it (statistics per stage: the call
    cache's completion-token records that ``drp-bench plan`` reads); it is not part of the
    call's identity, and backends ignore it.

    ``prompt``: the call as a raw completion of this exact text (``prompts.mode:
    reference_exact``; the backend applies no chat template); ``messages`` then are what the
    text was made from. None: a chat call of ``messages``."""

    messages: tuple[Message, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stage: str | None = field(default=None, compare=False)
    prompt: str | None = None


@dataclass(frozen=True)
class CallTokens:
    """What one backend call cost, as the backend counted it."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    latency_s: float
    cached_prompt_tokens: int | None = None


@dataclass(frozen=True)
class BudgetCalls:
    """The two calls of a reasoning budget (budget forcing): ``thinking`` generated at most
    ``budget`` tokens after the opened thinking block (stopping at ``</think>``); ``answer``
    continued from the prompt + that thinking + ``</think>``."""

    budget: int
    thinking: CallTokens
    answer: CallTokens

    @property
    def forced(self) -> bool:
        """The budget was reached: the thinking was cut and closed by the harness."""
        return self.thinking.finish_reason == "length"

    def to_json(self) -> dict[str, Any]:
        return {"budget": self.budget, "thinking": vars(self.thinking), "answer": vars(self.answer)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetCalls:
        return cls(
            int(data["budget"]), CallTokens(**data["thinking"]), CallTokens(**data["answer"])
        )


@dataclass
class ChatResult:
    """What one call produced. ``error`` is set (and ``text`` empty) when the call failed.

    ``reasoning_truncated``: a reasoning model's output had no ``</think>`` (cut off while
    thinking); ``text`` then holds the whole output, as the DRP reference code keeps it.
    ``cached_prompt_tokens``: prompt tokens the backend served from its prefix (KV) cache
    rather than computing them, when it says so (None: not reported).
    ``budget``: the two calls of a reasoning budget (None: one call, no budget); the token
    fields above are then the sums of both calls.
    """

    text: str
    reasoning: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    error: str | None = None
    cached: bool = False
    reasoning_truncated: bool = False
    cached_prompt_tokens: int | None = None
    budget: BudgetCalls | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    """A model behind one call.

    ``identity`` is everything that changes the model's output apart from the request
    (model id, revision or file hash, backend settings); the call cache keys on it.
    ``chat`` returns one result per request, in order, and never raises for a failed call:
    failures are results with ``error`` set. ``on_result(index, result)`` is called once per
    finished call, as soon as it finishes (callers persist results and show progress with it).
    """

    identity: dict[str, Any]

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]: ...

    def close(self) -> None: ...
