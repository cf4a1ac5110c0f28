"""The run-folder schema: models, readers and writers, old folders, published JSON Schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drp_bench.backends.pool import BackendPool
from drp_bench.metrics import text as text_metrics
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.representatives import Embedder, EmbedderSpec
from drp_bench.pipeline.runner import Pipeline
from drp_bench.provenance import git_commit, package_versions
from drp_bench.report.collect import read_run
from drp_bench.run import folder as rf
from drp_bench.run.metrics_file import score_records, summarize_run
from drp_bench.run.prompts_fingerprint import prompts_fingerprint
from tests.conftest import REPO
from tests.test_pipeline import ScriptedModel, _config

DATA = Path(__file__).resolve().parent / "data"
OLD_RUN = DATA / "run_folder_v0"
OLD_FAILED_RUN = DATA / "run_folder_v0_failed"
V1_RUN = DATA / "run_folder_v1"
V2_RUN = DATA / "run_folder_v2"
V3_RUN = DATA / "run_folder_v3"
#: What today's writer stamps on a file without compute knobs (version 5 adds only them).
V = rf.BEFORE_KNOBS
PUBLISHED = REPO / "results" / "schema"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedderSpec())


def scripted_run(cfg, dataset, embedder, model) -> tuple[Pipeline, list[dict[str, Any]]]:
    """The pipeline's records for ``dataset``, answered by the scripted model."""
    contexts = build_contexts(
        dataset,
        cfg.method.past_reviews,
        cfg.method.differences,
        cfg.num_retrieved,
        cfg.num_users,
        cfg.seed,
        embedder,
    )
    backends = BackendPool(None, opener=lambda spec: model).for_roles(cfg.roles)
    pipeline = Pipeline(cfg, backends, PromptRenderer())
    return pipeline, pipeline.run(dataset, contexts)


def metrics_of(cfg, dataset, records, pipeline: Pipeline) -> dict[str, Any]:
    """metrics.json's content as drp_bench/run/execute.py assembles it (the records get their
    per-sample ``scores`` in the same pass)."""
    metrics = summarize_run(cfg, dataset, records, scores=score_records(records, cfg.seed))
    for stage, wall_s in pipeline.stage_wall_s.items():
        metrics["compute"].setdefault(stage, {})["wall_s"] = wall_s
    metrics["wall_time_s"] = 1.5
    metrics["context_time_s"] = 0.25
    metrics["versions"] = package_versions()
    metrics["git_commit"] = git_commit()
    metrics["prompts_sha256"] = prompts_fingerprint(cfg, pipeline.renderer)
    metrics["dataset_fingerprint"] = {"reviews.jsonl": "sha256:00ff"}
    return metrics


def as_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


