"""Figures from the tidy results frame (``RunTable.frame`` or a results.csv read back).

Each function writes a PNG and a PDF and returns the paths written; when its data is absent it
writes nothing, returns ``[]`` and appends the reason to ``notes``. Figures are built with
``matplotlib.figure.Figure`` (rendered by Agg), so no pyplot state or GUI backend is involved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from drp_bench.methods.contracts import METHOD_NAMES
from drp_bench.metrics.table import METRICS
from drp_bench.report.collect import DISTINGUISHING_FIELDS, TABLE_METRICS
from drp_bench.uvq.taxonomy import CATEGORIES as UVQ_CATEGORIES

METRIC_UNITS = {m.key: m.scale for m in METRICS}
FAMILY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def metric_axis_label(metric: str) -> str:
    return f"{TABLE_METRICS.get(metric, metric)} ({METRIC_UNITS.get(metric, 'score')})"


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths


def _note(notes: list[str] | None, text: str) -> list[Path]:
    if notes is not None:
        notes.append(text)
    return []


def _runs(frame: pd.DataFrame, metric: str = "bleu") -> pd.DataFrame:
    """One row per run: the rows of ``metric`` (each carries all per-run columns)."""
    return frame[frame["metric"] == metric].drop_duplicates("run_dir").reset_index(drop=True)


def _varying(df: pd.DataFrame, fields: Sequence[str]) -> list[str]:
    return [f for f in fields if f in df and df[f].astype(str).nunique() > 1]


def _yerr(df: pd.DataFrame) -> np.ndarray | None:
    if df["ci_low"].isna().all():
        return None
    low = (df["value"] - df["ci_low"]).clip(lower=0).fillna(0)
    high = (df["ci_high"] - df["value"]).clip(lower=0).fillna(0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def _family(v: object) -> str:
    return v if isinstance(v, str) and v else "unknown family"


def _log_size_axis(ax: Axes, sizes: Sequence[float]) -> None:
    xs = sorted({float(s) for s in sizes})
    ax.set_xscale("log")
    ax.set_xlim(xs[0] / 1.6, xs[-1] * 1.6)
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{x:g}" for x in xs])


# ---------------------------------------------------------------- (a) metric vs model size


def plot_size_scaling(
    frame: pd.DataFrame,
    out_dir: Path,
    notes: list[str] | None = None,
    *,
    fits: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
) -> list[Path]:
    """Metric vs extractor size, one panel per metric, one line per family (and dataset).

    Runs without an extractor (Non-P, RAG) are drawn as dotted horizontal reference lines;
    ``fits`` (``report.fits.scaling_fits``, axis ``params``) as thin dashed lines with their
    slope; ``paper`` (the DRP paper's long table) as hollow markers on dashed lines.
    """
    data = frame[frame["metric"].isin(TABLE_METRICS)]
    sized = data[data["params_b"].notna() & (data["params_b"] > 0)]
    if sized.empty:
        return _note(notes, "size plot skipped: no complete run records an extractor size")
    metrics = [m for m in TABLE_METRICS if m in set(data["metric"])]
    baselines = data[data["params_b"].isna() | (data["params_b"] <= 0)]
    keys = ["method_name", "family", "dataset"]
    extra = _varying(sized.drop_duplicates("run_dir"), ["split", *DISTINGUISHING_FIELDS])
    datasets = sized["dataset"].nunique()
    ncols = min(2, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(6.2 * ncols, 4.2 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    families = list(dict.fromkeys(sized["family"].map(_family)))
    handles: dict[str, Line2D] = {}
    for ax, metric in zip(axes, metrics, strict=False):
        md = sized[sized["metric"] == metric]
        groups = list(md.groupby(keys + extra, dropna=False, sort=True))
        colors: dict[tuple[str, str], str] = {}
        for i, (key, line) in enumerate(groups):
            line = line.sort_values("params_b")
            # lines are offset by a few percent so error bars at the same size do not overlap
            dodge = 10 ** (0.012 * (i - (len(groups) - 1) / 2))
            parts = dict(zip(keys + extra, key if isinstance(key, tuple) else (key,), strict=True))
            label = f"{parts['method_name']} · {_family(parts['family'])}"
            if datasets > 1:
                label += f" · {parts['dataset']}"
            label += "".join(f", {f}={parts[f]}" for f in extra)
            marker = FAMILY_MARKERS[families.index(_family(parts["family"])) % len(FAMILY_MARKERS)]
            cont = ax.errorbar(
                line["params_b"] * dodge,
                line["value"],
                yerr=_yerr(line),
                marker=marker,
                capsize=3,
                color=f"C{i % 10}",
                label=label,
            )
            handles.setdefault(label, cont.lines[0])
            colors[(parts["method_name"], _family(parts["family"]))] = f"C{i % 10}"
        _fit_legend(ax, _draw_fits(ax, fits, metric, "params", colors))
        for label, h in _draw_paper(ax, paper, metric, set(sized["dataset"])):
            handles.setdefault(label, h)
        mb = baselines[baselines["metric"] == metric]
        for j, b in enumerate(mb.itertuples()):
            label = f"{b.label}" + (f" · {b.dataset}" if datasets > 1 else "") + " (no extractor)"
            h = ax.axhline(b.value, linestyle=":", color=f"C{(j + 5) % 10}", label=label)
            handles.setdefault(label, h)
        _log_size_axis(ax, [*sized["params_b"], *_paper_sizes(paper, set(sized["dataset"]))])
        ax.set_xlabel("Extractor parameters (billions, log scale)")
        ax.set_ylabel(metric_axis_label(metric))
        ax.set_title(TABLE_METRICS[metric])
        ax.grid(True, alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Generation quality vs extractor model size\n"
        "(error bars: 95% bootstrap CI; points at one size offset slightly for legibility;\n"
        "dashed: least-squares fit on log10(parameters), slope per 10x with its bootstrap CI;"
        " hollow: the DRP paper's reported numbers, its own data)"
    )
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=min(3, len(handles)),
    )
    return _save(fig, out_dir, "quality_vs_size")


# ---------------------------------------------------------------- (b) UVQ vs BLEU


def _pearson(x: pd.Series, y: pd.Series) -> str:
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return f"r undefined (n={len(x)})"
    return f"r = {np.corrcoef(x, y)[0, 1]:.2f} (n={len(x)})"


def plot_uvq_vs_bleu(
    frame: pd.DataFrame, out_dir: Path, notes: list[str] | None = None
) -> list[Path]:
    """BLEU against UVQ, one point per run, Pearson r (per dataset) in the title."""
    if "uvq_mean" not in frame:
        return _note(notes, "UVQ plot skipped: no complete run has UVQ (metrics.json uvq is null)")
    runs = _runs(frame)
    runs = runs[runs["uvq_mean"].notna()]
    if runs.empty:
        return _note(notes, "UVQ plot skipped: no complete run has UVQ and BLEU")
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    rs = []
    for i, (ds, grp) in enumerate(runs.groupby("dataset", sort=True)):
        ax.scatter(grp["uvq_mean"], grp["value"], color=f"C{i}", label=str(ds), zorder=3)
        for r in grp.itertuples():
            ax.annotate(r.label, (r.uvq_mean, r.value), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")  # fmt: skip
        rs.append(f"{ds}: {_pearson(grp['uvq_mean'], grp['value'])}")
    ax.set_xlabel("UVQ (unique valid difference keys per user, mean)")
    ax.set_ylabel(metric_axis_label("bleu"))
    ax.set_title("BLEU vs UVQ, one point per run\nPearson " + "; ".join(rs), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(title="dataset")
    return _save(fig, out_dir, "uvq_vs_bleu")


# ---------------------------------------------------------------- (c) feature categories


def plot_feature_categories(
    frame: pd.DataFrame, out_dir: Path, notes: list[str] | None = None
) -> list[Path]:
    """Stacked bars: share of each difference category (Writing, Emotion, ...) per run."""
    found = [c for c in frame.columns if c.startswith("uvq_share_")]
    known = [f"uvq_share_{c}" for c in UVQ_CATEGORIES]
    cats = [c for c in known if c in found] + sorted(c for c in found if c not in known)
    runs = _runs(frame)
    if not cats or runs[cats].isna().all(axis=None):
        return _note(notes, "category plot skipped: no complete run has UVQ categories")
    runs = runs[runs[cats].notna().any(axis=1)].sort_values(["dataset", "order"])
    shares = runs[cats].fillna(0.0).to_numpy() * 100
    names = [c.removeprefix("uvq_share_") for c in cats]
    multi = runs["dataset"].nunique() > 1
    ticks = [f"{r.label}\n{r.dataset}" if multi else r.label for r in runs.itertuples()]
    fig = Figure(figsize=(max(6.0, 1.1 * len(runs) + 3), 5), layout="constrained")
    ax = fig.subplots()
    bottom = np.zeros(len(runs))
    x = np.arange(len(runs))
    for j, name in enumerate(names):
        ax.bar(x, shares[:, j], bottom=bottom, label=name, color=f"C{j % 10}")
        bottom += shares[:, j]
    ax.set_xticks(x, ticks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Share of valid difference units (%)")
    ax.set_xlabel("Run (method and extractor model)")
    ax.set_ylim(0, max(100.0, float(bottom.max()) * 1.02))
    ax.set_title("Difference categories found per extractor model")
    ax.legend(title="category", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, out_dir, "feature_categories")


# ---------------------------------------------------------------- (d) quality vs compute


def plot_quality_vs_compute(
    frame: pd.DataFrame, out_dir: Path, notes: list[str] | None = None
) -> list[Path]:
    """BLEU vs generated tokens per sample (all stages); hollow markers: reasoning tokens."""
    runs = _runs(frame)
    runs = runs[
        runs["completion_tokens_per_sample"].notna() & (runs["completion_tokens_per_sample"] > 0)
    ]
    if runs.empty:
        return _note(notes, "compute plot skipped: no complete run records token counts")
    runs = runs.sort_values("order")
    fig = Figure(figsize=(8, 5.2), layout="constrained")
    ax = fig.subplots()
    yerr = _yerr(runs)
    multi = runs["dataset"].nunique() > 1
    xs = list(runs["completion_tokens_per_sample"])
    for i, r in enumerate(runs.itertuples()):
        color = f"C{i % 10}"
        label = f"{r.label} · {r.dataset}" if multi else r.label
        err = None if yerr is None else yerr[:, i : i + 1]
        ax.errorbar([r.completion_tokens_per_sample], [r.value], yerr=err, marker="o",
                    color=color, capsize=3, linestyle="none", label=label)  # fmt: skip
        rt = r.reasoning_tokens_per_sample
        if isinstance(rt, float) and rt > 0:
            xs.append(rt)
            ax.plot([rt, r.completion_tokens_per_sample], [r.value, r.value], color=color,
                    linewidth=0.8, alpha=0.6)  # fmt: skip
            ax.plot([rt], [r.value], marker="o", markerfacecolor="none", color=color,
                    linestyle="none")  # fmt: skip
    ax.set_xscale("log")
    lo, hi = min(xs), max(xs)
    ax.set_xlim(lo / 1.5, hi * 1.5)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("Generated tokens per sample, all stages (log scale)")
    ax.set_ylabel(metric_axis_label("bleu"))
    ax.set_title("BLEU vs inference compute (error bars: 95% bootstrap CI)")
    ax.grid(True, alpha=0.3, which="both")
    fig.legend(title="run", loc="outside right upper", fontsize=8)
    kinds = [
        Line2D([], [], marker="o", color="gray", linestyle="none", label="all generated tokens"),
        Line2D([], [], marker="o", color="gray", markerfacecolor="none", linestyle="none",
               label="of which reasoning tokens"),
    ]  # fmt: skip
    fig.legend(handles=kinds, title="marker", loc="outside right lower", fontsize=8)
    return _save(fig, out_dir, "quality_vs_compute")


# ---------------------------------------------------------------- scaling fits, paper points


def _fit_label(fit: pd.Series) -> str:
    ci = "" if pd.isna(fit["ci_low"]) else f" [{fit['ci_low']:+.3g}, {fit['ci_high']:+.3g}]"
    what = f"{METHOD_NAMES.get(fit['method'], fit['method'])} · {_family(fit['family'])}"
    what += f" · {fit['dataset']}" + (f", {fit['settings']}" if fit["settings"] else "")
    return f"fit {what}: {fit['slope']:+.3g}{ci}"


def _draw_fits(
    ax: Axes,
    fits: pd.DataFrame | None,
    metric: str,
    axis: str,
    colors: dict[tuple[str, str], str],
    dataset: str | None = None,
) -> list[tuple[str, Line2D]]:
    """The fits of ``metric`` on ``axis`` as dashed lines over the x range they were made on."""
    if fits is None or fits.empty:
        return []
    chosen = fits[(fits["metric"] == metric) & (fits["axis"] == axis)]
    if dataset is not None:
        chosen = chosen[chosen["dataset"] == dataset]
    out = []
    for _, fit in chosen.iterrows():
        xs = np.geomspace(fit["x_min"], fit["x_max"], 20)
        key = (METHOD_NAMES.get(fit["method"], fit["method"]), _family(fit["family"]))
        (line,) = ax.plot(xs, fit["intercept"] + fit["slope"] * np.log10(xs), linestyle="--",
                          linewidth=1, color=colors.get(key, "0.35"), alpha=0.8)  # fmt: skip
        out.append((_fit_label(fit), line))
    return out


def _fit_legend(ax: Axes, fits: list[tuple[str, Line2D]]) -> None:
    """The panel's fits, each with its slope, in a small legend of the panel's own."""
    if fits:
        ax.legend([h for _, h in fits], [label for label, _ in fits], fontsize=7, loc="best")


def paper_points(paper: pd.DataFrame | None, datasets: set[str]) -> pd.DataFrame:
    """The paper's DRP rows (extractor, family, params_b, metric key, value) for the paper
    datasets ``datasets`` map to (all of them when none does)."""
    from drp_bench.report.tables import paper_dataset

    cols = ["dataset", "extractor", "family", "params_b", "metric", "value"]
    if paper is None or paper.empty:
        return pd.DataFrame(columns=cols)
    wanted = {paper_dataset(d) for d in datasets} - {None} or set(paper["dataset"])
    keys = {label: key for key, label in TABLE_METRICS.items()}
    drp = paper[(paper["method"] == "DRP") & paper["dataset"].isin(wanted)]
    rows = []
    for r in drp.itertuples():
        size = re.search(r"(\d+(?:\.\d+)?)B", str(r.extractor_model))
        if size is None or r.metric not in keys:
            continue
        family = "r1-distill-qwen" if "R1-Distill" in r.extractor_model else "qwen2.5-instruct"
        rows.append([r.dataset, r.extractor_model, family, float(size.group(1)),
                     keys[r.metric], float(r.value)])  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _paper_sizes(paper: pd.DataFrame | None, datasets: set[str]) -> list[float]:
    return list(paper_points(paper, datasets)["params_b"])


def _draw_paper(
    ax: Axes, paper: pd.DataFrame | None, metric: str, datasets: set[str]
) -> list[tuple[str, Line2D]]:
    points = paper_points(paper, datasets)
    points = points[points["metric"] == metric]
    out = []
    for j, ((ds, family), line) in enumerate(points.groupby(["dataset", "family"], sort=True)):
        line = line.sort_values("params_b")
        marker = "s" if family.startswith("r1") else "o"
        (h,) = ax.plot(line["params_b"], line["value"], linestyle=":", marker=marker,
                       markerfacecolor="none", color=f"C{(j + 7) % 10}")  # fmt: skip
        out.append((f"paper (reported) · DRP · {family} · {ds}", h))
    return out


# ---------------------------------------------------------------- (e) the frontier


def plot_frontier(
    points: pd.DataFrame,
    out_dir: Path,
    notes: list[str] | None = None,
    *,
    fits: pd.DataFrame | None = None,
) -> list[Path]:
    """Per dataset: one panel per metric, every run at (tokens per sample, metric) with its
    CI, the Pareto frontier's runs filled and joined by a step line, the others hollow, and
    the fits on log10(tokens per sample) dashed."""
    from drp_bench.report.cost import COST

    if points.empty:
        return _note(notes, "frontier plot skipped: no complete run records token counts")
    positive = points[points[COST] > 0]
    if len(positive) < len(points):
        notes = notes if notes is not None else []
        notes.append("frontier plot: runs with 0 tokens per sample left off the log axis")
    paths: list[Path] = []
    for (ds, split), grp in positive.groupby(["dataset", "split"], dropna=False, sort=True):
        stem = "frontier_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{ds}_{split}").strip("_")
        paths += _frontier_figure(grp, f"{ds} ({split})", fits, ds, out_dir, stem)
    return paths


def _frontier_figure(
    grp: pd.DataFrame, title: str, fits: pd.DataFrame | None, dataset: str, out_dir: Path,
    stem: str,
) -> list[Path]:  # fmt: skip
    from drp_bench.report.cost import COST

    metrics = [m for m in (*TABLE_METRICS, "judge") if m in set(grp["metric"])]
    ncols = min(2, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(6.4 * ncols, 4.4 * nrows + 1.0), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    labels = list(dict.fromkeys(grp.sort_values(COST)["label"]))
    handles: dict[str, Line2D] = {}
    for ax, metric in zip(axes, metrics, strict=False):
        md = grp[grp["metric"] == metric].sort_values(COST)
        for r in md.itertuples():
            color = f"C{labels.index(r.label) % 10}"
            on = bool(r.frontier)
            err = None
            if not (pd.isna(r.ci_low) or pd.isna(r.ci_high)):
                err = [[max(r.value - r.ci_low, 0)], [max(r.ci_high - r.value, 0)]]
            cont = ax.errorbar([getattr(r, COST)], [r.value], yerr=err, marker="o", capsize=3,
                               color=color, markerfacecolor=color if on else "none",
                               linestyle="none", zorder=3)  # fmt: skip
            handles.setdefault(r.label, cont.lines[0])
        front = md[md["frontier"].astype(bool)]
        ax.step(front[COST], front["value"], where="post", color="black", linewidth=1.2,
                alpha=0.7, zorder=2)  # fmt: skip
        _fit_legend(ax, _draw_fits(ax, fits, metric, "tokens", {}, dataset))
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel("Tokens per sample, prompt + completion, all stages (log scale)")
        ax.set_ylabel(metric_axis_label(metric))
        ax.set_title(TABLE_METRICS.get(metric, "LLM judge (0-1)"))
        ax.grid(True, alpha=0.3, which="both")
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    kinds = [
        Line2D([], [], marker="o", color="gray", linestyle="none", label="on the frontier"),
        Line2D([], [], marker="o", color="gray", markerfacecolor="none", linestyle="none",
               label="dominated (a run costs no more and scores no less)"),
        Line2D([], [], color="black", label="Pareto frontier"),
        Line2D([], [], color="0.35", linestyle="--",
               label="least-squares fit on log10(tokens), slope per 10x [95% bootstrap CI]"),
    ]  # fmt: skip
    fig.suptitle(f"Quality vs inference compute: {title}\n(error bars: 95% bootstrap CI)")
    fig.legend([*kinds, *handles.values()], [k.get_label() for k in kinds] + list(handles),
               loc="outside lower center", ncols=2, fontsize=8)  # fmt: skip
    return _save(fig, out_dir, stem)


PLOTS = (plot_size_scaling, plot_uvq_vs_bleu, plot_feature_categories, plot_quality_vs_compute)


def make_plots(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    points: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
) -> tuple[list[Path], list[str]]:
    """All figures (``points``: ``report.frontier.cost_points`` for the frontier plots;
    ``fits`` and ``paper`` drawn on the scaling plots); returns (paths, notes on skipped ones)."""
    paths: list[Path] = []
    notes: list[str] = []
    if frame.empty:
        return [], ["plots skipped: no complete runs"]
    for plot in PLOTS:
        if plot is plot_size_scaling:
            paths += plot_size_scaling(frame, out_dir, notes, fits=fits, paper=paper)
        else:
            paths += plot(frame, out_dir, notes)
    if points is not None:
        paths += plot_frontier(points, out_dir, notes, fits=fits)
    return paths, notes
