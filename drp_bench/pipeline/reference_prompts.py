"""``prompts.mode: reference_exact``: the papers' own prompt strings, sent as raw completions.

The DRP and DPL code does not call a chat template: it builds each prompt string by hand and
gives it to vLLM's ``LLM.generate`` (DRP ``utils/templates.py:1-21`` at commit 54c0adc, DPL
``utils/templates.py:1-11`` at 7c71663). Two wrappers, chosen per model by its registry entry's
``prompt_format``:

- ``chatml_reference`` (Qwen2.5-Instruct): ChatML with **no** newline after the system turn's
  ``<|im_end|>`` (DRP ``utils/templates.py:8``, DPL ``utils/templates.py:7``); without a system
  message, Qwen's default system turn, which does end in a newline (DRP line 10, DPL line 9).
- ``r1_reference`` (DeepSeek-R1-Distill): ``bos_token<|User|>{user}<|Assistant|><think>\\n``
  (DRP ``utils/templates.py:21``): the literal text ``bos_token`` and ASCII bars, not the
  model's full-width role tokens; no system message (the instruction opens the user turn,
  DRP ``1_get_diff_outputs_deepseek.py:155,184``).

What goes inside the wrapper is what the templates render (the project's words): only the
wrapper is the reference's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drp_bench.config.run_config import RunConfig

Message = Mapping[str, str]
PromptWrapper = Callable[[Sequence[Message]], str]

#: ``prompts.mode``: chat (the model's own chat template) or the reference's raw strings.
PROMPT_MODES = ("chat", "reference_exact")

#: Qwen's default system turn in the reference, used when a call has no system message.
QWEN_DEFAULT_SYSTEM = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n"
)


def _system_and_user(messages: Sequence[Message], fmt: str) -> tuple[str | None, str]:
    """The system text (None: no system message) and the user text of a one-turn call."""
    roles = [m.get("role") for m in messages]
    if roles not in (["user"], ["system", "user"]):
        raise ValueError(
            f"prompt_format {fmt}: expected an optional system message and one user message,"
            f" found roles {roles}"
        )
    system = messages[0]["content"] if roles[0] == "system" else None
    return system, messages[-1]["content"]


def chatml_reference(messages: Sequence[Message]) -> str:
    """DRP/DPL ``Qwen2PromptTemplate.build_prompt``: ``<|im_start|>system\\n{system}<|im_end|>``
    (no newline after it), then the user turn and the opened assistant turn."""
    system, user = _system_and_user(messages, "chatml_reference")
    head = QWEN_DEFAULT_SYSTEM if system is None else f"<|im_start|>system\n{system}<|im_end|>"
    return head + f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def r1_reference(messages: Sequence[Message]) -> str:
    """DRP ``DeepSeekR1PromptTemplate.build_prompt``:
    ``bos_token<|User|>{user}<|Assistant|><think>\\n``. A system message, if any, is the
    instruction and opens the user turn as the reference joins them: the instruction ends in
    one newline and the material follows it directly (DRP ``1_get_diff_outputs_deepseek.py``:
    the instructions end in ``\\n``, lines 111 and 121, and are prefixed to the input, lines
    155 and 184)."""
    system, user = _system_and_user(messages, "r1_reference")
    if system is not None:
        user = (system if system.endswith("\n") else f"{system}\n") + user
    return f"bos_token<|User|>{user}<|Assistant|><think>\n"


#: Wrappers that take the instruction apart from the material (the runner then renders the
#: role's calls with a system part whatever its model's ``instructions_in`` says).
JOINS_INSTRUCTION = frozenset({"r1_reference"})


PROMPT_FORMATS: dict[str, PromptWrapper] = {
    "chatml_reference": chatml_reference,
    "r1_reference": r1_reference,
}


def prompt_mode(prompts: Mapping[str, object]) -> str:
    """The run's ``prompts.mode`` (chat when unset), checked."""
    mode = prompts.get("mode") or "chat"
    if mode not in PROMPT_MODES:
        raise ValueError(f"prompts.mode: expected one of {PROMPT_MODES}, found {mode!r}")
    return str(mode)


def wrapper_for(prompt_format: str | None, where: str) -> PromptWrapper:
    """The wrapper a model entry's ``prompt_format`` names; ``where`` names the entry."""
    if prompt_format is None:
        raise ValueError(
            f"{where}: prompts.mode=reference_exact needs the model entry's prompt_format"
            f" (one of {sorted(PROMPT_FORMATS)}); this entry has none"
        )
    try:
        return PROMPT_FORMATS[prompt_format]
    except KeyError:
        raise ValueError(
            f"{where}.prompt_format: expected one of {sorted(PROMPT_FORMATS)},"
            f" found {prompt_format!r}"
        ) from None


def role_wrappers(cfg: RunConfig) -> dict[str, PromptWrapper]:
    """Role -> wrapper of the roles the method calls, under ``reference_exact`` (empty in chat
    mode). Raises, naming the role and model, for a model entry without a ``prompt_format``."""
    if prompt_mode(cfg.prompts) == "chat":
        return {}
    roles = sorted({s.role for s in cfg.method.stages if s.role})
    return {
        role: wrapper_for(cfg.roles[role].prompt_format, f"{role} ({cfg.roles[role].name})")
        for role in roles
        if role in cfg.roles
    }
