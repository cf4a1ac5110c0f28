"""Every annotator's labels of a study: ``STUDY/annotations/*.json``, each either our page's
export (:class:`~drp_bench.annotate.formats.AnnotatorFile`) or a Label Studio JSON export (a
list of tasks with ``annotations``, read by :mod:`drp_bench.annotate.label_studio`).

Files are parsed as JSON only and checked against the study: its id, its task ids, each label's
task type and feature ids, one file per annotator. Errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drp_bench.annotate.formats import (
    ANNOTATIONS_DIR,
    AnnotatorFile,
    FeatureValidityKey,
    PreferenceKey,
    StudyFormatError,
    _loads,
    _read_text,
    parse_annotator_file,
)

Key = FeatureValidityKey | PreferenceKey


@dataclass
class Annotations:
    """The annotators' files of a study by annotator, and where each came from."""

    files: dict[str, AnnotatorFile] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)


def is_label_studio_export(obj: Any) -> bool:
    """Label Studio's JSON export: a list of task objects, each with ``annotations``."""
    return (
        isinstance(obj, list)
        and bool(obj)
        and all(isinstance(t, dict) and "annotations" in t for t in obj)
    )


def read_file(path: Path, keys: list[Key]) -> list[AnnotatorFile]:
    """One file's annotators: ours (one) or a Label Studio export's (one per annotator)."""
    obj = _loads(_read_text(path), path, None)
    if not is_label_studio_export(obj):
        return [parse_annotator_file(obj, path)]
    try:
        from drp_bench.annotate import label_studio
    except ImportError as exc:
        raise StudyFormatError(
            path,
            None,
            None,
            "a Label Studio export, but this drp-bench has no Label Studio reader "
            f"(drp_bench.annotate.label_studio: {exc})",
        ) from None
    return list(label_studio.read_export(path, keys))


def collect(study_dir: Path, study_id: str, keys: list[Key]) -> Annotations:
    """Read and check every ``*.json`` under ``STUDY/annotations/`` (sorted by name)."""
    folder = Path(study_dir) / ANNOTATIONS_DIR
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        raise StudyFormatError(folder, None, None, "no annotator files (*.json) to score")
    by_task = {k.task_id: k for k in keys}
    out = Annotations()
    for path in paths:
        for annotator_file in read_file(path, keys):
            check(annotator_file, path, study_id, by_task)
            name = annotator_file.annotator
            if name in out.files:
                raise StudyFormatError(
                    path,
                    None,
                    "annotator",
                    f"annotator {name!r} also in {out.sources[name]}: one file per annotator "
                    "(merge or remove one)",
                )
            out.files[name] = annotator_file
            out.sources[name] = path
    return out


def check(annotator_file: AnnotatorFile, path: Path, study_id: str, keys: dict[str, Key]) -> None:
    """The file belongs to this study and every label answers one of its tasks as shown."""
    if annotator_file.study_id != study_id:
        raise StudyFormatError(
            path,
            None,
            "study_id",
            f"labels of study {annotator_file.study_id!r}, not of this study ({study_id!r})",
        )
    for i, label in enumerate(annotator_file.labels):
        key = keys.get(label.task_id)
        where = f"labels[{i}]"
        if key is None:
            raise StudyFormatError(
                path, None, f"{where}.task_id", f"no task {label.task_id!r} in this study"
            )
        if label.type != key.type:
            raise StudyFormatError(
                path, None, where, f"task {label.task_id!r} is {key.type}, the label {label.type}"
            )
        if isinstance(key, FeatureValidityKey):
            known = {f.feature_id for f in key.features}
            for j, feature in enumerate(label.features or []):
                if feature.feature_id not in known:
                    raise StudyFormatError(
                        path,
                        None,
                        f"{where}.features[{j}].feature_id",
                        f"task {label.task_id!r} has no feature {feature.feature_id!r}",
                    )
