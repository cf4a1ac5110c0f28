"""``annotate build``: finished run folders -> a blinded study folder (docs/annotate.md).

Feature-validity tasks: one candidate per (run, sample, comparison item) with at least one
extracted feature, taken evenly across the runs' (method, model) groups. Preference tasks: two
generated reviews of one sample from two groups (every pair of groups sharing samples is a
stratum, taken evenly), plus gold pairs (the user's real review against another user's review
of the same item). A share of all tasks is repeated (full copies, new ids). Ids are opaque and
shuffled; what scoring needs goes to key.jsonl, never to tasks.jsonl or the page.
"""

from __future__ import annotations

import hashlib
import html
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drp_bench import __version__
from drp_bench.annotate import formats as fm
from drp_bench.annotate.page import render_page
from drp_bench.annotate.sampling import (
    group_pairs,
    repeat_choice,
    rng_for,
    split_count,
    stratified,
    task_ids,
)
from drp_bench.annotate.sources import (
    USABLE,
    DataRef,
    RunSource,
    StudyBuildError,
    StudyData,
    load_data,
    name_key,
    read_run,
)
from drp_bench.data.types import Review, Sample
from drp_bench.provenance import git_commit
from drp_bench.run import folder as run_folder

DEFAULT_TITLE = "drp-bench human study"
ANNOTATIONS_README = """\
Put each annotator's exported file here: <annotator>.json, as the study page's "Export"
button downloads it (or Label Studio's JSON export). Then run:

    drp-bench annotate score STUDY

which reads every *.json in this folder. See docs/annotate.md.
"""
Group = tuple[str, str]


@dataclass
class Draft:
    """A task and its key before ids are given (both without task_id and repeat_of)."""

    task: dict[str, Any]
    key: dict[str, Any]


@dataclass
class Study:
    """A built study in memory: the manifest, the tasks and their keys (same order)."""

    manifest: fm.StudyManifest
    tasks: list[fm.FeatureValidityTask | fm.PreferenceTask]
    keys: list[fm.FeatureValidityKey | fm.PreferenceKey]


def build_study(
    run_dirs: Sequence[Path],
    out: Path,
    *,
    tasks: Sequence[str] = fm.TASK_TYPES,
    feature_items: int = 20,
    preference_pairs: int = 30,
    gold_rate: float = 0.15,
    repeat_rate: float = 0.1,
    history: int = 3,
    seed: int = 0,
    title: str = DEFAULT_TITLE,
) -> fm.StudyManifest:
    """Build the study of ``run_dirs`` and write it to ``out`` (see the module docstring)."""
    sizes: dict[str, int | float] = {
        "feature_items": feature_items,
        "preference_pairs": preference_pairs,
        "gold_rate": gold_rate,
        "repeat_rate": repeat_rate,
        "history": history,
    }
    _check_options(tasks, sizes)
    runs = [read_run(Path(d), f"r{i}") for i, d in enumerate(run_dirs)]
    if not runs:
        raise StudyBuildError("no run folders given")
    data = _load_all(runs)
    drafts: list[Draft] = []
    if "feature_validity" in tasks:
        drafts += feature_drafts(runs, data, feature_items, seed)
    if "preference" in tasks:
        n_gold = split_count(preference_pairs, gold_rate)
        drafts += preference_drafts(runs, data, preference_pairs - n_gold, history, seed)
        drafts += gold_drafts(runs, data, n_gold, history, seed)
    if not drafts:
        raise StudyBuildError(
            "no tasks: the runs have no extracted features (feature_validity) and no samples "
            "two method/model groups share or a gold pair could use (preference)"
        )
    study_tasks, keys = assign_ids(drafts, repeat_rate, seed)
    tasks_text = fm.jsonl_text(study_tasks)
    manifest = fm.StudyManifest(
        schema=fm.STUDY_SCHEMA,
        study_id=hashlib.sha256(tasks_text.encode("utf-8")).hexdigest()[:12],
        title=title,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seed=seed,
        task_types=[t for t in fm.TASK_TYPES if t in tasks],
        sizes=sizes,
        runs=[
            fm.RunRef(
                run_id=r.run_id,
                path=_path_from(out, r.path),
                method=r.method,
                model=r.model,
                samples=len(r.rows),
            )
            for r in runs
        ],
        drp_bench_version=__version__,
        git_commit=git_commit(),
    )
    write_study(Path(out), Study(manifest, study_tasks, keys), tasks_text)
    return manifest


