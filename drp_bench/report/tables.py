"""Results tables in the layout of the DRP paper: CSV (tidy), Markdown and LaTeX.

Columns are methods / extractor models (Non-P, RAG, DPL, then DRP per extractor), rows are
dataset x metric. Per row the best measured value is bold and the second underlined; runs not
significantly different from the best (paired bootstrap, p >= 0.05) get a dagger. For Books and
CDs & Vinyl datasets the paper's reported numbers are shown in an extra row under each metric.

The LLM judge (runs with ``metrics.judge=true``) is one more metric row, with the CI from
metrics.json and no significance test. The ``peer`` method (another real user's review of the
same item) is a human-written reference: its column is shown, labelled ``peer (human)``, but
never ranked (no bold or underline) nor tested.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

import pandas as pd

from drp_bench.report.collect import (
    JUDGE_METRIC,
    PAPER_DATASETS,
    REIMPLEMENTATION,
    REIMPLEMENTATION_COLUMN,
    TABLE_METRICS,
    Run,
    RunTable,
    paper_dataset,
)
from drp_bench.report.matched import MatchedTable, matched_tables, write_matched
from drp_bench.report.matched import markdown_section as matched_markdown
from drp_bench.report.matched import to_latex as matched_latex
from drp_bench.resources import paper_table_path

log = logging.getLogger(__name__)

ALPHA = 0.05
DECIMALS = 4  # as in the paper's table
#: Fewer shared samples than this: no paired test (the bootstrap has too little to resample
#: and its p-values come out far too small).
MIN_SHARED_SAMPLES = 10
PAPER_LABEL = "paper (reported)"
#: The rows of the tables: the papers' metrics, then the LLM judge when a run has it.
REPORT_METRICS: dict[str, str] = {**TABLE_METRICS, JUDGE_METRIC: "LLM judge (0–1)"}
#: Methods that are references, not methods: shown, never ranked or tested.
REFERENCE_METHODS: frozenset[str] = frozenset({"peer"})
#: results/reference/drp_paper_table.csv in the checkout, or its copy shipped in the wheel.
DEFAULT_PAPER_TABLE = paper_table_path()


# ---------------------------------------------------------------- the paper's numbers


def load_paper_table(path: Path | None = DEFAULT_PAPER_TABLE) -> pd.DataFrame | None:
    """The paper's long-format table, or None when the file is absent."""
    if path is None or not Path(path).is_file():
        return None
    paper = pd.read_csv(path, dtype={"extractor_model": str})
    expected = {"dataset", "method", "extractor_model", "metric", "value"}
    if not expected <= set(paper.columns):
        raise ValueError(
            f"{path}: expected columns {sorted(expected)}, found {sorted(paper.columns)}"
        )
    paper["extractor_model"] = paper["extractor_model"].fillna("")
    return paper


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def paper_value(
    paper: pd.DataFrame | None,
    dataset: str | None,
    method_name: str,
    extractor: str | None,
    metric_display: str,
) -> float | None:
    """The paper's number for this method (and, for DRP, extractor model), or None.

    Baselines match by method only (the paper ran them with Qwen2.5-7B-Instruct). A DRP
    extractor matches a paper model whose normalised name is a prefix of the run's, so
    ``Qwen2.5-7B-Instruct-Q4_K_M`` matches ``Qwen2.5-7B-Instruct``.
    """
    pds = paper_dataset(dataset)
    if paper is None or pds is None:
        return None
    rows = paper[
        (paper["dataset"] == pds)
        & (paper["method"] == method_name)
        & (paper["metric"] == metric_display)
    ]
    if rows.empty:
        return None
    if method_name != "DRP":
        return float(rows["value"].iloc[0])
    if not extractor:
        return None
    ours, best = _norm(extractor), None
    for model, value in zip(rows["extractor_model"], rows["value"], strict=True):
        key = _norm(model)
        if key and ours.startswith(key) and (best is None or len(key) > best[0]):
            best = (len(key), float(value))
    return best[1] if best else None


