"""Run-folder files for tests, written through ``drp_bench.run.folder``'s writers (so they are
what a run writes: valid against the schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drp_bench.run import folder as run_folder

MODEL = {
    "name": "Qwen2.5-7B-Instruct", "hub_id": "Qwen/Qwen2.5-7B-Instruct",
    "family": "qwen2.5-instruct", "params_b": 7.0, "reasoning": False, "backend": "vllm",
}  # fmt: skip


def metrics_record(status: str = "complete", reason: str = "") -> dict[str, Any]:
    """A minimal metrics.json of a nonp run: ``degraded`` gets ``failures`` with ``reason``."""
    failures = None
    if status == "degraded":
        failures = {
            "reason": reason or "2 of 8 calls failed (generate 2/8)",
            "calls_by_stage": {"generate": {"calls": 8, "failed": 2, "skipped": 0}},
            "samples": ["U1:B1"],
            "sample_status": {"U1:B1": "failed"},
        }
    return {
        "status": status,
        "failures": failures,
        "run": {
            "method": "nonp", "dataset": "music_sample", "split": "test", "num_samples": 8,
            "num_users": 4, "num_retrieved": 8, "dimensions": None, "validate": False,
            "summary_reads": None, "temperature": 0.0, "seed": 42, "models": {"generator": MODEL},
        },
        "metrics": {"bleu": 1.0, "meteor": 0.1, "rouge1": 0.2, "rougeL": 0.1, "n": 8},
        "failed_samples": 1 if status == "degraded" else 0,
        "features": None, "extracted_features": None, "uvq": None,
        "calls": {"total": 8, "failed": 2 if status == "degraded" else 0, "cached": 0,
                  "skipped": 0},
        "compute": {}, "wall_time_s": 1.0, "context_time_s": 0.1, "versions": {},
        "git_commit": None, "dataset_fingerprint": {"test.jsonl": "sha256:00"},
    }  # fmt: skip


def write_metrics(run_dir: Path, status: str = "complete", reason: str = "") -> Path:
    """``run_dir/metrics.json`` with this status (see :func:`metrics_record`)."""
    path = Path(run_dir) / run_folder.METRICS
    run_folder.write_metrics(path, metrics_record(status, reason))
    return path


def write_error(run_dir: Path, error: str, interrupted: bool = False) -> Path:
    """``run_dir/error.json`` as ``drp_bench.run.execute.write_error`` writes it."""
    path = Path(run_dir) / run_folder.ERROR
    body = {"error": error, "interrupted": interrupted, "traceback": "Traceback ...",
            "finished": {"phase": "model calls", "stages": {}}}  # fmt: skip
    run_folder.write_error(path, body)
    return path
