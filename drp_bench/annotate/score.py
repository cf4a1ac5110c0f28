"""``drp-bench annotate score STUDY``: the annotators' labels to ``STUDY/score/``
(study_report.json, study_report.md, win_rates.png).

Units: a feature-validity unit is ``task_id:feature_id``, a set-rating or preference unit a
task; a repeated task's labels count for its original (the original's label first), so repeats
weigh nothing in the statistics and serve self-consistency only. Gold pairs serve gold accuracy
only. Annotators below a threshold are flagged: the main statistics leave them out, a second set
(``everyone``) keeps them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from drp_bench.annotate import stats
from drp_bench.annotate.annotations import Annotations, Key, collect
from drp_bench.annotate.formats import (
    KEY_FILE,
    MANIFEST_FILE,
    AnnotatorFile,
    FeatureValidityKey,
    PreferenceKey,
    RunRef,
    SideSource,
    StudyManifest,
    read_keys,
    read_manifest,
)
from drp_bench.annotate.report_file import (
    REPORT_JSON,
    SCORE_DIR,
    Agreement,
    AnnotatorQC,
    CategoryCount,
    Correlation,
    Estimate,
    PairKappa,
    Ranked,
    StudyReport,
    StudyStats,
    Thresholds,
    ValidatorAgreement,
    WinRate,
)

DEFAULT_MIN_GOLD = 0.7
DEFAULT_MIN_CONSISTENCY = 0.6
UNCATEGORIZED = "uncategorized"
BT_METHOD = (
    f"choix.opt_pairwise (maximum likelihood, L2 ridge alpha={stats.BT_RIDGE}); a tie counts "
    "as half a win for each side"
)
#: Codes for alpha: validity and choice nominal, the set rating ordinal.
VALID_CODES = {False: 0.0, True: 1.0}
RATING_CODES = {r: float(r) for r in range(1, 6)}
CHOICE_CODES = {"A": 0.0, "B": 1.0, "tie": 2.0}


@dataclass
class Study:
    """A study folder's manifest and key."""

    folder: Path
    manifest: StudyManifest
    keys: dict[str, Key]


def load_study(folder: Path) -> Study:
    """Read study.json and key.jsonl."""
    folder = Path(folder)
    manifest = read_manifest(folder / MANIFEST_FILE)
    keys = {k.task_id: k for k in read_keys(folder / KEY_FILE)}
    return Study(folder, manifest, keys)


# ---------------------------------------------------------------- labels per unit


def _labels_by_unit(
    files: Mapping[str, AnnotatorFile], keys: Mapping[str, Key]
) -> tuple[dict, dict, dict]:
    """Per annotator: validity by ``task:feature``, set rating by task, choice by task
    (non-gold), each under the original task's id; the original's label wins over a repeat's."""
    valid: dict[str, dict[str, bool]] = {}
    rating: dict[str, dict[str, int]] = {}
    choice: dict[str, dict[str, str]] = {}
    for name, f in files.items():
        valid[name], rating[name], choice[name] = {}, {}, {}
        for label in sorted(f.labels, key=lambda lab: keys[lab.task_id].repeat_of is not None):
            key = keys[label.task_id]
            unit = key.repeat_of or key.task_id
            if isinstance(key, PreferenceKey):
                if not key.gold and label.choice is not None:
                    choice[name].setdefault(unit, label.choice)
                continue
            rating[name].setdefault(unit, label.set_rating)
            for feat in label.features or []:
                valid[name].setdefault(f"{unit}:{feat.feature_id}", feat.valid)
    return valid, rating, choice


def _agreement(
    name: str, level: stats.Level, labels: dict, codes: Mapping, n_bootstrap: int, seed: int
) -> Agreement:
    matrix, _, _ = stats.reliability_matrix(labels, codes)
    units = int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum()) if matrix.size else 0
    ci = stats.alpha_with_ci(matrix, level, sorted(set(codes.values())), n_bootstrap, seed)
    kappas = [PairKappa(**vars(k)) for k in stats.pairwise_kappas(labels)]
    return Agreement(
        label=name, level=level, units=units, alpha=Estimate(**vars(ci)), kappas=kappas
    )


# ---------------------------------------------------------------- validator and categories