def _check_options(tasks: Sequence[str], sizes: dict[str, int | float]) -> None:
    unknown = [t for t in tasks if t not in fm.TASK_TYPES]
    if unknown or not tasks:
        raise ValueError(
            f"tasks: expected one or more of {', '.join(fm.TASK_TYPES)}, found {list(tasks)}"
        )
    for name in ("feature_items", "preference_pairs", "history"):
        if not isinstance(sizes[name], int) or sizes[name] < 0:
            raise ValueError(f"{name}: expected a whole number >= 0, found {sizes[name]!r}")
    for name in ("gold_rate", "repeat_rate"):
        if not 0.0 <= sizes[name] <= 1.0:
            raise ValueError(f"{name}: expected a share from 0 to 1, found {sizes[name]!r}")


def _load_all(runs: list[RunSource]) -> dict[DataRef, StudyData]:
    data: dict[DataRef, StudyData] = {}
    for run in runs:
        if run.data not in data:
            data[run.data] = load_data(run.data)
        samples = data[run.data].samples
        for row in run.rows:
            if row.sample_id not in samples:
                raise StudyBuildError(
                    f"{run.path / run_folder.PREDICTIONS}: sample {row.sample_id!r} is not in "
                    f"the run's dataset {run.data.path!r} ({run.data.split}): the data changed "
                    "since the run?"
                )
    return data


# ---------------------------------------------------------------- feature validity


def feature_drafts(
    runs: list[RunSource], data: dict[DataRef, StudyData], n: int, seed: int
) -> list[Draft]:
    """Up to ``n`` feature-validity tasks, evenly across the runs' (method, model) groups."""
    by_key: dict[tuple[str, str, str], tuple[RunSource, run_folder.PredictionRow, Any]] = {}
    strata: dict[Group, list[tuple[str, str, str]]] = {}
    for run in runs:
        for row in run.rows:
            for item in row.stages.extract or []:
                if item.features:
                    key = (run.run_id, row.sample_id, item.asin)
                    by_key[key] = (run, row, item)
                    strata.setdefault(run.group, []).append(key)
    picked = stratified({g: sorted(c) for g, c in strata.items()}, n, rng_for(seed, "features"))
    return [_feature_draft(*by_key[key], data) for _, key in picked]


def _feature_draft(
    run: RunSource, row: run_folder.PredictionRow, item: Any, data: dict[DataRef, StudyData]
) -> Draft:
    study_data = data[run.data]
    sample = study_data.samples[row.sample_id]
    own = next((r for r in sample.profile if r.asin == item.asin), None)
    if own is None:
        raise StudyBuildError(
            f"{run.path / run_folder.PREDICTIONS}: sample {row.sample_id!r}: the user has no "
            f"review of comparison item {item.asin!r} in the dataset"
        )
    others = [study_data.review(item.asin, u) for u in item.representatives]
    shown_others = [r for r in others if r is not None]
    task = shown_text(
        {
            "type": "feature_validity",
            "item": _item(study_data, item.asin),
            "user_review": {"rating": own.rating, "title": own.title, "text": own.text},
            "representative_reviews": [
                {
                    "label": f"Other reviewer {i}",
                    "rating": r.rating,
                    "title": r.title,
                    "text": r.text,
                }
                for i, r in enumerate(shown_others, start=1)
            ],
            "features": [
                {
                    "feature_id": f"f{j}",
                    "name": f.name,
                    "definition": f.definition,
                    "difference": f.difference,
                }
                for j, f in enumerate(item.features, start=1)
            ],
        }
    )
    kept = validator_kept(row, item.asin)
    categories = feature_categories(row, item.asin)
    key = {
        "type": "feature_validity",
        "sample_id": row.sample_id,
        "user_id": row.user_id,
        "run_id": run.run_id,
        "method": run.method,
        "model": run.model,
        "comparison_asin": item.asin,
        "features": [
            {
                "feature_id": f"f{j}",
                "validator_kept": None if kept is None else name_key(f.name) in kept,
                "category": categories.get(name_key(f.name)) if categories is not None else None,
            }
            for j, f in enumerate(item.features, start=1)
        ],
    }
    return Draft(task, key)


