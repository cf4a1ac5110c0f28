"""``echo``: a backend without a model that answers with the first words of the prompt.

For trying a method's plumbing offline (never report its scores). Its answers depend only on
the request, so the call cache may keep them like any model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback


class EchoBackend:
    """Answers with the first ``words`` words of the last message."""

    name = "echo"
    exclusive_gpu = False

    def __init__(self, words: int = 12) -> None:
        self.words = words
        self.identity = self.identity_for(words)

    @classmethod
    def spec_kwargs(cls, spec: Any) -> dict[str, Any]:
        """The constructor's arguments from a model entry (drp-bench's ``ModelSpec``: its
        ``backend.options``)."""
        return {"words": int(spec.options().get("words", 12))}

    @classmethod
    def identity_for(cls, words: int = 12) -> dict[str, Any]:
        return {"backend": cls.name, "words": words}

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        results = []
        for i, request in enumerate(requests):
            head = request.messages[-1]["content"].split()[: self.words]
            result = ChatResult(
                text=" ".join(head),
                prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
                completion_tokens=len(head),
                finish_reason="stop",
            )
            if on_result is not None:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass
