"""The scores an entry claims, computed from predictions and references.

``submit`` and ``verify`` both call :func:`score_entry`, so a claim and its recomputation come
from one code path: the corpus values are ``drp_bench.metrics.text.score_samples`` (what
metrics.json holds), the CIs ``drp_bench.metrics.bootstrap`` percentile intervals (1000
resamples, seed 0) over the per-sample values of that same scoring pass.

Per-sample scores a run folder stores (predictions.jsonl ``scores``) are never trusted here:
they are recomputed, and :func:`sample_score_mismatches` names every one that differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drp_bench.leaderboard.entry import scores_match
from drp_bench.leaderboard.view import BOARD_METRICS

N_RESAMPLES = 1000
CI_SEED = 0
SHOWN = 5  # mismatching samples named in a problem (the count is always given)


@dataclass
class EntryScores:
    """What one scoring pass gives: the claims (``{metric: {"value", "ci_low",
    "ci_high"}}``) and each sample's per-sample scores (sample id -> metric -> value)."""

    claims: dict[str, dict[str, float]]
    samples: dict[str, dict[str, float]]


def score_entry_samples(
    sample_ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, str],
    metric_seed: int,
) -> EntryScores:
    """The board's metrics with CIs, and every sample's scores, samples in ``sample_ids``
    order (the split's order); each pair is scored once."""
    from drp_bench.metrics.bootstrap import bleu_sentence_stats, bootstrap_ci_values
    from drp_bench.metrics.text import score_samples

    preds = [predictions[s] for s in sample_ids]
    refs = [references[s] for s in sample_ids]
    corpus, per_sample = score_samples(preds, refs, seed=metric_seed)
    claims: dict[str, dict[str, float]] = {}
    for metric in BOARD_METRICS:
        values = (
            bleu_sentence_stats(preds, refs)
            if metric == "bleu"
            else [s[metric] for s in per_sample]
        )
        _, low, high = bootstrap_ci_values(values, metric, N_RESAMPLES, CI_SEED)
        claims[metric] = {"value": float(corpus[metric]), "ci_low": low, "ci_high": high}
    return EntryScores(claims, dict(zip(sample_ids, per_sample, strict=True)))


def score_entry(
    sample_ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, str],
    metric_seed: int,
) -> dict[str, dict[str, float]]:
    """``{metric: {"value", "ci_low", "ci_high"}}`` for the board's metrics, samples in
    ``sample_ids`` order (the split's order)."""
    return score_entry_samples(sample_ids, predictions, references, metric_seed).claims


def sample_score_mismatches(
    stored: Mapping[str, Mapping[str, float] | None],
    recomputed: Mapping[str, Mapping[str, float]],
    where: str,
) -> list[str]:
    """One problem per metric whose stored per-sample scores differ from the recomputed ones
    (:func:`~drp_bench.leaderboard.entry.scores_match`: the claims' tolerance), naming the
    samples with both values; samples without stored scores (``None``, or absent) are not
    compared."""
    by_metric: dict[str, list[str]] = {}
    for sid, mine in stored.items():
        theirs = recomputed.get(sid)
        if mine is None or theirs is None:
            continue
        for metric, value in theirs.items():
            have = mine.get(metric)
            if have is None or not scores_match(float(have), float(value)):
                by_metric.setdefault(metric, []).append(
                    f"{sid} (stored {have!r}, recomputed {value!r})"
                )
    out = []
    for metric, samples in by_metric.items():
        more = f" (and {len(samples) - SHOWN} more)" if len(samples) > SHOWN else ""
        out.append(
            f"{where}: stored per-sample {metric} differs from the one recomputed from the "
            f"predictions for {len(samples)} sample(s): "
            f"{', '.join(samples[:SHOWN])}{more}"
        )
    return out
