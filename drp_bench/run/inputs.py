"""What a run needs before its first model call: the data, the pool of other reviewers, every
sample's context (BM25, representatives, neighbours) and the prompt renderer.

``drp-bench run`` and ``drp-bench plan`` both start here, so a plan counts the calls and renders
the prompts of exactly the run it plans.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from drp_bench.config.run_config import RunConfig
from drp_bench.data.locate import resolve_data_path
from drp_bench.data.types import Dataset
from drp_bench.pipeline.context import SampleContext, build_contexts
from drp_bench.pipeline.prompts import PromptRenderer, renderer_for
from drp_bench.pipeline.runner import check_stages

log = logging.getLogger("drp_bench")


def load_run_dataset(dataset_cfg: dict[str, Any]) -> Dataset:
    from drp_bench.data.loader import load_dataset

    return load_dataset(
        resolve_data_path(dataset_cfg["path"]),
        resolve_data_path(dataset_cfg.get("meta_path")),
        split=dataset_cfg.get("split", "test"),
        name=dataset_cfg.get("name"),
        limit=dataset_cfg.get("limit"),
    )


def make_renderer(cfg: RunConfig) -> PromptRenderer:
    """The run's prompt renderer; every stage's templates are checked to exist."""
    renderer = renderer_for(cfg.prompts)
    check_stages(cfg, renderer)  # a missing template fails before the data is read
    return renderer


@dataclass
class RunInputs:
    """The evaluated samples (``dataset``), their contexts, and how long building took."""

    dataset: Dataset
    contexts: list[SampleContext]
    pool_size: int
    context_s: float


def build_run_inputs(cfg: RunConfig, store_embeddings: bool = True) -> RunInputs:
    """Load the data (the pool of other reviewers is the whole split, or ``pool_split``,
    whatever ``limit`` keeps) and build every evaluated sample's context.
    ``store_embeddings`` false: the embedding cache is read, not written."""
    start = time.perf_counter()
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
        from drp_bench.pipeline.representatives import Embedder
        from drp_bench.storage.embedding_cache import embedding_cache_path

        # review embeddings are cached next to the call cache: a sweep embeds each review once
        embedder = Embedder(
            cfg.embedder, embedding_cache_path(cfg.cache_path), store=store_embeddings
        )
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
            peer_rule=cfg.method.peer_candidates,
            recent_reviews=cfg.method.recent_reviews,
        )
    finally:
        if embedder is not None:
            embedder.close()
    return RunInputs(dataset, contexts, len(pool_samples), time.perf_counter() - start)
