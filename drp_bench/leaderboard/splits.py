"""The registry of benchmark splits (``splits.json``): which samples an entry must cover and a
fingerprint of their references.

A split is registered from data at hand (the bundled sample, or a local DPL-main export whose
references stay local: only their sha256 is recorded). Verification loads the references again
from the data and checks them against the fingerprint before scoring anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drp_bench.leaderboard.entry import SPLIT_ID_RE, canonical_json, sha256_text
from drp_bench.resources import BUNDLED_PREFIX

SPLITS_FILE = "splits.json"
#: The paper's datasets (drp_paper_table.csv spelling) -> the split id their reported rows join.
PAPER_SPLITS: dict[str, str] = {"Books": "books/test", "CDs_and_Vinyl": "cds_and_vinyl/test"}


class SplitError(ValueError):
    """The registry or a split's data is unusable (the message names the file and field)."""


class SplitRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=rf"^{SPLIT_ID_RE.pattern}$")
    title: str
    description: str
    data: str = Field(description="'bundled:NAME', or 'local' (pass --data ID=PATH)")
    split: str
    limit: int | None = Field(description="the first N samples of the split (null: all)")
    public: bool = Field(description="references may be shown on the page")
    how_to_get: str
    num_samples: int
    references_sha256: str
    sample_ids: list[str]


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    schema_version: Literal["1"] = "1"
    splits: list[SplitRecord]

    def get(self, split_id: str) -> SplitRecord | None:
        return next((s for s in self.splits if s.id == split_id), None)


def references_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 of ``[[sample_id, reference], ...]`` in sample-id order (canonical JSON)."""
    return sha256_text(canonical_json(sorted([sid, ref] for sid, ref in pairs)))


def registry_path(board: Path) -> Path:
    return Path(board) / SPLITS_FILE


def load_registry(board: Path) -> Registry:
    path = registry_path(board)
    if not path.is_file():
        return Registry(splits=[])
    try:
        return Registry.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as e:
        raise SplitError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from e
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise SplitError(f"{path}: field {loc!r}: {first['msg']}") from e


def save_registry(board: Path, registry: Registry) -> Path:
    path = registry_path(board)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(registry.model_dump(), indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def resolve_data(record: SplitRecord, data_paths: Mapping[str, Path] | None) -> Path | None:
    """Where the split's data is: ``--data ID=PATH`` first, then a bundled sample; else None."""
    if data_paths and record.id in data_paths:
        return Path(data_paths[record.id])
    if record.data.startswith(BUNDLED_PREFIX):
        from drp_bench.data.locate import resolve_data_path

        return Path(resolve_data_path(record.data) or "")
    return None


def read_references(
    data_path: Path | str, split: str = "test", limit: int | None = None
) -> dict[str, str]:
    """sample id -> reference review text, for the first ``limit`` samples of ``split``."""
    from drp_bench.data.loader import iter_samples
    from drp_bench.data.locate import resolve_data_path

    path = resolve_data_path(str(data_path)) or str(data_path)
    refs: dict[str, str] = {}
    for sample in iter_samples(path, split):
        if limit is not None and len(refs) >= limit:
            break
        if sample.sample_id in refs:
            raise SplitError(f"{path}: split {split!r}: sample {sample.sample_id!r} twice")
        refs[sample.sample_id] = sample.target.text
    if not refs:
        raise SplitError(f"{path}: split {split!r} has no samples")
    return refs


def split_references(
    record: SplitRecord, data_paths: Mapping[str, Path] | None = None
) -> dict[str, str]:
    """The split's references, checked against the registered fingerprint.

    Raises :class:`SplitError` saying which data is needed when it is not at hand, or that the
    data at hand is not the registered data."""
    path = resolve_data(record, data_paths)
    if path is None:
        raise SplitError(
            f"split {record.id!r}: its references are not in the repository; verification "
            f"needs the data ({record.how_to_get}); pass --data {record.id}=PATH"
        )
    refs = read_references(path, record.split, record.limit)
    found = references_fingerprint(refs.items())
    if found != record.references_sha256 or sorted(refs) != sorted(record.sample_ids):
        raise SplitError(
            f"split {record.id!r}: the data at {path} is not the registered data (references "
            f"{found}, registered {record.references_sha256}; {len(refs)} samples, registered "
            f"{record.num_samples})"
        )
    return refs


def register_split(
    board: Path,
    split_id: str,
    data_path: Path | str,
    split: str = "test",
    limit: int | None = None,
    *,
    title: str | None = None,
    description: str = "",
    how_to_get: str | None = None,
    public: bool | None = None,
    replace: bool = False,
) -> SplitRecord:
    """Register (or, with ``replace``, re-register) a split from its data; returns the record.

    A bundled sample is recorded as ``bundled:NAME`` (public: its references are in the
    package); any other path is recorded only as ``local`` with ``how_to_get``, and its
    references only as their fingerprint."""
    if not SPLIT_ID_RE.fullmatch(split_id):
        raise SplitError(
            f"split id {split_id!r}: expected '<dataset>/<name>' in [a-z0-9_.-], e.g. books/test"
        )
    if limit is not None and limit < 1:
        raise SplitError(f"limit: expected a positive number of samples, found {limit}")
    data = str(data_path)
    bundled = data.startswith(BUNDLED_PREFIX)
    if not bundled and how_to_get is None:
        raise SplitError(
            "how_to_get: say how others obtain this data (e.g. the `drp-bench data build` "
            "command of the DPL-main export); only its fingerprint is recorded"
        )
    refs = read_references(data_path, split, limit)
    record = SplitRecord(
        id=split_id,
        title=title or split_id,
        description=description,
        data=data if bundled else "local",
        split=split,
        limit=limit,
        public=bundled if public is None else public,
        how_to_get=how_to_get or f"bundled with drp-bench ({data})",
        num_samples=len(refs),
        references_sha256=references_fingerprint(refs.items()),
        sample_ids=list(refs),
    )
    registry = load_registry(board)
    existing = registry.get(split_id)
    if existing is not None and not replace:
        if existing == record:
            return existing
        raise SplitError(
            f"split {split_id!r} is already registered with other content in "
            f"{registry_path(board)} (entries refer to it; register under a new id)"
        )
    registry.splits = [s for s in registry.splits if s.id != split_id] + [record]
    save_registry(board, registry)
    return record


def find_split(registry: Registry, references: Mapping[str, str]) -> SplitRecord | None:
    """The registered split whose samples and references are exactly these."""
    fingerprint = references_fingerprint(references.items())
    for record in registry.splits:
        if record.references_sha256 == fingerprint and record.num_samples == len(references):
            return record
    return None
