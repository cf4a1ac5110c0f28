"""Build DPL-main / DPL-meta style splits from raw Amazon review files.

Steps (after DPL's ``data-create.py``, see ``notes/reference-pipeline.md``):

1. item filter over the metadata (description length, title, categories, rating_number);
2. review filter (text length, rating, title, timestamp) and "item has valid metadata";
3. :func:`core_filter`: per user, reviews newest first, deduplicated by item and by text;
   keep items with ``>= min_item_users`` reviewers and users with ``min..max`` reviews;
   repeat until stable;
4. :func:`split_users`: per user oldest first, the last ``num_inputs`` reviews are inputs and
   the rest the profile; profile items keep ``>= profile_min_item_users`` reviewers and users
   ``>= profile_min_user_reviews`` profile reviews (iterated);
5. :func:`make_samples`: test / validation / train samples; files are written.

A stage that leaves nothing (no item, no review, an empty core, no user for the splits) stops
the build with :class:`EmptyStageError`, naming the filter that removed the most rows and the
counts. Files are written into a staging folder beside ``out_dir`` and moved into place only
when everything is written, so a failed build leaves no partial dataset. An empty train split
(``num_inputs=2``) is not written. Unparsable raw lines abort the build (``on_bad_line=
"error"``) or are skipped and counted in ``build_info.json`` (``"skip"``).

Memory: the first pass over the reviews keeps five integers per review (user, item, time,
text hash, line number); full review records are read in a second pass for the survivors only.
Differences from DPL's code (deliberate): whitespace is normalised before deduplication (DPL
normalises only afterwards), and core counts are taken on the deduplicated reviews, so the
written data satisfies every threshold exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from drp_bench.data.loader import fingerprint_file as sha256_file
from drp_bench.data.raw import (
    BadLines,
    RawDataError,
    RawItem,
    RawReview,
    iter_items,
    iter_lines,
    iter_reviews,
    parse_item,
    parse_record,
    parse_review,
)
from drp_bench.data.types import Item, Review, Sample, to_jsonable

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class BuildConfig:
    """Every threshold of the build. Defaults are DPL's (Amazon 2023, Books/CDs/Movies)."""

    min_review_chars: int = _opt(200, "minimum review text length (characters, raw text)")
    require_rating: bool = _opt(True, "drop reviews without a rating")
    require_title: bool = _opt(True, "drop reviews without a (review) title")
    require_timestamp: bool = _opt(True, "drop reviews without a timestamp")
    require_description: bool = _opt(True, "require an item description of min..max chars")
    min_description_chars: int = _opt(100, "minimum item description length")
    max_description_chars: int = _opt(2000, "maximum item description length")
    require_item_title: bool = _opt(True, "drop items without a title")
    require_categories: bool = _opt(True, "drop items without categories (if the format has them)")
    require_rating_number: bool = _opt(True, "drop items without rating_number (2023 format only)")
    min_item_users: int = _opt(8, "core: minimum distinct reviewers per item")
    min_user_reviews: int = _opt(18, "core: minimum reviews per user")
    max_user_reviews: int = _opt(500, "core: maximum reviews per user")
    num_inputs: int = _opt(10, "split: the last N reviews of a user are inputs (N >= 2)")
    profile_min_item_users: int = _opt(5, "split: minimum profile users per profile item")
    profile_min_user_reviews: int = _opt(8, "split: minimum profile reviews per user")

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"BuildConfig.{f.name}: expected an integer, found {value!r}")
            if f.type == "int" and value < 0:
                raise ValueError(f"BuildConfig.{f.name}: expected >= 0, found {value}")
        if self.num_inputs < 2:
            raise ValueError(f"BuildConfig.num_inputs: expected >= 2, found {self.num_inputs}")
        if self.min_user_reviews > self.max_user_reviews:
            raise ValueError(
                "BuildConfig: expected min_user_reviews <= max_user_reviews, found "
                f"{self.min_user_reviews} > {self.max_user_reviews}"
            )
        if self.min_description_chars > self.max_description_chars:
            raise ValueError(
                "BuildConfig: expected min_description_chars <= max_description_chars, found "
                f"{self.min_description_chars} > {self.max_description_chars}"
            )


