"""``prompts.mode: reference_exact``: the reference's hand-written prompt strings, byte for byte,
sent as raw completions through every backend (the call cache, retries and budget included).

The expected strings are built here from the format DRP's ``utils/templates.py`` documents
(Chen-Suyu/DRP @ 54c0adc, lines 1-21; DPL's Qwen template, SnowCharmQ/DPL @ 7c71663 lines
1-11, is the same string), independently of drp_bench.pipeline.reference_prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.backends.base import ChatRequest, SamplingParams
from drp_bench.backends.cache import CachedBackend, CallCache, canonical_json, sampling_key
from drp_bench.backends.openai_compat import OpenAIBackend
from drp_bench.backends.pool import BackendPool
from drp_bench.config.run_config import RunConfig
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.reference_prompts import (
    chatml_reference,
    r1_reference,
    role_wrappers,
)
from drp_bench.pipeline.representatives import Embedder, EmbedderSpec
from drp_bench.pipeline.runner import Pipeline
from drp_bench.resources import config_dir
from drp_bench.run.prompts_fingerprint import prompts_fingerprint
from tests.conftest import require
from tests.servers import FaultProxy, LlamaServer
from tests.test_pipeline import ScriptedModel

SYSTEM = "You compare reviews.\nAnswer in the format below."
USER = "[Item]\nItem title: Pink Moon\n\n[Target review]\nQuiet, lovely."
QWEN_DEFAULT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
SHORT = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=8, seed=11)


def qwen2_reference(user_message: str, system_prompt: str | None) -> str:
    """DRP/DPL ``Qwen2PromptTemplate.build_prompt``: a system turn closed by ``<|im_end|>``
    with no newline after it (its default turn has one), the user turn, the assistant opened."""
    im_start, im_end = "<|im_start|>", "<|im_end|>"
    if system_prompt is None:
        sys_turn = im_start + "system\n" + QWEN_DEFAULT + im_end + "\n"
    else:
        sys_turn = im_start + "system\n" + system_prompt + im_end
    return sys_turn + im_start + "user\n" + user_message + im_end + "\n" + im_start + "assistant\n"


def r1_reference_string(user_message: str) -> str:
    """DRP ``DeepSeekR1PromptTemplate.build_prompt``: the text "bos_token", ASCII-bar role
    tags and an opened thinking block."""
    return "bos_token" + "<|User|>" + user_message + "<|Assistant|>" + "<think>" + "\n"


def chat(system: str | None, user: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system is not None else []
    return [*head, {"role": "user", "content": user}]


# ---- the wrappers -----------------------------------------------------------------------------


def test_chatml_reference_is_the_reference_string_byte_for_byte() -> None:
    got = chatml_reference(chat(SYSTEM, USER))
    assert got == qwen2_reference(USER, SYSTEM)
    assert f"{SYSTEM}<|im_end|><|im_start|>user\n" in got  # no newline after the system turn
    assert got.encode() == qwen2_reference(USER, SYSTEM).encode()


def test_chatml_reference_without_a_system_message_uses_qwens_default_turn() -> None:
    assert chatml_reference(chat(None, USER)) == qwen2_reference(USER, None)
    assert chatml_reference(chat(None, USER)).startswith(
        f"<|im_start|>system\n{QWEN_DEFAULT}<|im_end|>\n<|im_start|>user\n"
    )


def test_r1_reference_is_the_reference_string_byte_for_byte() -> None:
    got = r1_reference(chat(None, USER))
    assert got == r1_reference_string(USER)
    assert got.startswith("bos_token<|User|>") and got.endswith("<|Assistant|><think>\n")
    assert "\uff5c" not in got  # ASCII bars, not the model's full-width role tokens


def test_r1_reference_joins_the_instruction_to_the_material_as_the_reference_does() -> None:
    # DRP 1_get_diff_outputs_deepseek.py:155: build_prompt(instruction + input), the
    # instruction ending in one newline (line 111)
    assert r1_reference(chat(SYSTEM, USER)) == r1_reference_string(SYSTEM + "\n" + USER)
    assert r1_reference(chat(SYSTEM + "\n", USER)) == r1_reference_string(SYSTEM + "\n" + USER)


@pytest.mark.parametrize("wrap", [chatml_reference, r1_reference])
def test_a_call_that_is_not_one_turn_is_refused(wrap: Any) -> None:
    turns = [*chat(SYSTEM, USER), {"role": "assistant", "content": "ok"}]
    with pytest.raises(ValueError, match=r"found roles \['system', 'user', 'assistant'\]"):
        wrap(turns)


# ---- the run: config, pipeline, records, fingerprint ------------------------------------------


def _config(*overrides: str) -> RunConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return RunConfig.from_config(OmegaConf.to_container(cfg, resolve=True))


PAPER_MODELS = (
    "method=drp",
    "model@extractor=r1-distill-qwen-7b",
    "model@generator=qwen2.5-7b-instruct",
    "num_users=2",
)


class Recorder(ScriptedModel):
    """The pipeline tests' scripted model, keeping every request it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ChatRequest] = []

    def chat(self, requests, on_result=None):
        self.requests.extend(requests)
        return super().chat(requests, on_result)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedderSpec())


