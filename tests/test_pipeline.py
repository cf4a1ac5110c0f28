"""The pipeline's routing between stages, with a scripted stand-in for the LLM.

The stand-in only tests the code around the model (which stage sees what, how failures and
malformed outputs are kept); no reported figure comes from it.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.backends.base import ChatResult
from drp_bench.backends.pool import BackendPool
from drp_bench.config.run_config import RunConfig
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.representatives import Embedder, EmbedderSpec
from drp_bench.pipeline.runner import Pipeline
from drp_bench.resources import config_dir
from drp_bench.run.metrics_file import summarize_run

FEATURE = (
    "--- [Sentence Length] Definition: how long sentences are. "
    "Difference Description: the user writes shorter sentences. ---"
)


NORMALIZED = (
    '{"units": [{"text": "shorter sentences", "category": "Writing", "valid": true, '
    '"key": "writing/sentence-length/lower", "source_feature": "Sentence Length"}, '
    '{"text": "the album is good", "category": "Semantics", "valid": false, "key": null, '
    '"source_feature": "Sentence Length"}]}'
)


class ScriptedModel:
    """Answers by the kind of prompt; records every prompt it was sent."""

    def __init__(
        self,
        fail_generation_for: str | None = None,
        malformed_extraction=False,
        fail_when=None,
    ):
        self.prompts: list[str] = []
        self.fail_generation_for = fail_generation_for
        self.malformed_extraction = malformed_extraction
        self.fail_when = fail_when
        self.identity = {"backend": "scripted"}

    def answer(self, prompt: str) -> ChatResult:
        self.prompts.append(prompt)
        if self.fail_when is not None and self.fail_when(prompt):
            return ChatResult(text="", error="APIConnectionError: Connection error.")
        if "[Keys]" in prompt:
            return ChatResult(text=NORMALIZED, prompt_tokens=20, completion_tokens=9)
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
            # the whole prompt: the instruction is in the system message, the material in the user's
            result = self.answer("\n\n".join(m["content"] for m in request.messages))
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
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
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
    return Pipeline(cfg, pool.for_roles(cfg.roles), PromptRenderer()).run(dataset, contexts)


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


def _is_extraction_of(asin_title: str):
    return lambda prompt: "Compare the target user's review" in prompt and asin_title in prompt


def test_a_failed_extraction_skips_its_validation_and_marks_the_sample(tiny_dataset, embedder):
    model = ScriptedModel(fail_when=_is_extraction_of("Jazz at Dawn"))
    cfg = _config("drp", "num_users=2")
    records = _run(cfg, tiny_dataset, embedder, model)
    first = records[0]
    failed = next(e for e in first["stages"]["extract"] if e["asin"] == "A")
    skipped = next(e for e in first["stages"]["validate"] if e["asin"] == "A")
    assert failed["error"].startswith("APIConnectionError") and not failed["skipped"]
    assert skipped["skipped"] and "extract call of this item failed" in skipped["error"]
    assert first["status"] == "context_incomplete"
    assert first["failed_stages"] == ["extract", "validate"]
    assert first["prediction"] == "Short. Good."  # generated, but without item A's differences
    summary_prompt = next(p for p in model.prompts if "[Summary]:" in p)
    assert "Jazz at Dawn" not in summary_prompt.split("past reviews")[0]
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["status"] == "degraded"
    failures = metrics["failures"]
    assert failures["calls_by_stage"]["extract"]["failed"] == 3  # item A of all three users
    assert failures["calls_by_stage"]["validate"] == {"calls": 6, "failed": 0, "skipped": 3}
    assert failures["samples"] == sorted(s.sample_id for s in tiny_dataset.samples)
    assert metrics["calls"]["skipped"] == 3
    assert "3 of 15 calls failed (extract 3/6, validate 0/3 (+3 skipped))" in failures["reason"]


def test_a_failed_summary_skips_the_generation_of_that_sample(tiny_dataset, embedder):
    model = ScriptedModel(fail_when=lambda p: "[Summary]:" in p and "Nice folk" in p)
    cfg = _config("drp", "num_users=2")
    records = _run(cfg, tiny_dataset, embedder, model)
    assert records[0]["status"] == "failed" and records[0]["prediction"] == ""
    assert records[0]["stages"]["generate"]["skipped"]
    assert records[0]["failed_stages"] == ["summarize", "generate"]
    assert [r["status"] for r in records[1:]] == ["complete", "complete"]
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["failed_samples"] == 1
    assert metrics["failures"]["samples"] == [tiny_dataset.samples[0].sample_id]


def test_a_run_whose_calls_all_succeed_is_complete(tiny_dataset, embedder):
    cfg = _config("drp", "num_users=2")
    records = _run(cfg, tiny_dataset, embedder, ScriptedModel())
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["status"] == "complete" and metrics["failures"] is None
    assert {r["status"] for r in records} == {"complete"}


def test_uvq_normalizes_the_validated_features_inside_the_pipeline(tiny_dataset, embedder):
    model = ScriptedModel()
    cfg = _config("drp", "num_users=2", "uvq=true")
    records = _run(cfg, tiny_dataset, embedder, model)
    entries = records[0]["stages"]["normalize"]
    assert len(entries) == 2 and all(e["parse_ok"] for e in entries)
    assert entries[0]["units"][0]["key"] == "writing/sentence-length/lower"
    normalize_prompt = next(p for p in model.prompts if "[Keys]" in p)
    assert "Sentence Length" in normalize_prompt  # the validated feature is what it reads
    metrics = summarize_run(cfg, tiny_dataset, records)
    uvq = metrics["uvq"]
    assert uvq["users"] == 3 and uvq["mean"] == 1.0  # one unique valid key per user
    assert uvq["invalid_share"] == 0.5  # one of the two units of every item is invalid
    assert uvq["categories"]["Writing"] == 1.0 and sum(uvq["categories"].values()) == 1.0
    assert metrics["compute"]["normalize"]["calls"] == 6


def test_a_failed_normalisation_degrades_the_run_but_not_the_prediction(tiny_dataset, embedder):
    model = ScriptedModel(fail_when=lambda p: "[Keys]" in p and "Jazz at Dawn" in p)
    cfg = _config("drp", "num_users=2", "uvq=true")
    records = _run(cfg, tiny_dataset, embedder, model)
    assert records[0]["status"] == "complete"  # normalisation is analysis, not context
    assert records[0]["failed_stages"] == ["normalize"]
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["status"] == "degraded"
    assert metrics["failures"]["calls_by_stage"]["normalize"]["failed"] == 3


def test_uvq_rule_both_reports_each_rule(tiny_dataset, embedder):
    cfg = _config("drp", "num_users=2", "uvq=true", "uvq_rule=both")
    records = _run(cfg, tiny_dataset, embedder, ScriptedModel())
    uvq = summarize_run(cfg, tiny_dataset, records)["uvq"]
    assert set(uvq["by_rule"]) == {"drop-conflicts", "drp-reference"}
    assert (
        uvq["rule"] == "drop-conflicts" and uvq["mean"] == uvq["by_rule"]["drop-conflicts"]["mean"]
    )
    assert uvq["by_rule"]["drp-reference"]["rule"] == "drp-reference"


def test_with_the_raw_handoff_the_normaliser_reads_the_validation_output_as_written(
    tiny_dataset, embedder
):
    model = ScriptedModel()
    cfg = _config("drp", "num_users=2", "uvq=true", "method.handoff=raw")
    _run(cfg, tiny_dataset, embedder, model)
    normalize_prompt = next(p for p in model.prompts if "[Keys]" in p)
    assert "Valid ones:\n" + FEATURE in normalize_prompt  # the answer verbatim, preamble too


class BatchCounter(ScriptedModel):
    """Counts the batches it is sent (one per stage)."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def chat(self, requests, on_result=None):
        self.batches.append(len(requests))
        return super().chat(requests, on_result)