@dataclass
class BuildReport:
    """What a build did: counts per stage, files written (with sha256), inputs' sha256."""

    out_dir: str
    config: dict[str, Any]
    command: str | None
    sources: dict[str, dict[str, str]]
    counts: dict[str, dict[str, int]]
    outputs: dict[str, str]
    on_bad_line: str = "error"
    bad_lines: dict[str, int] = field(default_factory=dict)
    bad_line_numbers: dict[str, list[int]] = field(default_factory=dict)  # the first ones
    bad_line_first_error: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- step 1/2: filters ---------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Collapse whitespace runs to one space and strip (as DPL does before writing)."""
    return " ".join(text.split())


def item_reject_reason(item: RawItem, config: BuildConfig) -> str | None:
    """Why an item fails the item filter, or ``None`` if it passes."""
    if config.require_description and not (
        config.min_description_chars <= len(item.description) <= config.max_description_chars
    ):
        return "description_length"
    if config.require_item_title and not item.title:
        return "no_title"
    if config.require_categories and not item.categories:
        return "no_categories"
    if config.require_rating_number and item.format == "2023" and not item.rating_number:
        return "no_rating_number"
    return None


def review_reject_reason(review: RawReview, config: BuildConfig) -> str | None:
    """Why a review fails the review filter, or ``None`` if it passes."""
    if review.text is None or len(review.text) < config.min_review_chars:
        return "short_text"
    if config.require_rating and not review.rating:
        return "no_rating"
    if config.require_title and not review.title:
        return "no_title"
    if config.require_timestamp and not review.timestamp:
        return "no_timestamp"
    return None


@dataclass
class MetaIndex:
    """Items that pass the item filter: asin -> line number in the metadata file."""

    lines: dict[str, int]
    counts: dict[str, int]


def scan_meta(meta_path: str | Path, config: BuildConfig, bad: BadLines | None = None) -> MetaIndex:
    """First pass over the metadata: which items pass the filter (first record of an asin).

    ``bad`` decides about unparsable lines (default: they raise :class:`RawDataError`).
    """
    lines: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for line, item in iter_items(meta_path, bad):
        counts["read"] += 1
        if item.asin in lines:
            counts["duplicate_asin"] += 1
            continue
        reason = item_reject_reason(item, config)
        if reason:
            counts[f"rejected_{reason}"] += 1
            continue
        lines[item.asin] = line
    counts["kept"] = len(lines)
    return MetaIndex(lines, dict(counts))


@dataclass
class ReviewTable:
    """Compact columns of the reviews that passed the filters (one entry per review)."""

    user: np.ndarray  # int64 index into user_ids
    item: np.ndarray  # int64 index into asins
    timestamp: np.ndarray  # int64, unit of the file
    text_key: np.ndarray  # int64 hash of the normalised text
    line: np.ndarray  # int64 line number in the reviews file
    user_ids: list[str]
    asins: list[str]
    counts: dict[str, int]

    def __len__(self) -> int:
        return len(self.user)


def text_key(text: str) -> int:
    """A stable 64-bit key of the normalised text (used for deduplication)."""
    digest = hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def scan_reviews(
    reviews_path: str | Path,
    items: Collection[str] | None,
    config: BuildConfig,
    bad: BadLines | None = None,
) -> ReviewTable:
    """First pass over the reviews: filter and keep only the columns the core needs.

    ``items`` restricts reviews to items with valid metadata (``None``: no restriction);
    ``bad`` decides about unparsable lines (default: they raise :class:`RawDataError`).
    """
    allowed = items if items is None or isinstance(items, (set, frozenset, dict)) else set(items)
    user_index: dict[str, int] = {}
    item_index: dict[str, int] = {}
    users, asins, times, texts, lines = (array("q") for _ in range(5))
    cols = {"user": users, "item": asins, "timestamp": times, "text_key": texts, "line": lines}
    counts: Counter[str] = Counter()
    read = 0
    for line, review in iter_reviews(reviews_path, bad):
        read += 1
        if not read % 1_000_000:
            log.info("reviews: %d lines read, %d kept", read, len(lines))
        reason = review_reject_reason(review, config)
        if reason:
            counts[f"rejected_{reason}"] += 1
            continue
        if allowed is not None and review.asin not in allowed:
            counts["rejected_item_filtered"] += 1
            continue
        users.append(user_index.setdefault(review.user_id, len(user_index)))
        asins.append(item_index.setdefault(review.asin, len(item_index)))
        times.append(review.timestamp or 0)
        texts.append(text_key(review.text or ""))
        lines.append(line)
    counts = Counter({"read": read, **counts})
    counts["kept"] = len(cols["line"])
    arrays = {
        k: np.frombuffer(v, dtype=np.int64) if len(v) else np.zeros(0, np.int64)
        for k, v in cols.items()
    }
    return ReviewTable(
        **arrays, user_ids=list(user_index), asins=list(item_index), counts=dict(counts)
    )


# --- step 3: iterative core ----------------------------------------------------------------


def _first_occurrence(a: np.ndarray, b: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """True where (a, b) occurs for the first time in ``rank`` order."""
    order = np.lexsort((rank, b, a))
    first = np.ones(len(a), dtype=bool)
    if len(a) > 1:
        sa, sb = a[order], b[order]
        first[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    out = np.empty(len(a), dtype=bool)
    out[order] = first
    return out


def dedupe_newest_first(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    text: np.ndarray,
    idx: np.ndarray,
) -> np.ndarray:
    """Of the rows ``idx``, those that survive DPL's per-user deduplication.

    Per user, newest first (ties: earlier row first), a review is kept if neither its item
    nor its text was seen among the reviews kept before it. Returns kept rows, ascending.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return idx
    u, it, t, k = user[idx], item[idx], timestamp[idx], text[idx]
    order = np.lexsort((idx, -t, u))
    rank = np.empty(len(idx), dtype=np.int64)
    rank[order] = np.arange(len(idx))
    keep = _first_occurrence(u, it, rank) & _first_occurrence(u, k, rank)
    # Rows that are first by item and by text are kept by the sequential rule too. Users
    # with any duplicate need the sequential rule (a later review of a dropped duplicate's
    # text may survive), so replay it for them only.
    dup_users = np.unique(u[~keep])
    if dup_users.size:
        rows = order[np.isin(u[order], dup_users)]
        current, seen_items, seen_texts = None, set(), set()
        for p, uu, ii, kk in zip(
            rows.tolist(), u[rows].tolist(), it[rows].tolist(), k[rows].tolist(), strict=True
        ):
            if uu != current:
                current, seen_items, seen_texts = uu, set(), set()
            ok = ii not in seen_items and kk not in seen_texts
            keep[p] = ok
            if ok:
                seen_items.add(ii)
                seen_texts.add(kk)
    return np.sort(idx[keep])


