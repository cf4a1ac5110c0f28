"""Split reasoning-model output into reasoning and answer, as the DRP reference code does."""

from __future__ import annotations

from typing import NamedTuple

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ReasoningSplit(NamedTuple):
    """The parts of one output. ``truncated``: a reasoning model's output without
    ``</think>`` (cut off while thinking); its whole text is then the answer."""

    reasoning: str | None
    answer: str
    truncated: bool = False


def split_reasoning(text: str, reasoning_model: bool = False) -> ReasoningSplit:
    """A reasoning model's output: text before the first ``</think>`` is reasoning, the rest
    the answer. Any other model's whole (stripped) output is the answer, ``</think>`` and all:
    the DRP reference splits only its R1-Distill outputs, never the Qwen ones
    (``1_get_diff_outputs_deepseek.py:160-166`` against ``1_get_diff_outputs_qwen.py``,
    ``2_get_final_outputs.py``, commit 54c0adc).

    R1-Distill chat templates open ``<think>`` in the prompt, so outputs often hold only the
    closing tag; a leading ``<think>`` is dropped from the reasoning when present. Without
    ``</think>`` the whole (stripped) text is the answer, as in DRP's
    ``1_get_diff_outputs_deepseek.py`` (lines 162-165), flagged ``truncated``.
    """
    if not reasoning_model:
        return ReasoningSplit(None, text.strip())
    head, sep, tail = text.partition(THINK_CLOSE)
    if sep:
        return ReasoningSplit(_strip_open(head.strip()), tail.strip())
    return ReasoningSplit(None, text.strip(), truncated=True)


def split_separated(content: str, reasoning: str, finish_reason: str | None) -> ReasoningSplit:
    """An output a server already split (``reasoning_content``, e.g. vLLM's ``deepseek_r1``
    parser, which puts an output without ``</think>`` wholly into the reasoning).

    An empty answer after reasoning that hit the token limit is such a cut-off output: its
    reasoning becomes the answer, flagged ``truncated``, as :func:`split_reasoning` does for
    the raw text.
    """
    reasoning, answer = reasoning.strip(), content.strip()
    if reasoning and not answer and finish_reason == "length":
        return ReasoningSplit(None, reasoning, truncated=True)
    return ReasoningSplit(reasoning or None, answer)


def _strip_open(reasoning: str) -> str:
    if reasoning.startswith(THINK_OPEN):
        return reasoning[len(THINK_OPEN) :].strip()
    return reasoning
