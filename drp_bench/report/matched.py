"""The methods on the peer row's samples: a matched-subset table per ``peer`` run.

A peer run scores only the samples with another user's earlier review of the target item, so
its column in the main table stands on fewer samples than the methods'. For each peer run this
table restricts every other single run of its dataset and split to the sample ids the peer run
scored and recomputes each metric and its 95% percentile bootstrap CI on that subset
(``drp_bench.metrics.bootstrap``, the resampling of the main table's CIs). Every value of one
table, the peer's included, is computed the same way from per-sample values: BLEU from the
summed sentence statistics, the others as the mean of per-sample scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from drp_bench.metrics.bootstrap import bootstrap_ci_values, statistic
from drp_bench.report.collect import TABLE_METRICS, Run, RunTable

DECIMALS = 4
MATCHED_CSV = "matched.csv"


@dataclass
class MatchedCell:
    value: float
    low: float = math.nan
    high: float = math.nan


@dataclass
class MatchedColumn:
    label: str
    run_dir: str
    n: int  # samples of the subset this run has a scored prediction for
    cells: dict[str, MatchedCell] = field(default_factory=dict)  # metric -> cell


@dataclass
class MatchedTable:
    """One peer run's subset: its scored sample ids and every column on them."""

    dataset: str
    split: str
    peer_label: str
    sample_ids: list[str]
    columns: list[MatchedColumn]  # the peer's last

    @property
    def n(self) -> int:
        return len(self.sample_ids)


def subset_values(
    run: Run, sample_ids: list[str], n_resamples: int, seed: int
) -> tuple[int, dict[str, MatchedCell]]:
    """``run``'s metrics on those of ``sample_ids`` it scored: (how many, metric -> cell)."""
    index = {p.sample_id: i for i, p in enumerate(run.predictions)}
    rows = [index[s] for s in sample_ids if s in index]
    if not rows:
        return 0, {}
    cells = {}
    for metric in TABLE_METRICS:
        values = run.sample_values(metric)[rows]
        if n_resamples > 0:
            point, low, high = bootstrap_ci_values(values, metric, n_resamples, seed)
            cells[metric] = MatchedCell(point, low, high)
        else:
            cells[metric] = MatchedCell(statistic(values, metric))
    return len(rows), cells


def matched_tables(table: RunTable, n_resamples: int = 1000, seed: int = 0) -> list[MatchedTable]:
    """One :class:`MatchedTable` per peer run with scored predictions, its columns the
    single runs (not temperature means) of the same dataset and split, in the main table's
    order, then the peer."""
    frame = table.frame
    if frame.empty or "method" not in frame:
        return []
    runs = frame.drop_duplicates("run_dir")
    if "replicate_of" in runs:
        runs = runs[runs["replicate_of"].isna()]
    runs = runs.sort_values("order")
    out = []
    for peer_row in runs[runs["method"] == "peer"].itertuples():
        peer = table.run(peer_row.run_dir)
        ids = [p.sample_id for p in peer.predictions]
        if not ids:
            continue
        same = runs[
            (runs["dataset"] == peer_row.dataset)
            & (runs["split"] == peer_row.split)
            & (runs["method"] != "peer")
        ]
        columns = []
        for row in [*same.itertuples(), peer_row]:
            n, cells = subset_values(table.run(row.run_dir), ids, n_resamples, seed)
            columns.append(MatchedColumn(str(row.label), str(row.run_dir), n, cells))
        where = (str(peer_row.dataset), str(peer_row.split))
        out.append(MatchedTable(*where, str(peer_row.label), ids, columns))
    return out


def caption(t: MatchedTable) -> str:
    """What the table shows and how many samples each column has."""
    counts = ", ".join(f"{c.label} n={c.n}" for c in t.columns)
    return (
        f"{t.dataset} ({t.split}), the {t.n} samples `{t.peer_label}` scored: every run on "
        f"those samples only ({counts}). Values recomputed on the subset (BLEU 0–100 from the "
        "summed sentence statistics, METEOR and ROUGE F1 the mean of per-sample scores), "
        "with the 95% percentile bootstrap CI; not ranked."
    )


def _fmt(c: MatchedCell | None) -> str:
    if c is None:
        return "–"
    ci = "" if math.isnan(c.low) else f" [{c.low:.{DECIMALS}f}, {c.high:.{DECIMALS}f}]"
    return f"{c.value:.{DECIMALS}f}{ci}"


def to_markdown(t: MatchedTable) -> str:
    header = ["Metric", *(f"{c.label} (n={c.n})".replace("|", "\\|") for c in t.columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * len(t.columns),
    ]
    for metric, name in TABLE_METRICS.items():
        cells = [_fmt(c.cells.get(metric)) for c in t.columns]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def markdown_section(tables: list[MatchedTable]) -> list[str]:
    """The report's section (empty without a peer run)."""
    if not tables:
        return []
    parts = ["## Methods on the peer row's samples", ""]
    for t in tables:
        parts += [caption(t), "", to_markdown(t), ""]
    return parts


def to_frame(tables: list[MatchedTable]) -> pd.DataFrame:
    """matched.csv: one row per (peer run, column, metric)."""
    rows = [
        {
            "dataset": t.dataset,
            "split": t.split,
            "peer_label": t.peer_label,
            "subset_n": t.n,
            "label": c.label,
            "run_dir": c.run_dir,
            "n": c.n,
            "metric": metric,
            "value": cell.value,
            "ci_low": cell.low,
            "ci_high": cell.high,
        }
        for t in tables
        for c in t.columns
        for metric, cell in c.cells.items()
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "dataset", "split", "peer_label", "subset_n", "label", "run_dir", "n", "metric",
            "value", "ci_low", "ci_high",
        ],
    )  # fmt: skip


def write_matched(tables: list[MatchedTable], out_dir: Path) -> list[Path]:
    """matched.csv when a report has a peer run (nothing otherwise)."""
    if not tables:
        return []
    path = out_dir / MATCHED_CSV
    to_frame(tables).to_csv(path, index=False)
    return [path]


def to_latex(t: MatchedTable) -> str:
    """The table as a ``table`` environment (booktabs), its caption the sample counts."""
    from drp_bench.report.tables import tex_escape

    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{l" + "r" * len(t.columns) + "}",
        r"\toprule",
        " & ".join(["Metric", *(tex_escape(f"{c.label} (n={c.n})") for c in t.columns)]) + r" \\",
        r"\midrule",
    ]
    for metric, name in TABLE_METRICS.items():
        cells = [tex_escape(_fmt(c.cells.get(metric))) for c in t.columns]
        lines.append(" & ".join([tex_escape(name), *cells]) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{tex_escape(caption(t))}}}",
        r"\end{table*}",
    ]
    return "\n".join(lines) + "\n"