@dataclass
class CoreResult:
    rows: np.ndarray  # kept row indices (deduplicated), ascending
    iterations: int
    # rows removed per cause: "duplicate", "min_user_reviews", "max_user_reviews",
    # "min_item_users" (a row failing several thresholds in one round counts for each)
    removed: dict[str, int] = field(default_factory=dict)


def core_filter(
    user: Sequence[int] | np.ndarray,
    item: Sequence[int] | np.ndarray,
    timestamp: Sequence[int] | np.ndarray,
    text: Sequence[int] | np.ndarray,
    *,
    min_item_users: int,
    min_user_reviews: int,
    max_user_reviews: int,
) -> CoreResult:
    """DPL's iterative core over integer-coded rows (row order = file order).

    Each round deduplicates every user's reviews (:func:`dedupe_newest_first`), counts
    reviews per user and distinct reviewers per item on the deduplicated rows, and drops the
    rows of users outside ``min..max`` and of items below ``min_item_users``. It stops when a
    round drops nothing; the result is the deduplicated rows of that round, with the rows each
    threshold removed (:attr:`CoreResult.removed`).
    """
    user, item, timestamp, text = (
        np.asarray(x, dtype=np.int64) for x in (user, item, timestamp, text)
    )
    n_users = int(user.max()) + 1 if user.size else 0
    n_items = int(item.max()) + 1 if item.size else 0
    alive = np.arange(len(user), dtype=np.int64)
    iterations = 0
    removed: Counter[str] = Counter()
    while True:
        iterations += 1
        kept = dedupe_newest_first(user, item, timestamp, text, alive)
        user_count = np.bincount(user[kept], minlength=n_users)
        item_count = np.bincount(item[kept], minlength=n_items)  # one row per (user, item)
        fails = {
            "min_user_reviews": (user_count < min_user_reviews)[user[alive]],
            "max_user_reviews": (user_count > max_user_reviews)[user[alive]],
            "min_item_users": (item_count < min_item_users)[item[alive]],
        }
        for name, mask in fails.items():
            removed[name] += int(np.count_nonzero(mask))
        survivors = alive[
            ~(fails["min_user_reviews"] | fails["max_user_reviews"]) & ~fails["min_item_users"]
        ]
        log.info("core round %d: %d -> %d rows", iterations, len(alive), len(survivors))
        if len(survivors) == len(alive):
            removed["duplicate"] = len(alive) - len(kept)
            return CoreResult(kept, iterations, {k: v for k, v in removed.items() if v})
        alive = survivors


