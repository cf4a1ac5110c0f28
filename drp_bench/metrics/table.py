"""The one list of reported quality metrics: key in metrics.json, label, scale, direction.

Summary, report tables, plots, the run summary and bootstrap statistics all read it, so a
metric is added in one place.

The papers' tables show BLEU, METEOR, ROUGE-1 and ROUGE-L (``in_paper``); ROUGE-2 and
ROUGE-Lsum, which HF evaluate's ``rouge`` computes alongside, are in metrics.json and the
report's results.csv but not in the paper-layout tables (:data:`METRICS`, :data:`METRIC_LABELS`).

:data:`ALL_METRICS` are the built-ins (computed by :func:`drp_bench.metrics.text.score_all`);
:func:`all_metrics` adds those of installed plugins (entry point group ``drp_bench.metrics``,
loaded on first use; docs/extending.md), each computed as its entry says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from drp_bench import plugins

#: (prediction, reference) -> the sample's value.
PerSample = Callable[[str, str], float]
#: (predictions, references) -> the corpus value.
Corpus = Callable[[Sequence[str], Sequence[str]], float]

#: rouge-score's bootstrap seed when nothing else sets it: drp-bench's default run seed, the
#: lm-eval task's seed (tasks/drp_metrics.py) and a submitted entry's default.
ROUGE_SEED = 42
#: How far a claimed score may be from the one recomputed from the predictions (an lm-eval
#: import, a leaderboard entry): the same code gives the same float, so only JSON round trips.
SCORE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MetricInfo:
    """A reported metric. A plugin's entry says how it is computed: ``per_sample`` (its value
    is the mean over the scored samples) and/or ``corpus`` (its value is that function of all
    pairs; ``per_sample`` then only gives per-sample values). Built-ins have neither here."""

    key: str  # the key in metrics.json and results.csv
    label: str  # as the papers' tables print it
    scale: str  # value range, for axis labels
    higher_is_better: bool = True
    in_paper: bool = True  # a row of the papers' tables (and of the paper-layout report)
    per_sample: PerSample | None = field(default=None, compare=False, repr=False)
    corpus: Corpus | None = field(default=None, compare=False, repr=False)

    @property
    def aggregation(self) -> str:
        """How its metrics.json value is made: ``corpus``, ``mean`` (of per-sample values) or
        ``builtin`` (by ``score_all``)."""
        if self.corpus is not None:
            return "corpus"
        return "mean" if self.per_sample is not None else "builtin"


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
    """The entry of ``key`` (any reported metric, in the paper's tables or not, or a plugin's)."""
    for m in all_metrics():
        if m.key == key:
            return m
    raise KeyError(f"unknown metric {key!r}; known: {', '.join(all_metric_keys())}")


@lru_cache(maxsize=1)
def plugin_metrics() -> tuple[MetricInfo, ...]:
    """The installed plugins' metrics (loaded on the first call), by key."""
    # metrics.json's other keys of the built-ins (score_all's plain ROUGE means, the count)
    taken = {m.key: m for m in ALL_METRICS} | {f"{m.key}_mean": m for m in ALL_METRICS}
    merged = plugins.merge({**taken, "n": None}, plugins.METRICS_GROUP, "metric", _plugin_metric)
    return tuple(m for k, m in merged.items() if k not in taken and k != "n")


plugins.on_reset(plugin_metrics.cache_clear)


def all_metrics() -> tuple[MetricInfo, ...]:
    """Every reported metric: the built-ins (:data:`ALL_METRICS`), then the plugins'."""
    return ALL_METRICS + plugin_metrics()


def all_metric_keys() -> tuple[str, ...]:
    return tuple(m.key for m in all_metrics())


def _plugin_metric(plugin: plugins.Plugin) -> MetricInfo:
    """A plugin's MetricInfo, checked: named as its entry point, computable, not a paper row."""
    info = plugin.load()
    problem = None
    if not isinstance(info, MetricInfo):
        problem = f"expected a drp_bench.metrics.table.MetricInfo, found {type(info).__name__}"
    elif info.key != plugin.name:
        problem = f"the entry point's name must be the metric's key, found key {info.key!r}"
    elif info.per_sample is None and info.corpus is None:
        problem = "it says neither how to compute a sample's value (per_sample) nor the corpus's"
    elif info.in_paper:
        problem = "in_paper must be false: the papers' tables have only the built-in metrics"
    if problem:
        raise plugins.PluginError(f"plugin {plugin.where}: {problem}")
    return info
