"""The one list of reported quality metrics: key in metrics.json, label, scale, direction.

Summary, report tables, plots, the run summary and bootstrap statistics all read it, so a
metric is added in one place.

The papers' tables show BLEU, METEOR, ROUGE-1 and ROUGE-L (``in_paper``); ROUGE-2 and
ROUGE-Lsum, which HF evaluate's ``rouge`` computes alongside, are in metrics.json and the
report's results.csv but not in the paper-layout tables (:data:`METRICS`, :data:`METRIC_LABELS`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: rouge-score's bootstrap seed when nothing else sets it: drp-bench's default run seed, the
#: lm-eval task's seed (tasks/drp_metrics.py) and a submitted entry's default.
ROUGE_SEED = 42
#: How far a claimed score may be from the one recomputed from the predictions (an lm-eval
#: import, a leaderboard entry): the same code gives the same float, so only JSON round trips.
SCORE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MetricInfo:
    key: str  # the key in metrics.json and results.csv
    label: str  # as the papers' tables print it
    scale: str  # value range, for axis labels
    higher_is_better: bool = True
    in_paper: bool = True  # a row of the papers' tables (and of the paper-layout report)


#: Every reported metric: the papers' four first, in their column order, then the extras.
ALL_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("bleu", "BLEU", "0–100"),
    MetricInfo("meteor", "METEOR", "0–1"),
    MetricInfo("rouge1", "ROUGE-1", "F1, 0–1"),
    MetricInfo("rougeL", "ROUGE-L", "F1, 0–1"),
    MetricInfo("rouge2", "ROUGE-2", "F1, 0–1", in_paper=False),
    MetricInfo("rougeLsum", "ROUGE-Lsum", "F1, 0–1", in_paper=False),
)
#: The metrics of the papers' tables (the paper layout, the terminal summary, plots).
METRICS: tuple[MetricInfo, ...] = tuple(m for m in ALL_METRICS if m.in_paper)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
ALL_METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in ALL_METRICS)
#: key -> label of the papers' metrics, in the papers' column order.
METRIC_LABELS: dict[str, str] = {m.key: m.label for m in METRICS}


def metric_info(key: str) -> MetricInfo:
    """The entry of ``key`` (any reported metric, in the paper's tables or not)."""
    for m in ALL_METRICS:
        if m.key == key:
            return m
    raise KeyError(f"unknown metric {key!r}; known: {', '.join(ALL_METRIC_KEYS)}")
