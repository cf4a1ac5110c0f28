"""Maintainers' records next to the entries: which entries were reproduced, and which were
verified with data that is not in the repository.

``reproductions.json`` is written by ``leaderboard reproduce``, ``verifications.json`` by
``leaderboard verify --record``. Each record names the entry's content hashes, so editing an
entry afterwards voids its record. Submitters never write these files (a pull request adding
an entry touches only ``entries/``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from drp_bench.leaderboard.entry import json_object

REPRODUCTIONS = "reproductions.json"
VERIFICATIONS = "verifications.json"


def load_records(board: Path, name: str) -> dict[str, dict[str, Any]]:
    path = Path(board) / name
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from e
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, dict):
        raise ValueError(f"{path}: field 'records': expected an object of entry id -> record")
    return records


def save_record(board: Path, name: str, entry_id: str, record: dict[str, Any]) -> Path:
    records = load_records(board, name)
    records[entry_id] = record
    path = Path(board) / name
    tmp = path.with_suffix(".json.tmp")
    body = {"schema_version": "1", "records": dict(sorted(records.items()))}
    text = json.dumps(body, indent=1, ensure_ascii=False, allow_nan=False)
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def content_hashes(raw_submission: dict[str, Any]) -> dict[str, str]:
    """What a record is about: the entry id (a hash of submission.json's content) and the
    predictions' sha256."""
    return {
        "entry_id": str(raw_submission.get("entry_id")),
        "predictions_sha256": str(json_object(raw_submission.get("predictions")).get("sha256")),
    }


def matches(record: dict[str, Any] | None, raw_submission: dict[str, Any]) -> bool:
    if not record:
        return False
    return all(record.get(k) == v for k, v in content_hashes(raw_submission).items())
