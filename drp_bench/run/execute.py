"""Execute one configured run into a run folder (predictions.jsonl, metrics.json)."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drp_bench.backends.base import Backend
from drp_bench.backends.pool import BackendPool
from drp_bench.config.run_config import RunConfig
from drp_bench.pipeline.runner import Pipeline
from drp_bench.provenance import git_commit, package_versions
from drp_bench.run import folder as run_folder
from drp_bench.run.inputs import build_run_inputs, make_renderer
from drp_bench.run.prompts_fingerprint import prompts_fingerprint

log = logging.getLogger("drp_bench")


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) received: the run stops, keeping every finished call in the cache."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`Interrupted` while a run executes (main thread)."""

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signal handling to the caller
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _RunState:
    """What a run has finished so far, for error.json when it stops early."""

    def __init__(self) -> None:
        self.phase = "starting"
        self.pipeline: Pipeline | None = None

    def finished(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "stages": self.pipeline.progress_report() if self.pipeline else {},
        }


@dataclass
class RunOutput:
    """What one run wrote: metrics.json's content and the predictions.jsonl rows."""

    metrics: dict[str, Any]
    records: list[dict[str, Any]]


def execute(
    cfg_dict: dict[str, Any], out_dir: Path, backends: Mapping[str, Backend] | None = None
) -> RunOutput:
    """Run and write the run folder; on failure or interrupt write error.json and re-raise.

    ``backends`` (role -> backend) replaces the registry's backend for those roles; every
    other role is served by a :class:`BackendPool` made and closed here. All go through the
    call cache. Results are written by atomic renames, so a run killed at any moment leaves
    either the previous files or the new ones, never half a file; finished calls stay in the
    call cache.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _RunState()
    try:
        with interrupts_raise():
            return _execute(cfg_dict, out_dir, backends, state)
    except BaseException as exc:
        write_error(out_dir, exc, finished=state.finished())
        raise


def write_error(out_dir: Path, exc: BaseException, finished: dict[str, Any] | None = None) -> None:
    """error.json: what failed (or that the run was interrupted), for `report` and the user."""
    out_dir.mkdir(parents=True, exist_ok=True)
    interrupted = isinstance(exc, KeyboardInterrupt)
    message = f"{type(exc).__name__}: {exc}"
    if interrupted:
        signame = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        message = f"interrupted by {signame}"
    body: dict[str, Any] = {
        "error": message,
        "interrupted": interrupted,
        "traceback": traceback.format_exc(),
    }
    body["finished"] = finished
    run_folder.write_error(out_dir / run_folder.ERROR, body)


def _execute(
    cfg_dict: dict[str, Any],
    out_dir: Path,
    backends: Mapping[str, Backend] | None,
    state: _RunState,
) -> RunOutput:
    start = time.perf_counter()
    cfg = RunConfig.from_config(cfg_dict)
    for stale in ("error.json", "metrics.json", "predictions.jsonl"):
        (out_dir / stale).unlink(missing_ok=True)
    renderer = make_renderer(cfg)  # a missing template fails before the data is read
    state.phase = "loading data and building contexts"
    inputs = build_run_inputs(cfg)
    dataset, contexts, context_s = inputs.dataset, inputs.contexts, inputs.context_s
    pool = BackendPool(cfg.cache_path)
    pipeline = Pipeline(cfg, pool.for_roles(cfg.roles, backends), renderer)
    state.pipeline, state.phase = pipeline, "model calls"
    try:
        records = pipeline.run(dataset, contexts)
    finally:
        pool.close()
    state.phase = "writing predictions and scoring"
    from drp_bench.run.metrics_file import score_records, summarize_run

    corpus = score_records(records, cfg.seed)  # each row's scores, and metrics.json's means
    run_folder.stream_predictions(out_dir / run_folder.PREDICTIONS, records)
    metrics = summarize_run(cfg, dataset, records, scores=corpus)
    for stage, wall_s in pipeline.stage_wall_s.items():
        metrics["compute"].setdefault(stage, {})["wall_s"] = wall_s
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    metrics["context_time_s"] = round(context_s, 3)
    metrics["versions"] = package_versions()
    metrics["git_commit"] = git_commit()
    metrics["prompts_sha256"] = prompts_fingerprint(cfg, renderer)
    metrics["dataset_fingerprint"] = dataset.fingerprint
    metrics = {"schema_version": run_folder.SCHEMA_VERSION, **metrics}
    # as written: the defaults of fields summarize_run leaves out filled in
    metrics = run_folder.write_metrics(out_dir / run_folder.METRICS, metrics).to_json_dict()
    return RunOutput(metrics, records)