def _original_features(keys: Mapping[str, Key]) -> list[tuple[str, str | None, bool | None]]:
    """(unit, category, validator_kept) of every feature of the originals."""
    out = []
    for key in keys.values():
        if isinstance(key, FeatureValidityKey) and key.repeat_of is None:
            for f in key.features:
                out.append((f"{key.task_id}:{f.feature_id}", f.category, f.validator_kept))
    return out


def _validator(
    majority: Mapping[str, Hashable | None], features: Sequence[tuple[str, str | None, bool | None]]
) -> list[ValidatorAgreement]:
    """Validator keep vs human majority valid: overall ("all") and per category."""
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for unit, category, kept in features:
        human = majority.get(unit)
        if kept is None or human is None:
            continue
        groups["all"].append((bool(human), kept))
        groups[category or UNCATEGORIZED].append((bool(human), kept))
    out = []
    for category in ["all", *sorted(c for c in groups if c != "all")]:
        if category not in groups:
            continue
        truth, kept = zip(*groups[category], strict=True)
        agree = stats.binary_agreement(list(truth), list(kept))
        out.append(ValidatorAgreement(category=category, **vars(agree)))
    return out


def _categories(
    majority: Mapping[str, Hashable | None], features: Sequence[tuple[str, str | None, bool | None]]
) -> list[CategoryCount]:
    rows: dict[str, dict] = {}
    for unit, category, kept in features:
        row = rows.setdefault(
            category or UNCATEGORIZED, {"extracted": 0, "judged": 0, "valid": 0, "kept": None}
        )
        row["extracted"] += 1
        human = majority.get(unit)
        row["judged"] += human is not None
        row["valid"] += human is True
        if kept is not None:
            row["kept"] = (row["kept"] or 0) + kept
    return [
        CategoryCount(
            category=c,
            extracted=r["extracted"],
            judged=r["judged"],
            valid=r["valid"],
            validator_kept=r["kept"],
        )
        for c, r in sorted(rows.items())
    ]


# ---------------------------------------------------------------- preferences


def system_name(side: SideSource) -> str:
    """What a side is called in the report: ``method / model`` for a run's review."""
    if side.source == "run":
        return f"{side.method} / {side.model}"
    return side.source


def _outcome(choice: str, side: str) -> str:
    """A judgment from one side's view."""
    return "tie" if choice == "tie" else ("win" if choice == side else "loss")


def _pairs(choice: dict[str, dict[str, str]], keys: Mapping[str, Key]) -> dict:
    """``{(first, second): {task: [outcome for first]}}`` with first < second by name."""
    pairs: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for per in choice.values():
        for task, picked in per.items():
            key = keys[task]
            assert isinstance(key, PreferenceKey)
            names = {"A": system_name(key.sides.A), "B": system_name(key.sides.B)}
            if names["A"] == names["B"]:
                continue
            first_side = min(names, key=names.__getitem__)
            first, second = sorted(names.values())
            pairs[(first, second)][task].append(_outcome(picked, first_side))
    return pairs


def _preferences(
    choice: dict[str, dict[str, str]], keys: Mapping[str, Key], n_bootstrap: int, seed: int
) -> tuple[list[WinRate], list[Ranked]]:
    pairs = _pairs(choice, keys)
    rates = []
    for (first, second), outcomes in sorted(pairs.items()):
        w = stats.win_rate(first, second, outcomes, n_bootstrap, seed)
        fields = vars(w) | {"win_rate": Estimate(**vars(w.win_rate))}
        rates.append(WinRate(**fields))
    systems = sorted({s for pair in pairs for s in pair})
    judgments = [
        (first, second, o)
        for (first, second), outcomes in pairs.items()
        for per_task in outcomes.values()
        for o in per_task
    ]
    ranking = [Ranked(system=s, strength=v) for s, v in stats.bradley_terry(systems, judgments)]
    return rates, ranking


# ---------------------------------------------------------------- correlations with metrics


@dataclass
class SampleMetrics:
    """Per-sample metric values of the study's runs: ``values[metric][(run_id, sample_id)]``."""

    values: dict[str, dict[tuple[str, str], float]]
    notes: list[str]


CORRELATED_METRICS = ("bleu", "rougeL", "judge")


def _run_dir(study_dir: Path, run: RunRef) -> Path:
    path = Path(run.path)
    if path.is_absolute() or not (study_dir / path).exists():
        return path
    return study_dir / path


