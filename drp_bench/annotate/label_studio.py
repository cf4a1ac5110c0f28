"""A study in Label Studio's formats: its import (tasks + labeling config) and its JSON export.

``write_label_studio`` writes ``STUDY/label-studio/``: ``tasks.json`` (Label Studio's JSON
import, one ``{"data": {...}}`` per study task, blinded exactly as ``tasks.jsonl`` is),
``config.xml`` (one labeling config for both task types) and ``README.txt``.

The config uses Label Studio's ``<Repeater>`` tag, which repeats its tags for every element of
a list in the task's data, so one config serves any number of features:

- ``features``: the task's features; per feature ``valid_<i>`` (valid/invalid) and
  ``reason_<i>`` (shown when invalid). ``<i>`` is the feature's index in ``data.features``.
- ``validity``: ``[{...}]`` for a feature-validity task, ``[]`` otherwise; holds the user's
  and the other reviewers' reviews and the set rating ``set_rating_0`` (1-5).
- ``preference``: ``[{...}]`` for a preference task, ``[]`` otherwise; holds the user's
  history, the two reviews and ``choice_0`` (A, B or tie).

A task of one type has empty lists for the other type, so only its own questions show.
``read_export`` maps Label Studio's JSON export back to one :class:`AnnotatorFile` per
annotator. The export is parsed as JSON only; nothing in it is executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drp_bench.annotate.formats import (
    ANNOTATIONS_DIR,
    ANNOTATIONS_SCHEMA,
    MANIFEST_FILE,
    REASON_TEXTS,
    TASKS_FILE,
    AnnotatorFile,
    FeatureValidityKey,
    FeatureValidityTask,
    PreferenceKey,
    PreferenceTask,
    StudyFormatError,
    StudyManifest,
    parse_annotator_file,
    read_manifest,
    read_tasks,
)

LABEL_STUDIO_DIR = "label-studio"
TASKS_JSON = "tasks.json"
CONFIG_XML = "config.xml"
README_TXT = "README.txt"

#: Choice values (aliases) in the config, as they appear in an export's ``value.choices``.
VALID, INVALID = "valid", "invalid"
TIE = "tie"

#: The answers each control may give (the config's aliases), and its shown texts -> answers.
_CHOICES = {"valid": (VALID, INVALID), "reason": tuple(REASON_TEXTS), "choice": ("A", "B", TIE)}
_SHOWN = {
    "valid": {"Valid": VALID, "Not valid": INVALID},
    "reason": {text: code for code, text in REASON_TEXTS.items()},
    "choice": {"Tie": TIE},
}
_CONTROL = re.compile(r"(valid|reason|set_rating|choice)_(\d+)")
_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")

Task = FeatureValidityTask | PreferenceTask
TaskKey = FeatureValidityKey | PreferenceKey


# ---------------------------------------------------------------- writing


def write_label_studio(
    study_dir: Path, manifest: StudyManifest | None = None, tasks: Sequence[Task] | None = None
) -> Path:
    """Write ``STUDY/label-studio/`` (tasks.json, config.xml, README.txt); returns the folder.

    ``manifest`` and ``tasks`` default to the study's own study.json and tasks.jsonl.
    """
    study_dir = Path(study_dir)
    manifest = manifest or read_manifest(study_dir / MANIFEST_FILE)
    tasks = read_tasks(study_dir / TASKS_FILE) if tasks is None else tasks
    out = study_dir / LABEL_STUDIO_DIR
    out.mkdir(parents=True, exist_ok=True)
    items = [{"data": task_data(manifest.study_id, t)} for t in tasks]
    (out / TASKS_JSON).write_text(
        json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (out / CONFIG_XML).write_text(labeling_config(manifest.title), encoding="utf-8")
    (out / README_TXT).write_text(_readme(manifest), encoding="utf-8")
    return out


def task_data(study_id: str, task: Task) -> dict[str, Any]:
    """One Label Studio task's ``data``: the task as in tasks.jsonl plus display texts.

    Every key the config reads is present in every task (Label Studio checks that on import);
    the other type's lists are empty so its questions do not show.
    """
    validity: list[dict[str, str]] = []
    preference: list[dict[str, str]] = []
    features: list[dict[str, str]] = []
    if isinstance(task, FeatureValidityTask):
        features = [f.to_json_dict() for f in task.features]
        validity = [
            {
                "user_review": _review_text(task.user_review.rating, task.user_review.title,
                                            task.user_review.text),
                "others": "\n\n".join(
                    f"{r.label}: {_review_text(r.rating, r.title, r.text)}"
                    for r in task.representative_reviews
                ) or "(none)",
            }
        ]  # fmt: skip
    else:
        preference = [
            {
                "history": "\n\n".join(
                    f"{h.item_title}: {_review_text(h.rating, h.title, h.text)}"
                    for h in task.history
                ) or "(none)",
                "A": task.reviews.A,
                "B": task.reviews.B,
            }
        ]  # fmt: skip
    shown = task.to_json_dict()
    shown.pop("features", None)
    return {
        "study_id": study_id,
        **shown,
        "item_text": _item_text(task),
        "features": features,
        "validity": validity,
        "preference": preference,
    }


def _item_text(task: Task) -> str:
    item = task.item
    return f"{item.title}\n\n{item.description}" if item.description else item.title


def _review_text(rating: float | None, title: str, text: str) -> str:
    stars = f"[{rating:g}/5] " if rating is not None else ""
    head = f"{stars}{title}".strip()
    return f"{head}\n{text}" if head else text


def labeling_config(title: str = "") -> str:
    """The labeling config (XML) for both task types; see the module docstring."""
    reasons = "\n".join(
        f'        <Choice value="{_xml(text)}" alias="{code}"/>'
        for code, text in REASON_TEXTS.items()
    )
    header = f'  <Header value="{_xml(title)}" size="4"/>\n' if title else ""
    return f"""<View>
{header}  <Header value="The item" size="5"/>
  <Text name="item" value="$item_text"/>
  <Repeater on="$validity" indexFlag="{{{{idx}}}}">
    <Header value="This user's review of the item"/>
    <Text name="user_review_{{{{idx}}}}" value="$validity[{{{{idx}}}}].user_review"/>
    <Header value="Other reviewers of the item"/>
    <Text name="others_{{{{idx}}}}" value="$validity[{{{{idx}}}}].others"/>
    <Header value="Is each feature a real difference of this user's review from the others'?"/>
  </Repeater>
  <Repeater on="$features" indexFlag="{{{{idx}}}}">
    <View style="border: 1px solid #ccc; border-radius: 4px; padding: 6px; margin: 6px 0">
      <Text name="feature_name_{{{{idx}}}}" value="$features[{{{{idx}}}}].name"/>
      <Text name="feature_definition_{{{{idx}}}}" value="$features[{{{{idx}}}}].definition"/>
      <Text name="feature_difference_{{{{idx}}}}" value="$features[{{{{idx}}}}].difference"/>
      <Choices name="valid_{{{{idx}}}}" toName="feature_name_{{{{idx}}}}" choice="single-radio"
               showInline="true" required="true">
        <Choice value="Valid" alias="valid"/>
        <Choice value="Not valid" alias="invalid"/>
      </Choices>
      <Choices name="reason_{{{{idx}}}}" toName="feature_name_{{{{idx}}}}" choice="single-radio"
               showInline="true" visibleWhen="choice-selected"
               whenTagName="valid_{{{{idx}}}}" whenChoiceValue="Not valid">
{reasons}
      </Choices>
    </View>
  </Repeater>
  <Repeater on="$validity" indexFlag="{{{{idx}}}}">
    <Header value="How well does the set capture what sets this user apart? (1-5)"/>
    <Rating name="set_rating_{{{{idx}}}}" toName="user_review_{{{{idx}}}}" maxRating="5"
            required="true"/>
  </Repeater>
  <Repeater on="$preference" indexFlag="{{{{idx}}}}">
    <Header value="This user's past reviews"/>
    <Text name="history_{{{{idx}}}}" value="$preference[{{{{idx}}}}].history"/>
    <Header value="Review A"/>
    <Text name="review_a_{{{{idx}}}}" value="$preference[{{{{idx}}}}].A"/>
    <Header value="Review B"/>
    <Text name="review_b_{{{{idx}}}}" value="$preference[{{{{idx}}}}].B"/>
    <Header value="Which review sounds more like this user?"/>
    <Choices name="choice_{{{{idx}}}}" toName="review_a_{{{{idx}}}}" choice="single-radio"
             showInline="true" required="true">
      <Choice value="A"/>
      <Choice value="B"/>
      <Choice value="Tie" alias="tie"/>
    </Choices>
  </Repeater>