def _run(cfg: RunConfig, dataset, embedder: Embedder) -> tuple[Recorder, list[dict[str, Any]]]:
    contexts = build_contexts(dataset, True, True, 8, 2, 42, embedder)
    model = Recorder()
    pool = BackendPool(None, opener=lambda spec: model)
    return model, Pipeline(cfg, pool.for_roles(cfg.roles), PromptRenderer()).run(dataset, contexts)


def test_reference_exact_sends_each_role_its_models_reference_string(tiny_dataset, embedder):
    cfg = _config(*PAPER_MODELS, "prompts.mode=reference_exact")
    model, records = _run(cfg, tiny_dataset, embedder)
    by_stage: dict[str, list[ChatRequest]] = {}
    for request in model.requests:
        by_stage.setdefault(str(request.stage), []).append(request)
    assert set(by_stage) == {"extract", "validate", "summarize", "generate"}
    for stage in ("extract", "validate"):  # the R1-Distill extractor/validator
        for r in by_stage[stage]:
            system, user = r.messages  # rendered apart; the wrapper joins them
            assert r.prompt == r1_reference_string(system["content"] + "\n" + user["content"])
            assert "\n\n" + user["content"] not in r.prompt  # not the chat layout's blank line
    for stage in ("summarize", "generate"):  # the Qwen summarizer/generator
        for r in by_stage[stage]:
            system, user = r.messages
            assert r.prompt == qwen2_reference(user["content"], system["content"])
    stages = records[0]["stages"]
    assert stages["generate"]["prompt"].endswith("<|im_start|>assistant\n")


def test_chat_mode_sends_no_raw_prompt_and_records_none(tiny_dataset, embedder):
    cfg = _config(*PAPER_MODELS)
    model, records = _run(cfg, tiny_dataset, embedder)
    assert model.requests and all(r.prompt is None for r in model.requests)
    assert "prompt" not in records[0]["stages"]["generate"]
    assert role_wrappers(cfg) == {}


def test_reference_exact_with_a_model_without_prompt_format_is_refused() -> None:
    cfg = _config("method=drp", "prompts.mode=reference_exact")  # the embedded SmolLM2
    with pytest.raises(ValueError, match=r"extractor \(SmolLM2-135M-Instruct\): .*prompt_format"):
        role_wrappers(cfg)


def test_an_unknown_prompt_mode_is_refused() -> None:
    cfg = _config("method=nonp", "prompts.mode=raw")
    with pytest.raises(ValueError, match=r"prompts.mode: expected one of .*found 'raw'"):
        role_wrappers(cfg)


def test_the_fingerprint_changes_with_the_mode_and_not_for_chat() -> None:
    chat_cfg = _config(*PAPER_MODELS)
    explicit = _config(*PAPER_MODELS, "prompts.mode=chat")
    exact = _config(*PAPER_MODELS, "prompts.mode=reference_exact")
    assert prompts_fingerprint(chat_cfg) == prompts_fingerprint(explicit)
    assert prompts_fingerprint(exact) != prompts_fingerprint(chat_cfg)


# ---- the call cache ---------------------------------------------------------------------------


def test_the_cache_key_of_a_raw_call_differs_and_chat_keys_stay_as_they_were() -> None:
    messages = tuple(chat(SYSTEM, USER))
    chat_request = ChatRequest(messages, SHORT)
    raw_request = ChatRequest(messages, SHORT, prompt=chatml_reference(messages))
    identity = {"backend": "scripted", "model": "m"}
    before = {  # the key layout of chat calls before raw prompts existed
        "v": 1,
        "identity": identity,
        "sampling": sampling_key(SHORT),
        "messages": [dict(m) for m in messages],
    }
    old_key = hashlib.sha256(canonical_json(before).encode()).hexdigest()
    assert CallCache.key(identity, chat_request) == old_key
    assert CallCache.key(identity, raw_request) != old_key


