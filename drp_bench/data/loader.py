"""Load and validate DPL-main / DPL-meta style data into :class:`drp_bench.data.types.Dataset`.

A main row is ``{"user_id", "profile": [review, ...], "data": review}`` where a review has
``asin``, ``title``, ``text``, ``rating``, ``timestamp``. A meta row is ``{"asin", "title",
"description"}`` (description a string or a list of strings, joined with spaces).

Accepted inputs (main and meta alike):

* a ``datasets`` ``save_to_disk`` folder (a ``DatasetDict`` with splits, or one ``Dataset``);
* a JSONL file (gzip detected by magic bytes), streamed line by line;
* a Parquet file, read in batches;
* a directory holding ``{split}.jsonl[.gz]`` / ``{split}.parquet`` (meta: ``meta.*``).

Every record is validated; :class:`DataValidationError` names the file, the record (line
number for JSONL, row index otherwise), the field, what was expected and what was found.
A split is refused as a whole when it has no sample, when a sample id (``user_id:asin`` of
the target) appears twice, or, outside ``train``, when a user appears twice (test and
validation hold one sample per user; a second one would be scored twice).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drp_bench.data.raw import open_text
from drp_bench.data.types import Dataset, Item, Review, Sample
from drp_bench.storage.hashing import sha256_file

# Split names and the names other builds use for them (DPL saves "val").
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "validation": ("validation", "val", "valid", "dev"),
    "val": ("val", "validation", "valid", "dev"),
    "test": ("test",),
    "train": ("train",),
}
META_SPLIT_NAMES = ("full", "train", "meta")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet",)


class DataValidationError(ValueError):
    """Invalid data: names file, record and field, and what was expected vs found."""

    def __init__(
        self,
        file: str | Path,
        message: str,
        *,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.record = record
        self.field = field
        parts = [self.file]
        if record:
            parts.append(record)
        if field:
            parts.append(f"field {field!r}")
        super().__init__(": ".join([*parts, message]))


# --- sources -------------------------------------------------------------------------------


@dataclass
class _Source:
    """Where rows come from: a label for messages, the data files, and a row iterator."""

    label: str
    files: list[Path]
    root: Path
    rows: Callable[[], Iterator[tuple[str, Any]]]


def _has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    return any(path.name.endswith(s) for s in suffixes)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    lineno = 0
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataValidationError(
                        path,
                        f"expected a JSON object, found invalid JSON ({err.msg} at column "
                        f"{err.colno})",
                        record=f"line {lineno}",
                    ) from None
                yield f"line {lineno}", row
    except (EOFError, OSError, UnicodeDecodeError) as err:
        raise DataValidationError(
            path, f"cannot read file: {type(err).__name__}: {err}", record=f"line {lineno + 1}"
        ) from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        raise DataValidationError(path, f"cannot read Parquet file: {err}") from None
    index = 0
    for batch in pf.iter_batches(batch_size=512):
        for row in batch.to_pylist():
            yield f"row {index}", row
            index += 1


def _arrow_rows(folder: Path) -> Iterator[tuple[str, Any]]:
    import datasets

    ds = datasets.load_from_disk(str(folder))
    if isinstance(ds, datasets.DatasetDict):  # resolved to a split folder before; defensive
        raise DataValidationError(folder, "expected a single Dataset, found a DatasetDict")
    index = 0
    for batch in ds.iter(batch_size=256):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns), strict=True):
            yield f"row {index}", dict(zip(columns, values, strict=True))
            index += 1


def _arrow_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.arrow"))


def _saved_splits(folder: Path) -> list[str] | None:
    """Split names of a DatasetDict folder, [] for a single Dataset folder, None otherwise."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = json.loads(dict_file.read_text(encoding="utf-8"))["splits"]
        except (ValueError, KeyError, TypeError) as err:
            raise DataValidationError(
                dict_file, f"expected JSON with a 'splits' list, found unreadable content: {err}"
            ) from None
        return [str(s) for s in splits]
    if (folder / "state.json").is_file():
        return []
    return None


def _arrow_source(folder: Path, root: Path) -> _Source:
    files = _arrow_files(folder)
    if not files:
        raise DataValidationError(folder, "expected .arrow data files, found none")
    return _Source(str(folder), files, root, lambda: _arrow_rows(folder))


def _file_source(path: Path, root: Path) -> _Source:
    if _has_suffix(path, PARQUET_SUFFIXES):
        return _Source(str(path), [path], root, lambda: _parquet_rows(path))
    return _Source(str(path), [path], root, lambda: _jsonl_rows(path))