</View>
"""


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _readme(manifest: StudyManifest) -> str:
    return f"""Study {manifest.study_id} ({manifest.title}) for Label Studio
==========================================================

tasks.json  the study's tasks in Label Studio's JSON import format (blinded like tasks.jsonl)
config.xml  the labeling config: both task types (feature validity and preference) in one
            project, a variable number of features per task through the <Repeater> tag

Import in the UI: Create Project -> Labeling Setup -> Custom template -> Code: paste
config.xml -> Save; then Import -> upload tasks.json. Each annotator labels with their own
Label Studio account (their email becomes the annotator's name in the report).

Import with the SDK (pip install label-studio-sdk):

    import json
    from pathlib import Path
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url="http://localhost:8080", api_key="YOUR_TOKEN")
    project = ls.projects.create(title="{manifest.study_id}",
                                 label_config=Path("config.xml").read_text())
    ls.projects.import_tasks(id=project.id, request=json.loads(Path("tasks.json").read_text()))

Export: Export -> JSON (not JSON-MIN or CSV), or with the SDK:

    data = b"".join(ls.projects.exports.download_sync(id=project.id, export_type="JSON"))
    Path("export.json").write_bytes(data)

Put the export in STUDY/{ANNOTATIONS_DIR}/ (any *.json name, beside the page's annotator files),
then run `drp-bench annotate score STUDY`. Each Label Studio user becomes one annotator, named
ls-user-<id> (or from the email when the export has users expanded); skipped (cancelled)
annotations are left out. Several annotations of one task by the same user are an error:
delete the extra one in Label Studio first.
"""


# ---------------------------------------------------------------- reading


@dataclass
class _Annotator:
    """The labels of one Label Studio user, gathered task by task."""

    name: str
    labels: list[dict[str, Any]] = field(default_factory=list)
    latest: str = ""


def read_export(path: Path, keys: Iterable[TaskKey] | Mapping[str, TaskKey]) -> list[AnnotatorFile]:
    """Read a Label Studio JSON export into one ``AnnotatorFile`` per annotator (by name).

    ``keys`` are the study's task keys: every exported task must be one of them, with the
    same type and features. Cancelled (skipped) annotations are left out. Raises
    :class:`StudyFormatError` naming the file, the task's index in the export and the field.
    """
    path = Path(path)
    by_id = dict(keys) if isinstance(keys, Mapping) else {k.task_id: k for k in keys}
    export = _load_json(path)
    if not isinstance(export, list):
        raise StudyFormatError(path, None, None, _not_a_list(export))
    study_ids: set[str] = set()
    annotators: dict[str, _Annotator] = {}
    for index, item in enumerate(export):
        where = _Where(path, index)
        task_id, study_id, feature_ids = _task_identity(item, where, by_id)
        study_ids.add(study_id)
        for a_index, annotation in enumerate(_annotations(item, where)):
            at = where.sub(f"annotations[{a_index}]")
            if _field(annotation, "was_cancelled", (bool,), at, default=False):
                continue
            name = _annotator_name(_field(annotation, "completed_by", (int, dict), at), at)
            label = _label(task_id, feature_ids, annotation, at)
            person = annotators.setdefault(name, _Annotator(name))
            if any(lab["task_id"] == task_id for lab in person.labels):
                raise at.error("completed_by", f"{name} annotated task {task_id} twice")
            person.labels.append(label)
            person.latest = max(person.latest, label["answered_at"])
    if len(study_ids) > 1:
        raise StudyFormatError(path, None, "data.study_id", f"tasks of several studies: "
                               f"{sorted(study_ids)}")  # fmt: skip
    study_id = study_ids.pop() if study_ids else ""
    return [
        _annotator_file(a, study_id, path)
        for a in sorted(annotators.values(), key=lambda a: a.name)
    ]


class _Where:
    """A place in the export, for error messages: ``path``, ``[index]`` and a field prefix."""

    def __init__(self, path: Path, index: int, prefix: str = "") -> None:
        self.path, self.index, self.prefix = path, index, prefix

    def sub(self, prefix: str) -> _Where:
        return _Where(self.path, self.index, f"{self.prefix}{prefix}.")

    def error(self, name: str, message: str) -> StudyFormatError:
        return StudyFormatError(
            self.path, None, f"[{self.index}].{self.prefix}{name}", f"task {self.index}: {message}"
        )


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFormatError(path, None, None, "no such file") from None
    except (UnicodeDecodeError, OSError) as e:
        raise StudyFormatError(path, None, None, f"cannot read as UTF-8 text: {e}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise StudyFormatError(path, e.lineno, None, f"not valid JSON: {e.msg}") from None
    except ValueError as e:
        raise StudyFormatError(path, None, None, f"not valid JSON: {e}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _not_a_list(export: Any) -> str:
    found = type(export).__name__
    return f"expected Label Studio's JSON export (a list of tasks), found a JSON {found}"


def _field(obj: Mapping[str, Any], name: str, types: tuple[type, ...], where: _Where,
           default: Any = ...) -> Any:  # fmt: skip
    """``obj[name]``, checked against ``types`` (bool is never taken for int)."""
    if name not in obj:
        if default is not ...:
            return default
        raise where.error(name, "missing required field")
    value = obj[name]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        wanted = " or ".join(_JSON_NAMES.get(t, t.__name__) for t in types)
        raise where.error(name, f"expected {wanted}, found {_shown(value)}")
    return value


_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               bool: "true/false", float: "a number"}  # fmt: skip


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _task_identity(
    item: Any, where: _Where, keys: Mapping[str, TaskKey]
) -> tuple[str, str, list[str] | None]:
    """The task's id, study id and feature ids (None: a preference task), checked against
    the study's keys."""
    if not isinstance(item, dict):
        raise where.error("data", f"expected a task object, found {_shown(item)}")
    if "data" not in item and "annotations" not in item:
        raise where.error("data", "missing: is this a JSON-MIN or CSV export? Export as JSON")
    data = _field(item, "data", (dict,), where)
    at = where.sub("data")
    task_id = _field(data, "task_id", (str,), at)
    study_id = _field(data, "study_id", (str,), at)
    kind = _field(data, "type", (str,), at)
    key = keys.get(task_id)
    if key is None:
        raise at.error("task_id", f"{task_id!r} is not a task of this study")
    if kind != key.type:
        raise at.error("type", f"expected {key.type!r} for {task_id}, found {kind!r}")
    if isinstance(key, PreferenceKey):
        return task_id, study_id, None
    return task_id, study_id, _feature_ids(data, key, where)


def _annotations(item: Mapping[str, Any], where: _Where) -> list[dict[str, Any]]:
    annotations = _field(item, "annotations", (list,), where, default=[])
    for a_index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise where.error(f"annotations[{a_index}]", f"expected an object, found "
                              f"{_shown(annotation)}")  # fmt: skip
    return annotations


def _annotator_name(completed_by: int | dict[str, Any], where: _Where) -> str:
    """``alice@lab.org`` -> ``alice_lab.org``; a bare user id 7 -> ``ls-user-7``."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return _NOT_NAME_CHARS.sub("_", email.strip())[:64]
        user_id = _field(completed_by, "id", (int,), where.sub("completed_by"))
    else:
        user_id = completed_by
    return f"ls-user-{user_id}"


def _label(
    task_id: str, feature_ids: list[str] | None, annotation: dict[str, Any], at: _Where
) -> dict[str, Any]:
    """One annotation as a Label (a dict; validated with the annotator's file)."""
    answers = _answers(_field(annotation, "result", (list,), at), at)
    stamp = _field(annotation, "updated_at", (str,), at, default=None)
    stamp = stamp or _field(annotation, "created_at", (str,), at)
    label: dict[str, Any] = {"task_id": task_id, "answered_at": _iso(stamp)}
    if feature_ids is None:
        label["choice"] = _only(answers, "choice", 0, at)
        return label
    label["features"] = [_feature_label(fid, i, answers, at) for i, fid in enumerate(feature_ids)]
    label["set_rating"] = _only(answers, "set_rating", 0, at)
    return label


def _answers(result: list[Any], at: _Where) -> dict[tuple[str, int], Any]:
    """``{(control, index): answer}`` from the result items (choices or rating)."""
    answers: dict[tuple[str, int], Any] = {}
    for r_index, item in enumerate(result):
        here = at.sub(f"result[{r_index}]")
        if not isinstance(item, dict):
            raise here.error("from_name", f"expected an object, found {_shown(item)}")
        from_name = _field(item, "from_name", (str,), here)
        match = _CONTROL.fullmatch(from_name)
        if match is None:
            raise here.error("from_name", f"{from_name!r} is not a control of this study's "
                             "config.xml (was the export made with another config?)")  # fmt: skip
        control, idx = match.group(1), int(match.group(2))
        value = _field(item, "value", (dict,), here)
        answers[(control, idx)] = _value(control, value, here.sub("value"))
    return answers


def _value(control: str, value: Mapping[str, Any], at: _Where) -> Any:
    if control == "set_rating":
        rating = _field(value, "rating", (int,), at)
        if not 1 <= rating <= 5:
            raise at.error("rating", f"expected 1-5, found {rating}")
        return rating
    choices = _field(value, "choices", (list,), at)
    allowed = _CHOICES[control]
    if len(choices) != 1 or not isinstance(choices[0], str):
        raise at.error("choices", f"expected one choice, found {_shown(choices)}")
    # the config's aliases are what Label Studio stores; the shown texts are read as well
    choice = _SHOWN.get(control, {}).get(choices[0], choices[0])
    if choice not in allowed:
        raise at.error("choices", f"expected one of {', '.join(allowed)}, found {_shown(choices)}")
    return choice


def _only(answers: Mapping[tuple[str, int], Any], control: str, idx: int, at: _Where) -> Any:
    if (control, idx) not in answers:
        raise at.error("result", f"no answer for {control}_{idx}")
    return answers[(control, idx)]


def _feature_ids(data: Mapping[str, Any], key: FeatureValidityKey, at: _Where) -> list[str]:
    """The feature ids in ``data.features`` order (what ``valid_<i>`` indexes)."""
    features = _field(data, "features", (list,), at.sub("data"))
    ids = []
    for i, feature in enumerate(features):
        here = at.sub(f"data.features[{i}]")
        if not isinstance(feature, dict):
            raise here.error("feature_id", f"expected an object, found {_shown(feature)}")
        ids.append(_field(feature, "feature_id", (str,), here))
    expected = [f.feature_id for f in key.features]
    if sorted(ids) != sorted(expected):
        raise at.error("data.features", f"features {ids} differ from the study's {expected}")
    return ids


def _feature_label(
    feature_id: str, idx: int, answers: Mapping[tuple[str, int], Any], at: _Where
) -> dict[str, Any]:
    valid = _only(answers, "valid", idx, at) == VALID
    reason = None if valid else _only(answers, "reason", idx, at)
    return {"feature_id": feature_id, "valid": valid, "reason": reason}


def _iso(stamp: str) -> str:
    """Label Studio's ``...Z`` times as ``+00:00`` (Python 3.10 does not read ``Z``)."""
    return stamp[:-1] + "+00:00" if stamp.endswith("Z") else stamp


def _annotator_file(person: _Annotator, study_id: str, path: Path) -> AnnotatorFile:
    obj = {
        "schema": ANNOTATIONS_SCHEMA,
        "study_id": study_id,
        "annotator": person.name,
        "exported_at": person.latest,
        "labels": sorted(person.labels, key=lambda lab: lab["task_id"]),
    }
    return parse_annotator_file(obj, path)
