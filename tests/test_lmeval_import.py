"""Importing lm-evaluation-harness output (a drp-bench task run with --log_samples) as a run.

The hand-written output folders mirror lm-eval 0.4.13's real output (see the slow test, which
makes one): ``OUT/<model_name_sanitized>/results_<date>.json`` and
``samples_<task>_<date>.jsonl`` with lm-eval's keys.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from drp_bench.integrations import lmeval_import
from drp_bench.integrations.lmeval_export import export_run, provenance
from drp_bench.integrations.lmeval_import import LmevalImportError, import_results, main
from drp_bench.metrics.text import per_sample_scores
from drp_bench.pipeline.parsing import strip_answer_prefix
from drp_bench.resources import tasks_dir
from drp_bench.run.folder import read_metrics, read_predictions, write_metrics

TASK = "drp_gen_test"
DATE = "2026-11-26T07-16-41.127204"
SYSTEM = "You write music reviews."
MODEL = {
    "name": "SmolLM2-135M-Instruct", "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "revision": None, "family": "smollm2", "params_b": 0.135, "reasoning": False,
    "context_length": 8192, "tensor_parallel_size": 1, "instructions_in": None,
    "backend": {"kind": "llamacpp", "options": {"model_path": None, "n_threads": None}},
    "sampling": {"temperature": 0.0, "top_p": 0.95, "max_tokens": 64, "seed": 42},
}  # fmt: skip
SUMMARY = {k: MODEL[k] for k in ("name", "hub_id", "family", "params_b", "reasoning")}
CONFIG = {
    "method": {"name": "dpl", "differences": True},
    "dataset": {"name": "music_sample", "path": "bundled:music_sample", "split": "test",
                "limit": 3},
    "extractor": MODEL, "generator": MODEL,
    "validator": "${extractor}", "summarizer": "${generator}", "normalizer": "${generator}",
    "seed": 42, "temperature": None,
    "cache": {"enabled": True, "path": "${oc.env:HOME}/calls.sqlite"},
}  # fmt: skip
RUN = {
    "method": "dpl", "dataset": "music_sample", "split": "test", "num_samples": 3,
    "num_users": 4, "num_retrieved": 8, "dimensions": "fixed", "validate": False,
    "summary_reads": "extracted", "temperature": 0.0, "seed": 42,
    "models": {r: {**SUMMARY, "backend": "llamacpp"}
               for r in ("extractor", "validator", "normalizer", "summarizer", "generator")},
}  # fmt: skip
DOCS = [
    {"sample_id": "U1:A1", "system": "", "prompt": "Review the jazz album.",
     "reference": "Smooth saxophone all night long."},
    {"sample_id": "U2:B2", "system": SYSTEM, "prompt": "Review the metal album.",
     "reference": "Loud guitars and crushing drums."},
    {"sample_id": "U3:C3", "system": "", "prompt": "Review the folk album.",
     "reference": "Gentle acoustic stories about rural life."},
]  # fmt: skip
RAW = [
    "[Review]: A smooth jazz record with saxophone.",
    "Sure.\n[Review]:\nLoud drums, guitars everywhere.",
    "Quiet folk songs.",
]


@functools.cache
def task_metrics() -> ModuleType:
    """tasks/drp_metrics.py, as lm-eval loads it (``!function drp_metrics.X``)."""
    spec = importlib.util.spec_from_file_location("drp_metrics_t", tasks_dir() / "drp_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_metadata(tmp_path: Path, config: dict = CONFIG) -> dict[str, Any]:
    """``metadata.drp_bench`` as export-lmeval writes it, for a run folder with metrics.json."""
    run = tmp_path / "source_run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    write_metrics(
        run / "metrics.json",
        {
            "status": "complete", "failures": None, "run": RUN, "metrics": {"bleu": 1.0},
            "failed_samples": 0, "features": None, "extracted_features": None, "uvq": None,
            "calls": {"total": 3, "failed": 0, "cached": 0, "skipped": 0},
            "compute": {}, "wall_time_s": 1.0, "context_time_s": None, "versions": {},
            "git_commit": "abc123", "dataset_fingerprint": {"test.jsonl.gz": "sha256:00"},
        },
    )  # fmt: skip
    return provenance(run, OmegaConf.load(run / ".hydra" / "config.yaml"), len(DOCS))


def sample_line(i: int, doc: dict, raw: str, max_gen_toks: int = 64) -> dict[str, Any]:
    """One line of lm-eval's samples file (keys and nesting as lm-eval 0.4.13 logs them)."""
    metrics = task_metrics()
    filtered = strip_answer_prefix(raw, "Review")
    scores = metrics.process_results(doc, [filtered])
    chat = ([{"role": "system", "content": doc["system"]}] if doc["system"] else []) + [
        {"role": "user", "content": doc["prompt"]}
    ]
    gen = {"until": [], "max_gen_toks": max_gen_toks, "temperature": 0.0, "do_sample": False}
    return {
        "doc_id": i, "doc": dict(doc), "target": doc["reference"],
        "arguments": {"gen_args_0": {"arg_0": [json.dumps(chat)], "arg_1": gen}},
        "resps": [[raw]], "filtered_resps": [filtered], "filter": "strip_review_prefix",
        "metrics": ["bleu", "meteor", "rouge1", "rougeL"],
        "doc_hash": "d", "prompt_hash": "p", "target_hash": "t",
        "bleu": list(scores["bleu"]), "meteor": scores["meteor"],
        "rouge1": scores["rouge1"], "rougeL": scores["rougeL"],
    }  # fmt: skip


