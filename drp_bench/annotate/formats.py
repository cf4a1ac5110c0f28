"""The files of a human study, as strict pydantic models, and their readers and writers.

A study folder holds ``study.json`` (:class:`StudyManifest`), ``tasks.jsonl`` (one
:data:`Task` per line: only what annotators see), ``key.jsonl`` (one :data:`TaskKey` per line:
what scoring needs, never shown) and, under ``annotations/``, one :class:`AnnotatorFile` per
annotator. Readers parse JSON only (nothing is unpickled or evaluated), forbid unknown fields
and raise :class:`StudyFormatError` naming the file, the line (JSON lines) and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

STUDY_SCHEMA = "drp-bench-study/1"
ANNOTATIONS_SCHEMA = "drp-bench-annotations/1"

TaskType = Literal["feature_validity", "preference"]
TASK_TYPES: tuple[str, ...] = get_args(TaskType)

Reason = Literal["content_not_style", "unsupported", "not_a_difference", "unclear"]
REASONS: tuple[str, ...] = get_args(Reason)
#: What the page shows for each reason.
REASON_TEXTS: dict[str, str] = {
    "content_not_style": "About content, not style",
    "unsupported": "Not supported by the reviews",
    "not_a_difference": "Not a difference",
    "unclear": "Unclear",
}
#: What the page shows for each task type.
TASK_TYPE_TEXTS: dict[str, str] = {
    "feature_validity": "Feature validity",
    "preference": "Which review sounds like this user",
}
Side = Literal["A", "B"]
Choice = Literal["A", "B", "tie"]
CHOICES: tuple[str, ...] = get_args(Choice)

ANNOTATOR_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")

MANIFEST_FILE = "study.json"
TASKS_FILE = "tasks.jsonl"
KEY_FILE = "key.jsonl"
ANNOTATIONS_DIR = "annotations"


class StudyFormatError(ValueError):
    """A study file is unreadable or breaks its format; names the file, line and field."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, message: str):
        self.path = Path(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        what = f"field {self.field!r}: " if self.field else ""
        return f"{where}: {what}{self.message}"


# ---------------------------------------------------------------- field types


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time, found {value[:40]!r}") from None
    return value


def _annotator_name(value: str) -> str:
    if not ANNOTATOR_PATTERN.fullmatch(value):
        raise ValueError(f"expected 1-64 characters of [A-Za-z0-9_.-], found {value[:70]!r}")
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]
AnnotatorName = Annotated[str, AfterValidator(_annotator_name)]


class _Model(BaseModel):
    """Strict: no unknown fields, no coercion (``"3"`` is not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The object as written to the file."""
        return self.model_dump(mode="json")


# ---------------------------------------------------------------- study.json


class RunRef(_Model):
    """A run folder the study was built from (``path`` and names stay out of the page)."""

    run_id: str = Field(description='stable within the study: "r0", "r1", ...')
    path: str
    method: str
    model: str
    samples: int


class StudyManifest(_Model):
    """study.json: what the study is and what it was built from."""

    schema_: Literal["drp-bench-study/1"] = Field(alias="schema")
    study_id: str = Field(description="sha256[:12] of tasks.jsonl's content")
    title: str
    created: IsoTime
    seed: int
    task_types: list[TaskType]
    sizes: dict[str, int | float] = Field(description="the build flags' values")
    runs: list[RunRef]
    drp_bench_version: str
    git_commit: str | None

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------- tasks.jsonl


class ItemShown(_Model):
    """The item a task is about."""

    asin: str
    title: str
    description: str = Field(description='may be ""')


class UserReview(_Model):
    rating: float | None
    title: str
    text: str


class RepresentativeReview(_Model):
    label: str = Field(description='"Other reviewer 1", ...')
    rating: float | None
    title: str
    text: str


class FeatureShown(_Model):
    """An extracted difference feature, as annotators see it."""

    feature_id: str = Field(description='"f1", "f2", ... within the task')
    name: str
    definition: str
    difference: str


class HistoryReview(_Model):
    """One of the user's past reviews shown in a preference task."""

    item_title: str
    rating: float | None
    title: str
    text: str


class ReviewPair(_Model):
    A: str
    B: str


class _TaskBase(_Model):
    task_id: str
    item: ItemShown
    repeat_of: str | None = Field(description="the original's task_id for a repeat, else null")


class FeatureValidityTask(_TaskBase):
    """Is each extracted feature a real difference of this user? (blinded)"""

    type: Literal["feature_validity"]
    user_review: UserReview
    representative_reviews: list[RepresentativeReview]
    features: list[FeatureShown] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_features(self) -> FeatureValidityTask:
        _no_duplicates([f.feature_id for f in self.features], "features", "feature_id")
        return self