def load_sample_metrics(study: Study) -> SampleMetrics:
    """Per-sample BLEU (the project's corpus BLEU of the one pair), ROUGE-L (the row's stored
    ``scores``) and the judge's score, for the samples the preference tasks show."""
    from drp_bench.metrics.text import bleu
    from drp_bench.run.folder import RunFolderError, read_predictions

    wanted: dict[str, set[str]] = defaultdict(set)
    for key in study.keys.values():
        if isinstance(key, PreferenceKey) and not key.gold:
            for side in (key.sides.A, key.sides.B):
                if side.source == "run" and side.run_id is not None:
                    wanted[side.run_id].add(key.sample_id)
    values: dict[str, dict[tuple[str, str], float]] = {m: {} for m in CORRELATED_METRICS}
    notes: list[str] = []
    for run in study.manifest.runs:
        if run.run_id not in wanted:
            continue
        path = _run_dir(study.folder, run) / "predictions.jsonl"
        try:
            rows = read_predictions(path, allow_partial_tail=True)
        except (RunFolderError, OSError) as e:
            notes.append(f"run {run.run_id} ({run.path}): predictions unreadable, left out: {e}")
            continue
        for row in rows:
            if row.sample_id not in wanted[run.run_id]:
                continue
            at = (run.run_id, row.sample_id)
            values["bleu"][at] = bleu([row.prediction], [row.reference])
            if row.scores is not None:
                values["rougeL"][at] = row.scores.rougeL
            judge = row.stages.judge
            if judge is not None and judge.score is not None:
                values["judge"][at] = float(judge.score)
    return SampleMetrics(values, notes)


def _correlations(
    choice: dict[str, dict[str, str]], keys: Mapping[str, Key], metrics: SampleMetrics
) -> tuple[list[Correlation], list[str]]:
    """Per run-vs-run task: the annotators' share for side A (a tie is half) against the
    metric's A minus B; Spearman and Kendall over tasks."""
    shares: dict[str, list[float]] = defaultdict(list)
    for per in choice.values():
        for task, picked in per.items():
            shares[task].append(stats.CHOICE_SCORE[_outcome(picked, "A")])
    out: list[Correlation] = []
    notes: list[str] = []
    if not shares:  # no run-vs-run preference labels: nothing to correlate
        return out, notes
    for metric in CORRELATED_METRICS:
        human, diff = [], []
        for task, votes in sorted(shares.items()):
            key = keys[task]
            assert isinstance(key, PreferenceKey)
            a, b = key.sides.A, key.sides.B
            va = metrics.values[metric].get((a.run_id or "", key.sample_id))
            vb = metrics.values[metric].get((b.run_id or "", key.sample_id))
            if va is None or vb is None:
                continue
            human.append(sum(votes) / len(votes))
            diff.append(va - vb)
        if not human:
            notes.append(
                f"{metric}: absent from the runs' predictions of the preference pairs; skipped"
            )
            continue
        out.append(Correlation(**vars(stats.correlation(metric, human, diff))))
    return out, notes


# ---------------------------------------------------------------- quality control


def _gold_hits(f: AnnotatorFile, keys: Mapping[str, Key]) -> dict[str, bool]:
    """Per gold pair (the original's id): whether the annotator picked the real review; the
    original's label wins over a repeat's, as in :func:`_labels_by_unit`."""
    hits: dict[str, bool] = {}
    for label in sorted(f.labels, key=lambda lab: keys[lab.task_id].repeat_of is not None):
        key = keys[label.task_id]
        if isinstance(key, PreferenceKey) and key.gold:
            hits.setdefault(key.repeat_of or key.task_id, label.choice == key.gold_answer)
    return hits