def lm_eval_scores(samples: list[dict]) -> dict[str, float]:
    """The task's aggregations over the samples (what lm-eval writes into results)."""
    m = task_metrics()
    return {
        "bleu": m.corpus_bleu([tuple(s["bleu"]) for s in samples]),
        "meteor": sum(s["meteor"] for s in samples) / len(samples),
        "rouge1": m.rouge1_mid([s["rouge1"] for s in samples]),
        "rougeL": m.rougeL_mid([s["rougeL"] for s in samples]),
    }


def write_output(
    out: Path,
    meta: dict | None,
    samples: list[dict],
    *,
    tasks: tuple[str, ...] = (TASK,),
    date: str = DATE,
    model_args: Any = None,
    model: str = "local-chat-completions",
    model_name: str = "smollm",
    scores: dict[str, float] | None = None,
    extra_results: dict | None = None,
    samples_text: str | None = None,
) -> Path:
    """An lm-eval output folder: ``out/<model>/results_<date>.json`` and a samples file per
    task (each task with the same samples)."""
    model_args = model_args or {
        "model": model_name, "base_url": "http://127.0.0.1:8000/v1/chat/completions",
        "num_concurrent": 1,
    }  # fmt: skip
    folder = out / model_name.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    scores = scores or lm_eval_scores(samples)
    results: dict[str, Any] = {
        key: {}
        for key in ("results", "group_subtasks", "configs", "versions", "n-shot",
                    "higher_is_better", "n-samples")
    }  # fmt: skip
    for task in tasks:
        task_results = {"name": task, "alias": task, "sample_len": len(samples)}
        for key, value in scores.items():
            task_results[f"{key},strip_review_prefix"] = value
            task_results[f"{key}_stderr,strip_review_prefix"] = "N/A"
        metadata = {
            "version": 1.0, **({"drp_bench": meta} if meta else {}),
            **(model_args if isinstance(model_args, dict) else {}),
            "config_source": f"/tasks/{task}.yaml",
        }  # fmt: skip
        results["results"][task] = task_results
        results["configs"][task] = {"task": task, "dataset_path": "json", "metadata": metadata}
        results["versions"][task] = 1.0
        results["n-shot"][task] = 0
        results["higher_is_better"][task] = {k: True for k in scores}
        results["n-samples"][task] = {"original": len(DOCS), "effective": len(samples)}
        text = samples_text
        if text is None:
            text = "".join(json.dumps(s) + "\n" for s in samples)
        (folder / f"samples_{task}_{date}.jsonl").write_text(text)
    results.update({
        "config": {
            "model": model, "model_args": model_args, "batch_size": 1, "limit": 3.0,
            "gen_kwargs": {}, "random_seed": 0,
        },
        "git_hash": None, "date": 1795677380.54, "transformers_version": "5.24.0",
        "lm_eval_version": "0.4.13", "upper_git_hash": None,
        "task_hashes": {t: "h" for t in tasks}, "model_source": model, "model_name": model_name,
        "model_name_sanitized": model_name.replace("/", "__"),
        "system_instruction": None, "system_instruction_sha": None,
        "fewshot_as_multiturn": True, "chat_template": "", "chat_template_sha": None,
        "total_evaluation_time_seconds": "29.25",
        **(extra_results or {}),
    })  # fmt: skip
    (folder / f"results_{date}.json").write_text(json.dumps(results, indent=2))
    return folder