CASES = {
    "nonp": ("nonp", (), None),
    "rag": ("rag", (), None),
    "dpl": ("dpl", ("num_users=2",), None),
    "drp-uvq": ("drp", ("num_users=2", "uvq=true"), None),
    "drp-failed-extraction": (
        "drp",
        ("num_users=2", "uvq=true"),
        lambda p: "Compare the target user's review" in p and "Jazz at Dawn" in p,
    ),
    "drp-failed-summary": ("drp", ("num_users=2",), lambda p: "[Summary]:" in p and "Nice" in p),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_output_round_trips_through_the_files(case, tiny_dataset, embedder, tmp_path):
    method, overrides, fail_when = CASES[case]
    cfg = _config(method, *overrides)
    pipeline, records = scripted_run(
        cfg, tiny_dataset, embedder, ScriptedModel(fail_when=fail_when)
    )
    metrics = metrics_of(cfg, tiny_dataset, records, pipeline)

    written = rf.write_predictions(tmp_path / rf.PREDICTIONS, records)
    rf.write_metrics(tmp_path / rf.METRICS, metrics)
    rows = rf.read_predictions(tmp_path / rf.PREDICTIONS)
    read = rf.read_metrics(tmp_path / rf.METRICS)
    assert rows == written

    assert [r.to_json_dict() for r in rows] == [
        {"schema_version": V, **r} for r in as_json(records)
    ]
    defaults = {"excluded_samples": 0, "judge": None}  # written when summarize_run omits them
    assert read.to_json_dict() == {"schema_version": V, **defaults, **as_json(metrics)}
    assert read.status == ("complete" if fail_when is None else "degraded")
    lines = (tmp_path / rf.PREDICTIONS).read_text().splitlines()
    assert [json.loads(line)["schema_version"] for line in lines] == [V] * len(records)
    # writing what was read gives the same bytes
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rows)
    rf.write_metrics(tmp_path / rf.METRICS, read)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_error_json_round_trips_with_the_progress_of_an_interrupted_run(
    tiny_dataset, embedder, tmp_path
):
    pipeline, _ = scripted_run(
        _config("drp", "num_users=2"), tiny_dataset, embedder, ScriptedModel()
    )
    body = {
        "error": "interrupted by SIGTERM",
        "interrupted": True,
        "traceback": "Traceback (most recent call last):\n  ...\n",
        "finished": {"phase": "model calls", "stages": pipeline.progress_report()},
    }
    rf.write_error(tmp_path / rf.ERROR, body)
    read = rf.read_error(tmp_path / rf.ERROR)
    assert read.to_json_dict() == {"schema_version": V, **body}
    assert read.finished is not None and read.finished.stages["extract"].finished


def test_typed_access_to_a_row(tiny_dataset, embedder, tmp_path):
    cfg = _config("drp", "num_users=2", "uvq=true")
    _, records = scripted_run(cfg, tiny_dataset, embedder, ScriptedModel())
    rf.write_predictions(tmp_path / rf.PREDICTIONS, records)
    row = rf.read_predictions(tmp_path / rf.PREDICTIONS)[0]
    assert row.status == "complete" and row.stages.generate.ok
    assert row.stages.validate_ is not None and row.stages.validate_[0].features[0].name
    assert row.stages.normalize is not None and row.stages.normalize[0].units[0].valid
    assert [s for s, _ in row.stages.calls()][-2:] == ["summarize", "generate"]


def test_the_writer_refuses_a_row_that_does_not_match_and_writes_nothing(tmp_path):
    path = tmp_path / rf.PREDICTIONS
    row = json.loads((OLD_RUN / rf.PREDICTIONS).read_text().splitlines()[0])
    with pytest.raises(rf.RunFolderError, match=r"predictions\.jsonl:1: field 'status'"):
        rf.write_predictions(path, [row])  # an old row lacks status and failed_stages
    assert not path.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- hand-broken files


@pytest.fixture
def good_folder(tiny_dataset, embedder, tmp_path) -> Path:
    cfg = _config("rag")
    pipeline, records = scripted_run(cfg, tiny_dataset, embedder, ScriptedModel())
    rf.write_predictions(tmp_path / rf.PREDICTIONS, records)
    rf.write_metrics(tmp_path / rf.METRICS, metrics_of(cfg, tiny_dataset, records, pipeline))
    return tmp_path


def _edit_metrics(folder: Path, edit) -> Path:
    path = folder / rf.METRICS
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj, indent=2))
    return path


def _error(read, path: Path) -> str:
    with pytest.raises(rf.RunFolderError) as info:
        read(path)
    print(info.value)  # the real message, for the record (pytest -s)
    return str(info.value)


def test_metrics_json_with_a_wrong_type_names_file_and_field(good_folder):
    path = _edit_metrics(good_folder, lambda o: o["run"].update(num_users="4"))
    assert _error(rf.read_metrics, path) == (
        f"{path}: field 'run.num_users': expected a valid integer, found '4'"
    )


def test_metrics_json_with_an_unknown_field_names_it(good_folder):
    path = _edit_metrics(good_folder, lambda o: o["calls"].update(retried=2))
    assert _error(rf.read_metrics, path) == (
        f"{path}: field 'calls.retried': unknown field (not in schema version {rf.SCHEMA_VERSION})"
    )


