"""Label Studio's formats without the server: the import we write and the export we read.

The export in tests/data/label_studio/export.json follows Label Studio's documented JSON
export ("Label Studio JSON format of annotated tasks"): two annotators (one as a bare user id,
one expanded with its email), a skipped annotation, both task types. The round trip through a
real server is tests/test_label_studio_roundtrip.py.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from drp_bench.annotate.formats import (
    REASONS,
    StudyFormatError,
    read_keys,
    read_manifest,
    read_tasks,
)
from drp_bench.annotate.label_studio import labeling_config, read_export, write_label_studio

DATA = Path(__file__).parent / "data" / "label_studio"
KEYS = read_keys(DATA / "key.jsonl")


def _export() -> list[dict[str, Any]]:
    return json.loads((DATA / "export.json").read_text(encoding="utf-8"))


def _write(tmp_path: Path, export: Any) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    return path


def test_write_label_studio_blinds_like_tasks_jsonl(tmp_path: Path) -> None:
    tasks, manifest = read_tasks(DATA / "tasks.jsonl"), read_manifest(DATA / "study.json")
    out = write_label_studio(tmp_path, manifest, tasks)
    assert out == tmp_path / "label-studio"
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "config.xml", "tasks.json"]
    items = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert [set(i) for i in items] == [{"data"}] * len(tasks)
    for item, task in zip(items, tasks, strict=True):
        data = item["data"]
        shown = task.to_json_dict()
        # every field of tasks.jsonl is there unchanged, the rest are display texts
        assert {k: data[k] for k in shown} == shown
        assert set(data) - set(shown) <= {
            "study_id", "item_text", "features", "validity", "preference",
        }  # fmt: skip
        assert data["study_id"] == manifest.study_id
        assert len(data["validity"]) == (task.type == "feature_validity")
        assert len(data["preference"]) == (task.type == "preference")
    keys, words = _keys_and_words(items)
    assert not keys & {"method", "model", "run_id", "sides", "gold", "gold_answer",
                       "validator_kept", "category", "sample_id", "user_id"}  # fmt: skip
    assert not words & {"drp", "rag", "smollm2", "reference", "other_user", "r0", "r1"}
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "import_tasks" in readme and "STUDY/annotations/" in readme
    assert "annotate score" in readme


def test_write_label_studio_reads_the_study_folder_by_default(tmp_path: Path) -> None:
    explicit = write_label_studio(
        tmp_path / "a", read_manifest(DATA / "study.json"), read_tasks(DATA / "tasks.jsonl")
    )
    study = tmp_path / "b"
    study.mkdir()
    for name in ("study.json", "tasks.jsonl"):
        shutil.copy(DATA / name, study / name)
    default = write_label_studio(study)
    for name in ("tasks.json", "config.xml", "README.txt"):
        assert (default / name).read_bytes() == (explicit / name).read_bytes()


def _keys_and_words(obj: Any) -> tuple[set[str], set[str]]:
    """Every key and every word of every string in a JSON value."""
    keys: set[str] = set()
    words: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            keys.add(k)
            more_keys, more_words = _keys_and_words(v)
            keys, words = keys | more_keys, words | more_words
    elif isinstance(obj, list):
        for v in obj:
            more_keys, more_words = _keys_and_words(v)
            keys, words = keys | more_keys, words | more_words
    elif isinstance(obj, str):
        words = {w.strip(".,;:'\"()").lower() for w in obj.split()}
    return keys, words


def test_config_is_xml_with_every_control_read_back() -> None:
    root = ET.fromstring(labeling_config("A <study> & more"))
    names = {el.get("name") for el in root.iter() if el.get("name")}
    assert {"valid_{{idx}}", "reason_{{idx}}", "set_rating_{{idx}}", "choice_{{idx}}"} <= names
    repeaters = {el.get("on") for el in root.iter("Repeater")}
    assert repeaters == {"$features", "$validity", "$preference"}
    reasons = [c.get("alias") for c in root.iter("Choices") if c.get("name") == "reason_{{idx}}"
               for c in c.iter("Choice")]  # fmt: skip
    assert tuple(reasons) == REASONS
    # every control points at an object tag of the config
    objects = {el.get("name") for el in root.iter("Text")}
    assert all(el.get("toName") in objects for el in root.iter() if el.get("toName"))


def test_read_export_gives_each_annotators_labels() -> None:
    files = read_export(DATA / "export.json", KEYS)
    assert [f.annotator for f in files] == ["bob_study.local", "ls-user-1"]
    bob, user1 = (f.to_json_dict() for f in files)
    rejected = {"feature_id": "f1", "valid": False, "reason": "unclear"}
    assert {f["study_id"] for f in (bob, user1)} == {"0123456789ab"}
    assert user1["labels"] == [
        {"task_id": "t0001", "answered_at": "2026-12-03T09:16:10.5+00:00", "choice": "A"},
        {
            "task_id": "t0002",
            "answered_at": "2026-12-03T09:15:02.123456+00:00",
            "features": [
                {"feature_id": "f1", "valid": True, "reason": None},
                {"feature_id": "f2", "valid": False, "reason": "unsupported"},
                {"feature_id": "f3", "valid": False, "reason": "not_a_difference"},
            ],
            "set_rating": 4,
        },
        {"task_id": "t0003", "answered_at": "2026-12-03T09:18:00+00:00", "choice": "A"},
    ]  # t0004's annotation by user 1 was skipped (was_cancelled)
    assert user1["exported_at"] == "2026-12-03T09:18:00+00:00"
    assert [lab["task_id"] for lab in bob["labels"]] == ["t0001", "t0002", "t0004"]
    assert bob["labels"][0]["choice"] == "tie"
    assert bob["labels"][2]["features"] == [rejected]
    assert bob["labels"][1]["set_rating"] == 3


def test_feature_order_follows_the_exported_data(tmp_path: Path) -> None:
    export = _export()
    data = export[0]["data"]
    data["features"] = data["features"][::-1]  # valid_0 is now f3
    files = read_export(_write(tmp_path, export), KEYS)
    user1 = next(f for f in files if f.annotator == "ls-user-1")
    label = next(lab for lab in user1.labels if lab.task_id == "t0002")
    assert [(f.feature_id, f.valid) for f in label.features] == [
        ("f3", True), ("f2", False), ("f1", False),
    ]  # fmt: skip


def _broken(change: Any) -> list[dict[str, Any]]:
    export = copy.deepcopy(_export())
    change(export)
    return export


def _set(path: list[Any], value: Any) -> Any:
    def change(export: Any) -> None:
        obj = export
        for part in path[:-1]:
            obj = obj[part]
        obj[path[-1]] = value

    return change


def _drop(path: list[Any]) -> Any:
    def change(export: Any) -> None:
        obj = export
        for part in path[:-1]:
            obj = obj[part]
        del obj[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (_set([1, "data", "task_id"], "t9999"), "[1].data.task_id", "not a task of this study"),
        (_set([1, "data", "type"], "feature_validity"), "[1].data.type", "expected 'preference'"),
        (_drop([0, "data", "study_id"]), "[0].data.study_id", "missing required field"),
        (
            _set([0, "annotations", 0, "completed_by"], "alice"),
            "[0].annotations[0].completed_by",
            "expected an integer or an object",
        ),
        (
            _set([0, "annotations", 0, "result", 0, "from_name"], "sentiment"),
            "[0].annotations[0].result[0].from_name",
            "not a control of this study",
        ),
        (
            _set([0, "annotations", 0, "result", 0, "value"], {"choices": ["maybe"]}),
            "[0].annotations[0].result[0].value.choices",
            "expected one of valid, invalid",
        ),
        (
            _set([0, "annotations", 0, "result", 5, "value"], {"rating": 7}),
            "[0].annotations[0].result[5].value.rating",
            "expected 1-5",
        ),
        (
            _set([0, "annotations", 0, "result", 5, "value"], {"rating": "4"}),
            "[0].annotations[0].result[5].value.rating",
            "expected an integer",
        ),
        (
            _drop([0, "annotations", 0, "result", 2]),
            "[0].annotations[0].result",
            "no answer for reason_1",
        ),
        (
            _drop([1, "annotations", 0, "result", 0]),
            "[1].annotations[0].result",
            "no answer for choice_0",
        ),
        (
            _set([0, "annotations", 0, "was_cancelled"], "no"),
            "[0].annotations[0].was_cancelled",
            "expected true/false",
        ),
        (_set([0, "data", "features"], []), "[0].data.features", "differ from the study's"),
        (
            _set([2, "annotations", 0, "was_cancelled"], False),
            "[2].annotations[0].result",
            "no answer for valid_0",
        ),
        (
            _set([3, "data", "task_id"], "t0001"),
            "[3].annotations[0].completed_by",
            "annotated task t0001 twice",
        ),
        (_set([3], "a task"), "[3].data", "expected a task object"),
    ],
)
def test_malformed_exports_name_file_task_and_field(
    tmp_path: Path, change: Any, field: str, message: str
) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(StudyFormatError) as err:
        read_export(path, KEYS)
    assert err.value.path == path and err.value.field == field
    assert message in err.value.message
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tasks": []}', "expected Label Studio's JSON export (a list of tasks)"),
        ("[{]", "not valid JSON"),
        ("[NaN]", "NaN is not JSON"),
        ('[{"id": 1, "choice": "A"}]', "JSON-MIN"),
    ],
)
def test_foreign_files_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StudyFormatError, match=re.escape(message)) as err:
        read_export(path, KEYS)
    assert err.value.path == path


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(StudyFormatError, match="no such file"):
        read_export(tmp_path / "nothing.json", KEYS)
