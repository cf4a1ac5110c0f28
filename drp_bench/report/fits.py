"""Scaling fits: per model family, a metric against log10(extractor parameters) and against
log10(tokens per sample), the least-squares slope with a bootstrap CI.

The slope is in metric units per tenfold increase. Its CI resamples the **test samples, paired
across runs**: every run of a fit is scored on the same resample of the samples they all hold
(the bootstrap's weights depend only on the number of samples and the seed), the fit is redone
on each resample, and the CI is the 2.5 and 97.5 percentiles of the slopes. So the CI says how
much the slope moves with the test samples, not with which runs were made.

Fits are made per dataset, split, metric, method and family. Against parameters, the runs of
one fit share every other setting (the knobs of ``report.collect.knob_fields``), so only the
model size varies; against tokens, every run of the family counts (tokens are what the knobs
and the size spend). A fit needs two distinct x values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from drp_bench.report.collect import TABLE_METRICS, RunTable, knob_fields
from drp_bench.report.cost import COST
from drp_bench.report.replicates import _aligned, _shared_sample_ids
from drp_bench.report.tables import MIN_SHARED_SAMPLES, ranked_rows

#: x axis -> frame column.
AXES: dict[str, str] = {"params": "params_b", "tokens": COST}
FIT_COLUMNS = [
    "dataset", "split", "metric", "method", "family", "axis", "settings", "runs", "slope",
    "ci_low", "ci_high", "intercept", "x_min", "x_max", "n_common", "note",
]  # fmt: skip


def ols(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line of ``y`` on ``x``."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or len(np.unique(xa)) < 2:
        raise ValueError(f"a fit needs two distinct x values; found x={list(xa)}")
    dx = xa - xa.mean()
    slope = float((dx * (ya - ya.mean())).sum() / (dx * dx).sum())
    return slope, float(ya.mean() - slope * xa.mean())


def slope_ci(
    x: Sequence[float],
    values: Sequence[np.ndarray],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float, float]:
    """``(slope, intercept, low, high)`` of the metric on ``x`` (already logged), run k's
    per-sample values ``values[k]`` all aligned on the same samples; the CI resamples those
    samples, the same resample for every run (NaN with ``n_resamples`` 0)."""
    from drp_bench.metrics.bootstrap import bootstrap_distribution, statistic

    if len(x) != len(values):
        raise ValueError(f"{len(x)} x values for {len(values)} runs")
    slope, intercept = ols(x, [statistic(v, metric) for v in values])
    if n_resamples <= 0:
        return slope, intercept, math.nan, math.nan
    dists = np.stack([bootstrap_distribution(v, metric, n_resamples, seed) for v in values])
    xa = np.asarray(x, dtype=np.float64)
    dx = xa - xa.mean()
    slopes = (dx[:, None] * (dists - dists.mean(axis=0))).sum(axis=0) / (dx * dx).sum()
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(slopes, [tail, 100 - tail])
    return slope, intercept, float(low), float(high)


def scaling_fits(
    table: RunTable, frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
    include_degraded: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """Every fit the runs allow (see the module's docstring), one row each."""
    rows = ranked_rows(frame[frame["metric"].isin(TABLE_METRICS)], include_degraded)
    if "replicate_of" in rows:
        rows = rows[rows["replicate_of"].isna()]
    out = []
    for axis, column in AXES.items():
        usable = rows[rows[column].notna() & (rows[column] > 0)] if column in rows else rows[:0]
        knobs = [f for f in knob_fields(usable) if f in usable] if axis == "params" else []
        keys = ["dataset", "split", "metric", "method", "family", *knobs]
        for key, grp in usable.groupby(keys, dropna=False, sort=True):
            if grp[column].nunique() < 2:
                continue
            parts = dict(zip(keys, key, strict=True))
            settings = _varying_elsewhere(usable, parts, knobs)
            out.append(
                {k: parts[k] for k in keys[:5]}
                | {"axis": axis, "settings": settings}
                | _fit(table, grp, column, parts["metric"], n_resamples, seed)
            )
    return pd.DataFrame(out, columns=FIT_COLUMNS)


def _varying_elsewhere(usable: pd.DataFrame, parts: dict, knobs: list[str]) -> str:
    """The knob values of a parameters fit that differ between its family's fits."""
    same = usable[(usable["method"] == parts["method"]) & (usable["family"] == parts["family"])]
    return ", ".join(f"{k}={parts[k]}" for k in knobs if same[k].astype(str).nunique() > 1)


def _fit(
    table: RunTable, grp: pd.DataFrame, column: str, metric: str, n_resamples: int, seed: int
) -> dict:
    x = np.log10(grp[column].to_numpy(dtype=np.float64))
    base = {"runs": len(grp), "x_min": float(grp[column].min()), "x_max": float(grp[column].max())}
    runs = [table.run(d) for d in grp["run_dir"]]
    shared = _shared_sample_ids(runs)
    values = [_aligned(r, metric, shared) for r in runs] if shared else []
    if len(shared) < MIN_SHARED_SAMPLES or any(v is None for v in values):
        slope, intercept = ols(x, grp["value"])
        note = f"fewer than {MIN_SHARED_SAMPLES} samples shared by its runs: no CI"
        return base | {"slope": slope, "intercept": intercept, "ci_low": math.nan,
                       "ci_high": math.nan, "n_common": len(shared), "note": note}  # fmt: skip
    slope, intercept, low, high = slope_ci(x, values, metric, n_resamples, seed)  # type: ignore[arg-type]
    short = [r.name for r in runs if len(r.predictions) > len(shared)]
    note = f"on the {len(shared)} samples all its runs hold" if short else ""
    return base | {"slope": slope, "intercept": intercept, "ci_low": low, "ci_high": high,
                   "n_common": len(shared), "note": note}  # fmt: skip


def fits_markdown(fits: pd.DataFrame) -> str:
    from drp_bench.report.tables import _md_esc, _md_grid

    if fits.empty:
        return "No family has runs at two sizes or two token counts: no fit."
    header = ["Dataset", "Metric", "Method · family", "x (log10)", "Runs", "Slope per 10×",
              "95% CI", "Note"]  # fmt: skip
    body = []
    for _, r in fits.iterrows():
        ci = "–" if pd.isna(r["ci_low"]) else f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        x = "parameters" if r["axis"] == "params" else "tokens per sample"
        family = r["family"] if isinstance(r["family"], str) else "no extractor"
        what = f"{r['method']} · {family}" + (f" ({r['settings']})" if r["settings"] else "")
        body.append([_md_esc(str(r["dataset"])), TABLE_METRICS.get(r["metric"], r["metric"]),
                     _md_esc(what), x, str(r["runs"]), f"{r['slope']:+.4f}", ci,
                     _md_esc(str(r["note"]) or "–")])  # fmt: skip
    return _md_grid(header, body)