@pytest.fixture
def meta(tmp_path: Path) -> dict[str, Any]:
    return source_metadata(tmp_path)


@pytest.fixture
def samples() -> list[dict]:
    return [sample_line(i, d, r) for i, (d, r) in enumerate(zip(DOCS, RAW, strict=True))]


def test_import_writes_a_run_folder_of_lm_evals_filtered_responses(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    write_output(tmp_path / "out", meta, samples)
    run = import_results(tmp_path / "out", tmp_path / "run")

    rows = read_predictions(run / "predictions.jsonl")
    assert [r.sample_id for r in rows] == [d["sample_id"] for d in DOCS]
    assert [(r.user_id, r.target_asin) for r in rows] == [("U1", "A1"), ("U2", "B2"), ("U3", "C3")]
    assert [r.reference for r in rows] == [d["reference"] for d in DOCS]
    assert [r.prediction for r in rows] == [s["filtered_resps"][0] for s in samples]
    assert rows[1].prediction == "Loud drums, guitars everywhere."
    generate = rows[1].stages.generate
    assert [m.model_dump() for m in generate.messages] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Review the metal album."},
    ]
    assert [m.role for m in rows[0].stages.generate.messages] == ["user"]
    assert generate.output == RAW[1]
    assert (generate.prompt_tokens, generate.completion_tokens, generate.cached) == (0, 0, False)
    assert {r.status for r in rows} == {"complete"}

    metrics = read_metrics(run / "metrics.json")
    expected = lm_eval_scores(samples)
    for key, value in expected.items():
        assert abs(metrics.metrics[key] - value) <= 1e-9, key
    assert metrics.status == "complete" and metrics.metrics["n"] == 3
    # every row stores its per-sample scores; metrics.json's means are theirs, to the last bit
    assert [r.scores.model_dump() for r in rows] == per_sample_scores(
        [r.prediction for r in rows], [r.reference for r in rows]
    )
    assert float(np.mean([r.scores.meteor for r in rows])) == metrics.metrics["meteor"]
    assert float(np.mean([r.scores.rougeL for r in rows])) == metrics.metrics["rougeL_mean"]
    assert metrics.dataset_fingerprint == {"test.jsonl.gz": "sha256:00"}
    generator = metrics.run.models["generator"].model_dump()
    assert generator == {
        "name": "smollm", "hub_id": "smollm", "family": None, "params_b": None,
        "reasoning": False, "backend": "lm-eval",
    }  # fmt: skip
    assert metrics.run.models["extractor"].name == "SmolLM2-135M-Instruct"  # the source's
    assert metrics.versions["lm-eval"] == "0.4.13"

    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["generator"]["backend"] == {
        "kind": "lm-eval",
        "options": {
            "model": "local-chat-completions",
            "model_args": {
                "model": "smollm",
                "base_url": "http://127.0.0.1:8000/v1/chat/completions",
                "num_concurrent": 1,
            },
        },
    }
    assert cfg["generator"]["sampling"]["max_tokens"] == 64
    assert cfg["summarizer"] == MODEL  # wrote the prompts' context: stays the source's model
    assert "path" not in cfg["cache"]
    results_path = tmp_path / "out" / "smollm" / f"results_{DATE}.json"
    imported = cfg["imported_from"]
    assert imported["task"] == TASK and imported["lm_eval_version"] == "0.4.13"
    assert imported["results_sha256"] == lmeval_import._sha256(results_path)
    assert imported["limit"] == 3.0

    prov = json.loads((run / "lmeval_import.json").read_text())
    assert prov["lm_eval_scores"] == expected
    assert prov["recomputed_scores"] == {k: metrics.metrics[k] for k in expected}
    assert prov["samples_file"] == f"samples_{TASK}_{DATE}.jsonl"
    assert prov["n_samples"] == {"exported": 3, "original": 3, "imported": 3}