def _candidates(split: str) -> tuple[str, ...]:
    return SPLIT_ALIASES.get(split, (split,))


def available_splits(path: str | Path) -> list[str]:
    """Split names found at ``path`` (a file counts as one unnamed split: ``[]``)."""
    path = Path(path)
    if not path.is_dir():
        return []
    saved = _saved_splits(path)
    if saved is not None:
        return saved
    found = set()
    for child in path.iterdir():
        for suffix in (*JSONL_SUFFIXES, *PARQUET_SUFFIXES):
            if child.name.endswith(suffix) and child.name != "meta" + suffix:
                found.add(child.name[: -len(suffix)])
    return sorted(found)


def _main_source(path: Path, split: str) -> _Source:
    if not path.exists():
        raise DataValidationError(path, "expected a data file or folder, found nothing there")
    if path.is_file():
        return _file_source(path, path.parent)
    saved = _saved_splits(path)
    if saved is not None:
        if not saved:  # one Dataset saved without splits
            return _arrow_source(path, path)
        for name in _candidates(split):
            if name in saved:
                return _arrow_source(path / name, path)
        raise DataValidationError(
            path, f"expected split {split!r} in the saved DatasetDict, found splits {saved}"
        )
    for name in _candidates(split):
        for suffix in (*JSONL_SUFFIXES, *PARQUET_SUFFIXES):
            candidate = path / f"{name}{suffix}"
            if candidate.is_file():
                return _file_source(candidate, path)
    raise DataValidationError(
        path,
        f"expected {split}.jsonl[.gz] or {split}.parquet (or a save_to_disk folder), "
        f"found splits {available_splits(path)}",
    )


def _meta_source(meta_path: Path | None, main_path: Path) -> _Source:
    if meta_path is None:
        folder = main_path if main_path.is_dir() else main_path.parent
        for suffix in (*JSONL_SUFFIXES, *PARQUET_SUFFIXES):
            candidate = folder / f"meta{suffix}"
            if candidate.is_file():
                return _file_source(candidate, folder)
        raise DataValidationError(
            folder, "expected meta.jsonl[.gz] or meta.parquet next to the data; pass meta_path"
        )
    if not meta_path.exists():
        raise DataValidationError(meta_path, "expected a metadata file or folder, found nothing")
    if meta_path.is_file():
        return _file_source(meta_path, meta_path.parent)
    saved = _saved_splits(meta_path)
    if saved is not None:
        if not saved:
            return _arrow_source(meta_path, meta_path)
        names = [n for n in META_SPLIT_NAMES if n in saved] or (saved if len(saved) == 1 else [])
        if not names:
            raise DataValidationError(
                meta_path, f"expected one split (or 'full') in the meta DatasetDict, found {saved}"
            )
        return _arrow_source(meta_path / names[0], meta_path)
    for suffix in (*JSONL_SUFFIXES, *PARQUET_SUFFIXES):
        candidate = meta_path / f"meta{suffix}"
        if candidate.is_file():
            return _file_source(candidate, meta_path)
    raise DataValidationError(meta_path, "expected meta.jsonl[.gz] or meta.parquet in the folder")


# --- validation ----------------------------------------------------------------------------

REVIEW_FIELDS = ("asin", "title", "text", "rating", "timestamp")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class _Checker:
    """Field checks bound to one record, so every error carries file and record."""

    def __init__(self, file: str, record: str) -> None:
        self.file = file
        self.record = record

    def fail(self, field: str, expected: str, found: str) -> DataValidationError:
        return DataValidationError(
            self.file, f"expected {expected}, found {found}", record=self.record, field=field
        )

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field or "<record>", "an object", _describe(value))
        return value

    def get(self, obj: dict[str, Any], key: str, prefix: str = "") -> Any:
        if key not in obj or obj[key] is None:
            raise self.fail(prefix + key, "a value", "nothing (missing or null)")
        return obj[key]

    def string(self, obj: dict[str, Any], key: str, prefix: str = "", nonempty=False) -> str:
        value = self.get(obj, key, prefix)
        if not isinstance(value, str):
            raise self.fail(prefix + key, "a string", _describe(value))
        if nonempty and not value.strip():
            raise self.fail(prefix + key, "a non-empty string", "an empty string")
        return value

    def number(self, obj: dict[str, Any], key: str, prefix: str = "") -> float:
        value = self.get(obj, key, prefix)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(prefix + key, "a number", _describe(value))
        if not math.isfinite(value):
            raise self.fail(prefix + key, "a finite number", _describe(value))
        return float(value)

    def integer(self, obj: dict[str, Any], key: str, prefix: str = "") -> int:
        value = self.get(obj, key, prefix)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(prefix + key, "an integer (or integral float)", _describe(value))
        return value

    def review(self, value: Any, field: str) -> Review:
        obj = self.mapping(value, field)
        prefix = field + "."
        return Review(
            asin=self.string(obj, "asin", prefix, nonempty=True),
            title=self.string(obj, "title", prefix),
            text=self.string(obj, "text", prefix),
            rating=self.number(obj, "rating", prefix),
            timestamp=self.integer(obj, "timestamp", prefix),
        )