def core_counts(table: ReviewTable, result: CoreResult) -> dict[str, int]:
    rows = result.rows
    return {
        "reviews": len(rows),
        "users": len(np.unique(table.user[rows])),
        "items": len(np.unique(table.item[rows])),
        "iterations": result.iterations,
        **{f"rejected_{k}": v for k, v in result.removed.items()},
    }


# --- step 4/5: split and samples -----------------------------------------------------------


@dataclass
class SplitResult:
    """Per user (in input order): (profile, inputs), both oldest first."""

    users: dict[str, tuple[list[Review], list[Review]]]
    iterations: int
    # users dropped per cause ("num_inputs": at most num_inputs reviews, so no profile;
    # "profile_min_user_reviews") and profile reviews pruned ("profile_min_item_users")
    removed: dict[str, int] = field(default_factory=dict)


def split_users(
    user_reviews: Mapping[str, Sequence[Review]],
    *,
    num_inputs: int,
    profile_min_item_users: int,
    profile_min_user_reviews: int,
) -> SplitResult:
    """Split every user's reviews into profile and inputs and prune profiles (iterated).

    Reviews are ordered oldest first (a stable sort, so equal times keep the given order);
    the last ``num_inputs`` are inputs. Each round drops profile reviews of items that fewer
    than ``profile_min_item_users`` users have in their profiles, then users left with fewer
    than ``max(1, profile_min_user_reviews)`` profile reviews, until no user is dropped.
    Users with no more than ``num_inputs`` reviews never qualify; inputs are never pruned.
    """
    state: dict[str, tuple[list[Review], list[Review]]] = {}
    removed: Counter[str] = Counter()
    for user_id, reviews in user_reviews.items():
        ordered = sorted(reviews, key=lambda r: r.timestamp)
        inputs = ordered[-num_inputs:] if num_inputs else []
        if len(inputs) < num_inputs:
            removed["num_inputs"] += 1
            continue
        state[user_id] = (ordered[: len(ordered) - num_inputs], inputs)
    iterations = 0
    while True:
        iterations += 1
        item_users: Counter[str] = Counter()
        for profile, _ in state.values():
            item_users.update({r.asin for r in profile})
        new_state = {}
        for user_id, (profile, inputs) in state.items():
            pruned = [r for r in profile if item_users[r.asin] >= profile_min_item_users]
            removed["profile_min_item_users"] += len(profile) - len(pruned)
            if len(pruned) >= max(1, profile_min_user_reviews):
                new_state[user_id] = (pruned, inputs)
            else:
                removed["profile_min_user_reviews" if profile else "num_inputs"] += 1
        changed = len(new_state) != len(state)
        state = new_state
        if not changed:
            return SplitResult(state, iterations, {k: v for k, v in removed.items() if v})


