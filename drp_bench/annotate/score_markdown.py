"""study_report.md's tables and the win-rate plot of a scored study."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from drp_bench.annotate.report_file import Estimate, StudyReport, StudyStats, WinRate


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(e: Estimate) -> str:
    if e.low is None or e.high is None:
        return _num(e.value)
    return f"{_num(e.value)} [{_num(e.low)}, {_num(e.high)}]"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; an empty one says so."""
    if not rows:
        return "(none)\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def stats_markdown(s: StudyStats) -> str:
    """The tables of one set of annotators."""
    parts = [f"Annotators: {', '.join(s.annotators) or '(none)'}\n", "### Agreement\n"]
    parts.append(
        table(
            ["labels", "level", "units", "Krippendorff's alpha [95% CI]"],
            [(a.label, a.level, a.units, _ci(a.alpha)) for a in s.agreement],
        )
    )
    kappa_rows = [(a.label, k.a, k.b, k.n, _num(k.kappa)) for a in s.agreement for k in a.kappas]
    parts += ["\nPairwise Cohen's kappa:\n", table(["labels", "a", "b", "n", "kappa"], kappa_rows)]
    parts.append("\n### LLM validator vs human majority\n")
    parts.append(
        table(
            ["category", "n", "tp", "fp", "fn", "tn", "precision", "recall", "F1", "kappa"],
            [
                (
                    v.category,
                    v.n,
                    v.tp,
                    v.fp,
                    v.fn,
                    v.tn,
                    _num(v.precision),
                    _num(v.recall),
                    _num(v.f1),
                    _num(v.kappa),
                )
                for v in s.validator
            ],
        )
    )
    parts.append(f"\nFeatures whose annotators split evenly (no majority): {s.no_majority}\n")
    parts.append("\n### Features per category\n")
    parts.append(
        table(
            ["category", "extracted", "judged", "valid (people)", "kept (validator)"],
            [
                (
                    c.category,
                    c.extracted,
                    c.judged,
                    c.valid,
                    "n/a" if c.validator_kept is None else c.validator_kept,
                )
                for c in s.categories
            ],
        )
    )
    parts.append("\n### Preferences\n")
    parts.append(
        table(
            ["first", "second", "judgments", "tasks", "W/T/L", "win rate [95% CI]", "ties"],
            [
                (
                    w.first,
                    w.second,
                    w.n,
                    w.tasks,
                    f"{w.wins}/{w.ties}/{w.losses}",
                    _ci(w.win_rate),
                    f"{w.tie_share:.0%}",
                )
                for w in s.win_rates
            ],
        )
    )
    parts.append("\nBradley-Terry ranking:\n")
    parts.append(
        table(
            ["rank", "system", "log-strength"],
            [(i, r.system, _num(r.strength, 3)) for i, r in enumerate(s.ranking, start=1)],
        )
    )
    parts.append("\n### Human preference vs metrics (A minus B)\n")
    parts.append(
        table(
            ["metric", "pairs", "Spearman rho", "p", "Kendall tau", "p"],
            [
                (
                    c.metric,
                    c.n,
                    _num(c.spearman),
                    _num(c.spearman_p, 3),
                    _num(c.kendall),
                    _num(c.kendall_p, 3),
                )
                for c in s.correlations
            ],
        )
    )
    return "\n".join(parts)


def study_markdown(report: StudyReport, plot: Path | None = None) -> str:
    """study_report.md."""
    t = report.thresholds
    parts = [
        f"# Human study: {report.title}\n",
        f"Study {report.study_id}, scored {report.scored_at}; CIs: {report.bootstrap} bootstrap "
        f"resamples (seed {report.seed}). Bradley-Terry: {report.bradley_terry}.\n",
        "## Quality control\n",
        f"Flagged: gold accuracy < {t.gold_accuracy} or self-consistency < "
        f"{t.self_consistency}. Flagged annotators are left out of the main statistics.\n",
        table(
            [
                "annotator",
                "labels",
                "gold",
                "gold accuracy",
                "repeat items",
                "self-consistency",
                "flagged",
            ],
            [
                (
                    q.annotator,
                    q.labels,
                    q.gold,
                    _num(q.gold_accuracy),
                    q.repeats,
                    _num(q.self_consistency),
                    "; ".join(q.why) or "no",
                )
                for q in report.qc
            ],
        ),
        "\n## Main statistics (annotators not flagged)\n",
        stats_markdown(report.main),
    ]
    if plot is not None:
        parts.append(f"\n![win rates]({plot.name})\n")
    if report.everyone is not None:
        parts += ["\n## Everyone (flagged annotators included)\n", stats_markdown(report.everyone)]
    if report.notes:
        parts += ["\n## Notes\n", *(f"- {n}" for n in report.notes), ""]
    return "\n".join(parts)


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def win_rate_plot(rates: Sequence[WinRate], path: Path) -> Path:
    """Horizontal bars of each pair's win rate with its CI (Agg, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.6 * len(rates) + 1.2))
    ax = fig.add_subplot()
    labels = [f"{w.first}\nvs {w.second}" for w in rates]
    values = [w.win_rate.value or 0.0 for w in rates]
    low = [v - _or(w.win_rate.low, v) for v, w in zip(values, rates, strict=True)]
    high = [_or(w.win_rate.high, v) - v for v, w in zip(values, rates, strict=True)]
    ax.barh(range(len(rates)), values, xerr=[low, high], capsize=4, color="#4C72B0")
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rates)), labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()  # the first pair on top, as in the table
    ax.set_xlabel("win rate (ties as half), 95% bootstrap CI")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
