"""Read raw Amazon review and metadata files (2014/2018 and 2023 releases).

Both releases ship one record per line, optionally gzipped (detected by magic bytes, not by
the file name). Reviews are JSON; the 2014 metadata is a Python literal per line, which is
parsed with :func:`ast.literal_eval` (never ``eval``). The format is detected per line.

Rows are normalised to :class:`RawReview` / :class:`RawItem`. Missing optional values are
``None`` so that the builder's filters can decide; a value of the wrong type or a line that
cannot be parsed raises :class:`RawDataError` naming the file, the line and the field, unless
a :class:`BadLines` with policy ``skip`` is given: then such lines are skipped and counted. A
file that cannot be read at all (truncated gzip, bad encoding) is always an error.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

GZIP_MAGIC = b"\x1f\x8b"
FORMAT_2014 = "2014"
FORMAT_2023 = "2023"


ON_BAD_LINE = ("error", "skip")
BAD_LINES_KEPT = 10  # line numbers remembered per file (the count is exact)


class RawDataError(ValueError):
    """A raw Amazon file has a line that cannot be read; names file, line and field.

    ``whole_file`` is true when the file itself cannot be read further (never skipped).
    """

    def __init__(
        self,
        path: str | Path,
        line: int,
        message: str,
        field: str | None = None,
        *,
        whole_file: bool = False,
    ):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        self.whole_file = whole_file
        where = f"{self.path}: line {line}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass
class BadLines:
    """What to do with unparsable lines of one file: ``error`` raises, ``skip`` counts.

    ``lines`` keeps the first :data:`BAD_LINES_KEPT` line numbers, ``first_error`` the first
    message; ``count`` is exact.
    """

    policy: str = "error"
    count: int = 0
    lines: list[int] = field(default_factory=list)
    first_error: str | None = None

    def __post_init__(self) -> None:
        if self.policy not in ON_BAD_LINE:
            raise ValueError(f"on_bad_line: expected one of {ON_BAD_LINE}, found {self.policy!r}")

    def handle(self, err: RawDataError) -> None:
        """Raise ``err`` under ``error`` (and for a whole-file error); count it under ``skip``."""
        if self.policy == "error" or err.whole_file:
            raise err from None
        self.count += 1
        if len(self.lines) < BAD_LINES_KEPT:
            self.lines.append(err.line)
        if self.first_error is None:
            self.first_error = str(err)


def _bad_line(bad: BadLines | None, err: RawDataError) -> None:
    if bad is None:
        raise err from None
    bad.handle(err)


@dataclass(frozen=True, slots=True)
class RawReview:
    """One review with its author. ``timestamp`` keeps the file's unit (2014: s, 2023: ms)."""

    user_id: str
    asin: str
    title: str | None
    text: str | None
    rating: float | None
    timestamp: int | None
    format: str


