"""The pipeline's routing between stages, with a scripted stand-in for the LLM.

The stand-in only tests the code around the model (which stage sees what, how failures and
malformed outputs are kept); no reported figure comes from it.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.backends.base import ChatResult
from drp_bench.cli import CONF_DIR
from drp_bench.config import RunConfig
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.representatives import Embedder, EmbedderSpec
from drp_bench.pipeline.runner import BackendPool, Pipeline
from drp_bench.summary import summarize_run

FEATURE = (
    "--- [Sentence Length] Definition: how long sentences are. "
    "Difference Description: the user writes shorter sentences. ---"
)


class ScriptedModel:
    """Answers by the kind of prompt; records every prompt it was sent."""

    def __init__(self, fail_generation_for: str | None = None, malformed_extraction=False):
        self.prompts: list[str] = []
        self.fail_generation_for = fail_generation_for
        self.malformed_extraction = malformed_extraction
        self.identity = {"backend": "scripted"}

    def answer(self, prompt: str) -> ChatResult:
        self.prompts.append(prompt)
        if "[Candidate features]" in prompt:
            return ChatResult(text="Valid ones:\n" + FEATURE, prompt_tokens=10, completion_tokens=5)
        if "Compare the target user's review" in prompt:
            text = "no structure here" if self.malformed_extraction else FEATURE + "\n" + FEATURE
            return ChatResult(text=text, prompt_tokens=10, completion_tokens=5)
        if "[Summary]:" in prompt:
            return ChatResult(text="[Summary]: terse writer", prompt_tokens=10, completion_tokens=3)
        if self.fail_generation_for and self.fail_generation_for in prompt:
            return ChatResult(text="", error="HTTP 500 after 3 attempts")
        return ChatResult(text="[Review]: Short. Good.", prompt_tokens=10, completion_tokens=4)

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            result = self.answer(request.messages[-1]["content"])
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self):
        pass


@pytest.fixture(scope="module")
def embedder():
    return Embedder(EmbedderSpec())


def _config(method: str, *overrides: str) -> RunConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"method={method}", *overrides])
    return RunConfig.from_config(OmegaConf.to_container(cfg, resolve=True))


def _run(cfg: RunConfig, dataset, embedder, model: ScriptedModel):
    contexts = build_contexts(
        dataset,
        cfg.method.past_reviews,
        cfg.method.differences,
        cfg.num_retrieved,
        cfg.num_users,
        cfg.seed,
        embedder,
    )
    pool = BackendPool(None, opener=lambda spec: model)
    return Pipeline(cfg, pool, PromptRenderer()).run(dataset, contexts)


def test_drp_validates_extracted_features_and_summarizes_the_validated_ones(tiny_dataset, embedder):
    model = ScriptedModel()
    cfg = _config("drp", "num_users=2")
    records = _run(cfg, tiny_dataset, embedder, model)
    first = records[0]
    assert [s for s in first["stages"]] == ["extract", "validate", "summarize", "generate"]
    assert len(first["stages"]["extract"]) == 2  # items A and B have 2 other reviewers each
    assert len(first["stages"]["extract"][0]["features"]) == 2
    assert len(first["stages"]["validate"][0]["features"]) == 1
    summary_prompt = next(p for p in model.prompts if "[Summary]:" in p)
    assert summary_prompt.count("Sentence Length") == 2  # one validated feature per item
    generation_prompt = model.prompts[-3]
    assert "terse writer" in generation_prompt
    assert first["prediction"] == "Short. Good."


def test_summary_can_read_the_extracted_features_as_the_drp_code_does(tiny_dataset, embedder):
    model = ScriptedModel()
    cfg = _config("drp", "num_users=2", "method.summary_reads=extracted")
    _run(cfg, tiny_dataset, embedder, model)
    summary_prompt = next(p for p in model.prompts if "[Summary]:" in p)
    assert summary_prompt.count("Sentence Length") == 4


def test_dpl_uses_fixed_dimensions_and_no_validation(tiny_dataset, embedder):
    model = ScriptedModel()
    records = _run(_config("dpl", "num_users=2"), tiny_dataset, embedder, model)
    assert "validate" not in records[0]["stages"]
    assert any("Semantic Style" in p for p in model.prompts)


def test_rag_and_nonp_make_one_generation_call_per_sample(tiny_dataset, embedder):
    for method, has_past in (("rag", True), ("nonp", False)):
        model = ScriptedModel()
        records = _run(_config(method), tiny_dataset, embedder, model)
        assert len(model.prompts) == len(tiny_dataset.samples)
        assert list(records[0]["stages"]) == ["generate"]
        assert ("past reviews" in model.prompts[0]) is has_past


def test_a_failed_generation_is_recorded_and_the_run_goes_on(tiny_dataset, embedder):
    model = ScriptedModel(fail_generation_for="Jazz at Dusk")
    cfg = _config("rag")
    records = _run(cfg, tiny_dataset, embedder, model)
    assert records[0]["prediction"] == "" and "HTTP 500" in records[0]["error"]
    assert records[1]["prediction"] == "Short. Good."
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["calls"]["failed"] == 1
    assert metrics["failed_samples"] == 1


def test_malformed_extraction_is_kept_raw_and_counted(tiny_dataset, embedder):
    model = ScriptedModel(malformed_extraction=True)
    cfg = _config("dpl", "num_users=2")
    records = _run(cfg, tiny_dataset, embedder, model)
    entry = records[0]["stages"]["extract"][0]
    assert entry["parse_ok"] is False and entry["output"] == "no structure here"
    summary_prompt = next(p for p in model.prompts if "[Summary]:" in p)
    assert "no structure here" in summary_prompt
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["features"]["malformed"] == metrics["features"]["items"] == 6  # 3 users x 2


def test_local_gpu_engines_are_loaded_one_at_a_time():
    from drp_bench.backends.base import ChatRequest

    cfg = _config(
        "drp", "model@extractor=qwen2.5-7b-instruct", "model@generator=qwen2.5-14b-instruct"
    )
    opened: list[str] = []
    closed: list[str] = []

    class Engine(ScriptedModel):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def close(self):
            closed.append(self.name)

    def opener(spec):
        opened.append(spec.name)
        return Engine(spec.name)

    pool = BackendPool(None, opener=opener)
    request = [ChatRequest(({"role": "user", "content": "hi"},))]
    pool.get(cfg.roles["extractor"]).chat(request)
    pool.get(cfg.roles["validator"]).chat(request)
    assert opened == ["Qwen2.5-7B-Instruct"] and closed == []
    pool.get(cfg.roles["generator"]).chat(request)
    assert opened == ["Qwen2.5-7B-Instruct", "Qwen2.5-14B-Instruct"]
    assert closed == ["Qwen2.5-7B-Instruct"]
    pool.close()
    assert closed == ["Qwen2.5-7B-Instruct", "Qwen2.5-14B-Instruct"]
