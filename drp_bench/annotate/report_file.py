"""``STUDY/score/study_report.json``: a scored study's numbers (written by ``drp-bench annotate
score``), its light reader, and the headline ``drp-bench report`` shows for a study found beside
the runs. Depends on pydantic only, so ``report`` may import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

STUDY_REPORT_SCHEMA = "drp-bench-study-report/1"
SCORE_DIR = "score"
REPORT_JSON = "study_report.json"
REPORT_MD = "study_report.md"


class StudyReportError(ValueError):
    """A study_report.json is unreadable or not of this format."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Estimate(_Model):
    """A value and its 95% bootstrap interval; null: undefined (or no interval)."""

    value: float | None
    low: float | None = None
    high: float | None = None


class PairKappa(_Model):
    a: str
    b: str
    n: int = Field(description="units both annotators labelled")
    kappa: float | None


class Agreement(_Model):
    """Agreement on one kind of label: Krippendorff's alpha and pairwise Cohen's kappa."""

    label: str = Field(description="validity | set_rating | preference")
    level: str = Field(description="alpha's level of measurement: nominal | ordinal")
    units: int = Field(description="units labelled by at least two annotators")
    alpha: Estimate
    kappas: list[PairKappa]


class ValidatorAgreement(_Model):
    """The LLM validator's keep against the human majority's valid (truth)."""

    category: str = Field(description='"all", a UVQ category, or "uncategorized"')
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None


class CategoryCount(_Model):
    """Extracted features of a category in the study, and how many people judged valid."""

    category: str
    extracted: int
    judged: int = Field(description="features with a human majority")
    valid: int = Field(description="features the human majority judged valid")
    validator_kept: int | None = Field(description="null: the runs have no validate stage")


class WinRate(_Model):
    """``first`` against ``second``: win rate with ties as half, CI over tasks."""

    first: str
    second: str
    n: int = Field(description="judgments")
    tasks: int
    wins: int
    losses: int
    ties: int
    win_rate: Estimate
    tie_share: float


class Ranked(_Model):
    system: str
    strength: float = Field(description="Bradley-Terry log-strength, centred")


class Correlation(_Model):
    """Human preference (share for side A) against a metric's A-minus-B difference."""

    metric: str
    n: int = Field(description="pairs")
    spearman: float | None
    spearman_p: float | None
    kendall: float | None
    kendall_p: float | None


class StudyStats(_Model):
    """Every statistic over one set of annotators."""

    annotators: list[str]
    agreement: list[Agreement]
    validator: list[ValidatorAgreement] = Field(description='"all" first, then per category')
    no_majority: int = Field(description="features whose annotators split evenly")
    categories: list[CategoryCount]
    win_rates: list[WinRate]
    ranking: list[Ranked] = Field(description="Bradley-Terry order, best first")
    correlations: list[Correlation]


class AnnotatorQC(_Model):
    """Gold accuracy and self-consistency of one annotator; ``flagged``: below a threshold."""

    annotator: str
    file: str
    labels: int
    gold: int = Field(description="gold pairs answered")
    gold_accuracy: float | None
    repeats: int = Field(description="items compared between a task and its repeat")
    self_consistency: float | None
    flagged: bool
    why: list[str]


class Thresholds(_Model):
    gold_accuracy: float
    self_consistency: float


class StudyReport(_Model):
    """study_report.json."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: str = Field(alias="schema", default=STUDY_REPORT_SCHEMA)
    study_id: str
    title: str
    scored_at: str
    bootstrap: int = Field(description="bootstrap resamples of every CI")
    seed: int
    thresholds: Thresholds
    bradley_terry: str = Field(description="how the Bradley-Terry fit was made")
    qc: list[AnnotatorQC]
    main: StudyStats = Field(description="annotators not flagged")
    everyone: StudyStats | None = Field(description="all annotators; null: none flagged")
    notes: list[str]


def report_path(study_dir: Path) -> Path:
    """Where a study's report JSON is."""
    return Path(study_dir) / SCORE_DIR / REPORT_JSON


def read_study_report(study_dir: Path) -> StudyReport:
    """Read ``STUDY/score/study_report.json``."""
    path = report_path(study_dir)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudyReportError(f"{path}: cannot read: {e}") from None
    if not isinstance(obj, dict) or obj.get("schema") != STUDY_REPORT_SCHEMA:
        raise StudyReportError(f"{path}: not a {STUDY_REPORT_SCHEMA} file")
    try:
        return StudyReport.model_validate(obj)
    except ValidationError as e:
        raise StudyReportError(f"{path}: {e}") from None


def find_studies(dirs: Iterable[Path]) -> list[Path]:
    """Scored study folders in or beside the given folders: each folder, its subfolders, and
    its siblings (a study built next to the run folders it was built from)."""
    found: dict[Path, None] = {}
    for d in dirs:
        d = Path(d)
        candidates = [d, *d.rglob(REPORT_JSON)]
        if d.parent != d:
            candidates += [s for s in d.parent.iterdir() if s.is_dir()]
        for c in candidates:
            study = c.parent.parent if c.name == REPORT_JSON else c
            if report_path(study).is_file() and (study / "study.json").is_file():
                found.setdefault(study.resolve(), None)
    return list(found)


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _estimate(e: Estimate) -> str:
    if e.low is None or e.high is None:
        return _num(e.value)
    return f"{_num(e.value)} [{_num(e.low)}, {_num(e.high)}]"


def headline_markdown(study_dir: Path, report: StudyReport) -> str:
    """The "Human study" section of ``drp-bench report``'s results.md."""
    s = report.main
    lines = [
        f"## Human study: {report.title} ({study_dir})",
        "",
        f"{len(s.annotators)} annotator(s)"
        + (f", {sum(q.flagged for q in report.qc)} flagged and left out" if report.everyone else "")
        + f"; details in {Path(study_dir) / SCORE_DIR / REPORT_MD}.",
        "",
    ]
    for a in s.agreement:
        lines.append(f"- Krippendorff's alpha, {a.label} ({a.level}): {_estimate(a.alpha)}")
    overall = next((v for v in s.validator if v.category == "all"), None)
    if overall is not None:
        lines.append(
            f"- LLM validator vs human majority: kappa {_num(overall.kappa)}, precision "
            f"{_num(overall.precision)}, recall {_num(overall.recall)} (n={overall.n})"
        )
    for w in s.win_rates:
        lines.append(
            f"- {w.first} over {w.second}: win rate {_estimate(w.win_rate)}, "
            f"ties {w.tie_share:.0%} (n={w.n})"
        )
    if s.ranking:
        lines.append("- Bradley-Terry order: " + " > ".join(r.system for r in s.ranking))
    return "\n".join(lines) + "\n"