def test_generator_identity_takes_family_and_size_from_the_registry_and_drops_secrets(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    args = (
        "pretrained=/models/Qwen2.5-7B-Instruct,revision=abc123,api_key=sk-SECRET,"
        "auth_token=TOKEN,base_url=https://user:pw@host.example:8443/v1?key=SECRET,max_length=4096"
    )
    write_output(
        tmp_path / "out", meta, samples, model="hf", model_args=args,
        model_name="/models/Qwen2.5-7B-Instruct",
    )  # fmt: skip
    run = import_results(tmp_path / "out", tmp_path / "run")
    generator = read_metrics(run / "metrics.json").run.models["generator"]
    assert (generator.family, generator.params_b, generator.reasoning) == (
        "qwen2.5-instruct", 7.61, False,
    )  # fmt: skip
    assert generator.name == generator.hub_id == "/models/Qwen2.5-7B-Instruct"
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["generator"]["revision"] == "abc123"
    assert cfg["generator"]["backend"]["options"]["model_args"] == {
        "pretrained": "/models/Qwen2.5-7B-Instruct",
        "revision": "abc123",
        "base_url": "https://host.example:8443/v1",
        "max_length": "4096",
    }
    for path in run.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "SECRET" not in text and "TOKEN" not in text and "pw@" not in text, path


def test_the_run_wide_temperature_moves_into_the_roles_it_applied_to(
    tmp_path: Path, samples: list[dict]
) -> None:
    meta = source_metadata(tmp_path, {**CONFIG, "temperature": 0.8})
    write_output(tmp_path / "out", meta, samples)
    run = import_results(tmp_path / "out", tmp_path / "run")
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["temperature"] is None
    assert cfg["extractor"]["sampling"]["temperature"] == 0.8
    assert cfg["normalizer"]["sampling"]["temperature"] == 0.0  # the run-wide value skips it
    assert cfg["generator"]["sampling"]["temperature"] == 0.0  # as lm-eval sent it


@pytest.mark.parametrize("where", ["out", "out/smollm", f"out/smollm/results_{DATE}.json"])
def test_results_are_found_in_the_model_folder_its_parent_or_given_as_a_file(
    tmp_path: Path, meta: dict, samples: list[dict], where: str
) -> None:
    write_output(tmp_path / "out", meta, samples)
    run = import_results(tmp_path / where, tmp_path / "run")
    assert len(read_predictions(run / "predictions.jsonl")) == 3


def test_the_newest_results_file_is_imported(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    write_output(tmp_path / "out", meta, samples[:2], date="2026-11-25T10-00-00.000001")
    write_output(tmp_path / "out", meta, samples, date="2026-11-26T09-00-00.000001")
    run = import_results(tmp_path / "out", tmp_path / "run")
    assert len(read_predictions(run / "predictions.jsonl")) == 3


def test_a_limited_lm_eval_run_imports_its_first_documents(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    write_output(tmp_path / "out", meta, samples[:2])
    run = import_results(tmp_path / "out", tmp_path / "run")
    assert read_metrics(run / "metrics.json").run.num_samples == 2
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["dataset"]["limit"] == 2


def test_an_empty_response_is_a_failed_sample_and_still_scored_as_lm_eval_scored_it(
    tmp_path: Path, meta: dict
) -> None:
    raws = [RAW[0], "", RAW[2]]
    samples = [sample_line(i, d, r) for i, (d, r) in enumerate(zip(DOCS, raws, strict=True))]
    write_output(tmp_path / "out", meta, samples)
    run = import_results(tmp_path / "out", tmp_path / "run")
    rows = read_predictions(run / "predictions.jsonl")
    assert [r.status for r in rows] == ["complete", "failed", "complete"]
    assert rows[1].error == rows[1].stages.generate.error == "lm-eval returned an empty response"
    metrics = read_metrics(run / "metrics.json")
    assert metrics.status == "degraded" and metrics.failed_samples == 1
    # scored as the empty prediction, as lm-eval scored it: its stored scores are 0
    assert rows[1].scores is not None and rows[1].scores.meteor == rows[1].scores.rouge1 == 0.0
    assert abs(metrics.metrics["bleu"] - lm_eval_scores(samples)["bleu"]) <= 1e-9


def test_several_drp_bench_tasks_need_task(tmp_path: Path, meta: dict, samples: list[dict]) -> None:
    write_output(tmp_path / "out", meta, samples, tasks=(TASK, "drp_gen_other"))
    match = r"several drp-bench tasks \(drp_gen_other, drp_gen_test\); choose one with --task"
    with pytest.raises(LmevalImportError, match=match):
        import_results(tmp_path / "out", tmp_path / "run")
    run = import_results(tmp_path / "out", tmp_path / "run", task="drp_gen_other")
    assert json.loads((run / "lmeval_import.json").read_text())["task"] == "drp_gen_other"


def test_a_missing_folder_is_one_error_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nope'}: not found (expected lm-eval's --output_path)"
    assert not (tmp_path / "run").exists()


def test_a_missing_samples_file_says_to_run_with_log_samples(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    folder = write_output(tmp_path / "out", meta, samples)
    (folder / f"samples_{TASK}_{DATE}.jsonl").unlink()
    match = r"samples_drp_gen_test_.*\.jsonl: not found; .*re-run lm_eval with --log_samples"
    with pytest.raises(LmevalImportError, match=match):
        import_results(tmp_path / "out", tmp_path / "run")


def test_a_task_not_exported_by_drp_bench_is_an_error(tmp_path: Path, samples: list[dict]) -> None:
    write_output(tmp_path / "out", None, samples)
    match = (
        r"results_.*\.json: field 'configs\.<task>\.metadata\.drp_bench': no task exported by "
        r"drp-bench among drp_gen_test"
    )
    with pytest.raises(LmevalImportError, match=match):
        import_results(tmp_path / "out", tmp_path / "run")
    with pytest.raises(LmevalImportError, match=r"'configs\.drp_gen_test\.metadata\.drp_bench'"):
        import_results(tmp_path / "out", tmp_path / "run", task=TASK)


def test_a_malformed_samples_line_is_an_error_naming_file_and_line(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    lines = [json.dumps(s) for s in samples]
    lines[1] = lines[1][:40]
    write_output(tmp_path / "out", meta, samples, samples_text="\n".join(lines) + "\n")
    with pytest.raises(
        LmevalImportError, match=r"samples_drp_gen_test_.*\.jsonl:2: malformed JSON"
    ):
        import_results(tmp_path / "out", tmp_path / "run")


def test_a_missing_field_is_an_error_naming_file_line_and_field(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    del samples[2]["doc"]["reference"]
    write_output(tmp_path / "out", meta, samples)
    with pytest.raises(LmevalImportError, match=r"\.jsonl:3: field 'doc\.reference': missing"):
        import_results(tmp_path / "out", tmp_path / "run")


def test_a_duplicate_sample_id_is_an_error_naming_both_lines(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    samples[2] = sample_line(2, DOCS[0], RAW[2])
    write_output(tmp_path / "out", meta, samples)
    match = r"\.jsonl:3: field 'doc\.sample_id': 'U1:A1' already on line 1"
    with pytest.raises(LmevalImportError, match=match):
        import_results(tmp_path / "out", tmp_path / "run")


def test_scores_that_differ_from_lm_evals_are_an_error_naming_both_numbers(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    scores = lm_eval_scores(samples)
    real = scores["rougeL"]
    scores["rougeL"] += 1e-6
    write_output(tmp_path / "out", meta, samples, scores=scores)
    with pytest.raises(LmevalImportError) as info:
        import_results(tmp_path / "out", tmp_path / "run")
    assert f"rougeL: lm-eval {real + 1e-6!r}, recomputed {real!r}" in str(info.value)
    assert "tolerance 1e-09" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_messages_other_than_the_exported_prompt_are_an_error(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}]
    samples[0]["arguments"]["gen_args_0"]["arg_0"] = [json.dumps(chat)]
    write_output(tmp_path / "out", meta, samples)
    match = r"\.jsonl:1: field 'arguments\.gen_args_0\.arg_0': lm-eval sent other messages"
    with pytest.raises(LmevalImportError, match=match):
        import_results(tmp_path / "out", tmp_path / "run")


def test_a_run_without_the_chat_template_is_an_error(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    write_output(tmp_path / "out", meta, samples, extra_results={"chat_template": None})
    with pytest.raises(LmevalImportError, match=r"--apply_chat_template"):
        import_results(tmp_path / "out", tmp_path / "run")


def test_an_existing_run_folder_is_not_overwritten(
    tmp_path: Path, meta: dict, samples: list[dict]
) -> None:
    write_output(tmp_path / "out", meta, samples)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    with pytest.raises(LmevalImportError, match=r"exists and is not empty"):
        import_results(tmp_path / "out", tmp_path / "run")
    assert (tmp_path / "run" / "metrics.json").read_text() == "{}"


def test_rouge_seed_is_the_tasks() -> None:
    assert lmeval_import.ROUGE_SEED == task_metrics().ROUGE_SEED


@pytest.mark.slow
def test_real_drp_bench_run_exported_run_by_lm_eval_and_imported(tmp_path: Path) -> None:
    """drp-bench run -> export-lmeval -> lm_eval (llama.cpp server) -> import-lmeval ->
    leaderboard submit and verify."""
    from tests.conftest import require

    require("lm_eval", "lm-eval, the [lmeval] extra")
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.api import evaluate
    from drp_bench.backends.bundled import bundled_gguf_path
    from tests.servers import LlamaServer

    source = evaluate(
        ["method=nonp", "dataset.limit=3", "+experiment=demo", "generator.sampling.max_tokens=48",
         f"cache.path={tmp_path / 'calls.sqlite'}"],
        out_dir=tmp_path / "source",
    )  # fmt: skip
    yaml_path = export_run(source.run_dir, tmp_path / "task")
    task = yaml_path.stem
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "hf_datasets"),
    }
    model_name = "HuggingFaceTB/SmolLM2-135M-Instruct"  # a registry hub id; any name is served
    with LlamaServer(bundled_gguf_path(), n_ctx=4096, log_path=tmp_path / "server.log") as server:
        model_args = f"model={model_name},base_url={server.base_url}/chat/completions"
        cmd = [
            sys.executable, "-m", "lm_eval",
            "--model", "local-chat-completions", "--model_args", model_args,
            "--tasks", task, "--include_path", str(tmp_path / "task"),
            "--apply_chat_template", "--limit", "3",
            "--output_path", str(tmp_path / "lm_eval_out"), "--log_samples",
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert main([str(tmp_path / "lm_eval_out"), "--out", str(tmp_path / "imported")]) == 0
    run = tmp_path / "imported"
    (results_path,) = (tmp_path / "lm_eval_out").rglob("results_*.json")
    assert results_path.parent.name == "HuggingFaceTB__SmolLM2-135M-Instruct"
    results = json.loads(results_path.read_text())
    (samples_path,) = results_path.parent.glob(f"samples_{task}_*.jsonl")
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()]

    # lm-eval sent exactly the run's generate-stage messages and max tokens (arg_0 is
    # lm-eval's JsonChatStr, logged as a one-element list)
    args = {s["doc"]["sample_id"]: s["arguments"]["gen_args_0"] for s in samples}
    assert {a["arg_1"]["max_gen_toks"] for a in args.values()} == {48}
    sent = {sid: json.loads(a["arg_0"][0]) for sid, a in args.items()}
    assert sent == {r["sample_id"]: r["stages"]["generate"]["messages"] for r in source.records}

    rows = read_predictions(run / "predictions.jsonl")
    metrics = read_metrics(run / "metrics.json")
    assert len(rows) == 3 and metrics.status == "complete"
    assert [r.prediction for r in rows] == [s["filtered_resps"][0] for s in samples]
    assert [r.sample_id for r in rows] == [r["sample_id"] for r in source.records]
    for metric in ("bleu", "meteor", "rouge1", "rougeL"):
        reported = results["results"][task][f"{metric},strip_review_prefix"]
        assert abs(metrics.metrics[metric] - reported) <= 1e-9, (metric, reported)

    generator = metrics.run.models["generator"]
    assert results["model_name"] == model_name
    assert (generator.name, generator.hub_id, generator.backend) == (
        model_name, model_name, "lm-eval",
    )  # fmt: skip
    assert (generator.family, generator.params_b) == ("smollm2", 0.135)  # registry match
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["generator"]["backend"]["options"]["model"] == results["config"]["model"]
    assert cfg["imported_from"]["lm_eval_version"] == results["lm_eval_version"]
    assert cfg["method"]["name"] == "nonp"

    # The imported run is a leaderboard entry; verification recomputes lm-eval's numbers.
    from drp_bench.leaderboard.splits import register_split
    from drp_bench.leaderboard.submit import submit_run
    from drp_bench.leaderboard.verify import verify_entry

    board = tmp_path / "board"
    split = register_split(board, "music_sample/first3", "bundled:music_sample", "test", limit=3)
    assert split.sample_ids == [r.sample_id for r in rows]
    entry = submit_run(run, board, submitter="test")
    verified = verify_entry(entry, board)
    assert verified.problems == []
    for metric in ("bleu", "meteor", "rouge1", "rougeL"):
        reported = results["results"][task][f"{metric},strip_review_prefix"]
        assert abs(verified.recomputed[metric] - reported) <= 1e-9, (metric, reported)
    submission = json.loads((entry / "submission.json").read_text())
    assert submission["source"]["kind"] == "lm-eval"
    assert submission["models"]["generator"]["backend"] == "lm-eval"