class PreferenceTask(_TaskBase):
    """Which of two reviews sounds like this user? (blinded, random sides)"""

    type: Literal["preference"]
    history: list[HistoryReview]
    reviews: ReviewPair


Task = Annotated[FeatureValidityTask | PreferenceTask, Field(discriminator="type")]


# ---------------------------------------------------------------- key.jsonl


class FeatureKey(_Model):
    feature_id: str
    validator_kept: bool | None = Field(description="null: the run has no validate stage")
    category: str | None = Field(description="UVQ category from the normalize record, or null")


class SideSource(_Model):
    """Where one side of a preference pair came from."""

    source: Literal["run", "reference", "other_user"]
    run_id: str | None
    method: str | None
    model: str | None


class SideSources(_Model):
    A: SideSource
    B: SideSource


class _KeyBase(_Model):
    task_id: str
    sample_id: str
    user_id: str
    repeat_of: str | None


class FeatureValidityKey(_KeyBase):
    type: Literal["feature_validity"]
    run_id: str
    method: str
    model: str
    comparison_asin: str
    features: list[FeatureKey]


class PreferenceKey(_KeyBase):
    type: Literal["preference"]
    gold: bool
    sides: SideSources
    gold_answer: Side | None = Field(description="the side with the user's real review (gold)")

    @model_validator(mode="after")
    def _gold_has_answer(self) -> PreferenceKey:
        if self.gold != (self.gold_answer is not None):
            raise ValueError("gold_answer must be set exactly when gold is true")
        return self


TaskKey = Annotated[FeatureValidityKey | PreferenceKey, Field(discriminator="type")]


# ---------------------------------------------------------------- annotator files


class FeatureLabel(_Model):
    feature_id: str
    valid: bool
    reason: Reason | None

    @field_validator("reason")
    @classmethod
    def _reason_rule(cls, reason: str | None, info: ValidationInfo) -> str | None:
        valid = info.data.get("valid")
        if valid is False and reason is None:
            raise ValueError("a reason is required when valid is false")
        if valid is True and reason is not None:
            raise ValueError(f"must be null when valid is true, found {reason!r}")
        return reason