def parse_sample(row: Any, file: str, record: str) -> Sample:
    """Validate one DPL-main row and turn it into a :class:`Sample`."""
    check = _Checker(file, record)
    obj = check.mapping(row, "")
    user_id = check.string(obj, "user_id", nonempty=True)
    profile_raw = check.get(obj, "profile")
    if not isinstance(profile_raw, (list, tuple)):
        raise check.fail("profile", "a list of reviews", _describe(profile_raw))
    if not profile_raw:
        raise check.fail("profile", "a non-empty list of reviews", "an empty list")
    profile = tuple(check.review(r, f"profile[{i}]") for i, r in enumerate(profile_raw))
    target = check.review(check.get(obj, "data"), "data")
    return Sample(user_id=user_id, profile=profile, target=target)


def parse_item(row: Any, file: str, record: str) -> Item:
    """Validate one DPL-meta row and turn it into an :class:`Item`."""
    check = _Checker(file, record)
    obj = check.mapping(row, "")
    description = obj.get("description")
    if description is None:
        raise check.fail(
            "description", "a string or a list of strings", "nothing (missing or null)"
        )
    if isinstance(description, (list, tuple)):
        for i, part in enumerate(description):
            if not isinstance(part, str):
                raise check.fail(f"description[{i}]", "a string", _describe(part))
        description = " ".join(description)
    elif not isinstance(description, str):
        raise check.fail("description", "a string or a list of strings", _describe(description))
    return Item(
        asin=check.string(obj, "asin", nonempty=True),
        title=check.string(obj, "title"),
        description=description,
    )


# --- iteration -----------------------------------------------------------------------------


# --- split-level checks --------------------------------------------------------------------

# Only a train split holds several samples per user (one per earlier input review).
MULTI_SAMPLE_SPLITS = ("train",)


def _peek_ids(row: Any) -> tuple[str | None, str | None]:
    """(user_id, target asin) of a row that is not validated (``None`` where unreadable)."""
    if not isinstance(row, dict):
        return None, None
    user_id, data = row.get("user_id"), row.get("data")
    asin = data.get("asin") if isinstance(data, dict) else None
    return (
        user_id if isinstance(user_id, str) else None,
        asin if isinstance(asin, str) else None,
    )


class SplitChecker:
    """Refuses duplicate sample ids (and duplicate users outside train) of one split.

    Feed it every record's ids in order with :meth:`add`; call :meth:`finish` at the end to
    refuse an empty split. Memory: one entry per sample id and per user.
    """

    def __init__(self, file: str, split: str) -> None:
        self.file = file
        self.split = split
        self.one_per_user = split not in MULTI_SAMPLE_SPLITS
        self.sample_at: dict[str, str] = {}
        self.user_at: dict[str, str] = {}
        self.count = 0

    def add(self, record: str, user_id: str | None, asin: str | None) -> None:
        """Check one record's ids (``None``: a row not validated here, see ``limit``)."""
        self.count += 1
        if user_id is not None and asin is not None:
            sample_id = f"{user_id}:{asin}"
            if sample_id in self.sample_at:
                raise DataValidationError(
                    self.file,
                    f"expected unique sample ids (user_id:data.asin) in split {self.split!r}, "
                    f"found {sample_id!r} again (first at {self.sample_at[sample_id]})",
                    record=record,
                )
            self.sample_at[sample_id] = record
        if user_id is None or not self.one_per_user:
            return
        if user_id in self.user_at:
            raise DataValidationError(
                self.file,
                f"expected one sample per user in split {self.split!r}, found user "
                f"{user_id!r} again (first at {self.user_at[user_id]}); it would be scored twice",
                record=record,
                field="user_id",
            )
        self.user_at[user_id] = record

    def finish(self) -> None:
        if not self.count:
            raise DataValidationError(
                self.file,
                f"expected at least one sample in split {self.split!r}, found 0 (empty split)",
            )