def make_samples(split: SplitResult) -> dict[str, list[Sample]]:
    """Test = (profile + inputs[:-1], inputs[-1]); validation = (profile + inputs[:-2],
    inputs[-2]); train = every earlier input i with (profile + inputs[:i], inputs[i])."""
    out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    for user_id, (profile, inputs) in split.users.items():
        for i in range(len(inputs) - 2):
            out["train"].append(Sample(user_id, tuple(profile + inputs[:i]), inputs[i]))
        out["validation"].append(Sample(user_id, tuple(profile + inputs[:-2]), inputs[-2]))
        out["test"].append(Sample(user_id, tuple(profile + inputs[:-1]), inputs[-1]))
    return out


# --- second passes -------------------------------------------------------------------------


def read_review_lines(
    reviews_path: str | Path, lines: Iterable[int]
) -> dict[int, tuple[str, Review]]:
    """Second pass: full records (user id, normalised :class:`Review`) of the given lines."""
    wanted = set(lines)
    out: dict[int, tuple[str, Review]] = {}
    for lineno, text in iter_lines(reviews_path):
        if lineno not in wanted:
            continue
        try:
            raw = parse_review(parse_record(text), reviews_path, lineno)
        except ValueError as err:
            if isinstance(err, RawDataError):
                raise
            raise RawDataError(reviews_path, lineno, str(err)) from None
        out[lineno] = (raw.user_id, to_review(raw))
        if len(out) == len(wanted):
            break
    return out


def to_review(raw: RawReview) -> Review:
    return Review(
        asin=raw.asin,
        title=raw.title or "",
        text=normalize_text(raw.text or ""),
        rating=float(raw.rating or 0.0),
        timestamp=int(raw.timestamp or 0),
    )


def read_meta_lines(meta_path: str | Path, lines: Mapping[str, int]) -> dict[str, Item]:
    """Second pass over the metadata: :class:`Item` of the given asin -> line entries."""
    wanted = {line: asin for asin, line in lines.items()}
    out: dict[str, Item] = {}
    for lineno, text in iter_lines(meta_path):
        if lineno not in wanted:
            continue
        try:
            raw = parse_item(parse_record(text), meta_path, lineno)
        except ValueError as err:
            if isinstance(err, RawDataError):
                raise
            raise RawDataError(meta_path, lineno, str(err)) from None
        out[raw.asin] = Item(asin=raw.asin, title=raw.title or "", description=raw.description)
        if len(out) == len(wanted):
            break
    return out


# --- writing -------------------------------------------------------------------------------


def _open_out(path: Path) -> TextIO:
    if path.name.endswith(".gz"):
        # mtime=0 (and the fixed file name in the header) make the bytes reproducible.
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8")
    return open(path, "w", encoding="utf-8")


def _review_row(r: Review) -> dict[str, Any]:
    return {
        "asin": r.asin,
        "title": r.title,
        "text": r.text,
        "rating": r.rating,
        "timestamp": r.timestamp,
    }


