"""Exporting a run's generation prompts as an lm-eval task, and running it through lm-eval."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from drp_bench.integrations.lmeval_export import export_run, main
from drp_bench.metrics.text import score_all
from drp_bench.pipeline.parsing import strip_answer_prefix
from drp_bench.run.folder import write_predictions
from tests.conftest import require

require("lm_eval", "lm-eval, the [lmeval] extra")

TASK = "drp_gen_test"
USER_1 = "Write a review of the item below.\n\n[Item]\nItem title: Pink Moon {{not jinja}}\n"
USER_2 = "Write a short review of a jazz album.\nAnswer in this format:\n[Review]: <review text>"
SYSTEM_2 = "You write music reviews."
CONFIG = {
    "method": {"name": "dpl"},
    "dataset": {"name": "music_sample"},
    "generator": {"name": "SmolLM2-135M-Instruct", "sampling": {"max_tokens": 16}},
    "summarizer": "${generator}",
}


def record(sample_id: str, messages: list[dict] | None, reference: str) -> dict:
    """A predictions row; ``messages`` None: a generation that was skipped (its summary failed)."""
    error = None if messages is not None else "skipped: the summarize call of this sample failed"
    generate = {
        "messages": messages or [], "output": "" if error else "[Review]: x", "reasoning": None,
        "prompt_tokens": 0 if error else 40, "completion_tokens": 0 if error else 3,
        "reasoning_tokens": 0, "finish_reason": None if error else "stop", "latency_s": 0.1,
        "error": error, "skipped": error is not None, "cached": False,
    }  # fmt: skip
    return {
        "sample_id": sample_id, "user_id": sample_id.split(":")[0],
        "target_asin": sample_id.split(":")[1], "reference": reference,
        "prediction": "" if error else "x", "past_reviews": [],
        "status": "failed" if error else "complete",
        "failed_stages": ["summarize", "generate"] if error else [],
        "stages": {"generate": generate}, "error": error,
    }  # fmt: skip


def make_run(root: Path, records: list[dict], config: dict = CONFIG) -> Path:
    """A run folder in the drp-bench run format (only the files the export reads)."""
    (root / ".hydra").mkdir(parents=True)
    (root / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    write_predictions(root / "predictions.jsonl", records)
    return root


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(
        tmp_path / "run",
        [
            record("U1:A", [{"role": "user", "content": USER_1}], "Fragile and lovely."),
            record("U2:B", None, "never generated"),
            record(
                "U3:C",
                [{"role": "system", "content": SYSTEM_2}, {"role": "user", "content": USER_2}],
                "Smooth saxophone all night.",
            ),
        ],
    )


def load_metrics_module(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "drp_metrics_under_test", folder / "drp_metrics.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_writes_the_generate_stage_prompts_and_references(
    run_dir: Path, tmp_path: Path
) -> None:
    yaml_path = export_run(run_dir, tmp_path / "out", TASK)
    out = tmp_path / "out"
    assert yaml_path == out / f"{TASK}.yaml"
    docs = [json.loads(line) for line in (out / f"{TASK}.jsonl").read_text().splitlines()]
    assert docs == [
        {"sample_id": "U1:A", "system": "", "prompt": USER_1, "reference": "Fragile and lovely."},
        {
            "sample_id": "U3:C",
            "system": SYSTEM_2,
            "prompt": USER_2,
            "reference": "Smooth saxophone all night.",
        },
    ]
    assert (out / "drp_metrics.py").is_file()


def test_exported_yaml_points_at_the_jsonl_and_uses_the_runs_max_tokens(
    run_dir: Path, tmp_path: Path
) -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(export_run(run_dir, tmp_path / "out", TASK))
    assert cfg["task"] == TASK
    assert cfg["dataset_path"] == "json"
    assert cfg["dataset_kwargs"] == {
        "data_files": {"test": str((tmp_path / "out" / f"{TASK}.jsonl").resolve())}
    }
    assert cfg["output_type"] == "generate_until"
    assert (cfg["doc_to_text"], cfg["doc_to_target"]) == ("{{prompt}}", "{{reference}}")
    assert cfg["generation_kwargs"] == {
        "until": [],
        "max_gen_toks": 16,
        "temperature": 0.0,
        "do_sample": False,
    }
    assert [m["metric"] for m in cfg["metric_list"]] == ["bleu", "meteor", "rouge1", "rougeL"]
    assert callable(cfg["process_results"])  # !function resolved next to the YAML
    assert cfg["metadata"]["version"] == 1.0
    assert set(cfg["metadata"]) == {"version", "drp_bench"}


def test_exported_metadata_carries_the_source_runs_provenance(
    run_dir: Path, tmp_path: Path
) -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    from drp_bench import __version__

    config = {**CONFIG, "seed": 7, "cache": {"enabled": True, "path": "${oc.env:HOME}/c.sqlite"}}
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    meta = load_yaml(export_run(run_dir, tmp_path / "out", TASK))["metadata"]["drp_bench"]
    assert meta["drp_bench_version"] == __version__
    assert (meta["method"], meta["dataset"], meta["split"]) == ("dpl", "music_sample", None)
    assert meta["num_samples"] == 2  # the skipped generation is not exported
    # resolved (the summarizer follows the generator), the machine's cache path dropped
    assert meta["config"]["summarizer"] == CONFIG["generator"]
    assert meta["config"]["cache"] == {"enabled": True}
    assert meta["config"]["seed"] == 7
    # no metrics.json in this run folder: no run block
    assert (meta["run"], meta["dataset_fingerprint"], meta["git_commit"]) == (None, None, None)


def test_exported_metadata_has_the_run_block_of_metrics_json(run_dir: Path, tmp_path: Path) -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    from drp_bench.run.folder import write_metrics

    model = {
        "name": "SmolLM2-135M-Instruct", "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "family": "smollm2", "params_b": 0.135, "reasoning": False, "backend": "llamacpp",
    }  # fmt: skip
    run = {
        "method": "dpl", "dataset": "music_sample", "split": "test", "num_samples": 3,
        "num_users": 4, "num_retrieved": 8, "dimensions": "fixed", "validate": False,
        "summary_reads": "extracted", "temperature": 0.0, "seed": 42,
        "models": {"generator": model},
    }  # fmt: skip
    write_metrics(
        run_dir / "metrics.json",
        {
            "status": "degraded", "failures": None, "run": run, "metrics": {"bleu": 1.0},
            "failed_samples": 1, "features": None, "extracted_features": None, "uvq": None,
            "calls": {"total": 2, "failed": 0, "cached": 0, "skipped": 1},
            "compute": {}, "wall_time_s": 1.0, "context_time_s": None, "versions": {},
            "git_commit": "abc", "dataset_fingerprint": {"test.jsonl.gz": "sha256:00"},
        },
    )  # fmt: skip
    meta = load_yaml(export_run(run_dir, tmp_path / "out", TASK))["metadata"]["drp_bench"]
    assert meta["run"] == run
    assert meta["dataset_fingerprint"] == {"test.jsonl.gz": "sha256:00"}
    assert meta["git_commit"] == "abc"


def test_default_task_name_comes_from_method_dataset_and_generator(
    run_dir: Path, tmp_path: Path
) -> None:
    yaml_path = export_run(run_dir, tmp_path / "out")
    assert yaml_path.name == "drp_gen_dpl_music_sample_smollm2_135m_instruct.yaml"


def test_unexpected_generate_messages_are_an_error_naming_line_and_field(tmp_path: Path) -> None:
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    run = make_run(tmp_path / "run", [record("U1:A", turns, "r")])
    with pytest.raises(ValueError, match=r"predictions\.jsonl:1: stages\.generate\.messages"):
        export_run(run, tmp_path / "out", TASK)


def test_a_row_that_breaks_the_schema_is_an_error_naming_line_and_field(run_dir, tmp_path):
    path = run_dir / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[1]["reference"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=r"predictions\.jsonl:2: field 'reference': missing"):
        export_run(run_dir, tmp_path / "out", TASK)


def test_cli_reports_a_missing_run_folder_as_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    assert "config.yaml: not found" in capsys.readouterr().err


def test_lm_eval_task_manager_lists_and_loads_the_exported_task(
    run_dir: Path, tmp_path: Path
) -> None:
    from lm_eval.tasks import TaskManager

    export_run(run_dir, tmp_path / "out", TASK)
    manager = TaskManager(include_path=str(tmp_path / "out"), include_defaults=False)
    assert manager.all_tasks == [TASK]
    task = manager.load([TASK])["tasks"][TASK]
    docs = list(task.test_docs())
    assert [task.doc_to_text(d) for d in docs] == [USER_1, USER_2]
    assert [task.doc_to_target(d) for d in docs] == [
        "Fragile and lovely.",
        "Smooth saxophone all night.",
    ]


def test_review_prefix_filter_matches_drp_bench_answer_parsing(
    run_dir: Path, tmp_path: Path
) -> None:
    from lm_eval.filters.extraction import RegexFilter
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(export_run(run_dir, tmp_path / "out", TASK))
    regex = cfg["filter_list"][0]["filter"][0]
    assert regex["function"] == "regex"
    filt = RegexFilter(regex["regex_pattern"], regex["group_select"], regex["fallback"])
    outputs = [
        "[Review]: Great album.",
        "[review] :  Lower case, spaced.\n",
        "Sure! Here it is.\n[Review]:\nMulti\nline [Review]: kept",
        "No prefix at all ",
        "[Review]",
        "",
        "[Item]\nItem title: x",
    ]
    filtered = filt.apply([[o] for o in outputs], [{}] * len(outputs))
    assert [f[0] for f in filtered] == [strip_answer_prefix(o, "Review") for o in outputs]


def test_task_metrics_reproduce_drp_bench_score_all(run_dir: Path, tmp_path: Path) -> None:
    export_run(run_dir, tmp_path / "out", TASK)
    metrics = load_metrics_module(tmp_path / "out")
    predictions = ["a fine jazz record", "loud guitars", "", "smooth sax and piano", "meh", "ok"]
    references = ["smooth jazz record", "loud drums and guitars", "quiet", "sax", "great", "ok ok"]
    per_sample = [
        metrics.process_results({"reference": r}, [p])
        for p, r in zip(predictions, references, strict=True)
    ]
    expected = score_all(predictions, references)
    assert metrics.corpus_bleu([s["bleu"] for s in per_sample]) == expected["bleu"]
    assert sum(s["meteor"] for s in per_sample) / len(per_sample) == pytest.approx(
        expected["meteor"], abs=1e-12
    )
    assert metrics.rouge1_mid([s["rouge1"] for s in per_sample]) == expected["rouge1"]
    assert metrics.rougeL_mid([s["rougeL"] for s in per_sample]) == expected["rougeL"]


# lm_eval itself runs an exported task in tests/test_lmeval_import.py's end-to-end test
# (export -> lm_eval against a llama.cpp server -> import -> submit), which also checks
# that lm-eval sent exactly the run's generate-stage messages and max tokens.
