"""The scores an entry claims, computed from predictions and references.

``submit`` and ``verify`` both call :func:`score_entry`, so a claim and its recomputation come
from one code path: the corpus values are ``drp_bench.metrics.text.score_all`` (what metrics.json
holds), the CIs ``drp_bench.metrics.bootstrap`` percentile intervals (1000 resamples, seed 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drp_bench.leaderboard.view import BOARD_METRICS

N_RESAMPLES = 1000
CI_SEED = 0


def score_entry(
    sample_ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, str],
    metric_seed: int,
) -> dict[str, dict[str, float]]:
    """``{metric: {"value", "ci_low", "ci_high"}}`` for the board's metrics, samples in
    ``sample_ids`` order (the split's order)."""
    from drp_bench.metrics.bootstrap import bootstrap_ci
    from drp_bench.metrics.text import score_all

    preds = [predictions[s] for s in sample_ids]
    refs = [references[s] for s in sample_ids]
    corpus = score_all(preds, refs, seed=metric_seed)
    out: dict[str, dict[str, float]] = {}
    for metric in BOARD_METRICS:
        _, low, high = bootstrap_ci(preds, refs, metric, N_RESAMPLES, CI_SEED)
        out[metric] = {"value": float(corpus[metric]), "ci_low": low, "ci_high": high}
    return out