def test_metrics_json_with_a_missing_field_names_it(good_folder):
    path = _edit_metrics(good_folder, lambda o: o.pop("wall_time_s"))
    assert _error(rf.read_metrics, path) == f"{path}: field 'wall_time_s': missing required field"


def test_metrics_json_of_a_newer_version_is_refused(good_folder):
    path = _edit_metrics(good_folder, lambda o: o.update(schema_version="7"))
    assert "field 'schema_version': '7' is not a version this drp-bench reads" in _error(
        rf.read_metrics, path
    )


def test_predictions_with_bad_json_name_the_line(good_folder):
    path = good_folder / rf.PREDICTIONS
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:40]
    path.write_text("\n".join(lines) + "\n")
    message = _error(rf.read_predictions, path)
    assert message == f"{path}:2: malformed JSON: Unterminated string starting at: column 38"
    # cut off as the last line without a newline: tolerated on request, and counted
    path.write_text("\n".join(lines[:2]))
    rows = rf.read_predictions(path, allow_partial_tail=True)
    assert len(rows) == 1 and rows.cut_off_line == 2


def test_predictions_with_a_missing_field_name_line_and_field(good_folder):
    path = good_folder / rf.PREDICTIONS
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[2]["reference"]
    del rows[2]["stages"]["generate"]["latency_s"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _error(rf.read_predictions, path) == (
        f"{path}:3: field 'reference': missing required field; "
        "field 'stages.generate.latency_s': missing required field"
    )


def test_a_wrong_type_deep_in_a_row_gets_its_full_path(good_folder):
    path = good_folder / rf.PREDICTIONS
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["stages"]["generate"]["messages"][0]["role"] = "tool"
    rows[0]["status"] = "done"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _error(rf.read_predictions, path) == (
        f"{path}:1: field 'status': expected 'complete', 'context_incomplete', 'failed' or "
        "'excluded', found 'done'; field 'stages.generate.messages[0].role': expected "
        "'system', 'user' or 'assistant', found 'tool'"
    )


# ---------------------------------------------------------------- version 0


def test_an_old_run_folder_reads_as_version_0_with_defaults():
    rows = rf.read_predictions(OLD_RUN / rf.PREDICTIONS)
    assert rows and {r.schema_version for r in rows} == {"0"}
    assert all(r.status == "complete" and r.failed_stages == [] for r in rows)
    assert all(not call.skipped for r in rows for _, call in r.stages.calls())
    assert rows[0].stages.extract is not None and rows[0].stages.summarize is not None
    metrics = rf.read_metrics(OLD_RUN / rf.METRICS)
    assert metrics.schema_version == "0" and metrics.status == "complete"
    assert metrics.failures is None and metrics.calls.skipped == 0
    assert metrics.features is not None and metrics.features.failed == 0
    error = rf.read_error(OLD_FAILED_RUN / rf.ERROR)
    assert error.schema_version == "0" and not error.interrupted and error.finished is None


def test_an_old_row_with_an_error_reads_as_failed():
    row = json.loads((OLD_RUN / rf.PREDICTIONS).read_text().splitlines()[0])
    row["error"] = "HTTP 500 after 3 attempts"
    row["stages"]["generate"]["error"] = row["error"]
    read = rf.parse(rf.PredictionRow, row, Path("old.jsonl"), 1)
    assert read.status == "failed" and read.failed_stages == ["generate"]


def test_todays_rows_without_the_version_fields_read_as_version_0(tiny_dataset, embedder):
    cfg = _config("drp", "num_users=2", "uvq=true")
    fail = lambda p: "[Summary]:" in p and "Nice" in p  # noqa: E731
    _, records = scripted_run(cfg, tiny_dataset, embedder, ScriptedModel(fail_when=fail))
    for record in as_json(records):
        old = {k: v for k, v in record.items() if k not in ("status", "failed_stages")}
        for entry in old["stages"].values():
            for call in entry if isinstance(entry, list) else [entry]:
                call.pop("skipped")
        row = rf.parse(rf.PredictionRow, old, Path("old.jsonl"), 1)
        assert row.schema_version == "0" and row.failed_stages == record["failed_stages"]
        assert row.status == record["status"]  # a failed summary: failed, else complete


def test_an_old_folder_rewritten_is_a_current_one(tmp_path):
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rf.read_predictions(OLD_RUN / rf.PREDICTIONS))
    rf.write_metrics(tmp_path / rf.METRICS, rf.read_metrics(OLD_RUN / rf.METRICS))
    assert rf.read_metrics(tmp_path / rf.METRICS).schema_version == V
    assert {r.schema_version for r in rf.read_predictions(tmp_path / rf.PREDICTIONS)} == {V}


