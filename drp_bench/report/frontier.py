"""Quality against compute: every run a point (tokens per sample, metric), the Pareto frontier,
the best run under a budget, and compute-matched comparisons.

The rules (docs: README "Compute and quality", docs/report.md):

- **Cost** is tokens per sample, prompt + completion over every stage (:mod:`.cost`).
- **Frontier**: per dataset, split and metric, the runs no other run *dominates*; run j
  dominates run i when ``cost_j <= cost_i`` and ``value_j >= value_i`` with one of the two
  strict. Two runs at the same cost and value dominate neither each other: both are on it.
- **Budget** B: per dataset, split and metric, the best value among runs costing at most B
  tokens per sample (a tie: the cheaper run). It is always a frontier run.
- **Compute-matched**: two runs of one dataset and split, on the same samples, whose costs
  differ by at most ``tolerance`` relative to the larger (``|a - b| / max(a, b)``), compared
  with the tables' two-sided paired bootstrap.

Points are the ranked runs (``report.tables.ranked_rows``: no degraded run unless asked, never
the human reference) and single runs only: a mean over temperature replicates is not a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from drp_bench.report.collect import JUDGE_METRIC, TABLE_METRICS, RunTable, knob_fields
from drp_bench.report.cost import COST, GPU_COST, TOKEN_COLUMNS
from drp_bench.report.tables import ALPHA, _md_esc, _md_grid, paired_test, ranked_rows

#: Metrics that get a frontier (the LLM judge too: its CI comes from metrics.json).
FRONTIER_METRICS: tuple[str, ...] = (*TABLE_METRICS, JUDGE_METRIC)
DEFAULT_MATCH_TOLERANCE = 0.25
GROUP = ["dataset", "split", "metric"]
POINT_COLUMNS = [
    *GROUP, "label", "method", "family", "params_b", COST, *TOKEN_COLUMNS.values(), GPU_COST,
    "value", "ci_low", "ci_high", "frontier", "settings", "overrides", "run_dir",
]  # fmt: skip


def non_dominated(costs: Sequence[float], values: Sequence[float]) -> list[bool]:
    """For each point, whether no other point has lower-or-equal cost and higher-or-equal
    value with one of the two strict (the Pareto frontier: low cost, high value)."""
    c = np.asarray(costs, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if c.shape != v.shape:
        raise ValueError(f"costs and values: expected equal lengths, found {c.shape}, {v.shape}")
    out = []
    for i in range(len(c)):
        weakly = (c <= c[i]) & (v >= v[i])
        strictly = (c < c[i]) | (v > v[i])
        out.append(not bool(np.any(weakly & strictly)))
    return out


def cost_points(
    frame: pd.DataFrame, include_degraded: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """One row per ranked run, dataset, split and frontier metric, with its costs, its
    distinguishing ``settings`` and ``overrides``, and ``frontier`` marked; plus notes on runs
    left out (no token counts)."""
    rows = ranked_rows(frame[frame["metric"].isin(FRONTIER_METRICS)], include_degraded)
    if "replicate_of" in rows:
        rows = rows[rows["replicate_of"].isna()]
    if rows.empty or COST not in rows:
        return pd.DataFrame(columns=POINT_COLUMNS), []
    notes = []
    priced = rows[rows[COST].notna()]
    unpriced = sorted(set(rows["run_dir"]) - set(priced["run_dir"]))
    if unpriced:
        notes.append(
            f"{len(unpriced)} run(s) left off the frontier: metrics.json records no token "
            f"counts (compute.per_sample): {', '.join(unpriced)}"
        )
    parts = []
    for _, grp in priced.groupby(["dataset", "split"], dropna=False, sort=True):
        grp = grp.copy()
        grp["settings"] = _settings(grp)
        grp["overrides"] = _distinguishing_overrides(grp)
        parts.append(grp)
    if not parts:
        return pd.DataFrame(columns=POINT_COLUMNS), notes
    points = pd.concat(parts, ignore_index=True)
    points["frontier"] = False
    for _, idx in points.groupby(GROUP, dropna=False).groups.items():
        grp = points.loc[idx]
        points.loc[idx, "frontier"] = non_dominated(grp[COST], grp["value"])
    for col in POINT_COLUMNS:
        if col not in points:
            points[col] = math.nan
    order = {m: i for i, m in enumerate(FRONTIER_METRICS)}
    points = points.assign(_m=points["metric"].map(order))
    points = points.sort_values(["dataset", "split", "_m", COST, "value"])
    return points[POINT_COLUMNS].reset_index(drop=True), notes


def _settings(runs: pd.DataFrame) -> pd.Series:
    """``field=value`` for the method, extractor and each knob that differs among ``runs``
    (one dataset and split): what tells a point's configuration from the others'."""
    fields = ["method", "extractor", *knob_fields(runs)]
    one = runs.drop_duplicates("run_dir")
    varying = [f for f in fields if f in one and one[f].astype(str).nunique() > 1]
    return runs.apply(lambda r: ", ".join(f"{f}={r[f]}" for f in varying), axis=1)


def _distinguishing_overrides(runs: pd.DataFrame) -> pd.Series:
    """The run's Hydra overrides that not every run of ``runs`` shares."""
    if "overrides" not in runs:
        return pd.Series("", index=runs.index)
    split = runs["overrides"].fillna("").map(lambda s: str(s).split())
    common = set.intersection(*(set(o) for o in split)) if len(split) else set()
    return split.map(lambda o: " ".join(x for x in o if x not in common))


