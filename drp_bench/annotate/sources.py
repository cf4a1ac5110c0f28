"""What a study is built from: finished run folders (read through :mod:`drp_bench.run.folder`)
and the texts of the dataset each run read (its ``.hydra/config.yaml`` names it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drp_bench.data.locate import resolve_data_path
from drp_bench.data.types import Dataset, Item, Review, Sample
from drp_bench.run import folder as run_folder

CONFIG = Path(".hydra") / "config.yaml"
#: Rows whose prediction a preference task may show.
USABLE = ("complete", "context_incomplete")


class StudyBuildError(ValueError):
    """A run folder or its data cannot be made into a study (the message says which and why)."""


@dataclass(frozen=True)
class DataRef:
    """The data a run read: its split, the split of its pool of other reviewers, metadata."""

    path: str
    meta_path: str | None
    split: str
    pool_split: str | None


@dataclass
class RunSource:
    """One finished run: its id in the study, names, rows and the data it read."""

    run_id: str
    path: Path
    method: str
    model: str
    rows: list[run_folder.PredictionRow]
    data: DataRef

    @property
    def group(self) -> tuple[str, str]:
        """The stratum key: (method, model)."""
        return (self.method, self.model)


@dataclass
class StudyData:
    """A run's dataset: samples by id, items, and every user's review per item (the pool)."""

    samples: dict[str, Sample]
    items: dict[str, Item]
    reviews: dict[str, dict[str, Review]] = field(default_factory=dict)

    def review(self, asin: str, user_id: str) -> Review | None:
        return self.reviews.get(asin, {}).get(user_id)

    def others(self, asin: str, user_id: str) -> dict[str, Review]:
        """Reviews of ``asin`` by users other than ``user_id``, by user."""
        return {u: r for u, r in self.reviews.get(asin, {}).items() if u != user_id}


def read_run(path: Path, run_id: str) -> RunSource:
    """A finished (complete or degraded) run folder; any other status is refused."""
    path = Path(path)
    if not path.is_dir():
        raise StudyBuildError(f"{path}: no such run folder")
    state = run_folder.classify(path)
    if state.status not in run_folder.FINISHED:
        why = f": {state.reason}" if state.reason else ""
        raise StudyBuildError(
            f"{path}: the run is {state.status}{why}; a study is built from complete or "
            "degraded runs only"
        )
    try:
        metrics = run_folder.read_metrics(path / run_folder.METRICS)
        rows = list(run_folder.read_predictions(path / run_folder.PREDICTIONS))
    except (run_folder.RunFolderError, FileNotFoundError) as e:
        raise StudyBuildError(str(e)) from None
    return RunSource(
        run_id=run_id,
        path=path,
        method=metrics.run.method,
        model=_model_name(metrics, rows),
        rows=rows,
        data=read_data_ref(path),
    )


def _model_name(metrics: run_folder.MetricsFile, rows: list[run_folder.PredictionRow]) -> str:
    """The run's model as a study names it: the extractor for a method that extracts
    differences, else the generator."""
    models = metrics.run.models
    extracts = any(r.stages.extract is not None for r in rows)
    role = "extractor" if extracts and "extractor" in models else "generator"
    entry = models.get(role) or next(iter(models.values()), None)
    return entry.name if entry is not None else "none"


def read_data_ref(run_dir: Path) -> DataRef:
    """The dataset block of the run's ``.hydra/config.yaml`` (``${oc.env:...}`` resolved)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = run_dir / CONFIG
    if not path.is_file():
        raise StudyBuildError(f"{path}: missing (the run's config names its dataset)")
    try:
        cfg = OmegaConf.load(path)

        def get(key: str) -> Any:
            return OmegaConf.select(cfg, f"dataset.{key}", default=None)

        data = DataRef(get("path"), get("meta_path"), get("split") or "test", get("pool_split"))
    except (OmegaConfBaseException, ValueError) as e:
        raise StudyBuildError(f"{path}: field 'dataset': cannot read it ({e})") from None
    if not isinstance(data.path, str) or not data.path:
        raise StudyBuildError(f"{path}: field 'dataset.path': expected a path, found {data.path!r}")
    return data


def load_data(ref: DataRef) -> StudyData:
    """The run's whole split (and pool split): every sample, item and review by user."""
    from drp_bench.data.loader import load_dataset

    main_path = resolve_data_path(ref.path)
    meta_path = resolve_data_path(ref.meta_path)
    try:
        splits = [load_dataset(main_path, meta_path, split=ref.split)]
        if ref.pool_split and ref.pool_split != ref.split:
            splits.append(load_dataset(main_path, meta_path, split=ref.pool_split))
    except (OSError, ValueError) as e:
        raise StudyBuildError(f"dataset {ref.path!r} ({ref.split}): {e}") from None
    return _index(splits)


def _index(splits: list[Dataset]) -> StudyData:
    main = splits[0]
    data = StudyData(samples={s.sample_id: s for s in main.samples}, items={})
    for split in splits:
        data.items.update(split.items)
        for sample in split.samples:
            for review in sample.profile:
                data.reviews.setdefault(review.asin, {}).setdefault(sample.user_id, review)
    for sample in main.samples:  # a target review is another user's review of that item
        data.reviews.setdefault(sample.target.asin, {}).setdefault(sample.user_id, sample.target)
    return data


def name_key(name: str) -> str:
    """A feature name compared loosely: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w]+", " ", name.casefold()).split())