def test_report_reads_the_old_folders():
    run = read_run(OLD_RUN)
    assert run.status == "complete" and run.reason == "" and run.done == 1
    failed = read_run(OLD_FAILED_RUN)
    assert failed.status == "failed"
    assert failed.reason == (
        "DataValidationError: /data/missing/Books: expected a data file or folder, "
        "found nothing there"
    )


# ---------------------------------------------------------------- version 1


def test_a_version_1_run_folder_reads_with_the_later_defaults(tmp_path):
    rows = rf.read_predictions(V1_RUN / rf.PREDICTIONS)
    assert rows and {r.schema_version for r in rows} == {"1"}
    assert all(r.stages.generate is not None for r in rows)
    assert all(r.stages.judge is None and r.stages.peer is None for r in rows)
    metrics = rf.read_metrics(V1_RUN / rf.METRICS)
    assert metrics.schema_version == "1" and metrics.status == "complete"
    assert metrics.excluded_samples == 0 and metrics.judge is None
    assert all(r.context is None for r in rows) and metrics.prompts_sha256 is None
    # re-written, it is a current-version folder with the defaults written out
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rows)
    rf.write_metrics(tmp_path / rf.METRICS, metrics)
    written = json.loads((tmp_path / rf.METRICS).read_text())
    assert written["schema_version"] == V == "4"
    assert written["excluded_samples"] == 0 and written["judge"] is None
    assert written["prompts_sha256"] is None
    first = json.loads((tmp_path / rf.PREDICTIONS).read_text().splitlines()[0])
    assert first["context"] is None, "null: not recorded"
    assert {r.schema_version for r in rf.read_predictions(tmp_path / rf.PREDICTIONS)} == {V}
    run = read_run(V1_RUN)
    assert run.status == "complete" and run.done == 3


def test_a_version_2_run_folder_reads_with_contexts_not_recorded(tmp_path):
    rows = rf.read_predictions(V2_RUN / rf.PREDICTIONS)
    assert len(rows) == 2 and {r.schema_version for r in rows} == {"2"}
    assert all(r.context is None and len(r.past_reviews) == 3 for r in rows)
    metrics = rf.read_metrics(V2_RUN / rf.METRICS)
    assert metrics.schema_version == "2" and metrics.prompts_sha256 is None
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rows)
    again = rf.read_predictions(tmp_path / rf.PREDICTIONS)
    assert {r.schema_version for r in again} == {V} and again[0].context is None
    run = read_run(V2_RUN)
    assert run.status == "complete" and run.done == 2


def test_a_version_3_run_folder_reads_with_scores_not_recorded_and_the_report_recomputes_them(
    tmp_path,
):
    rows = rf.read_predictions(V3_RUN / rf.PREDICTIONS)
    assert len(rows) == 2 and {r.schema_version for r in rows} == {"3"}
    assert all(r.scores is None and r.context is not None for r in rows)
    metrics = rf.read_metrics(V3_RUN / rf.METRICS)
    assert metrics.schema_version == "3" and metrics.prompts_sha256 is not None
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rows)
    again = rf.read_predictions(tmp_path / rf.PREDICTIONS)
    assert {r.schema_version for r in again} == {V} and again[0].scores is None
    run = read_run(V3_RUN)
    assert run.status == "complete" and run.done == 2
    recomputed = text_metrics.per_sample_scores(
        [r.prediction for r in rows], [r.reference for r in rows]
    )
    assert list(run.sample_values("meteor")) == [s["meteor"] for s in recomputed]
    assert float(np.mean(run.sample_values("meteor"))) == metrics.metrics["meteor"]