class Label(_Model):
    """One answered task: ``features`` + ``set_rating`` (feature validity) or ``choice``
    (preference); the other shape's fields are absent from the file."""

    task_id: str
    answered_at: IsoTime
    features: list[FeatureLabel] | None = None
    set_rating: Annotated[int, Field(ge=1, le=5)] | None = None
    choice: Choice | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Label:
        validity = self.features is not None or self.set_rating is not None
        if validity and self.choice is not None:
            raise ValueError("a label has either features + set_rating or choice, not both")
        if validity and (self.features is None or self.set_rating is None):
            missing = "features" if self.features is None else "set_rating"
            raise ValueError(f"a feature-validity label needs {missing}")
        if not validity and self.choice is None:
            raise ValueError("a label needs features + set_rating or choice")
        if self.features is not None:
            _no_duplicates([f.feature_id for f in self.features], "features", "feature_id")
        return self

    @property
    def type(self) -> str:
        """The task type this label answers."""
        return "preference" if self.choice is not None else "feature_validity"

    @model_serializer(mode="wrap")
    def _drop_other_shape(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        drop = ("features", "set_rating") if self.choice is not None else ("choice",)
        return {k: v for k, v in out.items() if k not in drop}


class AnnotatorFile(_Model):
    """``annotations/<annotator>.json``, as the page exports it."""

    schema_: Literal["drp-bench-annotations/1"] = Field(alias="schema")
    study_id: str
    annotator: AnnotatorName
    exported_at: IsoTime
    labels: list[Label]

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    @model_validator(mode="after")
    def _unique_labels(self) -> AnnotatorFile:
        _no_duplicates([lab.task_id for lab in self.labels], "labels", "task_id")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------- errors


def _no_duplicates(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r} in {where}")
        seen.add(v)


_TAGS = set(TASK_TYPES) | {"function-after"}


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and (part in _TAGS or part.startswith("function-")):
            continue
        part = "schema" if part == "schema_" else part
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        found = err.get("ctx", {}).get("tag", "nothing")
        return f"expected one of {', '.join(map(repr, TASK_TYPES))}, found {found!r}"
    msg = msg.removeprefix("Value error, ").replace("Input should be ", "expected ", 1)
    if "found" in msg or kind == "value_error":
        return msg
    shown = repr(err.get("input"))
    return f"{msg}, found {shown if len(shown) <= 60 else shown[:57] + '...'}"


def _error_field(err: Mapping[str, Any]) -> str | None:
    loc = _loc(err["loc"])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type"
    return loc or None


def _schema_error(exc: ValidationError, path: Path, line: int | None) -> StudyFormatError:
    errors = exc.errors()
    first = errors[0]
    message = _problem(first)
    if len(errors) > 1:
        rest = "; ".join(f"field {_error_field(e)!r}: {_problem(e)}" for e in errors[1:3])
        message += f" (also {rest}{' ...' if len(errors) > 3 else ''})"
    return StudyFormatError(path, line, _error_field(first), message)


# ---------------------------------------------------------------- readers

M = TypeVar("M")
_TASK = TypeAdapter(Task)
_KEY = TypeAdapter(TaskKey)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str, path: Path, line: int | None) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        at = line if line is not None else e.lineno
        raise StudyFormatError(
            path, at, None, f"not valid JSON: {e.msg} (column {e.colno})"
        ) from None
    except ValueError as e:
        raise StudyFormatError(path, line, None, f"not valid JSON: {e}") from None


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFormatError(path, None, None, "no such file") from None
    except UnicodeDecodeError as e:
        raise StudyFormatError(path, None, None, f"not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise StudyFormatError(path, None, None, f"cannot read: {e.strerror}") from None


def parse_object(adapter: TypeAdapter[M], obj: Any, path: Path, line: int | None = None) -> M:
    """Validate one decoded JSON object against a study format (``TypeAdapter`` of a model)."""
    if not isinstance(obj, dict):
        found = type(obj).__name__
        raise StudyFormatError(path, line, None, f"expected a JSON object, found {found}")
    try:
        return adapter.validate_python(obj)
    except ValidationError as e:
        raise _schema_error(e, Path(path), line) from None


def _read_object(adapter: TypeAdapter[M], path: Path) -> M:
    path = Path(path)
    return parse_object(adapter, _loads(_read_text(path), path, None), path)


def _read_lines(adapter: TypeAdapter[M], path: Path, id_field: str) -> list[M]:
    path = Path(path)
    out: list[M] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(_read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        obj = parse_object(adapter, _loads(text, path, number), path, number)
        ident = getattr(obj, id_field)
        if ident in seen:
            raise StudyFormatError(
                path, number, id_field, f"duplicate {ident!r} (first on line {seen[ident]})"
            )
        seen[ident] = number
        out.append(obj)
    return out


def read_manifest(path: Path) -> StudyManifest:
    """Read and validate a study.json."""
    return _read_object(TypeAdapter(StudyManifest), path)


def read_tasks(path: Path) -> list[FeatureValidityTask | PreferenceTask]:
    """Read and validate a tasks.jsonl (task ids unique)."""
    return _read_lines(_TASK, path, "task_id")


def read_keys(path: Path) -> list[FeatureValidityKey | PreferenceKey]:
    """Read and validate a key.jsonl (task ids unique)."""
    return _read_lines(_KEY, path, "task_id")


def parse_annotator_file(obj: Any, path: Path) -> AnnotatorFile:
    """Validate a decoded annotator file (e.g. one converted from Label Studio's export)."""
    return parse_object(TypeAdapter(AnnotatorFile), obj, Path(path))


def read_annotator_file(path: Path) -> AnnotatorFile:
    """Read and validate an annotator's exported ``<annotator>.json``."""
    return _read_object(TypeAdapter(AnnotatorFile), path)


# ---------------------------------------------------------------- writers


def dumps_line(obj: BaseModel) -> str:
    """One JSON line (keys in model order, no trailing spaces): deterministic bytes."""
    data = obj.to_json_dict() if hasattr(obj, "to_json_dict") else obj.model_dump(mode="json")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def jsonl_text(objs: Iterable[BaseModel]) -> str:
    """The text of a JSON-lines file of the models, one per line."""
    return "".join(dumps_line(o) + "\n" for o in objs)


def write_jsonl(path: Path, objs: Iterable[BaseModel]) -> str:
    """Write a JSON-lines file; returns its text."""
    text = jsonl_text(objs)
    Path(path).write_text(text, encoding="utf-8")
    return text


def write_json(path: Path, obj: BaseModel) -> None:
    """Write one model as an indented JSON file."""
    data = obj.to_json_dict() if hasattr(obj, "to_json_dict") else obj.model_dump(mode="json")
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
