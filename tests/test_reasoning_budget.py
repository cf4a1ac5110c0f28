"""A reasoning budget with budget forcing: what each call reads, what is recorded, the cache key,
the config; on a scripted server, a scripted vLLM engine, the embedded model and a real
llama.cpp server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drp_bench.backends.base import ChatRequest, ChatResult, SamplingParams
from drp_bench.backends.budget import OPEN_THINKING, thinking_prompt
from drp_bench.backends.cache import CachedBackend, CallCache
from drp_bench.backends.openai_compat import OpenAIBackend
from drp_bench.config.models import ModelSpec
from drp_bench.pipeline.stages import StageCall
from drp_bench.run.folder import CallRecord
from tests.conftest import require
from tests.servers import FaultProxy, LlamaServer

BUDGET = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=6, seed=5, reasoning_budget=4)
TEMPLATE = "<|user|>{content}<|assistant|>"
MESSAGES = ({"role": "user", "content": "How do the two users differ?"},)


def req(sampling: SamplingParams = BUDGET) -> ChatRequest:
    return ChatRequest(MESSAGES, sampling)


class ScriptedServer:
    """What an OpenAI-compatible server answers, scripted: a chat template endpoint
    (llama.cpp's ``/apply-template``, or vLLM's ``/tokenize`` + ``/detokenize``) and
    ``/v1/completions`` answering the i-th call with ``script[i]`` (text, finish reason);
    it counts tokens as one per character."""

    def __init__(self, script: list[tuple[str, str]], llama_cpp: bool = True) -> None:
        self.script = list(script)
        self.completions: list[dict[str, Any]] = []
        routes = {
            "/apply-template": self._apply_template if llama_cpp else lambda _: None,
            "/tokenize": self._tokenize,
            "/detokenize": self._detokenize,
            "/v1/completions": self._complete,
        }
        self.proxy = FaultProxy("http://127.0.0.1:9", routes=routes)

    @staticmethod
    def _render(body: dict[str, Any]) -> str:
        return "".join(TEMPLATE.format(content=m["content"]) for m in body["messages"])

    def _apply_template(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": self._render(body)}

    def _tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        assert body["add_generation_prompt"] is True
        return {"tokens": [ord(c) for c in self._render(body)]}

    @staticmethod
    def _detokenize(body: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": "".join(chr(t) for t in body["tokens"])}

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        self.completions.append(body)
        text, finish = self.script[len(self.completions) - 1]
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(text)}
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {**usage, "total_tokens": sum(usage.values())},
        }

    def __enter__(self) -> ScriptedServer:
        self.proxy.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.stop()


def _backend(server: ScriptedServer, reasoning: bool = True) -> OpenAIBackend:
    return OpenAIBackend(server.proxy.base_url, "m", reasoning=reasoning, max_retries=0)


# ---- a scripted OpenAI-compatible server ------------------------------------------------------


@pytest.mark.parametrize("llama_cpp", [True, False], ids=["apply-template", "tokenize"])
def test_budget_reached_closes_the_thinking_and_the_answer_continues_from_it(
    llama_cpp: bool,
) -> None:
    with ScriptedServer([("abcd", "length"), ("Loud.", "stop")], llama_cpp) as server:
        (result,) = _backend(server).chat([req()])
    first, second = server.completions
    prompt = TEMPLATE.format(content=MESSAGES[0]["content"]) + OPEN_THINKING
    assert (first["prompt"], first["max_tokens"], first["stop"]) == (prompt, 4, ["</think>"])
    assert second["prompt"] == prompt + "abcd" + "</think>"
    assert second["max_tokens"] == 6 and "stop" not in second
    assert (result.text, result.reasoning, result.finish_reason) == ("Loud.", "abcd", "stop")
    budget = result.budget
    assert budget is not None and budget.forced and budget.budget == 4
    assert (budget.thinking.prompt_tokens, budget.thinking.completion_tokens) == (len(prompt), 4)
    assert (budget.answer.prompt_tokens, budget.answer.completion_tokens) == (len(prompt) + 12, 5)
    assert result.prompt_tokens == 2 * len(prompt) + 12 and result.completion_tokens == 9


def test_thinking_closed_by_the_model_within_the_budget_is_not_forced() -> None:
    with ScriptedServer([("ab\n", "stop"), ("Quiet.", "stop")]) as server:
        (result,) = _backend(server).chat([req()])
    assert server.completions[1]["prompt"].endswith(OPEN_THINKING + "ab\n</think>")
    assert result.budget is not None and not result.budget.forced
    assert (result.text, result.reasoning) == ("Quiet.", "ab")


def test_a_failed_thinking_call_is_an_error_result_and_no_answer_call_is_made() -> None:
    with ScriptedServer([]) as server:  # the script is empty: the server fails the call
        (result,) = _backend(server).chat([req()])
    assert not result.ok and "thinking call of a reasoning budget" in (result.error or "")
    assert len(server.completions) == 1


def test_budget_on_a_backend_for_a_non_reasoning_model_is_an_error_result() -> None:
    with ScriptedServer([("x", "stop")]) as server:
        (result,) = _backend(server, reasoning=False).chat([req()])
    assert not result.ok and "reasoning: false" in (result.error or "")
    assert server.completions == []


def test_without_a_budget_the_chat_endpoint_is_used_as_before() -> None:
    seen: list[dict[str, Any]] = []

    def chat(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        message = {"role": "assistant", "content": "Fine."}
        return {
            "id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }  # fmt: skip

    with FaultProxy("http://127.0.0.1:9", routes={"/v1/chat/completions": chat}) as proxy:
        backend = OpenAIBackend(proxy.base_url, "m", reasoning=True, max_retries=0)
        (result,) = backend.chat([req(SamplingParams(max_tokens=6))])
    assert result.text == "Fine." and result.budget is None
    assert len(seen) == 1 and seen[0]["max_tokens"] == 6


# ---- what is recorded and cached --------------------------------------------------------------


def _forced_result() -> ChatResult:
    with ScriptedServer([("abcd", "length"), ("Loud.", "stop")]) as server:
        return _backend(server).chat([req()])[0]


def test_the_record_holds_both_calls_and_the_exact_thinking_tokens() -> None:
    result = _forced_result()
    record = StageCall([dict(m) for m in MESSAGES], result).record()
    assert record["reasoning_tokens"] == 4  # the thinking call's completion tokens
    assert record["budget"]["thinking"]["finish_reason"] == "length"
    assert record["budget"]["answer"]["completion_tokens"] == 5
    checked = CallRecord.model_validate(json.loads(json.dumps(record)))
    assert checked.to_json_dict()["budget"] == record["budget"]


def test_a_record_without_a_budget_is_written_as_before() -> None:
    record = StageCall([], ChatResult(text="x", completion_tokens=1)).record()
    assert "budget" not in record
    assert "budget" not in CallRecord.model_validate(record).to_json_dict()


def test_the_cache_key_holds_the_budget_and_the_stored_result_its_calls(tmp_path) -> None:
    identity = {"backend": "openai", "model": "m"}
    plain = CallCache.key(identity, req(SamplingParams()))
    assert CallCache.key(identity, req(SamplingParams(reasoning_budget=None))) == plain
    assert CallCache.key(identity, req()) != CallCache.key(
        identity, req(SamplingParams(temperature=0.0, top_p=1.0, max_tokens=6, seed=5))
    )
    assert CallCache.key(identity, req()) != CallCache.key(
        identity, req(SamplingParams(top_p=1.0, max_tokens=6, seed=5, reasoning_budget=8))
    )
    with ScriptedServer([("abcd", "length"), ("Loud.", "stop")]) as server:
        cache = CallCache(tmp_path / "calls.sqlite")
        backend = CachedBackend(_backend(server), cache)
        (fresh,) = backend.chat([req()])
        (again,) = backend.chat([req()])
    assert len(server.completions) == 2 and again.cached
    assert again.budget == fresh.budget and again.text == fresh.text


# ---- config -----------------------------------------------------------------------------------


def _entry(reasoning: bool, budget: object) -> dict[str, Any]:
    return {
        "name": "m", "hub_id": "org/m", "family": "f", "params_b": 1.0,
        "reasoning": reasoning, "backend": {"kind": "openai"},
        "sampling": {"max_tokens": 64, "reasoning_budget": budget},
    }  # fmt: skip


def test_a_budget_on_a_model_without_reasoning_is_a_config_error() -> None:
    with pytest.raises(
        ValueError, match=r"extractor\.sampling\.reasoning_budget.*reasoning: false"
    ):
        ModelSpec.from_config(_entry(False, 512), "extractor")
    assert ModelSpec.from_config(_entry(False, None), "x").sampling.reasoning_budget is None


@pytest.mark.parametrize("bad", [0, -3, "512", 1.5, True])
def test_a_budget_that_is_not_a_positive_int_is_a_config_error(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        ModelSpec.from_config(_entry(True, bad), "extractor")


def test_the_budget_is_a_hydra_override_of_a_models_sampling() -> None:
    from drp_bench.config.run_config import RunConfig
    from tests.test_config import _compose

    model = "model@extractor=r1-distill-qwen-7b"
    cfg = RunConfig.from_config(_compose([model, "extractor.sampling.reasoning_budget=512"]))
    sampling = cfg.roles["extractor"].sampling
    assert sampling.reasoning_budget == 512
    assert sampling.completion_limit() == sampling.max_tokens + 512
    default = RunConfig.from_config(_compose([model]))
    assert default.roles["extractor"].sampling.reasoning_budget is None
    with pytest.raises(ValueError, match="reasoning: false"):
        RunConfig.from_config(_compose(["extractor.sampling.reasoning_budget=512"]))


# ---- a scripted vLLM engine (the documented LLM API, nothing else) ----------------------------


class _Tokenizer:
    def apply_chat_template(self, conversation, tokenize: bool, add_generation_prompt: bool):
        assert tokenize is False and add_generation_prompt is True
        return "<s>" + "".join(TEMPLATE.format(content=m["content"]) for m in conversation)

    @staticmethod
    def encode(text: str, add_special_tokens: bool) -> list[int]:
        assert add_special_tokens is False
        return [ord(c) for c in text]


class _Params:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class _ScriptedLLM:
    """``LLM.get_tokenizer`` and ``LLM.generate`` answering batch i with ``script[i]``."""

    def __init__(self, script: list[list[tuple[str, str]]]) -> None:
        self.script, self.batches = script, []

    def get_tokenizer(self) -> _Tokenizer:
        return _Tokenizer()

    def generate(self, prompts, sampling_params, use_tqdm: bool):
        from types import SimpleNamespace

        self.batches.append((prompts, [p.kwargs for p in sampling_params]))
        return [
            SimpleNamespace(
                prompt_token_ids=p["prompt_token_ids"],
                num_cached_tokens=None,
                outputs=[SimpleNamespace(text=t, token_ids=[0] * len(t), finish_reason=f)],
            )
            for p, (t, f) in zip(prompts, self.script[len(self.batches) - 1], strict=True)
        ]


def test_vllm_runs_a_batch_of_thinking_calls_then_a_batch_of_answer_calls() -> None:
    from types import SimpleNamespace

    from drp_bench.backends.vllm_offline import VLLMBackend

    backend = object.__new__(VLLMBackend)  # no engine: the scripted one stands in
    llm = _ScriptedLLM([[("ab", "length"), ("c", "stop")], [("A.", "stop"), ("B.", "stop")]])
    backend._llm, backend._vllm = llm, SimpleNamespace(SamplingParams=_Params)
    backend.reasoning, backend.batch_size = True, 8
    results = backend.chat([req(), req()])
    (first, first_params), (second, second_params) = llm.batches
    prompt = "<s>" + TEMPLATE.format(content=MESSAGES[0]["content"]) + OPEN_THINKING
    assert first[0]["prompt_token_ids"] == [ord(c) for c in prompt]
    assert first_params[0] == {**dict(first_params[0]), "max_tokens": 4, "stop": ["</think>"]}
    assert second[0]["prompt_token_ids"] == [ord(c) for c in prompt + "ab</think>"]
    assert second_params[0]["max_tokens"] == 6 and second_params[0]["stop"] == []
    assert [(r.reasoning, r.text, r.budget.forced) for r in results] == [
        ("ab", "A.", True), ("c", "B.", False),
    ]  # fmt: skip
    assert results[0].completion_tokens == 4 and results[0].prompt_tokens == 2 * len(prompt) + 10


def test_a_template_that_opens_the_thinking_block_is_left_as_it_is() -> None:
    assert thinking_prompt("<｜Assistant｜><think>\n") == "<｜Assistant｜><think>\n"
    assert thinking_prompt("<|im_start|>assistant\n") == "<|im_start|>assistant\n<think>\n"


# ---- the embedded model and a real llama.cpp server -------------------------------------------

SMALL = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=6, seed=5, reasoning_budget=8)


@pytest.fixture(scope="module")
def embedded() -> Iterator[Any]:
    require("llama_cpp", "llama-cpp-python")
    from drp_bench.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(n_ctx=512, n_threads=1, reasoning=True)
    yield backend
    backend.close()


@pytest.mark.slow
def test_embedded_model_answers_after_the_thinking_it_was_forced_to_close(
    embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []  # each raw completion's prompt and what came back
    real = embedded.complete

    def spy(prompt: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((prompt, real(prompt, *args, **kwargs)))
        return calls[-1][1]

    monkeypatch.setattr(embedded, "complete", spy)
    (result,) = embedded.chat([req(SMALL)])
    budget = result.budget
    assert result.ok and budget is not None and len(calls) == 2
    (first, thinking), (second, answer) = calls
    assert first == thinking_prompt(embedded.render(MESSAGES))
    assert first.endswith("<|im_start|>assistant\n<think>\n")  # SmolLM2's template + <think>
    assert second == first + thinking.text + "</think>"
    assert budget.forced and budget.thinking.completion_tokens == 8  # SmolLM2 never closes it
    for prompt, call in ((first, budget.thinking), (second, budget.answer)):
        tokens = embedded._llm.tokenize(prompt.encode(), add_bos=False, special=True)
        assert call.prompt_tokens == len(tokens)
    assert (budget.answer.completion_tokens, result.text) == (
        answer.completion_tokens, answer.text.strip(),
    )  # fmt: skip
    # the answer call continues from the thinking call's tokens, still in the KV cache
    assert budget.answer.cached_prompt_tokens >= budget.thinking.prompt_tokens
    assert result.completion_tokens == 8 + budget.answer.completion_tokens


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.backends.bundled import bundled_gguf_path

    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with LlamaServer(bundled_gguf_path(), n_ctx=1024, log_path=log) as server:
        yield server


@pytest.mark.slow
def test_through_a_real_llama_cpp_server_counts_are_the_servers_own(
    llama_server: LlamaServer, embedded
) -> None:
    """llama-cpp-python's server has /v1/completions but not llama.cpp's /apply-template: the
    proxy answers that one with the GGUF's own template (the embedded backend's rendering)."""
    template = {"/apply-template": lambda body: {"prompt": embedded.render(body["messages"])}}
    with FaultProxy(llama_server.root_url, routes=template) as proxy:
        backend = OpenAIBackend(proxy.base_url, "smollm2", reasoning=True, max_retries=0)
        (result,) = backend.chat([req(SMALL)])
    sent = [json.loads(b) for b in proxy.bodies if b"prompt" in b and b"messages" not in b]
    assert result.ok and len(sent) == 2 and len(proxy.responses) == 2
    thinking, answer = proxy.responses
    assert sent[0]["prompt"].endswith("<think>\n") and sent[0]["max_tokens"] == 8
    assert sent[1]["prompt"] == sent[0]["prompt"] + thinking["choices"][0]["text"] + "</think>"
    budget = result.budget
    for call, response in ((budget.thinking, thinking), (budget.answer, answer)):
        usage = response["usage"]
        assert (call.prompt_tokens, call.completion_tokens) == (
            usage["prompt_tokens"], usage["completion_tokens"],
        )  # fmt: skip
        assert call.finish_reason == response["choices"][0]["finish_reason"]
    assert result.text == answer["choices"][0]["text"].strip()


# ---- plan -------------------------------------------------------------------------------------


def test_plan_costs_a_budget_as_a_thinking_call_and_an_answer_call(tmp_path) -> None:
    from drp_bench.plan.engine import plan_job
    from tests.test_plan import _resolved

    base = [
        "method=nonp", "dataset.limit=3", f"cache.path={tmp_path / 'calls.sqlite'}",
        "model@generator=r1-distill-qwen-7b", "generator.sampling.max_tokens=100",
    ]  # fmt: skip
    budgeted = [*base, "generator.sampling.reasoning_budget=50"]
    (plain,) = plan_job(base, _resolved(base)).stages
    (forced,) = plan_job(budgeted, _resolved(budgeted)).stages
    assert (plain.max_tokens, forced.max_tokens) == (100, 150)  # answer cap + thinking cap
    assert forced.completion_tokens_expected == 3 * 150
    # the answer call reads the prompt again and at most the budget of thinking
    assert forced.prompt_tokens == 2 * plain.prompt_tokens + 3 * 50


def test_a_leaderboard_entry_names_a_budget_only_when_the_run_had_one() -> None:
    from drp_bench.leaderboard.submit import _role_model

    def sampling(budget: int | None) -> dict[str, Any]:
        block = {**_entry(budget is not None, budget), "backend": {"kind": "openai"}}
        return _role_model("extractor", {"extractor": block})["sampling"]

    assert sampling(None) == {"max_tokens": 64}  # as entries were before budgets
    assert sampling(512) == {"max_tokens": 64, "reasoning_budget": 512}


def test_a_row_with_a_budgeted_call_is_written_as_version_5_and_one_without_as_4() -> None:
    from drp_bench.run.folder import PREDICTIONS, iter_predictions, written_version

    folder = Path(__file__).resolve().parent / "data" / "run_folder_v3"
    row = next(iter_predictions(folder / PREDICTIONS))
    assert written_version(row) == "4"
    budgeted = StageCall([dict(m) for m in MESSAGES], _forced_result()).record()
    stages = row.stages.model_copy(update={"generate": CallRecord.model_validate(budgeted)})
    assert written_version(row.model_copy(update={"stages": stages})) == "5"