def test_the_v3_run_scored_again_gives_its_metrics_json_scores_to_the_last_bit():
    """metrics.json's scores of a real run made before scores were stored are what
    score_records computes now, byte for byte, and its rows' means are those values."""
    metrics = json.loads((V3_RUN / rf.METRICS).read_text())
    records = [json.loads(line) for line in (V3_RUN / rf.PREDICTIONS).read_text().splitlines()]
    corpus = score_records(records, seed=metrics["run"]["seed"])
    assert json.dumps(corpus, indent=2) == json.dumps(metrics["metrics"], indent=2)
    assert_row_means_are_the_corpus_values(records, corpus)


def assert_row_means_are_the_corpus_values(records, corpus) -> None:
    scored = [r["scores"] for r in records if r["status"] != "excluded"]
    assert scored and all(s is not None for s in scored)
    assert float(np.mean([s["meteor"] for s in scored])) == corpus["meteor"]
    for rouge in text_metrics.ROUGE_TYPES:
        assert float(np.mean([s[rouge] for s in scored])) == corpus[f"{rouge}_mean"]


@pytest.mark.parametrize("case", ["rag", "drp-failed-summary"])
def test_rows_store_the_scores_metrics_json_is_made_of(case, tiny_dataset, embedder, tmp_path):
    method, overrides, fail_when = CASES[case]
    cfg = _config(method, *overrides)
    _, records = scripted_run(cfg, tiny_dataset, embedder, ScriptedModel(fail_when=fail_when))
    before = summarize_run(cfg, tiny_dataset, json.loads(json.dumps(records)))
    records[0]["status"] = "excluded"  # left out by design: null scores, not in the means
    untouched = summarize_run(cfg, tiny_dataset, json.loads(json.dumps(records)))
    corpus = score_records(records, cfg.seed)
    assert summarize_run(cfg, tiny_dataset, records, scores=corpus) == untouched
    assert before["metrics"]["n"] == len(records) == corpus["n"] + 1
    assert records[0]["scores"] is None
    assert_row_means_are_the_corpus_values(records, corpus)
    scored = records[1:]
    assert [r["scores"] for r in scored] == text_metrics.per_sample_scores(
        [r["prediction"] for r in scored], [r["reference"] for r in scored]
    )
    rf.write_predictions(tmp_path / rf.PREDICTIONS, records)
    rows = rf.read_predictions(tmp_path / rf.PREDICTIONS)
    assert rows[0].scores is None
    assert [r.scores.model_dump() for r in rows[1:]] == [r["scores"] for r in scored]


def test_the_report_reads_the_stored_scores_instead_of_recomputing(tmp_path):
    """A v4 folder's stored values are what the report resamples (here deliberately not the
    true ones, to tell reading from recomputing); BLEU, corpus-level, is recomputed."""
    run_dir = tmp_path / "run"
    shutil.copytree(V3_RUN, run_dir)
    records = [json.loads(line) for line in (run_dir / rf.PREDICTIONS).read_text().splitlines()]
    score_records(records, seed=42)
    records[1]["scores"]["rougeL"] = 0.625
    rf.write_predictions(run_dir / rf.PREDICTIONS, records)
    run = read_run(run_dir)
    assert run.status == "complete"
    assert list(run.sample_values("rougeL")) == [records[0]["scores"]["rougeL"], 0.625]
    assert run.sample_values("bleu").shape == (2, 10)


def test_a_stored_score_of_the_wrong_type_names_line_and_field(tmp_path):
    records = [json.loads(line) for line in (V3_RUN / rf.PREDICTIONS).read_text().splitlines()]
    score_records(records, seed=42)
    records[1]["scores"]["meteor"] = "0.5"
    records[1]["schema_version"] = V
    path = tmp_path / rf.PREDICTIONS
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(rf.RunFolderError) as e:
        rf.read_predictions(path)
    assert e.value.line == 2 and e.value.field == "scores.meteor"