def with_paper_numbers(frame: pd.DataFrame, paper: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with ``paper_label`` (e.g. ``P-DB (paper)``) and ``paper_value``: the paper's
    reported number for each row's dataset, method (and DRP extractor) and metric, beside the
    run's own ``label`` and ``value``; empty where the paper reports none."""
    if frame.empty:
        return frame.assign(paper_label=[], paper_value=[])
    values = [
        paper_value(paper, r.dataset, r.method_name, r.extractor, TABLE_METRICS[r.metric])
        if r.metric in TABLE_METRICS and isinstance(r.method_name, str)
        else None
        for r in frame.itertuples()
    ]
    labels = [
        f"{name} (paper)" if v is not None else None
        for name, v in zip(frame["method_name"], values, strict=True)
    ]
    return frame.assign(
        paper_label=labels, paper_value=[math.nan if v is None else v for v in values]
    )


# ---------------------------------------------------------------- significance


def significance(
    table: RunTable, n_resamples: int = 1000, seed: int = 0, include_degraded: bool = False
) -> pd.DataFrame:
    """Per (dataset, split, metric) row: p-value of the best run against every other run.

    Degraded runs (failed calls) take no part unless ``include_degraded``.

    Two-sided paired bootstrap (``drp_bench.metrics.bootstrap``) on the samples both runs
    share (by ``sample_id``; their references must agree). Columns: dataset, split, metric,
    label, best_label, p_value, n_common, note.
    """
    cols = ["dataset", "split", "metric", "label", "best_label", "p_value", "n_common", "note"]
    frame = ranked_rows(table.frame[table.frame["metric"].isin(TABLE_METRICS)], include_degraded)
    if "replicate_of" in frame:  # means over replicates are not one run: no paired test
        frame = frame[frame["replicate_of"].isna()]
    if n_resamples <= 0 or frame.empty:
        return pd.DataFrame(columns=cols)
    try:
        from drp_bench.metrics.bootstrap import paired_bootstrap_pvalue_values
    except ImportError as e:
        log.warning("drp_bench.metrics.bootstrap unavailable (%s): no significance marks", e)
        return pd.DataFrame(columns=cols)
    out = []
    for (ds, split, metric), grp in frame.groupby(["dataset", "split", "metric"], dropna=False):
        if len(grp) < 2:
            continue
        best = grp.loc[grp["value"].idxmax()]
        best_run = table.run(best["run_dir"])
        for other in grp.itertuples():
            if other.run_dir == best["run_dir"]:
                continue
            p, n, note = paired_test(
                best_run, table.run(other.run_dir), metric, paired_bootstrap_pvalue_values,
                n_resamples, seed,
            )  # fmt: skip
            out.append([ds, split, metric, other.label, best["label"], p, n, note])
    return pd.DataFrame(out, columns=cols)


def paired_test(
    a: Run, b: Run, metric: str, pvalue: Callable[..., float], n_resamples: int, seed: int
) -> tuple[float, int, str]:
    """``(p-value, shared samples, note)`` of ``a`` against ``b`` on the samples both hold
    (by ``sample_id``; NaN and a note when there are too few or their references differ)."""
    b_index = {p.sample_id: i for i, p in enumerate(b.predictions)}
    pairs = [
        (i, b_index[p.sample_id]) for i, p in enumerate(a.predictions) if p.sample_id in b_index
    ]
    if len(pairs) < MIN_SHARED_SAMPLES:
        return math.nan, len(pairs), f"fewer than {MIN_SHARED_SAMPLES} shared samples: not tested"
    if any(a.predictions[i].reference != b.predictions[j].reference for i, j in pairs):
        return math.nan, len(pairs), "references differ for the same sample_id"
    ia, ib = (list(x) for x in zip(*pairs, strict=True))
    try:
        p = pvalue(
            a.sample_values(metric)[ia], b.sample_values(metric)[ib], metric, n_resamples, seed
        )
    except Exception as e:
        return math.nan, len(pairs), f"paired bootstrap failed: {type(e).__name__}: {e}"
    return float(p), len(pairs), ""


# ---------------------------------------------------------------- table model


@dataclass
class Cell:
    value: float | None = None
    low: float = math.nan
    high: float = math.nan
    rank: int | None = None  # 1 best, 2 second (measured rows with >= 2 values)
    dagger: bool = False  # not significantly different from the best
    degraded: bool = False  # from a run with failed calls: not ranked unless asked
    replicate: bool = False  # one temperature of a group whose mean is shown: not ranked
    reference: bool = False  # a human-written reference (peer): shown, never ranked


@dataclass
class Row:
    dataset: str  # display
    metric: str  # display
    kind: str  # "measured" | "paper"
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class Column:
    label: str
    method_name: str
    detail: str  # label without the method name (extractor, distinguishing fields)
    #: drp-bench's own implementation of a baseline the paper reports (collect.is_reimplementation)
    reimplementation: bool = False


@dataclass
class ResultsTable:
    columns: list[Column]
    rows: list[Row]
    n_resamples: int  # of the significance tests
    n_tests: int  # significance tests that gave a p-value
    has_paper: bool
    include_degraded: bool = False
    #: a reference column (peer) -> the samples it scored (fewer than the methods')
    reference_n: dict[str, int] = field(default_factory=dict)

    @property
    def has_degraded(self) -> bool:
        return any(c.degraded for r in self.rows for c in r.cells.values())

    @property
    def has_reference(self) -> bool:
        return any(c.reference for r in self.rows for c in r.cells.values())

    @property
    def has_reimplementation(self) -> bool:
        return any(c.reimplementation for c in self.columns)

    @property
    def has_judge(self) -> bool:
        return any(r.metric == REPORT_METRICS[JUDGE_METRIC] for r in self.rows)

    @property
    def has_dagger(self) -> bool:
        return any(c.dagger for r in self.rows for c in r.cells.values())


def build_table(
    frame: pd.DataFrame,
    sig: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
    n_resamples: int = 0,
    include_degraded: bool = False,
) -> ResultsTable:
    """Arrange the tidy frame (from :func:`collect_runs`) in the paper's layout.

    Cells of degraded runs are shown but get no best/second mark unless ``include_degraded``.
    """
    frame = frame[frame["metric"].isin(REPORT_METRICS)]
    cols_df = frame.drop_duplicates("label").sort_values("order")
    columns = [
        Column(r.label, r.method_name, r.detail, getattr(r, REIMPLEMENTATION_COLUMN, False) is True)
        for r in cols_df.itertuples()
    ]
    ns = {m: i for i, m in enumerate(REPORT_METRICS)}
    rows: list[Row] = []
    has_paper = False
    groups = frame.groupby(["dataset", "split"], dropna=False, sort=True)
    for (ds, split), grp in groups:
        ds_label = _dataset_label(ds, split, grp)
        for metric in sorted(grp["metric"].unique(), key=ns.__getitem__):
            mg = grp[grp["metric"] == metric]
            row = Row(ds_label, REPORT_METRICS[metric], "measured")
            for r in mg.itertuples():
                # a degraded run, or one replicate of a group whose mean is shown: not ranked
                unranked = getattr(r, "status", "complete") == "degraded"
                row.cells[r.label] = Cell(r.value, r.ci_low, r.ci_high, degraded=unranked)
                row.cells[r.label].replicate = bool(getattr(r, "replicate_member", False))
                row.cells[r.label].reference = r.method in REFERENCE_METHODS
            _rank(row, include_degraded)
            if sig is not None and not sig.empty:
                s = sig[(sig["dataset"] == ds) & (sig["metric"] == metric)]
                s = s[s["split"].isna()] if pd.isna(split) else s[s["split"] == split]
                for r in s.itertuples():
                    if r.label in row.cells and not math.isnan(r.p_value) and r.p_value >= ALPHA:
                        row.cells[r.label].dagger = True
            rows.append(row)
            if metric not in TABLE_METRICS:  # the paper reports no judge scores
                continue
            prow = Row(ds_label, TABLE_METRICS[metric], "paper")
            for r in mg.itertuples():
                v = paper_value(paper, ds, r.method_name, r.extractor, TABLE_METRICS[metric])
                if v is not None:
                    prow.cells[r.label] = Cell(v)
            if prow.cells:
                has_paper = True
                rows.append(prow)
    n_tests = 0 if sig is None or sig.empty else int(sig["p_value"].notna().sum())
    refs = frame[frame["method"].isin(REFERENCE_METHODS) & frame["metric"].isin(TABLE_METRICS)]
    reference_n = {str(r.label): int(r.n) for r in refs.itertuples() if pd.notna(r.n)}
    return ResultsTable(
        columns, rows, n_resamples, n_tests, has_paper, include_degraded, reference_n
    )


def _dataset_label(ds: str, split: str | None, grp: pd.DataFrame) -> str:
    label = str(ds)
    if isinstance(split, str) and split != "test":
        label += f" ({split})"
    pds = paper_dataset(ds)
    if pds:
        label += f" (paper: {PAPER_DATASETS[pds]})"
    # the methods' sample counts (the judge's parsed answers and peer's n say other things)
    main = grp[grp["metric"].isin(TABLE_METRICS) & ~grp["method"].isin(REFERENCE_METHODS)]
    ns = sorted({int(n) for n in (main if not main.empty else grp)["n"].dropna()})
    if ns:
        label += f", n={ns[0]}" if len(ns) == 1 else f", n={ns[0]}–{ns[-1]}"
    return label


def ranked_rows(frame: pd.DataFrame, include_degraded: bool) -> pd.DataFrame:
    """The rows that compete for best/second and significance (never a reference: peer)."""
    if "method" in frame:
        frame = frame[~frame["method"].isin(REFERENCE_METHODS)]
    if include_degraded or "status" not in frame:
        return frame
    return frame[frame["status"] != "degraded"]


def _rank(row: Row, include_degraded: bool = False) -> None:
    """Mark best (1) and second (2) values, compared at the displayed precision."""
    shown = {
        k: round(c.value, DECIMALS)
        for k, c in row.cells.items()
        if c.value is not None
        and (include_degraded or not c.degraded)
        and not c.replicate
        and not c.reference
    }
    if len(shown) < 2:
        return
    distinct = sorted(set(shown.values()), reverse=True)
    for k, v in shown.items():
        if v == distinct[0]:
            row.cells[k].rank = 1
        elif len(distinct) > 1 and v == distinct[1]:
            row.cells[k].rank = 2


# ---------------------------------------------------------------- rendering


def _fmt(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{DECIMALS}f}"


def _ci(c: Cell | None) -> str:
    if c is None or math.isnan(c.low) or math.isnan(c.high):
        return "–"
    return f"[{c.low:.{DECIMALS}f}, {c.high:.{DECIMALS}f}]"


def _md_cell(c: Cell | None) -> str:
    if c is None:
        return "–"
    s = _fmt(c.value)
    if c.rank == 1:
        s = f"**{s}**"
    elif c.rank == 2:
        s = f"<u>{s}</u>"
    return s + ("†" if c.dagger else "")


def _md_grid(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] * 2 + [" ---: "] * (len(header) - 2)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _md_esc(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(t: ResultsTable, ci: bool = False) -> str:
    """The table in Markdown (values; or, with ``ci``, the 95% bootstrap intervals)."""
    header = ["Dataset", "Metric"] + [_md_esc(c.label) for c in t.columns]
    body, last = [], None
    for r in t.rows:
        if ci and r.kind == "paper":
            continue
        ds = _md_esc(r.dataset) if r.dataset != last else ""
        last = r.dataset
        metric = r.metric if r.kind == "measured" else f"*{r.metric} – {PAPER_LABEL}*"
        cells = [
            (_ci(r.cells.get(c.label)) if ci else _md_cell(r.cells.get(c.label)))
            if r.kind == "measured"
            else (f"*{_fmt(r.cells[c.label].value)}*" if c.label in r.cells else "–")
            for c in t.columns
        ]
        body.append([ds, metric, *cells])
    return _md_grid(header, body)


def footnotes(t: ResultsTable) -> list[str]:
    notes = [
        "Bold: best measured value of the row; underlined: second best. BLEU on 0–100 "
        "(sacrebleu corpus BLEU), METEOR and ROUGE F1 on 0–1.",
    ]
    test = (
        f"two-sided paired bootstrap over the samples both runs share, {t.n_resamples} "
        f"resamples; runs sharing fewer than {MIN_SHARED_SAMPLES} samples with the best are "
        "not tested"
    )
    if t.n_tests == 0:
        notes.append(f"No significance test was possible ({test}).")
    elif t.has_dagger:
        notes.append(
            f"† not significantly different from the row's best run (p ≥ {ALPHA}; {test}). "
            "p-values in significance.csv."
        )
    else:
        notes.append(
            f"Every tested run differs significantly from the row's best run (p < {ALPHA}; "
            f"{test}). p-values in significance.csv."
        )
    if t.has_degraded:
        notes.append(
            "[DEGRADED] columns come from runs in which some model calls failed, so some "
            "predictions are missing or were made without the method's full context. "
            + (
                "They are ranked and tested like the others (--include-degraded)."
                if t.include_degraded
                else "They are shown but get no best/second mark and no significance test; "
                "re-run them to retry the failed calls, or pass --include-degraded."
            )
        )
    if t.has_judge:
        notes.append(
            "LLM judge (0–1): the judge role's 0–10 score of each prediction against the real "
            "review (DPL's rubric), divided by 10, averaged over the answers that gave a "
            "score (unparsed answers left out; metrics.json's judge also has the mean with "
            "them as 0, DPL's way); CI: 95% "
            "percentile bootstrap; not tested for significance."
        )
    if t.has_reference:
        counts = ", ".join(f"{label} n={n}" for label, n in t.reference_n.items())
        notes.append(
            "peer (human): not a method but a reference: for each target review, another real "
            "user's review of the same item written before it (the one nearest to the target "
            "user's history), scored like a prediction; samples without such a review are left "
            f"out, so its n is smaller ({counts or 'n not recorded'}): the section 'Methods on "
            "the peer row's samples' shows every run on exactly its samples. 'unfiltered': a "
            "peer run made before that rule, whose review may postdate the target. It is never "
            "marked best/second nor tested."
        )
    if t.has_reimplementation:
        notes.append(
            f"'({REIMPLEMENTATION})': drp-bench's own implementation of one of the paper's "
            "baselines, with its own prompts: the paper's numbers for Non-P, RAG, IntSum, "
            "LLM-TRSR, CICL and P-DB come from the DPL paper's implementations (never "
            "published), its DPL numbers from DPL's code (a DPL run with the paper prompt set "
            f"follows that code and has no such mark). The '{PAPER_LABEL}' row under such a "
            "column is the paper's number for the method (results.csv: paper_label, e.g. "
            "'P-DB (paper)', and paper_value beside the run's value)."
        )
    if t.has_paper:
        notes.append(
            f"Rows marked '{PAPER_LABEL}' are the numbers reported in the DRP paper "
            "(arXiv 2511.15389, main table) for the same method / extractor model, not measured "
            "by drp-bench; the paper's baselines used Qwen2.5-7B-Instruct and its own data "
            "split, so compare trends, not exact values."
        )
    return notes


_TEX_ESC = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--",
    "†": r"$^\dagger$", "≥": r"$\geq$",
}  # fmt: skip


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def _tex_cell(c: Cell | None, kind: str) -> str:
    if c is None:
        return "--"
    s = _fmt(c.value)
    if kind == "paper":
        return rf"\textit{{{s}}}"
    if c.rank == 1:
        s = rf"\textbf{{{s}}}"
    elif c.rank == 2:
        s = rf"\underline{{{s}}}"
    return s + (r"$^\dagger$" if c.dagger else "")


def to_latex(t: ResultsTable, ci: bool = False, caption: str | None = None) -> str:
    """A ``table`` environment (needs ``\\usepackage{booktabs}``) to ``\\input``."""
    n = len(t.columns)
    lines = [
        r"% drp-bench report; requires \usepackage{booktabs}",
        r"\begin{table*}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{ll" + "r" * n + "}",
        r"\toprule",
        " & ".join(["", "", *(tex_escape(c.method_name) for c in t.columns)]) + r" \\",
        " & ".join(["Dataset", "Metric", *(tex_escape(c.detail) for c in t.columns)]) + r" \\",
        r"\midrule",
    ]
    last = None
    for r in t.rows:
        if ci and r.kind == "paper":
            continue
        if r.dataset != last and last is not None:
            lines.append(r"\midrule")
        ds = tex_escape(r.dataset) if r.dataset != last else ""
        last = r.dataset
        metric = tex_escape(r.metric) if r.kind == "measured" else rf"\textit{{{PAPER_LABEL}}}"
        cells = [
            tex_escape(_ci(r.cells.get(c.label))) if ci else _tex_cell(r.cells.get(c.label), r.kind)
            for c in t.columns
        ]
        lines.append(" & ".join([ds, metric, *cells]) + r" \\")
    if caption is None:
        caption = (
            "95\\% bootstrap confidence intervals of the measured results."
            if ci
            else " ".join(tex_escape(f) for f in footnotes(t))
        )
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def problems_markdown(runs: Sequence[Run]) -> str:
    """A table of the runs that are not complete, or have a reason, with their reasons."""
    bad = [r for r in runs if r.status != "complete" or r.reason]
    if not bad:
        return "All runs found are complete."
    body = [
        [
            r.status,
            _md_esc(f"`{r.run_dir}`"),
            _md_esc(" ".join(r.overrides) or "–"),
            _md_esc(r.reason),
        ]
        for r in sorted(bad, key=lambda r: (r.status, str(r.run_dir)))
    ]
    header = "| Status | Run folder | Overrides | Reason |\n| --- | --- | --- | --- |\n"
    return header + "\n".join("| " + " | ".join(b) + " |" for b in body)


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run found with status, progress and reason (runs.csv)."""
    return pd.DataFrame(
        [
            {
                "status": r.status,
                "run_dir": str(r.run_dir),
                "overrides": " ".join(r.overrides),
                "done": r.done,
                "expected": r.expected,
                "reason": r.reason,
            }
            for r in runs
        ],
        columns=["status", "run_dir", "overrides", "done", "expected", "reason"],
    ).astype({"done": "Int64", "expected": "Int64"})


def write_tables(
    table: RunTable,
    out_dir: Path,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    paper_table: Path | None = DEFAULT_PAPER_TABLE,
    include_degraded: bool = False,
) -> tuple[list[Path], ResultsTable]:
    """Write results.csv (tidy), runs.csv, significance.csv, results.md and results.tex."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paper = load_paper_table(paper_table)
    if paper is None and paper_table is not None:
        table.notes.append(f"paper table {paper_table} not found: no reported numbers shown")
    sig = significance(table, n_resamples=n_resamples, seed=seed, include_degraded=include_degraded)
    t = build_table(
        table.frame, sig, paper, n_resamples=n_resamples, include_degraded=include_degraded
    )
    paths = {
        "csv": out_dir / "results.csv",
        "runs": out_dir / "runs.csv",
        "sig": out_dir / "significance.csv",
        "md": out_dir / "results.md",
        "tex": out_dir / "results.tex",
    }
    with_paper_numbers(table.frame, paper).to_csv(paths["csv"], index=False)
    runs_frame(table.runs).to_csv(paths["runs"], index=False)
    sig.to_csv(paths["sig"], index=False)
    matched = matched_tables(table, n_resamples=n_resamples, seed=seed)
    paths["md"].write_text(markdown_report(table, t, matched), encoding="utf-8")
    tex = [to_latex(t), to_latex(t, ci=True), *map(matched_latex, matched)]
    paths["tex"].write_text("\n".join(tex) if t.rows else "% no complete runs\n", encoding="utf-8")
    return list(paths.values()) + write_matched(matched, out_dir), t


def cost_per_sample(table: RunTable, t: ResultsTable) -> dict[str, dict[str, float]]:
    """Column label -> model calls and tokens (prompt + completion) per sample, from the
    ``compute.per_sample`` of metrics.json (the mean over a column's runs)."""
    by_dir = {str(r.run_dir): r for r in table.runs}
    pairs = table.frame.drop_duplicates(["label", "run_dir"])[["label", "run_dir"]]
    out: dict[str, dict[str, float]] = {}
    for col in t.columns:
        per_sample = [
            by_dir[d].record.get("compute", {}).get("per_sample", {})
            for d in pairs.loc[pairs["label"] == col.label, "run_dir"]
            if d in by_dir
        ]
        per_sample = [p for p in per_sample if "calls" in p]
        if per_sample:
            out[col.label] = {
                "calls": fmean(p["calls"] for p in per_sample),
                "tokens": fmean(
                    p.get("prompt_tokens", 0) + p.get("completion_tokens", 0) for p in per_sample
                ),
            }
    return out


def cost_markdown(table: RunTable, t: ResultsTable) -> str:
    cost = cost_per_sample(table, t)

    def cells(key: str, fmt: str) -> list[str]:
        return [format(cost[c.label][key], fmt) if c.label in cost else "—" for c in t.columns]

    header = ["All datasets", "Per sample", *[_md_esc(c.label) for c in t.columns]]
    body = [
        ["", "Model calls", *cells("calls", ".1f")],
        ["", "Tokens (prompt + completion)", *cells("tokens", ".0f")],
    ]
    return _md_grid(header, body)


def markdown_report(table: RunTable, t: ResultsTable, matched: Sequence[MatchedTable] = ()) -> str:
    parts = ["# drp-bench results", ""]
    if t.rows:
        parts += [to_markdown(t), ""]
        parts += [f"- {f}" for f in footnotes(t)] + [""]
        if table.frame["ci_low"].notna().any():
            parts += ["## 95% bootstrap confidence intervals", "", to_markdown(t, ci=True), ""]
        parts += matched_markdown(list(matched))
        parts += ["## Cost per sample", "", cost_markdown(table, t), ""]
    else:
        parts += ["No complete runs found.", ""]
    parts += ["## Runs not included or with warnings", "", problems_markdown(table.runs), ""]
    if table.notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in table.notes] + [""]
    return "\n".join(parts)
