"""Execute one configured run into a run folder (predictions.jsonl, metrics.json)."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from drp_bench.config import RunConfig
from drp_bench.pipeline.context import build_contexts
from drp_bench.pipeline.prompts import PromptRenderer
from drp_bench.pipeline.runner import BackendPool, Pipeline
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


def execute(cfg_dict: dict[str, Any], out_dir: Path, backends: BackendPool | None = None) -> dict:
    """Run and write the run folder; on failure write error.json and re-raise."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _execute(cfg_dict, out_dir, backends)
    except BaseException as exc:
        write_error(out_dir, exc)
        raise


def write_error(out_dir: Path, exc: BaseException) -> None:
    """error.json: what failed, for `drp-bench report` and for the user."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        out_dir / "error.json",
        {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()},
    )


def _execute(cfg_dict: dict[str, Any], out_dir: Path, backends: BackendPool | None) -> dict:
    start = time.perf_counter()
    cfg = RunConfig.from_config(cfg_dict)
    (out_dir / "error.json").unlink(missing_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)
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
    if cfg.method.differences:
        from drp_bench.pipeline.representatives import Embedder

        embedder = Embedder(cfg.embedder)
    contexts = build_contexts(
        dataset,
        past_reviews=cfg.method.past_reviews,
        differences=cfg.method.differences,
        num_retrieved=cfg.num_retrieved,
        num_users=cfg.num_users,
        seed=cfg.seed,
        embedder=embedder,
        pool=pool_samples,
    )
    context_s = time.perf_counter() - start
    renderer = PromptRenderer(
        extra_dirs=[d for d in [cfg.prompts.get("dir")] if d],
        max_review_chars=cfg.prompts.get("max_review_chars"),
        max_description_chars=cfg.prompts.get("max_description_chars"),
    )
    owns_backends = backends is None
    backends = backends or BackendPool(cfg.cache_path)
    pipeline = Pipeline(cfg, backends, renderer)
    try:
        records = pipeline.run(dataset, contexts)
    finally:
        if owns_backends:
            backends.close()
    _write_jsonl(out_dir / "predictions.jsonl", records)
    from drp_bench.summary import summarize_run

    metrics = summarize_run(cfg, dataset, records)
    for stage, wall_s in pipeline.stage_wall_s.items():
        metrics["compute"].setdefault(stage, {})["wall_s"] = wall_s
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    metrics["context_time_s"] = round(context_s, 3)
    metrics["versions"] = package_versions()
    metrics["git_commit"] = git_commit()
    metrics["dataset_fingerprint"] = dataset.fingerprint
    _write_json(out_dir / "metrics.json", metrics)
    return metrics


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