# ---- openai_compat: POST /v1/completions ------------------------------------------------------


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    """What a completions endpoint answers (vllm serve's and llama.cpp's layout)."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "text": " thought</think>\n\nAnswer.", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36},
    }


@pytest.mark.parametrize("reasoning", [False, True])
def test_openai_sends_the_raw_prompt_to_the_completions_endpoint(tmp_path, reasoning: bool) -> None:
    sent: list[dict[str, Any]] = []

    def completions(body: dict[str, Any]) -> dict[str, Any]:
        sent.append(body)
        return _completion(body)

    messages = tuple(chat(None, f"{SYSTEM}\n\n{USER}"))
    request = ChatRequest(messages, SHORT, prompt=r1_reference(messages))
    routes = {"/v1/completions": completions}
    with FaultProxy("http://127.0.0.1:9", fail_first=1, routes=routes) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="m", reasoning=reasoning)
        with CallCache(tmp_path / "calls.sqlite") as cache:
            cached = CachedBackend(backend, cache)
            (first,) = cached.chat([request])
            (again,) = cached.chat([request])
        backend.close()
    assert proxy.failures_injected == 1 and len(sent) == 1  # retried once; then from the cache
    (body,) = sent
    assert body["prompt"] == r1_reference_string(f"{SYSTEM}\n\n{USER}") and "messages" not in body
    assert (body["max_tokens"], body["seed"], body["temperature"]) == (8, 11, 0.0)
    assert first.ok and again.cached and again.text == first.text
    if reasoning:
        assert (first.reasoning, first.text) == ("thought", "Answer.")
    else:  # a non-reasoning model's output is kept whole, </think> and all
        assert (first.reasoning, first.text) == (None, "thought</think>\n\nAnswer.")


def test_openai_budget_on_a_raw_prompt_thinks_from_the_raw_text_without_a_template() -> None:
    sent: list[dict[str, Any]] = []

    def completions(body: dict[str, Any]) -> dict[str, Any]:
        sent.append(body)
        return _completion(body)

    messages = tuple(chat(None, USER))
    budgeted = SamplingParams(max_tokens=8, seed=11, reasoning_budget=4)
    request = ChatRequest(messages, budgeted, prompt=r1_reference(messages))
    routes = {"/v1/completions": completions, "/apply-template": lambda body: None}
    with FaultProxy("http://127.0.0.1:9", routes=routes) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="m", reasoning=True)
        (result,) = backend.chat([request])
        backend.close()
    assert result.ok and result.budget is not None
    thinking, answer = sent
    assert thinking["prompt"] == r1_reference_string(USER)  # already ends in "<think>\n"
    assert answer["prompt"] == r1_reference_string(USER) + " thought</think>"
    assert proxy.requests_seen == 2  # no /apply-template: the raw text is the prompt


# ---- vllm_offline: LLM.generate(str) ----------------------------------------------------------


class _Params:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class _GenerateOnly:
    """``LLM.generate`` as documented: text prompts in, ``RequestOutput``s out, in order."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, []

    def generate(self, prompts, sampling_params, use_tqdm: bool):
        self.calls.append((prompts, [p.kwargs for p in sampling_params]))
        return [
            SimpleNamespace(
                prompt_token_ids=[0] * 7,
                outputs=[SimpleNamespace(text=self.text, token_ids=[0] * 3, finish_reason="stop")],
            )
            for _ in prompts
        ]

    def chat(self, *args: Any, **kwargs: Any):
        raise AssertionError("a raw request must not go through LLM.chat")


@pytest.mark.parametrize("reasoning", [False, True])
def test_vllm_passes_each_raw_prompt_to_generate_as_a_plain_str(reasoning: bool) -> None:
    from drp_bench.backends.vllm_offline import VLLMBackend

    backend = object.__new__(VLLMBackend)  # no engine: a scripted generate stands in
    llm = _GenerateOnly("weighing</think> Loud.")
    backend._llm, backend._vllm = llm, SimpleNamespace(SamplingParams=_Params)
    backend.reasoning, backend.batch_size = reasoning, 8
    qwen = chat(SYSTEM, USER)
    requests = [ChatRequest(tuple(qwen), SHORT, prompt=chatml_reference(qwen))] * 2
    results = backend.chat(requests)
    ((prompts, params),) = llm.calls
    assert prompts == [qwen2_reference(USER, SYSTEM)] * 2
    assert all(type(p) is str for p in prompts)
    assert params[0] == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "seed": 11}
    expected = ("weighing", "Loud.") if reasoning else (None, "weighing</think> Loud.")
    assert [(r.reasoning, r.text) for r in results] == [expected] * 2


# ---- a real llama.cpp server and the embedded model -------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.backends.bundled import bundled_gguf_path

    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with LlamaServer(bundled_gguf_path(), n_ctx=1024, log_path=log) as server:
        yield server


def test_a_real_llama_cpp_server_completes_the_exact_reference_string(llama_server) -> None:
    messages = tuple(chat(SYSTEM, USER))
    request = ChatRequest(messages, SHORT, prompt=chatml_reference(messages))
    with FaultProxy(llama_server.root_url) as proxy:
        backend = OpenAIBackend(proxy.base_url, model="smollm2")
        (result,) = backend.chat([request])
        backend.close()
    assert result.ok and result.text and result.completion_tokens > 0
    (body,) = [json.loads(b) for b in proxy.bodies]
    assert body["prompt"] == qwen2_reference(USER, SYSTEM)
    assert proxy.responses[0]["object"] == "text_completion"


def test_the_embedded_backend_completes_the_raw_text_with_the_models_bos(tmp_path) -> None:
    require("llama_cpp", "llama-cpp-python")
    from drp_bench.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(n_ctx=512, n_threads=1)
    try:
        prompt = r1_reference_string(USER)
        (result,) = backend.chat([ChatRequest(tuple(chat(None, USER)), SHORT, prompt=prompt)])
        tokens = backend._llm.tokenize(prompt.encode(), add_bos=True, special=True)
    finally:
        backend.close()
    assert result.ok and result.text
    assert result.prompt_tokens == len(tokens)  # the text as llama.cpp's server tokenizes it
