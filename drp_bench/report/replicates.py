"""Replicates: runs of one configuration that differ only in sampling temperature.

The DRP authors ran their table at temperature 0 and 0.8 and reported the mean. The report
shows each temperature and, for every group of such replicates, their mean with a 95% CI from
a two-level bootstrap: each resample draws the test samples (shared by all replicates, paired
by ``sample_id``) and the replicates, both with replacement, and averages the replicates'
statistics on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: The field that varies between replicates.
REPLICATE_FIELD = "temperature"
#: Run fields that must agree for runs to be replicates of one configuration.
CONFIG_FIELDS: tuple[str, ...] = (
    "dataset", "split", "method", "extractor", "generator", "num_users", "num_retrieved",
    "dimensions", "validate", "summary_reads", "seed",
    "extract_samples", "extract_agree", "extract_temperature", "validate_rounds",
)  # fmt: skip


def replicate_mean_ci(
    values: Sequence[np.ndarray],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(mean of the replicates' statistics, low, high)``; ``values[k]`` are replicate k's
    per-sample values (see :func:`drp_bench.metrics.bootstrap.sample_values`), all aligned on
    the same samples."""
    from drp_bench.metrics.bootstrap import bootstrap_distribution, statistic

    k = len(values)
    if k < 1:
        raise ValueError("replicate_mean_ci: no replicate")
    point = float(np.mean([statistic(v, metric) for v in values]))
    if n_resamples <= 0:
        return point, math.nan, math.nan
    # the same seed draws the same samples for every replicate: paired resamples
    dists = np.stack([bootstrap_distribution(v, metric, n_resamples, seed) for v in values])
    picks = np.random.default_rng(seed + 1).integers(0, k, size=(n_resamples, k))
    draws = dists[picks, np.arange(n_resamples)[:, None]].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return point, float(low), float(high)


def replicate_groups(frame: pd.DataFrame) -> list[list[str]]:
    """Run folders that are replicates of one configuration (2 or more temperatures)."""
    if frame.empty or REPLICATE_FIELD not in frame:
        return []
    runs = frame.drop_duplicates("run_dir")
    if "status" in runs:
        runs = runs[runs["status"] == "complete"]
    from drp_bench.report.collect import knob_fields  # the new knobs must agree too

    knobs = [f for f in knob_fields(runs) if f != REPLICATE_FIELD and f not in CONFIG_FIELDS]
    keys = [f for f in (*CONFIG_FIELDS, *knobs) if f in runs]
    groups = []
    for _, grp in runs.groupby(keys, dropna=False, sort=True):
        temperatures = grp[REPLICATE_FIELD].dropna().unique()
        if len(temperatures) >= 2 and len(temperatures) == len(grp):
            groups.append(list(grp.sort_values(REPLICATE_FIELD)["run_dir"]))
    return groups


def mean_rows(table: Any, metrics: Sequence[str], n_resamples: int, seed: int) -> list[dict]:
    """Frame rows for the mean over each replicate group, per metric (with the CI)."""
    rows: list[dict] = []
    frame = table.frame
    for group in replicate_groups(frame):
        runs = [table.run(d) for d in group]
        shared = _shared_sample_ids(runs)
        temps = [float(frame.loc[frame["run_dir"] == d, REPLICATE_FIELD].iloc[0]) for d in group]
        base = frame[frame["run_dir"] == group[0]].iloc[0].to_dict()
        for metric in metrics:
            # the point is the mean of what the runs reported (metrics.json); the CI comes
            # from their predictions
            reported = frame[(frame["run_dir"].isin(group)) & (frame["metric"] == metric)]
            point = float(reported["value"].mean())
            values = [_aligned(run, metric, shared) for run in runs]
            low = high = math.nan
            if shared and all(v is not None for v in values):
                _, low, high = replicate_mean_ci(values, metric, n_resamples, seed)  # type: ignore[arg-type]
            rows.append(
                {
                    **base,
                    "metric": metric,
                    "value": point,
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(shared),
                    REPLICATE_FIELD: "mean(" + ", ".join(f"{t:g}" for t in temps) + ")",
                    "run_dir": "mean of " + " + ".join(group),
                    "replicate_of": list(group),
                }
            )
    return rows


def _shared_sample_ids(runs: Sequence[Any]) -> list[str]:
    sets = [{p.sample_id for p in r.predictions} for r in runs]
    if not sets or not all(sets):
        return []
    return sorted(set.intersection(*sets))


def _aligned(run: Any, metric: str, sample_ids: Sequence[str]) -> np.ndarray | None:
    if not run.predictions:
        return None
    index = {p.sample_id: i for i, p in enumerate(run.predictions)}
    values = run.sample_values(metric)
    return values[[index[s] for s in sample_ids]]
