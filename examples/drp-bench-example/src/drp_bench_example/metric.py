"""``length_ratio``: how long the prediction is next to the real review, in words."""

from __future__ import annotations

from drp_bench.metrics.table import MetricInfo


def length_ratio(prediction: str, reference: str) -> float:
    """Words of ``prediction`` / words of ``reference`` (1.0: as long; an empty reference
    counts as one word)."""
    return len(prediction.split()) / max(len(reference.split()), 1)


#: A per-sample metric: metrics.json holds the mean over the scored samples.
LENGTH_RATIO = MetricInfo(
    "length_ratio",
    "Length ratio",
    "prediction / reference words, 0–∞ (1: as long)",
    higher_is_better=False,  # closeness to 1 is what matters; not a quality score
    in_paper=False,
    per_sample=length_ratio,
)