@dataclass(frozen=True, slots=True)
class RawItem:
    """Item metadata. ``categories``/``rating_number`` are ``None`` when absent or not part
    of the format (2014 has no ``rating_number``)."""

    asin: str
    title: str | None
    description: str
    categories: list[Any] | None
    rating_number: int | None
    format: str


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_text(path: str | Path) -> TextIO:
    """Open a text file for streaming, transparently decompressing gzip (by magic bytes)."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def parse_record(line: str) -> dict[str, Any]:
    """Parse one line as JSON, falling back to a Python literal (2014 metadata)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as json_err:
        try:
            obj = ast.literal_eval(line)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as lit_err:
            raise ValueError(
                f"expected a JSON object or a Python dict literal, found unparsable text "
                f"(JSON: {json_err.msg}; literal: {type(lit_err).__name__})"
            ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object/dict, found {type(obj).__name__}")
    return obj


def iter_records(
    path: str | Path, bad: BadLines | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for every non-blank line (1-based line numbers).

    An unparsable line raises :class:`RawDataError`, or is counted in ``bad`` (``skip``).
    """
    lineno = 0
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = parse_record(line)
                except ValueError as err:
                    _bad_line(bad, RawDataError(path, lineno, str(err)))
                    continue
                yield lineno, record
    except (EOFError, OSError, UnicodeDecodeError) as err:
        # Truncated gzip stream, corrupt data, bad encoding: name the last line reached.
        raise RawDataError(
            path, lineno + 1, f"cannot read file: {type(err).__name__}: {err}", whole_file=True
        ) from None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, raw line)``; used to re-read selected lines cheaply."""
    with open_text(path) as fh:
        yield from enumerate(fh, start=1)


# --- field helpers -------------------------------------------------------------------------


def _opt_str(obj: dict[str, Any], key: str, path: str | Path, line: int) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RawDataError(path, line, f"expected a string, found {type(value).__name__}", key)


def _req_str(obj: dict[str, Any], key: str, path: str | Path, line: int) -> str:
    value = _opt_str(obj, key, path, line)
    if not value:
        raise RawDataError(path, line, "expected a non-empty string, found none", key)
    return value


def _opt_number(obj: dict[str, Any], key: str, path: str | Path, line: int) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RawDataError(path, line, f"expected a number, found {value!r}", key)
    return float(value)


def _opt_int(obj: dict[str, Any], key: str, path: str | Path, line: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RawDataError(path, line, f"expected an integer, found {value!r}", key)
    return value


def join_description(value: Any) -> str:
    """Description text: a string as is; a list joined with spaces, a leading
    ``"Product Description"`` entry dropped (as DPL does); missing -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
        if parts and parts[0].strip() == "Product Description":
            parts = parts[1:]
        return " ".join(parts)
    raise TypeError(f"expected a string or a list of strings, found {type(value).__name__}")


# --- reviews -------------------------------------------------------------------------------


def parse_review(obj: dict[str, Any], path: str | Path, line: int) -> RawReview:
    """Normalise one review record of either release."""
    if "reviewerID" in obj:
        return RawReview(
            user_id=_req_str(obj, "reviewerID", path, line),
            asin=_req_str(obj, "asin", path, line),
            title=_opt_str(obj, "summary", path, line),
            text=_opt_str(obj, "reviewText", path, line),
            rating=_opt_number(obj, "overall", path, line),
            timestamp=_opt_int(obj, "unixReviewTime", path, line),
            format=FORMAT_2014,
        )
    if "user_id" in obj:
        asin_key = "parent_asin" if obj.get("parent_asin") else "asin"
        return RawReview(
            user_id=_req_str(obj, "user_id", path, line),
            asin=_req_str(obj, asin_key, path, line),
            title=_opt_str(obj, "title", path, line),
            text=_opt_str(obj, "text", path, line),
            rating=_opt_number(obj, "rating", path, line),
            timestamp=_opt_int(obj, "timestamp", path, line),
            format=FORMAT_2023,
        )
    raise RawDataError(
        path,
        line,
        "expected a 2014 review (reviewerID, asin, overall, summary, reviewText, "
        "unixReviewTime) or a 2023 review (user_id, parent_asin, rating, title, text, "
        f"timestamp), found keys {sorted(obj)[:8]}",
        "reviewerID/user_id",
    )


def iter_reviews(path: str | Path, bad: BadLines | None = None) -> Iterator[tuple[int, RawReview]]:
    """Yield ``(line_number, RawReview)`` for a raw review file (bad lines: see ``bad``)."""
    for line, obj in iter_records(path, bad):
        try:
            review = parse_review(obj, path, line)
        except RawDataError as err:
            _bad_line(bad, err)
            continue
        yield line, review


# --- metadata ------------------------------------------------------------------------------


def parse_item(obj: dict[str, Any], path: str | Path, line: int) -> RawItem:
    """Normalise one metadata record of either release."""
    fmt = FORMAT_2023 if "parent_asin" in obj else FORMAT_2014
    asin = _req_str(obj, "parent_asin" if fmt == FORMAT_2023 else "asin", path, line)
    try:
        description = join_description(obj.get("description"))
    except TypeError as err:
        raise RawDataError(path, line, str(err), "description") from None
    cat_key = "categories" if "categories" in obj else "category"  # 2018 uses "category"
    categories = obj.get(cat_key)
    if categories is not None and not isinstance(categories, list):
        raise RawDataError(
            path, line, f"expected a list, found {type(categories).__name__}", cat_key
        )
    return RawItem(
        asin=asin,
        title=_opt_str(obj, "title", path, line),
        description=description,
        categories=categories,
        rating_number=_opt_int(obj, "rating_number", path, line) if fmt == FORMAT_2023 else None,
        format=fmt,
    )


def iter_items(path: str | Path, bad: BadLines | None = None) -> Iterator[tuple[int, RawItem]]:
    """Yield ``(line_number, RawItem)`` for a raw metadata file (bad lines: see ``bad``)."""
    for line, obj in iter_records(path, bad):
        try:
            item = parse_item(obj, path, line)
        except RawDataError as err:
            _bad_line(bad, err)
            continue
        yield line, item