def _sample_row(sample: Sample) -> dict[str, Any]:
    return {
        "user_id": sample.user_id,
        "profile": [_review_row(r) for r in sample.profile],
        "data": _review_row(sample.target),
    }


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with _open_out(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


# --- empty stages --------------------------------------------------------------------------


class EmptyStageError(ValueError):
    """A stage of the build left nothing; names the stage, counts and the biggest filter."""

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        super().__init__(message)


@dataclass(frozen=True)
class Removal:
    """Rows one filter removed: ``label`` names it with its value (``min_review_chars=200``),
    ``hint`` the flag that relaxes it (``None`` for what is not a threshold)."""

    label: str
    count: int
    hint: str | None = None


def empty_stage_error(
    stage: str,
    unit: str,
    before: int,
    removals: Iterable[Removal],
    *,
    overlap: bool = False,
    note: str | None = None,
) -> EmptyStageError:
    """The error for a stage that kept 0 of ``before`` rows, led by its biggest removal.

    ``overlap``: a row can count for several removals (said when more than one is listed).
    """
    ranked = sorted((r for r in removals if r.count), key=lambda r: -r.count)
    parts = [f"build stopped: the {stage} kept 0 of {before:,} {unit}"]
    if ranked:
        top = ranked[0]
        hint = f" (relax with {top.hint})" if top.hint else ""
        parts.append(f"{top.label} removed {top.count:,} of {before:,} {unit}, the most{hint}")
    if len(ranked) > 1:
        rest = ", ".join(f"{r.label} {r.count:,}" for r in ranked[1:])
        each = " (a row failing several counts for each)" if overlap else ""
        parts.append(f"also removed: {rest}{each}")
    if note:
        parts.append(note)
    parts.append("nothing was written")
    return EmptyStageError(stage, "; ".join(parts))


Labels = Mapping[str, tuple[str, str | None]]  # count key -> (threshold=value, flag hint)


def _item_labels(c: BuildConfig) -> Labels:
    return {
        "rejected_description_length": (
            f"min_description_chars={c.min_description_chars}"
            f"/max_description_chars={c.max_description_chars}",
            "--min-description-chars/--max-description-chars or --no-require-description",
        ),
        "rejected_no_title": ("require_item_title=True", "--no-require-item-title"),
        "rejected_no_categories": ("require_categories=True", "--no-require-categories"),
        "rejected_no_rating_number": ("require_rating_number=True", "--no-require-rating-number"),
        "duplicate_asin": ("a repeated asin (first row kept)", None),
    }


def _review_labels(c: BuildConfig) -> Labels:
    return {
        "rejected_short_text": (f"min_review_chars={c.min_review_chars}", "--min-review-chars"),
        "rejected_no_rating": ("require_rating=True", "--no-require-rating"),
        "rejected_no_title": ("require_title=True", "--no-require-title"),
        "rejected_no_timestamp": ("require_timestamp=True", "--no-require-timestamp"),
        "rejected_item_filtered": ("the item filter (item without a kept metadata row)", None),
    }


def _core_labels(c: BuildConfig) -> Labels:
    return {
        "duplicate": ("deduplication (same item or same text of a user)", None),
        "min_user_reviews": (f"min_user_reviews={c.min_user_reviews}", "--min-user-reviews"),
        "max_user_reviews": (f"max_user_reviews={c.max_user_reviews}", "--max-user-reviews"),
        "min_item_users": (f"min_item_users={c.min_item_users}", "--min-item-users"),
    }


def _split_labels(c: BuildConfig) -> Labels:
    return {
        "num_inputs": (f"num_inputs={c.num_inputs}", "--num-inputs"),
        "profile_min_user_reviews": (
            f"profile_min_user_reviews={c.profile_min_user_reviews}",
            "--profile-min-user-reviews",
        ),
    }


def removals(counts: Mapping[str, int], labels: Labels) -> list[Removal]:
    """One :class:`Removal` per labelled count key (absent keys count 0)."""
    return [Removal(label, counts.get(key, 0), hint) for key, (label, hint) in labels.items()]


def _input_note(path: str | Path, read: int, bad: BadLines) -> str | None:
    notes = [] if read else [f"{path} has no readable record"]
    if bad.count:
        notes.append(f"{bad.count:,} unparsable lines of {path} were skipped")
    return "; ".join(notes) or None


def check_meta_stage(
    counts: Mapping[str, int], config: BuildConfig, path: str | Path, bad: BadLines
) -> None:
    """Raise :class:`EmptyStageError` when the item filter kept no item."""
    if counts["kept"]:
        return
    found = removals(counts, _item_labels(config))
    raise empty_stage_error(
        "item filter", "items", counts["read"], found, note=_input_note(path, counts["read"], bad)
    )


def check_review_stage(
    counts: Mapping[str, int], config: BuildConfig, path: str | Path, bad: BadLines
) -> None:
    """Raise :class:`EmptyStageError` when the review filter kept no review."""
    if counts["kept"]:
        return
    found = removals(counts, _review_labels(config))
    note = _input_note(path, counts["read"], bad)
    raise empty_stage_error("review filter", "reviews", counts["read"], found, note=note)


def check_core_stage(core: CoreResult, before: int, config: BuildConfig) -> None:
    """Raise :class:`EmptyStageError` when the core kept none of ``before`` reviews."""
    if len(core.rows):
        return
    found = removals(core.removed, _core_labels(config))
    raise empty_stage_error("core filter", "reviews", before, found, overlap=True)


def check_split_stage(split: SplitResult, before: int, config: BuildConfig) -> None:
    """Raise :class:`EmptyStageError` when no user of ``before`` got a profile and inputs
    (the test and validation splits would be empty)."""
    if split.users:
        return
    found = removals(split.removed, _split_labels(config))
    pruned = split.removed.get("profile_min_item_users", 0)
    note = (
        f"profile_min_item_users={config.profile_min_item_users} pruned {pruned:,} profile "
        "reviews first (relax with --profile-min-item-users)"
        if pruned
        else None
    )
    raise empty_stage_error("split", "users", before, found, note=note)


# --- orchestration -------------------------------------------------------------------------

# Every file a build writes (the rest of a reused output folder is left alone).
_DATA_NAMES = [f"{n}{x}" for n in (*SPLITS, "meta") for x in (".jsonl", ".jsonl.gz")]
OUTPUT_NAMES = (*_DATA_NAMES, "build_info.json")


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: expected an output folder, found a file")


def _split_reviews(
    reviews_path: str | Path, table: ReviewTable, core: CoreResult, config: BuildConfig
) -> SplitResult:
    """Second pass over the core's reviews, then the split into profile and inputs."""
    full = read_review_lines(reviews_path, table.line[core.rows].tolist())
    user_reviews: dict[str, list[Review]] = {}
    for lineno in sorted(full):  # file order: first appearance of a user, ties by line
        user_id, review = full[lineno]
        user_reviews.setdefault(user_id, []).append(review)
    return split_users(
        user_reviews,
        num_inputs=config.num_inputs,
        profile_min_item_users=config.profile_min_item_users,
        profile_min_user_reviews=config.profile_min_user_reviews,
    )


def split_counts(split: SplitResult) -> dict[str, int]:
    profiles = [p for p, _ in split.users.values()]
    return {
        "users": len(split.users),
        "profile_reviews": sum(len(p) for p in profiles),
        "input_reviews": sum(len(i) for _, i in split.users.values()),
        "profile_items": len({r.asin for p in profiles for r in p}),
        "iterations": split.iterations,
    }


def _write_files(
    folder: Path,
    samples: Mapping[str, list[Sample]],
    items: Mapping[str, Item],
    suffix: str,
) -> dict[str, int]:
    """Write the non-empty splits and the metadata of every referenced item into ``folder``."""
    counts: dict[str, int] = {}
    for name in SPLITS:
        counts[name] = len(samples[name])
        if not samples[name]:  # only train can be empty (num_inputs=2): no file
            log.info("%s: no sample (num_inputs leaves no earlier input), not written", name)
            continue
        write_jsonl(folder / f"{name}{suffix}", (_sample_row(s) for s in samples[name]))
    counts["meta_items"] = write_jsonl(
        folder / f"meta{suffix}", (to_jsonable(items[a]) for a in sorted(items))
    )
    return counts


def _publish(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``; build_info.json last, stale outputs removed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "build_info.json").unlink(missing_ok=True)
    for name in OUTPUT_NAMES:
        if not (staging / name).exists() and (out / name).exists():
            log.info("removing %s of an earlier build", out / name)
            (out / name).unlink()
    for path in sorted(staging.iterdir(), key=lambda p: p.name == "build_info.json"):
        os.replace(path, out / path.name)


def _write_dataset(
    out: Path,
    report: BuildReport,
    samples: Mapping[str, list[Sample]],
    items: Mapping[str, Item],
    suffix: str,
) -> None:
    """Write everything into a staging folder beside ``out``, then move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        report.counts["samples"] = _write_files(staging, samples, items, suffix)
        report.outputs = {
            p.name: sha256_file(p) for p in sorted(staging.iterdir(), key=_output_order)
        }
        (staging / "build_info.json").write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _output_order(path: Path) -> int:
    """train, validation, test, meta: the order build_info.json has always listed them."""
    return OUTPUT_NAMES.index(path.name)


def build(
    reviews_path: str | Path,
    meta_path: str | Path,
    out_dir: str | Path,
    config: BuildConfig | None = None,
    *,
    command: str | None = None,
    compress: bool = False,
    on_bad_line: str = "error",
) -> BuildReport:
    """Build ``{train,validation,test}.jsonl``, ``meta.jsonl`` and ``build_info.json``.

    ``compress`` writes ``.jsonl.gz`` (deterministic gzip). ``command`` is recorded as is.
    ``on_bad_line``: ``"error"`` (an unparsable raw line raises :class:`RawDataError`) or
    ``"skip"`` (skipped and counted per file in ``build_info.json``). A stage that leaves
    nothing raises :class:`EmptyStageError` and writes nothing.
    """
    config = config or BuildConfig()
    config.validate()
    bad = {"reviews": BadLines(on_bad_line), "meta": BadLines(on_bad_line)}
    out = Path(out_dir)
    _check_out_dir(out)
    counts: dict[str, dict[str, int]] = {}

    meta_index = scan_meta(meta_path, config, bad["meta"])
    counts["meta"] = meta_index.counts
    log.info("meta: %s", meta_index.counts)
    check_meta_stage(meta_index.counts, config, meta_path, bad["meta"])

    table = scan_reviews(reviews_path, meta_index.lines, config, bad["reviews"])
    counts["reviews"] = table.counts
    log.info("reviews: %s", table.counts)
    check_review_stage(table.counts, config, reviews_path, bad["reviews"])

    core = core_filter(
        table.user,
        table.item,
        table.timestamp,
        table.text_key,
        min_item_users=config.min_item_users,
        min_user_reviews=config.min_user_reviews,
        max_user_reviews=config.max_user_reviews,
    )
    counts["core"] = core_counts(table, core)
    log.info("core: %s", counts["core"])
    check_core_stage(core, len(table), config)

    split = _split_reviews(reviews_path, table, core, config)
    counts["split"] = split_counts(split)
    log.info("split: %s", counts["split"])
    check_split_stage(split, counts["core"]["users"], config)

    samples = make_samples(split)
    referenced = {r.asin for v in samples.values() for s in v for r in (*s.profile, s.target)}
    items = read_meta_lines(meta_path, {a: meta_index.lines[a] for a in sorted(referenced)})
    report = BuildReport(
        out_dir=str(out),
        config=asdict(config),
        command=command,
        sources={
            "reviews": {"path": str(reviews_path), "sha256": sha256_file(reviews_path)},
            "meta": {"path": str(meta_path), "sha256": sha256_file(meta_path)},
        },
        counts=counts,
        outputs={},
        on_bad_line=on_bad_line,
        bad_lines={name: b.count for name, b in bad.items()},
        bad_line_numbers={name: b.lines for name, b in bad.items()},
        bad_line_first_error={n: b.first_error for n, b in bad.items() if b.first_error},
    )
    _write_dataset(out, report, samples, items, ".jsonl.gz" if compress else ".jsonl")
    return report