def test_every_stage_is_one_batch_across_samples(tiny_dataset, embedder):
    model = BatchCounter()
    cfg = _config("drp", "num_users=2", "uvq=true")
    contexts = build_contexts(tiny_dataset, True, True, 8, 2, 42, embedder)
    pipeline = Pipeline(
        cfg, BackendPool(None, opener=lambda s: model).for_roles(cfg.roles), PromptRenderer()
    )
    pipeline.run(tiny_dataset, contexts)
    # extract, validate, normalize: 3 users x 2 items; summarize, generate: 3 samples
    assert model.batches == [6, 6, 6, 3, 3]
    report = pipeline.progress_report()
    assert list(report) == ["extract", "validate", "normalize", "summarize", "generate"]
    assert all(r["finished"] and r["calls"] == r["done"] for r in report.values())


def test_an_edited_stage_list_changes_what_the_generation_reads(tiny_dataset, embedder):
    model = ScriptedModel()
    cfg = _config("drp", "num_users=2", "method.stages.4.reads=[summary]")
    records = _run(cfg, tiny_dataset, embedder, model)
    generation = records[0]["stages"]["generate"]["messages"][-1]["content"]
    assert "terse writer" in generation and "past reviews" not in generation
    assert records[0]["past_reviews"]  # the summary still reads them


def test_a_missing_template_is_an_error_before_any_call(tiny_dataset, embedder):
    cfg = _config("drp", "method.templates.validate=no_such_template")
    with pytest.raises(FileNotFoundError, match=r"stages\[1\] \(validate_differences\)\.template"):
        Pipeline(
            cfg,
            BackendPool(None, opener=lambda s: ScriptedModel()).for_roles(cfg.roles),
            PromptRenderer(),
        )


def test_intsum_summarizes_the_history_and_generates_with_fewer_past_reviews(
    tiny_dataset, embedder
):
    model = ScriptedModel()
    cfg = _config("intsum", "method.stages.0.options.max_reviews=2")
    records = _run(cfg, tiny_dataset, embedder, model)
    first = records[0]
    assert list(first["stages"]) == ["summarize", "generate"]
    summary_prompt = first["stages"]["summarize"]["messages"][-1]["content"]
    # u1's two latest reviews (B, C), oldest first; nothing about the target item
    assert summary_prompt.index("Too loud") < summary_prompt.index("Nice folk")
    assert "Lovely jazz" not in summary_prompt and "Jazz at Dusk" not in summary_prompt
    assert first["stages"]["summarize"]["summary"] == "terse writer"
    generation = first["stages"]["generate"]["messages"][-1]["content"]
    assert "[Summary of the user]\nterse writer" in generation
    assert generation.count("[Past review ") == 2  # of the 3 retrieved
    assert len(first["past_reviews"]) == 3 and first["prediction"] == "Short. Good."
    metrics = summarize_run(cfg, tiny_dataset, records)
    assert metrics["status"] == "complete" and metrics["run"]["summary_reads"] is None


def test_a_failed_history_summary_skips_the_generation(tiny_dataset, embedder):
    model = ScriptedModel(fail_when=lambda p: "[Summary]:" in p and "Too loud" in p)
    records = _run(_config("intsum"), tiny_dataset, embedder, model)
    assert records[0]["status"] == "failed"
    assert records[0]["failed_stages"] == ["summarize", "generate"]
    assert "summarize call of this sample failed" in records[0]["stages"]["generate"]["error"]