def frontier_table(points: pd.DataFrame) -> pd.DataFrame:
    """The frontier runs only, cheapest first per dataset, split and metric."""
    return points[points["frontier"].astype(bool)].reset_index(drop=True)


def best_under_budget(points: pd.DataFrame, budget: float) -> pd.DataFrame:
    """Per dataset, split and metric: the best run costing at most ``budget`` tokens per
    sample (ties: the cheaper), or a note saying what the cheapest run costs."""
    if not budget > 0:
        raise ValueError(f"--budget: expected a number of tokens per sample > 0, found {budget}")
    out = []
    for key, grp in points.groupby(GROUP, dropna=False, sort=False):
        within = grp[grp[COST] <= budget]
        base = dict(zip(GROUP, key, strict=True)) | {"budget": budget}
        if within.empty:
            cheapest = grp[COST].min()
            out.append(base | {"note": f"no run within budget (cheapest: {cheapest:,.0f})"})
            continue
        best = within.sort_values(["value", COST], ascending=[False, True]).iloc[0]
        out.append(base | best[POINT_COLUMNS[3:]].to_dict() | {"note": ""})
    cols = [*GROUP, "budget", *POINT_COLUMNS[3:], "note"]
    return pd.DataFrame(out, columns=cols)


def relative_gap(a: float, b: float) -> float:
    """``|a - b| / max(a, b)`` (0 for two zero costs)."""
    top = max(a, b)
    return 0.0 if top == 0 else abs(a - b) / top