def iter_labeled_samples(
    path: str | Path, split: str = "test"
) -> Iterator[tuple[str, str, Sample]]:
    """Yield ``(file, record, Sample)``; the labels locate the row for later error messages."""
    source = _main_source(Path(path), split)
    for record, row in source.rows():
        yield source.label, record, parse_sample(row, source.label, record)


def iter_samples(path: str | Path, split: str = "test") -> Iterator[Sample]:
    """Stream validated samples of one split (item metadata is not checked here)."""
    for _, _, sample in iter_labeled_samples(path, split):
        yield sample


def iter_items(meta_path: str | Path) -> Iterator[Item]:
    """Stream validated metadata rows."""
    source = _meta_source(Path(meta_path), Path(meta_path))
    for record, row in source.rows():
        yield parse_item(row, source.label, record)


# --- fingerprint ---------------------------------------------------------------------------


def fingerprint_file(path: str | Path) -> str:
    """``sha256:<hex>`` of a data file, as metrics.json records it."""
    return "sha256:" + sha256_file(path)


def _fingerprint(sources: list[_Source]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, source in enumerate(sources):
        for file in source.files:
            key = file.relative_to(source.root).as_posix()
            if key in out:
                key = f"meta:{key}" if i else key
            out[key] = fingerprint_file(file)
    return out


# --- public entry point --------------------------------------------------------------------


def _read_split(main: _Source, split: str, limit: int | None) -> list[tuple[str, Sample]]:
    """Validate the first ``limit`` samples (all: ``None``) and check the whole split."""
    checker = SplitChecker(main.label, split)
    labeled: list[tuple[str, Sample]] = []
    for record, row in main.rows():
        if limit is None or len(labeled) < limit:
            sample = parse_sample(row, main.label, record)
            labeled.append((record, sample))
            checker.add(record, sample.user_id, sample.target.asin)
        else:
            checker.add(record, *_peek_ids(row))
    checker.finish()
    return labeled


def default_name(path: Path, split: str) -> str:
    """The name of the data at ``path``: a folder's name; a file's folder when the file is named
    after the split (``Books/test.jsonl`` -> ``Books``), else its name up to the first dot."""
    if path.is_dir():
        return path.name
    stem = path.name.split(".")[0]
    if stem in _candidates(split) or stem in SPLIT_ALIASES:
        return path.parent.name
    return stem


def load_dataset(
    path: str | Path,
    meta_path: str | Path | None,
    split: str = "test",
    name: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """Load one split and the metadata of every item its samples mention.

    ``limit`` keeps the first N samples (only those are validated; the rest of the split is
    still scanned for duplicate ids and emptiness). Raises :class:`DataValidationError` for
    any malformed record, an empty profile, a profile / target item that has no metadata
    row, an empty split, or a duplicate sample id or user (see :class:`SplitChecker`).
    """
    path = Path(path)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, found {limit}")
    main = _main_source(path, split)
    meta = _meta_source(Path(meta_path) if meta_path is not None else None, path)

    labeled = _read_split(main, split, limit)

    needed = {r.asin for _, s in labeled for r in (*s.profile, s.target)}
    items: dict[str, Item] = {}
    seen_at: dict[str, str] = {}
    for record, row in meta.rows():
        item = parse_item(row, meta.label, record)
        if item.asin not in needed:
            continue
        if item.asin in items and items[item.asin] != item:
            raise DataValidationError(
                meta.label,
                f"expected one metadata row per asin, found {item.asin!r} again with other "
                f"content (first at {seen_at[item.asin]})",
                record=record,
                field="asin",
            )
        items[item.asin] = item
        seen_at.setdefault(item.asin, record)

    for record, sample in labeled:
        reviews = [(f"profile[{i}].asin", r) for i, r in enumerate(sample.profile)]
        for field, review in [*reviews, ("data.asin", sample.target)]:
            if review.asin not in items:
                raise DataValidationError(
                    main.label,
                    f"expected an item with a metadata row in {meta.label}, "
                    f"found asin {review.asin!r} without one",
                    record=record,
                    field=field,
                )

    return Dataset(
        name=name or default_name(path, split),
        split=split,
        samples=[s for _, s in labeled],
        items=items,
        fingerprint=_fingerprint([main, meta]),
    )
