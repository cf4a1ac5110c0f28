"""Split reasoning-model output into reasoning and answer."""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def split_reasoning(text: str, reasoning_model: bool = False) -> tuple[str | None, str]:
    """Return (reasoning, answer): text before the first ``</think>`` is reasoning.

    R1-Distill chat templates open ``<think>`` in the prompt, so outputs often hold only the
    closing tag; a leading ``<think>`` is dropped from the reasoning when present. Without
    ``</think>``, the output of a reasoning model was cut off while thinking (all reasoning,
    no answer); that of any other model is all answer.
    """
    head, sep, tail = text.partition(THINK_CLOSE)
    if not sep:
        if reasoning_model:
            return _strip_open(head.strip()), ""
        return None, text.strip()
    return _strip_open(head.strip()), tail.strip()


def _strip_open(reasoning: str) -> str:
    if reasoning.startswith(THINK_OPEN):
        return reasoning[len(THINK_OPEN) :].strip()
    return reasoning