def validator_kept(row: run_folder.PredictionRow, asin: str) -> set[str] | None:
    """The (loosely compared) names the validator kept for this comparison item; None when
    the run has no validate stage or the item's validation failed (no decision)."""
    records = row.stages.validate_
    if records is None:
        return None
    record = next((r for r in records if r.asin == asin), None)
    if record is None or record.error is not None:
        return None
    return {name_key(f.name) for f in record.features}


def feature_categories(row: run_folder.PredictionRow, asin: str) -> dict[str, str] | None:
    """UVQ category per (loosely compared) source feature name, from the item's normalize
    record; None when the run has none."""
    records = row.stages.normalize
    record = next((r for r in records or [] if r.asin == asin), None)
    if record is None:
        return None
    out: dict[str, str] = {}
    for unit in record.units:
        if unit.source_feature and unit.category:
            out.setdefault(name_key(unit.source_feature), unit.category)
    return out


def _item(data: StudyData, asin: str) -> dict[str, str]:
    item = data.items.get(asin)
    if item is None:
        return {"asin": asin, "title": asin, "description": ""}
    return {"asin": asin, "title": item.title, "description": item.description}


# ---------------------------------------------------------------- preference


def preference_drafts(
    runs: list[RunSource], data: dict[DataRef, StudyData], n: int, history: int, seed: int
) -> list[Draft]:
    """Up to ``n`` pairs of two groups' reviews of one sample, evenly across strata (pairs of
    groups sharing samples); the run within a group and the sides are seeded choices."""
    usable: dict[Group, dict[str, list[tuple[RunSource, run_folder.PredictionRow]]]] = {}
    for run in runs:
        for row in run.rows:
            if row.status in USABLE and row.prediction.strip():
                usable.setdefault(run.group, {}).setdefault(row.sample_id, []).append((run, row))
    strata = group_pairs({g: set(by_sample) for g, by_sample in usable.items()})
    rng = rng_for(seed, "preference")
    drafts = []
    for (group_a, group_b), sample_id in stratified(strata, n, rng):
        first = rng.choice(usable[group_a][sample_id])
        second = rng.choice(usable[group_b][sample_id])
        sides = [_run_side(*first), _run_side(*second)]
        drafts.append(_pair_draft(data[first[0].data], sample_id, sides, history, rng, None))
    return drafts


def _run_side(run: RunSource, row: run_folder.PredictionRow) -> tuple[str, dict[str, Any]]:
    source = {"source": "run", "run_id": run.run_id, "method": run.method, "model": run.model}
    return row.prediction, source


def gold_drafts(
    runs: list[RunSource], data: dict[DataRef, StudyData], n: int, history: int, seed: int
) -> list[Draft]:
    """Up to ``n`` gold pairs: the user's real review of the target item against another
    user's review of it (samples without another reviewer are skipped)."""
    candidates: dict[str, StudyData] = {}
    for run in runs:
        for row in run.rows:
            candidates.setdefault(row.sample_id, data[run.data])
    eligible = sorted(
        sid
        for sid, d in candidates.items()
        if d.others(d.samples[sid].target.asin, d.samples[sid].user_id)
    )
    rng = rng_for(seed, "gold")
    drafts = []
    for sample_id in rng.sample(eligible, min(n, len(eligible))):
        study_data = candidates[sample_id]
        sample = study_data.samples[sample_id]
        others = study_data.others(sample.target.asin, sample.user_id)
        other = others[rng.choice(sorted(others))]
        none = {"run_id": None, "method": None, "model": None}
        sides = [
            (sample.target.text, {"source": "reference", **none}),
            (other.text, {"source": "other_user", **none}),
        ]
        drafts.append(_pair_draft(study_data, sample_id, sides, history, rng, "reference"))
    return drafts