def compute_matched(
    table: RunTable,
    points: pd.DataFrame,
    tolerance: float = DEFAULT_MATCH_TOLERANCE,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Every pair of runs of one dataset and split, on the same samples, whose costs are
    within ``tolerance`` (:func:`relative_gap`): the two-sided paired bootstrap p-value of
    their difference per metric (run A: the cheaper one). Returns the table and notes."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"--match-tolerance: expected 0 <= t < 1, found {tolerance}")
    cols = [
        *GROUP, "run_a", "run_b", "cost_a", "cost_b", "cost_gap", "value_a", "value_b",
        "difference", "p_value", "significant", "n_common", "note", "run_dir_a", "run_dir_b",
    ]  # fmt: skip
    from drp_bench.metrics.bootstrap import paired_bootstrap_pvalue_values

    rows, other_samples = [], 0
    testable = points[points["metric"].isin(TABLE_METRICS)]
    for key, grp in testable.groupby(GROUP, dropna=False, sort=False):
        for (_, a), (_, b) in combinations(grp.sort_values([COST, "label"]).iterrows(), 2):
            gap = relative_gap(a[COST], b[COST])
            if gap > tolerance:
                continue
            ra, rb = table.run(a["run_dir"]), table.run(b["run_dir"])
            if {p.sample_id for p in ra.predictions} != {p.sample_id for p in rb.predictions}:
                other_samples += 1
                continue
            if n_resamples > 0:
                p, n, note = paired_test(
                    ra, rb, key[2], paired_bootstrap_pvalue_values, n_resamples, seed
                )
            else:
                p, n, note = math.nan, len(ra.predictions), "--bootstrap 0: not tested"
            rows.append(
                [*key, a["label"], b["label"], a[COST], b[COST], gap, a["value"], b["value"],
                 b["value"] - a["value"], p, bool(p < ALPHA) if not math.isnan(p) else None,
                 n, note, a["run_dir"], b["run_dir"]]
            )  # fmt: skip
    notes = []
    if other_samples:
        notes.append(
            f"{other_samples} pair(s) of runs within the cost tolerance were not compared: "
            "they hold different samples"
        )
    return pd.DataFrame(rows, columns=cols), notes


# ---------------------------------------------------------------- markdown


def _cost(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f}"


def _value(v: float, digits: int = 4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(r: pd.Series) -> str:
    if pd.isna(r["ci_low"]) or pd.isna(r["ci_high"]):
        return "–"
    return f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]"


def _where(r: pd.Series) -> str:
    split = r["split"]
    ds = str(r["dataset"]) + (f" ({split})" if isinstance(split, str) and split != "test" else "")
    return _md_esc(ds)


def frontier_markdown(points: pd.DataFrame) -> str:
    front = frontier_table(points)
    if front.empty:
        return "No run records its token counts: no frontier."
    header = ["Dataset", "Metric", "Run", "Tokens/sample", "of which reasoning", "GPU-s/sample",
              "Value", "95% CI", "Settings"]  # fmt: skip
    body = [
        [_where(r), TABLE_METRICS.get(r["metric"], r["metric"]), _md_esc(str(r["label"])),
         _cost(r[COST]), _cost(r["reasoning_tokens_per_sample"]), _value(r[GPU_COST], 2),
         _value(r["value"]), _ci(r), _md_esc(str(r["settings"]) or "–")]
        for _, r in front.iterrows()
    ]  # fmt: skip
    return _md_grid(header, body)


def budget_markdown(best: pd.DataFrame) -> str:
    header = ["Dataset", "Metric", "Budget", "Best run", "Tokens/sample", "Value", "95% CI",
              "Overrides"]  # fmt: skip
    body = []
    for _, r in best.iterrows():
        metric = TABLE_METRICS.get(r["metric"], r["metric"])
        if r["note"]:
            body.append([_where(r), metric, _cost(r["budget"]), r["note"], "–", "–", "–", "–"])
            continue
        body.append(
            [_where(r), metric, _cost(r["budget"]), _md_esc(str(r["label"])), _cost(r[COST]),
             _value(r["value"]), _ci(r), _md_esc(str(r["overrides"]) or "–")]
        )  # fmt: skip
    return _md_grid(header, body)


def matched_markdown(matched: pd.DataFrame) -> str:
    if matched.empty:
        return "No two runs on the same samples cost within the tolerance of each other."
    header = ["Dataset", "Metric", "Run A (cheaper)", "Run B", "Tokens A", "Tokens B",
              "Gap", "A", "B", "B − A", "p"]  # fmt: skip
    body = [
        [_where(r), TABLE_METRICS.get(r["metric"], r["metric"]), _md_esc(str(r["run_a"])),
         _md_esc(str(r["run_b"])), _cost(r["cost_a"]), _cost(r["cost_b"]),
         f"{r['cost_gap']:.0%}", _value(r["value_a"]), _value(r["value_b"]),
         f"{r['difference']:+.4f}", _pvalue(r)]
        for _, r in matched.iterrows()
    ]  # fmt: skip
    return _md_grid(header, body)


def _pvalue(r: pd.Series) -> str:
    if pd.isna(r["p_value"]):
        return r["note"] or "–"
    return f"{r['p_value']:.3f}" + (" *" if r["significant"] else "")


# ---------------------------------------------------------------- files


def compute_section(
    points: pd.DataFrame,
    matched: pd.DataFrame,
    fits: pd.DataFrame,
    tolerance: float,
    best: pd.DataFrame | None = None,
) -> str:
    """results.md's "Compute and quality" section."""
    from drp_bench.report.fits import fits_markdown

    parts = [
        "## Compute and quality",
        "",
        "Cost: tokens per sample, prompt + completion over every stage (metrics.json "
        "compute.per_sample; reasoning tokens are part of the completion tokens); GPU-s: at "
        "the throughput the run's config gives each role (0 on a CPU). Frontier: the runs no "
        "other run dominates (costs no more and scores no less, one of the two strictly).",
        "",
        "### Frontier",
        "",
        frontier_markdown(points),
        "",
    ]
    if best is not None:
        parts += ["### Best under the budget", "", budget_markdown(best), ""]
    parts += [
        f"### Compute-matched comparisons (costs within {tolerance:.0%})",
        "",
        matched_markdown(matched),
        "",
        f"Two-sided paired bootstrap on the samples both runs hold; * p < {ALPHA}.",
        "",
        "### Scaling fits",
        "",
        fits_markdown(fits),
        "",
        "Least-squares slope of the metric per tenfold parameters or tokens per sample; CI: "
        "95% bootstrap over the test samples, the same resample for every run of a fit.",
        "",
    ]
    return "\n".join(parts)


def write_compute(
    out_dir: Path,
    points: pd.DataFrame,
    matched: pd.DataFrame,
    fits: pd.DataFrame,
    best: pd.DataFrame | None = None,
) -> list[Path]:
    """points.csv, frontier.csv, frontier.md, compute_matched.csv, scaling_fits.csv and,
    with a budget, budget.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "points.csv": points,
        "frontier.csv": frontier_table(points),
        "compute_matched.csv": matched,
        "scaling_fits.csv": fits,
    }
    if best is not None:
        files["budget.csv"] = best
    paths = []
    for name, frame in files.items():
        frame.to_csv(out_dir / name, index=False)
        paths.append(out_dir / name)
    md = out_dir / "frontier.md"
    md.write_text("# Quality-vs-compute frontier\n\n" + frontier_markdown(points) + "\n",
                  encoding="utf-8")  # fmt: skip
    return [*paths, md]
