"""The one list of reported quality metrics: key in metrics.json, label, scale, direction.

Summary, report tables, plots, the run summary and bootstrap statistics all read it, so a
metric is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    key: str  # the key in metrics.json and results.csv
    label: str  # as the papers' tables print it
    scale: str  # value range, for axis labels
    higher_is_better: bool = True


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("bleu", "BLEU", "0–100"),
    MetricInfo("meteor", "METEOR", "0–1"),
    MetricInfo("rouge1", "ROUGE-1", "F1, 0–1"),
    MetricInfo("rougeL", "ROUGE-L", "F1, 0–1"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
#: key -> label, in the papers' column order.
METRIC_LABELS: dict[str, str] = {m.key: m.label for m in METRICS}


def metric_info(key: str) -> MetricInfo:
    for m in METRICS:
        if m.key == key:
            return m
    raise KeyError(f"unknown metric {key!r}; known: {', '.join(METRIC_KEYS)}")