def _pair_draft(
    data: StudyData,
    sample_id: str,
    sides: list[tuple[str, dict[str, Any]]],
    history: int,
    rng: random.Random,
    gold_source: str | None,
) -> Draft:
    if rng.random() < 0.5:
        sides = sides[::-1]
    (text_a, source_a), (text_b, source_b) = sides
    sample = data.samples[sample_id]
    task = shown_text(
        {
            "type": "preference",
            "item": _item(data, sample.target.asin),
            "history": _history(data, sample, history),
            "reviews": {"A": text_a, "B": text_b},
        }
    )
    gold_answer = None
    if gold_source is not None:
        gold_answer = "A" if source_a["source"] == gold_source else "B"
    key = {
        "type": "preference",
        "sample_id": sample_id,
        "user_id": sample.user_id,
        "gold": gold_source is not None,
        "sides": {"A": source_a, "B": source_b},
        "gold_answer": gold_answer,
    }
    return Draft(task, key)


def _history(data: StudyData, sample: Sample, n: int) -> list[dict[str, Any]]:
    """The user's ``n`` most recent past reviews (the same for every method)."""
    recent: list[Review] = sorted(sample.profile, key=lambda r: (-r.timestamp, r.asin))[:n]
    return [
        {"item_title": _item(data, r.asin)["title"], "rating": r.rating, "title": r.title,
         "text": r.text}
        for r in recent
    ]  # fmt: skip


# ---------------------------------------------------------------- ids, repeats, files


def assign_ids(drafts: list[Draft], repeat_rate: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Tasks and keys with opaque ids: the drafts plus their repeats (full copies with
    ``repeat_of`` set), shuffled, then numbered in that order."""
    rng = rng_for(seed, "ids")
    repeats = repeat_choice(len(drafts), repeat_rate, rng)
    entries: list[tuple[int, bool]] = [(i, False) for i in range(len(drafts))]
    entries += [(i, True) for i in repeats]
    order = rng.sample(entries, len(entries))
    ids = task_ids(len(order))
    original_id = {i: ids[k] for k, (i, again) in enumerate(order) if not again}
    tasks, keys = [], []
    for task_id, (i, again) in zip(ids, order, strict=True):
        repeat_of = original_id[i] if again else None
        common = {"task_id": task_id, "repeat_of": repeat_of}
        tasks.append(_TASKS[drafts[i].task["type"]].model_validate({**common, **drafts[i].task}))
        keys.append(_KEYS[drafts[i].key["type"]].model_validate({**common, **drafts[i].key}))
    return tasks, keys


_TASKS: dict[str, type[Any]] = {
    "feature_validity": fm.FeatureValidityTask,
    "preference": fm.PreferenceTask,
}
_KEYS: dict[str, type[Any]] = {
    "feature_validity": fm.FeatureValidityKey,
    "preference": fm.PreferenceKey,
}


def write_study(out: Path, study: Study, tasks_text: str) -> None:
    """study.json, tasks.jsonl, key.jsonl, annotations/ (with a README) and index.html."""
    out.mkdir(parents=True, exist_ok=True)
    (out / fm.TASKS_FILE).write_text(tasks_text, encoding="utf-8")
    fm.write_jsonl(out / fm.KEY_FILE, study.keys)
    fm.write_json(out / fm.MANIFEST_FILE, study.manifest)
    annotations = out / fm.ANNOTATIONS_DIR
    annotations.mkdir(exist_ok=True)
    (annotations / "README.txt").write_text(ANNOTATIONS_README, encoding="utf-8")
    _write_page(out, study.manifest, study.tasks)


def shown_text(value: Any) -> Any:
    """A task's texts as people read them: HTML character references decoded (Amazon's raw
    reviews hold ``&quot;`` and the like); the page shows them as plain text, never as HTML."""
    if isinstance(value, str):
        return html.unescape(value)
    if isinstance(value, dict):
        return {k: shown_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_text(v) for v in value]
    return value


def _path_from(study: Path, run_dir: Path) -> str:
    """A run's path as the study keeps it: relative to the study folder (so the two can move
    together), absolute when they are on different drives."""
    try:
        return os.path.relpath(run_dir.resolve(), study.resolve())
    except ValueError:
        return str(run_dir.resolve())


def _write_page(out: Path, manifest: fm.StudyManifest, tasks: list[Any]) -> None:
    """index.html: the self-contained annotation page (:mod:`drp_bench.annotate.page`)."""
    html = render_page(manifest, tasks)
    (out / "index.html").write_text(html, encoding="utf-8")
