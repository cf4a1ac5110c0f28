"""Execute one configured run into a run folder (predictions.jsonl, metrics.json)."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from drp_bench import run_folder
from drp_bench.backends.base import Backend
from drp_bench.backends.pool import BackendPool
from drp_bench.config import RunConfig
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.runner import Pipeline, check_stages
from drp_bench.provenance import git_commit, package_versions
from drp_bench.records import Dataset

log = logging.getLogger("drp_bench")

BUNDLED_PREFIX = "bundled:"
SAMPLE_DATA = Path(__file__).resolve().parent / "sample_data"


def resolve_data_path(path: str | None) -> str | None:
    """``bundled:NAME`` -> the sample shipped in the package; other paths as given."""
    if path and path.startswith(BUNDLED_PREFIX):
        folder = SAMPLE_DATA / path[len(BUNDLED_PREFIX) :]
        if not folder.exists():
            known = sorted(p.name for p in SAMPLE_DATA.iterdir() if p.is_dir())
            raise FileNotFoundError(f"no bundled dataset {path!r}; bundled: {known}")
        return str(folder)
    return path


def load_run_dataset(dataset_cfg: dict[str, Any]) -> Dataset:
    from drp_bench.data.loader import load_dataset

    return load_dataset(
        resolve_data_path(dataset_cfg["path"]),
        resolve_data_path(dataset_cfg.get("meta_path")),
        split=dataset_cfg.get("split", "test"),
        name=dataset_cfg.get("name"),
        limit=dataset_cfg.get("limit"),
    )


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
    renderer = PromptRenderer(
        extra_dirs=[d for d in [cfg.prompts.get("dir")] if d],
        max_review_chars=cfg.prompts.get("max_review_chars"),
        max_description_chars=cfg.prompts.get("max_description_chars"),
        instructions_in=cfg.prompts.get("instructions_in", "system"),
        system_prompt=cfg.prompts.get("system"),
    )
    check_stages(cfg, renderer)  # a missing template fails before the data is read
    if cfg.judge and not renderer.has_template("judge"):
        raise FileNotFoundError("metrics.judge: prompt template 'judge' not found")
    state.phase = "loading data and building contexts"
    # Other reviewers come from the whole split (or pool_split), whatever `limit` keeps.
    full = load_run_dataset({**cfg.dataset, "limit": None})
    pool_split = cfg.dataset.get("pool_split")
    if pool_split and pool_split != full.split:
        pool_samples = load_run_dataset({**cfg.dataset, "split": pool_split, "limit": None}).samples
    else:
        pool_samples = full.samples
    limit = cfg.dataset.get("limit")
    dataset = replace(full, samples=full.samples[:limit] if limit is not None else full.samples)
    log.info(
        "dataset %s/%s: %d samples (pool of other reviewers: %d users)",
        dataset.name,
        dataset.split,
        len(dataset.samples),
        len(pool_samples),
    )
    embedder = None
    if cfg.method.embeds:  # representatives (comparisons) or neighbours
        from drp_bench.pipeline.embedding_cache import embedding_cache_path
        from drp_bench.pipeline.representatives import Embedder

        # review embeddings are cached next to the call cache: a sweep embeds each review once
        embedder = Embedder(cfg.embedder, cache_path=embedding_cache_path(cfg.cache_path))
    try:
        contexts = build_contexts(
            dataset,
            past_reviews=cfg.method.past_reviews,
            differences=cfg.method.differences,
            num_retrieved=cfg.num_retrieved,
            num_users=cfg.num_users,
            seed=cfg.seed,
            embedder=embedder,
            pool=pool_samples,
            neighbours=cfg.method.neighbours if "neighbours" in cfg.method.contexts else 0,
            peer="peer" in cfg.method.contexts,
        )
    finally:
        if embedder is not None:
            embedder.close()
    context_s = time.perf_counter() - start
    pool = BackendPool(cfg.cache_path)
    pipeline = Pipeline(cfg, pool.for_roles(cfg.roles, backends), renderer)
    state.pipeline, state.phase = pipeline, "model calls"
    try:
        records = pipeline.run(dataset, contexts)
        if cfg.judge:  # the LLM judge (metrics.judge=true): one call per prediction
            from drp_bench.judge import ROLE, judge_records

            state.phase = "judging"
            judge = cfg.roles[ROLE]
            pipeline.stage_wall_s["judge"] = judge_records(
                records, dataset, pipeline.backends[ROLE], renderer, judge.sampling,
                judge.instructions_in, pipeline.stage_progress.setdefault(ROLE, []),
            )  # fmt: skip
    finally:
        pool.close()
    state.phase = "writing predictions and scoring"
    run_folder.write_predictions(out_dir / run_folder.PREDICTIONS, records)
    from drp_bench.summary import summarize_run

    metrics = summarize_run(cfg, dataset, records)
    for stage, wall_s in pipeline.stage_wall_s.items():
        metrics["compute"].setdefault(stage, {})["wall_s"] = wall_s
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    metrics["context_time_s"] = round(context_s, 3)
    metrics["versions"] = package_versions()
    metrics["git_commit"] = git_commit()
    metrics["dataset_fingerprint"] = dataset.fingerprint
    metrics = {"schema_version": run_folder.SCHEMA_VERSION, **metrics}
    # as written: the defaults of fields summarize_run leaves out filled in
    metrics = run_folder.write_metrics(out_dir / run_folder.METRICS, metrics).to_json_dict()
    return RunOutput(metrics, records)