def annotator_qc(
    name: str, f: AnnotatorFile, keys: Mapping[str, Key], source: Path, thresholds: Thresholds
) -> AnnotatorQC:
    """Gold accuracy (a gold pair's answer is the user's real review; a tie is wrong; once per
    gold pair, its original's label first: a repeat of a gold pair serves self-consistency
    only) and self-consistency (a repeat against its original: the choice, or each feature's
    valid)."""
    by_task = {lab.task_id: lab for lab in f.labels}
    gold = list(_gold_hits(f, keys).values())
    same: list[bool] = []
    for label in f.labels:
        key = keys[label.task_id]
        original = by_task.get(key.repeat_of) if key.repeat_of else None
        if original is None:
            continue
        if label.choice is not None:
            same.append(label.choice == original.choice)
        else:
            first = {x.feature_id: x.valid for x in original.features or []}
            same += [
                x.valid == first[x.feature_id]
                for x in label.features or []
                if x.feature_id in first
            ]
    accuracy, consistency = stats.share_true(gold), stats.share_true(same)
    why = []
    if accuracy is not None and accuracy < thresholds.gold_accuracy:
        why.append(f"gold accuracy {accuracy:.2f} < {thresholds.gold_accuracy}")
    if consistency is not None and consistency < thresholds.self_consistency:
        why.append(f"self-consistency {consistency:.2f} < {thresholds.self_consistency}")
    return AnnotatorQC(
        annotator=name,
        file=str(source),
        labels=len(f.labels),
        gold=len(gold),
        gold_accuracy=accuracy,
        repeats=len(same),
        self_consistency=consistency,
        flagged=bool(why),
        why=why,
    )


# ---------------------------------------------------------------- the report


def study_stats(
    files: Mapping[str, AnnotatorFile],
    keys: Mapping[str, Key],
    metrics: SampleMetrics,
    n_bootstrap: int,
    seed: int,
) -> tuple[StudyStats, list[str]]:
    """Every statistic over the given annotators' files."""
    valid, rating, choice = _labels_by_unit(files, keys)
    agreement = [
        _agreement("validity", "nominal", valid, VALID_CODES, n_bootstrap, seed),
        _agreement("set_rating", "ordinal", rating, RATING_CODES, n_bootstrap, seed),
        _agreement("preference", "nominal", choice, CHOICE_CODES, n_bootstrap, seed),
    ]
    majority = stats.majority(valid)
    features = _original_features(keys)
    rates, ranking = _preferences(choice, keys, n_bootstrap, seed)
    correlations, notes = _correlations(choice, keys, metrics)
    return (
        StudyStats(
            annotators=sorted(files),
            agreement=agreement,
            validator=_validator(majority, features),
            no_majority=sum(v is None for v in majority.values()),
            categories=_categories(majority, features),
            win_rates=rates,
            ranking=ranking,
            correlations=correlations,
        ),
        notes,
    )


def score_study(
    folder: Path,
    n_bootstrap: int = stats.DEFAULT_BOOTSTRAP,
    seed: int = 0,
    thresholds: Thresholds | None = None,
) -> StudyReport:
    """Read a study and its annotations; compute the report (nothing written)."""
    thresholds = thresholds or Thresholds(
        gold_accuracy=DEFAULT_MIN_GOLD, self_consistency=DEFAULT_MIN_CONSISTENCY
    )
    study = load_study(folder)
    found: Annotations = collect(study.folder, study.manifest.study_id, list(study.keys.values()))
    qc = [
        annotator_qc(name, f, study.keys, found.sources[name], thresholds)
        for name, f in sorted(found.files.items())
    ]
    flagged = {q.annotator for q in qc if q.flagged}
    kept = {n: f for n, f in found.files.items() if n not in flagged}
    metrics = load_sample_metrics(study)
    notes = list(metrics.notes)
    main, main_notes = study_stats(kept, study.keys, metrics, n_bootstrap, seed)
    notes += main_notes
    everyone = None
    if flagged:
        everyone, _ = study_stats(found.files, study.keys, metrics, n_bootstrap, seed)
    if flagged and not kept:
        notes.append("every annotator is flagged: the main statistics are empty")
    return StudyReport(
        study_id=study.manifest.study_id,
        title=study.manifest.title,
        scored_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        bootstrap=n_bootstrap,
        seed=seed,
        thresholds=thresholds,
        bradley_terry=BT_METHOD,
        qc=qc,
        main=main,
        everyone=everyone,
        notes=notes,
    )


def write_report(folder: Path, report: StudyReport, plots: bool = True) -> list[Path]:
    """study_report.json, study_report.md and (with ``plots``) win_rates.png under
    ``STUDY/score/``; returns the paths written."""
    from drp_bench.annotate.score_markdown import study_markdown, win_rate_plot

    out = Path(folder) / SCORE_DIR
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / REPORT_JSON
    json_path.write_text(report.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    written = [json_path]
    png = None
    if plots and report.main.win_rates:
        png = win_rate_plot(report.main.win_rates, out / "win_rates.png")
        written.append(png)
    md_path = out / "study_report.md"
    md_path.write_text(study_markdown(report, png), encoding="utf-8")
    return [*written, md_path]
