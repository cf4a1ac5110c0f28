"""The vLLM offline backend: what can be checked without a GPU and without vLLM."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from drp_bench.backends.base import SamplingParams
from drp_bench.backends.registry import create_backend
from drp_bench.backends.vllm_offline import VLLMBackend, result_from_output, vllm_sampling_kwargs

needs_no_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here"
)


@needs_no_vllm
def test_missing_vllm_raises_import_error_with_install_hint() -> None:
    with pytest.raises(ImportError, match=r"pip install 'drp-bench\[vllm\]' on a GPU machine"):
        VLLMBackend("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")


@needs_no_vllm
def test_registry_builds_vllm_lazily_and_reports_missing_vllm() -> None:
    with pytest.raises(ImportError, match="drp-bench"):
        create_backend("vllm", model="some/model")


def test_sampling_kwargs_set_every_parameter_explicitly() -> None:
    kwargs = vllm_sampling_kwargs(SamplingParams(temperature=0, top_p=0.9, max_tokens=512, seed=3))
    assert kwargs == {"n": 1, "temperature": 0.0, "top_p": 0.9, "max_tokens": 512, "seed": 3}
    assert isinstance(kwargs["temperature"], float)


def _output(text: str, n_prompt: int, n_out: int, finish: str | None) -> SimpleNamespace:
    """The documented attributes of vllm.RequestOutput / CompletionOutput, nothing else."""
    completion = SimpleNamespace(text=text, token_ids=list(range(n_out)), finish_reason=finish)
    return SimpleNamespace(prompt_token_ids=list(range(n_prompt)), outputs=[completion])


def test_output_conversion_counts_tokens_and_keeps_finish_reason() -> None:
    r = result_from_output(_output("A fine record.", 40, 5, "stop"), False, 0.5)
    assert (r.text, r.reasoning, r.prompt_tokens, r.completion_tokens) == (
        "A fine record.", None, 40, 5,
    )  # fmt: skip
    assert (r.finish_reason, r.latency_s, r.ok) == ("stop", 0.5, True)


def test_output_conversion_splits_reasoning_at_closing_think_tag() -> None:
    r = result_from_output(
        _output("users differ in tone\n</think>\n\nLoud.", 10, 9, "stop"), True, 0
    )
    assert (r.reasoning, r.text) == ("users differ in tone", "Loud.")


def test_truncated_reasoning_output_is_kept_whole_and_flagged() -> None:
    # DRP keeps an output without </think> whole as the answer (1_get_diff_outputs_deepseek.py)
    r = result_from_output(_output("still thinking about", 10, 4, "length"), True, 0)
    assert (r.reasoning, r.text, r.finish_reason) == (None, "still thinking about", "length")
    assert r.reasoning_truncated
    assert not result_from_output(_output("an answer", 10, 2, "stop"), False, 0).reasoning_truncated


def test_output_without_completion_is_an_error_result() -> None:
    r = result_from_output(SimpleNamespace(prompt_token_ids=[1], outputs=[]), False, 0)
    assert not r.ok and r.text == ""


def test_prefix_cache_hits_are_read_from_num_cached_tokens() -> None:
    """RequestOutput.num_cached_tokens ("tokens with prefix cache hit"; None or absent in
    releases without it) becomes cached_prompt_tokens."""
    hit = _output("ok", 40, 2, "stop")
    hit.num_cached_tokens = 32
    assert result_from_output(hit, False, 0.1).cached_prompt_tokens == 32
    unknown = _output("ok", 40, 2, "stop")
    unknown.num_cached_tokens = None
    assert result_from_output(unknown, False, 0.1).cached_prompt_tokens is None
    assert result_from_output(_output("ok", 40, 2, "stop"), False, 0.1).cached_prompt_tokens is None
