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
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from drp_bench.data.loader import sha256_file
from drp_bench.data.raw import (
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
from drp_bench.records import Item, Review, Sample, to_jsonable

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


def scan_meta(meta_path: str | Path, config: BuildConfig) -> MetaIndex:
    """First pass over the metadata: which items pass the filter (first record of an asin)."""
    lines: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for line, item in iter_items(meta_path):
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
    reviews_path: str | Path, items: Collection[str] | None, config: BuildConfig
) -> ReviewTable:
    """First pass over the reviews: filter and keep only the columns the core needs.

    ``items`` restricts reviews to items with valid metadata (``None``: no restriction).
    """
    allowed = items if items is None or isinstance(items, (set, frozenset, dict)) else set(items)
    user_index: dict[str, int] = {}
    item_index: dict[str, int] = {}
    users, asins, times, texts, lines = (array("q") for _ in range(5))
    cols = {"user": users, "item": asins, "timestamp": times, "text_key": texts, "line": lines}
    counts: Counter[str] = Counter()
    read = 0
    for line, review in iter_reviews(reviews_path):
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
    round drops nothing; the result is the deduplicated rows of that round.
    """
    user, item, timestamp, text = (
        np.asarray(x, dtype=np.int64) for x in (user, item, timestamp, text)
    )
    n_users = int(user.max()) + 1 if user.size else 0
    n_items = int(item.max()) + 1 if item.size else 0
    alive = np.arange(len(user), dtype=np.int64)
    iterations = 0
    while True:
        iterations += 1
        kept = dedupe_newest_first(user, item, timestamp, text, alive)
        user_count = np.bincount(user[kept], minlength=n_users)
        item_count = np.bincount(item[kept], minlength=n_items)  # one row per (user, item)
        ok_user = (user_count >= min_user_reviews) & (user_count <= max_user_reviews)
        ok_item = item_count >= min_item_users
        survivors = alive[ok_user[user[alive]] & ok_item[item[alive]]]
        log.info("core round %d: %d -> %d rows", iterations, len(alive), len(survivors))
        if len(survivors) == len(alive):
            return CoreResult(kept, iterations)
        alive = survivors


def core_counts(table: ReviewTable, result: CoreResult) -> dict[str, int]:
    rows = result.rows
    return {
        "reviews": len(rows),
        "users": len(np.unique(table.user[rows])),
        "items": len(np.unique(table.item[rows])),
        "iterations": result.iterations,
    }


# --- step 4/5: split and samples -----------------------------------------------------------


@dataclass
class SplitResult:
    """Per user (in input order): (profile, inputs), both oldest first."""

    users: dict[str, tuple[list[Review], list[Review]]]
    iterations: int


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
    for user_id, reviews in user_reviews.items():
        ordered = sorted(reviews, key=lambda r: r.timestamp)
        inputs = ordered[-num_inputs:] if num_inputs else []
        if len(inputs) < num_inputs:
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
            if len(pruned) >= max(1, profile_min_user_reviews):
                new_state[user_id] = (pruned, inputs)
        changed = len(new_state) != len(state)
        state = new_state
        if not changed:
            return SplitResult(state, iterations)


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


# --- orchestration -------------------------------------------------------------------------


def build(
    reviews_path: str | Path,
    meta_path: str | Path,
    out_dir: str | Path,
    config: BuildConfig | None = None,
    *,
    command: str | None = None,
    compress: bool = False,
) -> BuildReport:
    """Build ``{train,validation,test}.jsonl``, ``meta.jsonl`` and ``build_info.json``.

    ``compress`` writes ``.jsonl.gz`` (deterministic gzip). ``command`` is recorded as is.
    """
    config = config or BuildConfig()
    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}

    meta_index = scan_meta(meta_path, config)
    counts["meta"] = meta_index.counts
    log.info("meta: %s", meta_index.counts)

    table = scan_reviews(reviews_path, meta_index.lines, config)
    counts["reviews"] = table.counts
    log.info("reviews: %s", table.counts)

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

    full = read_review_lines(reviews_path, table.line[core.rows].tolist())
    user_reviews: dict[str, list[Review]] = {}
    for lineno in sorted(full):  # file order: first appearance of a user, ties by line
        user_id, review = full[lineno]
        user_reviews.setdefault(user_id, []).append(review)
    split = split_users(
        user_reviews,
        num_inputs=config.num_inputs,
        profile_min_item_users=config.profile_min_item_users,
        profile_min_user_reviews=config.profile_min_user_reviews,
    )
    profiles = [p for p, _ in split.users.values()]
    counts["split"] = {
        "users": len(split.users),
        "profile_reviews": sum(len(p) for p in profiles),
        "input_reviews": sum(len(i) for _, i in split.users.values()),
        "profile_items": len({r.asin for p in profiles for r in p}),
        "iterations": split.iterations,
    }
    log.info("split: %s", counts["split"])

    samples = make_samples(split)
    suffix = ".jsonl.gz" if compress else ".jsonl"
    written: list[Path] = []
    counts["samples"] = {}
    for name in SPLITS:
        path = out / f"{name}{suffix}"
        counts["samples"][name] = write_jsonl(path, (_sample_row(s) for s in samples[name]))
        written.append(path)

    referenced = sorted(
        {r.asin for s in samples["test"] for r in (*s.profile, s.target)}
        | {r.asin for s in samples["validation"] for r in (*s.profile, s.target)}
        | {r.asin for s in samples["train"] for r in (*s.profile, s.target)}
    )
    items = read_meta_lines(meta_path, {a: meta_index.lines[a] for a in referenced})
    meta_file = out / f"meta{suffix}"
    counts["samples"]["meta_items"] = write_jsonl(
        meta_file, (to_jsonable(items[a]) for a in referenced)
    )
    written.append(meta_file)

    report = BuildReport(
        out_dir=str(out),
        config=asdict(config),
        command=command,
        sources={
            "reviews": {"path": str(reviews_path), "sha256": sha256_file(reviews_path)},
            "meta": {"path": str(meta_path), "sha256": sha256_file(meta_path)},
        },
        counts=counts,
        outputs={p.name: sha256_file(p) for p in written},
    )
    (out / "build_info.json").write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report