def test_a_version_2_row_with_judge_and_peer_round_trips(tmp_path):
    row = json.loads((V1_RUN / rf.PREDICTIONS).read_text().splitlines()[0])
    judge = {**row["stages"]["generate"], "output": "7", "score": 7}
    row["stages"] = {
        "peer": {"peer_user_id": "U2", "similarity": 0.5, "candidates": 3, "excluded": None},
        "judge": judge,
    }
    written = rf.write_predictions(tmp_path / rf.PREDICTIONS, [row])
    read = rf.read_predictions(tmp_path / rf.PREDICTIONS)
    assert read == written and read[0].stages.generate is None
    assert read[0].stages.judge is not None and read[0].stages.judge.score == 7
    assert [s for s, _ in read[0].stages.calls()] == ["judge"]


# ---------------------------------------------------------------- published JSON Schema


def test_published_schemas_equal_the_generated_ones():
    texts = rf.schema_texts()
    assert sorted(texts) == sorted(p.name for p in PUBLISHED.glob("*.schema.json"))
    for name, text in texts.items():
        assert (PUBLISHED / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: python -m drp_bench.run.folder --write-schemas results/schema"
        )


def test_schema_module_entry_writes_and_checks(tmp_path):
    cmd = [sys.executable, "-m", "drp_bench.run.folder"]
    written = subprocess.run(
        [*cmd, "--write-schemas", str(tmp_path)], capture_output=True, text=True
    )
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(rf.SCHEMA_FILES)
    ok = subprocess.run([*cmd, "--check-schemas", str(tmp_path)], capture_output=True)
    (tmp_path / "error.schema.json").write_text("{}\n")
    stale = subprocess.run([*cmd, "--check-schemas", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0 and stale.returncode == 1 and "error.schema.json" in stale.stderr


def test_schemas_say_the_version_and_forbid_unknown_fields():
    schemas = rf.json_schemas()
    for schema in schemas.values():
        assert schema["properties"]["schema_version"]["enum"] == [
            V,
            rf.KNOBS_VERSION,
            rf.SCHEMA_VERSION,
        ]
        assert "schema_version" in schema["required"]
        assert schema["additionalProperties"] is False
    stages = schemas["predictions-row.schema.json"]["$defs"]["Stages"]
    assert "required" not in stages  # generate is absent for peer (no model call)
    assert set(stages["properties"]) >= {"generate", "peer", "judge"}
    status = schemas["predictions-row.schema.json"]["properties"]["status"]["enum"]
    assert "excluded" in status


# ---------------------------------------------------------------- a real run


@pytest.mark.slow
@pytest.mark.timeout(900)  # the embedded model on 2 shared cores
def test_a_real_run_folder_matches_the_schema(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        str(Path(sys.executable).with_name("drp-bench")), "run",
        "dataset.limit=1", "num_retrieved=2", "num_users=1", "prompts.max_review_chars=200",
        "extractor.sampling.max_tokens=32", "generator.sampling.max_tokens=32", "uvq=true",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "DRP_BENCH_CACHE": str(tmp_path / "calls.sqlite")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    rows = rf.read_predictions(run_dir / rf.PREDICTIONS)
    metrics = rf.read_metrics(run_dir / rf.METRICS)
    assert len(rows) == metrics.run.num_samples == 1
    assert rows[0].stages.normalize is not None and metrics.uvq is not None
    # what the pipeline wrote passes the writers' checks as the current version
    rf.write_predictions(tmp_path / rf.PREDICTIONS, rows)
    rf.write_metrics(tmp_path / rf.METRICS, metrics)
    assert rf.read_metrics(tmp_path / rf.METRICS).schema_version == V  # no compute knobs
    assert read_run(run_dir).status in ("complete", "degraded")
