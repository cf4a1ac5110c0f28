"""Specification of the raw Amazon readers and the DPL-style builder (filters, core, split)."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from drp_bench.data import load_dataset
from drp_bench.data.builder import (
    BuildConfig,
    EmptyStageError,
    build,
    core_counts,
    core_filter,
    dedupe_newest_first,
    item_reject_reason,
    make_samples,
    scan_meta,
    scan_reviews,
    split_users,
)
from drp_bench.data.cli import main as data_main
from drp_bench.data.raw import RawDataError, RawItem, iter_items, iter_reviews
from drp_bench.data.types import Review

REPO = Path(__file__).resolve().parents[1]
# Real raw lines of the shared Amazon 2014 Digital Music files, in the repository (see its
# README): every review of the core the bundled sample is built from, a few hundred others.
VENDORED_MUSIC = REPO / "tests" / "data" / "amazon2014_digital_music_subset"
MUSIC_REVIEWS = VENDORED_MUSIC / "reviews_Digital_Music_5.jsonl.gz"
MUSIC_META = VENDORED_MUSIC / "meta_Digital_Music.pyjson.gz"
# The full raw files (6,907 reviews, 382 items; 3.6 MB), in the repository too (see its
# README): the subset's cross-checks and the full rebuild of the bundled sample.
FULL_MUSIC = REPO / "tests" / "data" / "amazon2014_digital_music"
SAMPLE_DIR = REPO / "drp_bench" / "sample_data" / "music_sample"


@pytest.fixture
def music() -> tuple[Path, Path]:
    """The vendored subset of the Amazon 2014 Digital Music review and metadata files."""
    return MUSIC_REVIEWS, MUSIC_META


@pytest.fixture
def full_music() -> tuple[Path, Path]:
    """The full Amazon 2014 Digital Music review and metadata files the subset was cut from."""
    return (
        FULL_MUSIC / "reviews_Digital_Music_5.jsonl.gz",
        FULL_MUSIC / "meta_Digital_Music.pyjson.gz",
    )
    assert MUSIC_REVIEWS.is_file() and MUSIC_META.is_file()  # what the tests read instead
    assert VENDORED_MUSIC.resolve().is_relative_to(REPO)


# The thresholds the bundled sample was built with (see sample_data/music_sample/README.md).
SAMPLE_FLAGS = [
    "--min-review-chars", "200",
    "--min-user-reviews", "8",
    "--min-item-users", "5",
    "--no-require-description",
    "--num-inputs", "3",
    "--profile-min-item-users", "5",
    "--profile-min-user-reviews", "4",
]  # fmt: skip


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def rev(asin: str, ts: int, text: str = "") -> Review:
    return Review(
        asin=asin, title=f"title {asin}", text=text or f"text {asin}", rating=4.0, timestamp=ts
    )


# --- raw readers ---------------------------------------------------------------------------


def test_raw_2014_reviews_and_python_literal_meta_are_read(tmp_path):
    reviews = write_lines(
        tmp_path / "reviews.json.gz",
        [
            json.dumps(
                {
                    "reviewerID": "U1",
                    "asin": "A1",
                    "overall": 5.0,
                    "summary": "Great",
                    "reviewText": "Loved it.",
                    "unixReviewTime": 1158019200,
                }
            ),
            json.dumps(
                {
                    "reviewerID": "U2",
                    "asin": "A1",
                    "overall": 3.0,
                    "reviewText": "Fine.",
                    "unixReviewTime": 991526400,
                }
            ),
        ],
        gz=True,
    )
    meta = write_lines(
        tmp_path / "meta.pyjson",
        [
            "{'asin': 'A1', 'title': 'Memory of Trees', 'description': 'An album.', "
            "'categories': [['CDs & Vinyl', 'New Age']], 'price': 9.49}",
            '{"asin": "A2", "title": "JSON line", "categories": [["Pop"]]}',
        ],
    )
    (_, r1), (_, r2) = iter_reviews(reviews)
    assert (r1.user_id, r1.asin, r1.title, r1.text) == ("U1", "A1", "Great", "Loved it.")
    assert (r1.rating, r1.timestamp, r1.format) == (5.0, 1158019200, "2014")
    assert r2.title is None  # missing summary: left to the filter
    (_, m1), (_, m2) = iter_items(meta)
    assert m1 == RawItem(
        "A1", "Memory of Trees", "An album.", [["CDs & Vinyl", "New Age"]], None, "2014"
    )
    assert (m2.asin, m2.description) == ("A2", "")  # 2014 description may be missing


def test_raw_2023_reviews_keep_ms_timestamps_and_parent_asin(tmp_path):
    reviews = write_lines(
        tmp_path / "Books.jsonl",
        [
            json.dumps(
                {
                    "user_id": "U1",
                    "asin": "B0CHILD",
                    "parent_asin": "B0PARENT",
                    "rating": 4,
                    "title": "Nice",
                    "text": "Good read.",
                    "timestamp": 1588687728923,
                    "verified_purchase": True,
                }
            )
        ],
    )
    meta = write_lines(
        tmp_path / "meta_Books.jsonl.gz",
        [
            json.dumps(
                {
                    "parent_asin": "B0PARENT",
                    "title": "A Book",
                    "description": ["Product Description", "First part.", "Second part."],
                    "categories": ["Books", "Fiction"],
                    "rating_number": 42,
                }
            )
        ],
        gz=True,
    )
    [(line, r)] = list(iter_reviews(reviews))
    assert line == 1
    assert (r.user_id, r.asin, r.rating, r.timestamp, r.format) == (
        "U1",
        "B0PARENT",
        4.0,
        1588687728923,
        "2023",
    )
    [(_, item)] = list(iter_items(meta))
    assert item.description == "First part. Second part."
    assert (item.asin, item.rating_number, item.format) == ("B0PARENT", 42, "2023")


def test_raw_gzip_is_detected_by_magic_bytes_not_by_name(tmp_path):
    line = json.dumps(
        {
            "reviewerID": "U",
            "asin": "A",
            "reviewText": "x",
            "overall": 1.0,
            "summary": "s",
            "unixReviewTime": 5,
        }
    )
    gz_named_plain = write_lines(tmp_path / "reviews.json", [line], gz=True)
    plain_named_gz = write_lines(tmp_path / "reviews.json.gz", [line], gz=False)
    assert next(iter_reviews(gz_named_plain))[1].user_id == "U"
    assert next(iter_reviews(plain_named_gz))[1].user_id == "U"


def test_raw_bad_line_error_names_file_and_line(tmp_path):
    path = write_lines(
        tmp_path / "meta.txt",
        ["{'asin': 'A1', 'title': 'ok'}", "{'asin': 'A2', 'title': ", "{'asin': 'A3'}"],
    )
    with pytest.raises(RawDataError) as err:
        list(iter_items(path))
    assert str(path) in str(err.value) and "line 2" in str(err.value)
    assert err.value.line == 2


def test_raw_literal_meta_is_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    path = write_lines(
        tmp_path / "meta.txt", [f"__import__('pathlib').Path({str(marker)!r}).touch()"]
    )
    with pytest.raises(RawDataError, match="line 1"):
        list(iter_items(path))
    assert not marker.exists()


def test_raw_wrong_type_names_the_field(tmp_path):
    path = write_lines(
        tmp_path / "r.jsonl",
        [
            json.dumps(
                {
                    "user_id": "U",
                    "parent_asin": "P",
                    "rating": "five",
                    "title": "t",
                    "text": "x",
                    "timestamp": 1,
                }
            )
        ],
    )
    with pytest.raises(RawDataError, match=r"line 1: field 'rating': expected a number"):
        list(iter_reviews(path))


# --- filters -------------------------------------------------------------------------------


def test_item_filter_applies_rating_number_only_to_the_2023_format():
    config = BuildConfig(min_description_chars=5, max_description_chars=20)
    old = RawItem("A", "t", "long enough", [["x"]], None, "2014")
    new = RawItem("P", "t", "long enough", ["x"], None, "2023")
    assert item_reject_reason(old, config) is None
    assert item_reject_reason(new, config) == "no_rating_number"
    assert item_reject_reason(RawItem("A", "t", "tiny", [["x"]], None, "2014"), config) == (
        "description_length"
    )
    relaxed = BuildConfig(require_description=False)
    assert item_reject_reason(RawItem("A", "t", "", [["x"]], None, "2014"), relaxed) is None


# --- core ----------------------------------------------------------------------------------


def test_dedupe_keeps_newest_review_per_item_and_per_text_sequentially():
    # One user, newest first: r0 (A, t1), r1 (A, t2), r2 (B, t2), r3 (C, t1).
    # r1 repeats item A -> dropped (its text t2 is not marked seen); r2 keeps t2;
    # r3 repeats text t1 -> dropped.
    user = np.array([0, 0, 0, 0])
    item = np.array([0, 0, 1, 2])
    ts = np.array([30, 20, 10, 0])
    text = np.array([1, 2, 2, 1])
    assert dedupe_newest_first(user, item, ts, text, np.arange(4)).tolist() == [0, 2]


def test_dedupe_breaks_time_ties_by_file_order():
    user, item, ts, text = (np.array(v) for v in ([0, 0], [5, 5], [7, 7], [1, 2]))
    assert dedupe_newest_first(user, item, ts, text, np.arange(2)).tolist() == [0]


def test_core_filter_iterates_until_stable():
    # u0, u1: items 0,1; u2: items 1,2; u3: items 0,1,2,3 (above max 3).
    rows = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)]
    user = [u for u, _ in rows]
    item = [i for _, i in rows]
    result = core_filter(
        user,
        item,
        list(range(len(rows))),
        list(range(len(rows))),
        min_item_users=2,
        min_user_reviews=2,
        max_user_reviews=3,
    )
    # Round 1 drops u3 (4 reviews) and item 3; round 2 item 2 (only u2 left);
    # round 3 u2 (1 review left); round 4 changes nothing.
    assert result.rows.tolist() == [0, 1, 2, 3]
    assert result.iterations == 4


def _core_of(reviews: Path, meta_path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Metadata and review scan counts, and the core's counts, with the sample's thresholds."""
    config = BuildConfig(min_user_reviews=8, min_item_users=5, require_description=False)
    meta = scan_meta(meta_path, config)
    table = scan_reviews(reviews, meta.lines, config)
    result = core_filter(
        table.user,
        table.item,
        table.timestamp,
        table.text_key,
        min_item_users=5,
        min_user_reviews=8,
        max_user_reviews=500,
    )
    return {"meta": meta.counts["read"], **table.counts}, core_counts(table, result)


def test_core_on_digital_music_gives_760_reviews_59_users_78_items(music):
    read, counts = _core_of(*music)
    # the vendored subset: 154 items, 1,178 reviews of which 13 are shorter than 200 characters
    assert read == {"meta": 154, "read": 1178, "rejected_short_text": 13, "kept": 1165}
    assert (counts["reviews"], counts["users"], counts["items"]) == (760, 59, 78)
    assert counts["iterations"] == 9  # the others it keeps make the core take the same rounds
    assert counts["rejected_min_user_reviews"] == 267
    assert counts["rejected_min_item_users"] == 138


def test_core_on_the_full_digital_music_files_is_the_same(full_music):
    read, counts = _core_of(*full_music)
    assert read == {"meta": 382, "read": 6907, "rejected_short_text": 625, "kept": 6282}
    assert (counts["reviews"], counts["users"], counts["items"]) == (760, 59, 78)
    assert counts["iterations"] == 9


def test_vendored_lines_are_verbatim_lines_of_the_full_files(music, full_music):
    for subset, full in zip(music, full_music, strict=True):
        full_lines = gzip.decompress(full.read_bytes()).decode("utf-8").splitlines()
        lines = gzip.decompress(subset.read_bytes()).decode("utf-8").splitlines()
        position = {line: i for i, line in enumerate(full_lines)}
        assert all(line in position for line in lines), subset.name
        assert [position[line] for line in lines] == sorted(position[line] for line in lines)


# --- split ---------------------------------------------------------------------------------


def _split_fixture() -> dict[str, list[Review]]:
    return {
        # given newest first on purpose: the split sorts oldest first
        "u1": [
            rev(a, t)
            for a, t in reversed([("A", 1), ("B", 2), ("C", 3), ("X1", 4), ("X2", 5), ("X3", 6)])
        ],
        "u2": [
            rev(a, t) for a, t in [("A", 1), ("B", 2), ("D", 3), ("Y1", 4), ("Y2", 5), ("Y3", 6)]
        ],
        "u3": [
            rev(a, t) for a, t in [("C", 1), ("E", 2), ("F", 3), ("Z1", 4), ("Z2", 5), ("Z3", 6)]
        ],
        "u4": [
            rev(a, t) for a, t in [("D", 1), ("G", 2), ("H", 3), ("W1", 4), ("W2", 5), ("W3", 6)]
        ],
    }


def test_split_prunes_profile_items_and_users_iteratively():
    result = split_users(
        _split_fixture(), num_inputs=3, profile_min_item_users=2, profile_min_user_reviews=2
    )
    # Round 1: E, F, G, H have one profile user -> u3 and u4 keep one review and go.
    # Round 2: C and D now have one user -> pruned from u1 and u2, who keep A, B.
    assert list(result.users) == ["u1", "u2"]
    assert result.iterations == 2
    profile, inputs = result.users["u1"]
    assert [r.asin for r in profile] == ["A", "B"]
    assert [r.asin for r in inputs] == ["X1", "X2", "X3"]


def test_samples_take_test_validation_and_train_targets_from_the_inputs():
    result = split_users(
        _split_fixture(), num_inputs=3, profile_min_item_users=2, profile_min_user_reviews=2
    )
    samples = make_samples(result)
    test = {s.user_id: s for s in samples["test"]}
    val = {s.user_id: s for s in samples["validation"]}
    assert test["u1"].target.asin == "X3"
    assert [r.asin for r in test["u1"].profile] == ["A", "B", "X1", "X2"]
    assert val["u1"].target.asin == "X2"
    assert [r.asin for r in val["u1"].profile] == ["A", "B", "X1"]
    assert [(s.user_id, s.target.asin, [r.asin for r in s.profile]) for s in samples["train"]] == [
        ("u1", "X1", ["A", "B"]),
        ("u2", "Y1", ["A", "B"]),
    ]


def test_split_with_more_inputs_gives_one_train_sample_per_earlier_input():
    reviews = {
        u: [rev(a, t) for t, a in enumerate(["A", "B", "I1", "I2", "I3", "I4"])]
        for u in ("u1", "u2")
    }
    result = split_users(
        reviews, num_inputs=4, profile_min_item_users=2, profile_min_user_reviews=2
    )
    train = [s for s in make_samples(result)["train"] if s.user_id == "u1"]
    assert [(s.target.asin, len(s.profile)) for s in train] == [("I1", 2), ("I2", 3)]


def test_split_drops_users_with_too_few_reviews_for_the_inputs():
    reviews = {"u1": [rev("A", 1), rev("B", 2)]}
    result = split_users(
        reviews, num_inputs=3, profile_min_item_users=0, profile_min_user_reviews=0
    )
    assert result.users == {}


# --- build end to end ----------------------------------------------------------------------


def _lines_2023() -> tuple[list[str], list[str]]:
    """Raw 2023-format review and metadata lines: 5 users x 6 items, item P5's description
    too short, one older duplicate review and one too-short review."""
    reviews, meta = [], []
    for i in range(6):
        desc = ["Product Description", f"Item {i} is a book about things."] if i < 5 else ["x"]
        meta.append(
            json.dumps(
                {
                    "parent_asin": f"P{i}",
                    "title": f"Book {i}",
                    "description": desc,
                    "categories": ["Books"],
                    "rating_number": 10,
                }
            )
        )
    for u in range(5):
        for i in range(6):
            reviews.append(
                json.dumps(
                    {
                        "user_id": f"U{u}",
                        "asin": f"C{i}",
                        "parent_asin": f"P{i}",
                        "rating": 4.0,
                        "title": f"Review {u}-{i}",
                        "text": f"User {u} thinks   book {i} is good.",
                        "timestamp": 1_600_000_000_000 + 1000 * i + u,
                    }
                )
            )
    # An older duplicate review of P0 by U0 (dropped by dedupe) and a too-short review.
    reviews.append(
        json.dumps(
            {
                "user_id": "U0",
                "parent_asin": "P0",
                "rating": 1.0,
                "title": "Old",
                "text": "An older take on book 0, long enough.",
                "timestamp": 1_500_000_000_000,
            }
        )
    )
    reviews.append(
        json.dumps(
            {
                "user_id": "U9",
                "parent_asin": "P1",
                "rating": 2.0,
                "title": "Short",
                "text": "Too short.",
                "timestamp": 1,
            }
        )
    )
    return reviews, meta


def _write_2023(
    tmp_path: Path, reviews: list[str] | None = None, meta: list[str] | None = None
) -> tuple[Path, Path]:
    default_reviews, default_meta = _lines_2023()
    return (
        write_lines(tmp_path / "reviews.jsonl.gz", reviews or default_reviews, gz=True),
        write_lines(tmp_path / "meta.jsonl", meta or default_meta),
    )


SMALL_CONFIG = BuildConfig(
    min_review_chars=20,
    min_description_chars=10,
    min_item_users=3,
    min_user_reviews=4,
    num_inputs=2,
    profile_min_item_users=3,
    profile_min_user_reviews=2,
)


def test_build_writes_loadable_splits_meta_and_build_info(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    out = tmp_path / "out"
    report = build(reviews, meta, out, SMALL_CONFIG, command="drp-bench data build ...")
    assert report.counts["meta"] == {"read": 6, "rejected_description_length": 1, "kept": 5}
    assert report.counts["reviews"]["rejected_short_text"] == 1
    assert report.counts["reviews"]["rejected_item_filtered"] == 5  # reviews of P5
    assert report.counts["core"] == {
        "reviews": 25,
        "users": 5,
        "items": 5,
        "iterations": 1,
        "rejected_duplicate": 1,  # U0's older review of P0
    }
    assert report.counts["samples"] == {"train": 0, "validation": 5, "test": 5, "meta_items": 5}

    test = load_dataset(out, None, split="test")
    u0 = next(s for s in test.samples if s.user_id == "U0")
    assert [r.asin for r in u0.profile] == ["P0", "P1", "P2", "P3"]
    assert u0.target.asin == "P4"
    assert u0.profile[0].title == "Review 0-0"  # the newer P0 review survived dedupe
    assert u0.profile[0].text == "User 0 thinks book 0 is good."  # whitespace normalised
    assert u0.profile[0].timestamp == 1_600_000_000_000  # ms kept
    assert test.items["P0"].description == "Item 0 is a book about things."
    assert load_dataset(out, None, split="validation").samples[0].target.asin == "P3"

    info = json.loads((out / "build_info.json").read_text())
    assert info["command"] == "drp-bench data build ..."
    assert info["config"]["num_inputs"] == 2
    assert info["sources"]["reviews"]["sha256"].startswith("sha256:")
    # num_inputs=2 leaves no train sample: no train file presenting as a split
    assert set(info["outputs"]) == {"validation.jsonl", "test.jsonl", "meta.jsonl"}
    assert not (out / "train.jsonl").exists()
    assert (info["on_bad_line"], info["bad_lines"]) == ("error", {"reviews": 0, "meta": 0})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.jsonl", "out", "reviews.jsonl.gz"]


def test_build_is_byte_reproducible_with_gzip(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    first = build(reviews, meta, tmp_path / "a", SMALL_CONFIG, compress=True)
    second = build(reviews, meta, tmp_path / "b", SMALL_CONFIG, compress=True)
    assert first.outputs == second.outputs
    assert "test.jsonl.gz" in first.outputs


def test_config_rejects_inconsistent_thresholds():
    with pytest.raises(ValueError, match="num_inputs"):
        BuildConfig(num_inputs=1).validate()
    with pytest.raises(ValueError, match="min_user_reviews <= max_user_reviews"):
        BuildConfig(min_user_reviews=10, max_user_reviews=5).validate()


# --- a stage that leaves nothing ----------------------------------------------------------


def build_error(tmp_path: Path, **overrides) -> EmptyStageError:
    reviews, meta = _write_2023(tmp_path)
    with pytest.raises(EmptyStageError) as err:
        build(reviews, meta, tmp_path / "out", replace(SMALL_CONFIG, **overrides))
    assert not (tmp_path / "out").exists()  # nothing written, no staging folder left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.jsonl", "reviews.jsonl.gz"]
    return err.value


def test_item_filter_leaving_nothing_names_the_threshold_and_counts(tmp_path):
    err = build_error(tmp_path, min_description_chars=1000, max_description_chars=2000)
    assert err.stage == "item filter"
    assert str(err) == (
        "build stopped: the item filter kept 0 of 6 items; "
        "min_description_chars=1000/max_description_chars=2000 removed 6 of 6 items, the most "
        "(relax with --min-description-chars/--max-description-chars or "
        "--no-require-description); nothing was written"
    )


def test_review_filter_leaving_nothing_names_the_threshold_and_counts(tmp_path):
    err = build_error(tmp_path, min_review_chars=200)
    assert str(err) == (
        "build stopped: the review filter kept 0 of 32 reviews; min_review_chars=200 removed "
        "32 of 32 reviews, the most (relax with --min-review-chars); nothing was written"
    )


def test_review_filter_ranks_its_reasons(tmp_path):
    # 31 reviews are shorter than 32 chars; the one long enough is of an item without title.
    _, meta = _lines_2023()
    meta[0] = meta[0].replace('"title": "Book 0", ', "")
    reviews, meta_path = _write_2023(tmp_path, meta=meta)
    with pytest.raises(EmptyStageError) as err:
        build(reviews, meta_path, tmp_path / "out", replace(SMALL_CONFIG, min_review_chars=32))
    assert "the review filter kept 0 of 32 reviews; min_review_chars=32 removed 31 of 32" in (
        str(err.value)
    )
    assert "also removed: the item filter (item without a kept metadata row) 1;" in (str(err.value))


def test_core_leaving_nothing_names_every_threshold_that_removed_rows(tmp_path):
    err = build_error(tmp_path, min_user_reviews=7, max_user_reviews=10, min_item_users=6)
    assert str(err) == (
        "build stopped: the core filter kept 0 of 26 reviews; min_user_reviews=7 removed 26 of "
        "26 reviews, the most (relax with --min-user-reviews); also removed: min_item_users=6 "
        "26 (a row failing several counts for each); nothing was written"
    )


def test_split_leaving_no_user_names_the_threshold(tmp_path):
    err = build_error(tmp_path, profile_min_user_reviews=5)
    assert str(err) == (
        "build stopped: the split kept 0 of 5 users; profile_min_user_reviews=5 removed 5 of 5 "
        "users, the most (relax with --profile-min-user-reviews); nothing was written"
    )
    err = build_error(tmp_path, num_inputs=6, profile_min_user_reviews=0)
    assert "num_inputs=6 removed 5 of 5 users, the most (relax with --num-inputs)" in str(err)


def test_core_and_split_count_what_each_threshold_removed():
    rows = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)]
    result = core_filter(
        [u for u, _ in rows],
        [i for _, i in rows],
        list(range(len(rows))),
        list(range(len(rows))),
        min_item_users=2,
        min_user_reviews=2,
        max_user_reviews=3,
    )
    # round 1: u3's 4 rows (max), item 3's row (also u3's); round 2: item 2 (u2's row);
    # round 3: u2's last row (min).
    assert result.removed == {"max_user_reviews": 4, "min_item_users": 2, "min_user_reviews": 1}
    split = split_users(
        _split_fixture(), num_inputs=3, profile_min_item_users=2, profile_min_user_reviews=2
    )
    assert split.removed == {"profile_min_item_users": 6, "profile_min_user_reviews": 2}


def test_a_failed_build_leaves_an_earlier_build_untouched(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    out = tmp_path / "out"
    first = build(reviews, meta, out, SMALL_CONFIG)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(EmptyStageError):
        build(reviews, meta, out, replace(SMALL_CONFIG, min_review_chars=500))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert set(first.outputs) | {"build_info.json"} == set(before)


def test_a_rebuild_removes_outputs_the_new_build_does_not_write(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    out = tmp_path / "out"
    build(reviews, meta, out, replace(SMALL_CONFIG, num_inputs=3, profile_min_user_reviews=1))
    assert (out / "train.jsonl").is_file()
    (out / "notes.txt").write_text("mine")
    build(reviews, meta, out, SMALL_CONFIG)  # num_inputs=2: no train sample
    assert sorted(p.name for p in out.iterdir()) == [
        "build_info.json",
        "meta.jsonl",
        "notes.txt",
        "test.jsonl",
        "validation.jsonl",
    ]


def test_output_folder_that_is_a_file_is_an_error(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    with pytest.raises(ValueError, match="expected an output folder, found a file"):
        build(reviews, meta, meta, SMALL_CONFIG)


# --- unparsable raw lines ------------------------------------------------------------------

BAD_REVIEW_LINES = {3: "{'user_id': 'U1', 'text': ", 8: json.dumps({"rating": 5.0})}
BAD_META_LINE = {2: "{not a record"}


def with_lines(lines: list[str], inserted: dict[int, str]) -> list[str]:
    """``lines`` with each of ``inserted`` placed at its (1-based) line number."""
    out = list(lines)
    for lineno in sorted(inserted):
        out.insert(lineno - 1, inserted[lineno])
    return out


def _write_with_bad_lines(tmp_path: Path) -> tuple[Path, Path]:
    reviews, meta = _lines_2023()
    return _write_2023(
        tmp_path, with_lines(reviews, BAD_REVIEW_LINES), with_lines(meta, BAD_META_LINE)
    )


def test_bad_lines_are_skipped_counted_and_recorded_with_skip(tmp_path):
    reviews, meta = _write_with_bad_lines(tmp_path)
    out = tmp_path / "out"
    report = build(reviews, meta, out, SMALL_CONFIG, on_bad_line="skip")
    info = json.loads((out / "build_info.json").read_text())
    assert info["on_bad_line"] == "skip"
    assert info["bad_lines"] == {"reviews": 2, "meta": 1}
    assert info["bad_line_numbers"] == {"reviews": [3, 8], "meta": [2]}
    # the rest is built exactly as without the bad lines
    (tmp_path / "clean").mkdir()
    clean = build(*_write_2023(tmp_path / "clean"), tmp_path / "clean_out", SMALL_CONFIG)
    assert report.counts == clean.counts
    assert report.outputs == clean.outputs


def test_bad_line_aborts_by_default_naming_file_and_line(tmp_path):
    reviews, meta = _write_with_bad_lines(tmp_path)
    with pytest.raises(RawDataError) as err:
        build(reviews, meta, tmp_path / "out", SMALL_CONFIG)
    assert str(err.value).startswith(f"{meta}: line 2: expected a JSON object or a Python dict")
    assert not (tmp_path / "out").exists()
    meta.write_text("\n".join(_lines_2023()[1]) + "\n")
    with pytest.raises(RawDataError, match=r"line 3: expected a JSON object") as err:
        build(reviews, meta, tmp_path / "out", SMALL_CONFIG)
    assert err.value.path == str(reviews)


def test_skip_does_not_hide_a_file_that_cannot_be_read(tmp_path):
    reviews, meta = _write_2023(tmp_path)
    data = reviews.read_bytes()
    reviews.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawDataError, match="cannot read file"):
        build(reviews, meta, tmp_path / "out", SMALL_CONFIG, on_bad_line="skip")


def test_a_file_of_bad_lines_only_leaves_nothing_and_says_so(tmp_path):
    _, meta_lines = _lines_2023()
    reviews, meta = _write_2023(tmp_path, ["{broken", "[1, 2]"], meta_lines)
    with pytest.raises(EmptyStageError) as err:
        build(reviews, meta, tmp_path / "out", SMALL_CONFIG, on_bad_line="skip")
    assert str(err.value) == (
        f"build stopped: the review filter kept 0 of 0 reviews; {reviews} has no readable "
        f"record; 2 unparsable lines of {reviews} were skipped; nothing was written"
    )


# --- CLI -----------------------------------------------------------------------------------


def test_cli_has_a_flag_for_every_threshold(capsys):
    assert data_main(["build", "--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in (
        "--min-review-chars",
        "--no-require-description",
        "--min-item-users",
        "--max-user-reviews",
        "--num-inputs",
        "--profile-min-item-users",
        "--profile-min-user-reviews",
        "--no-require-rating-number",
    ):
        assert flag in help_text


def test_cli_check_prints_counts_and_fails_cleanly_on_bad_data(tmp_path, capsys):
    reviews, meta = _write_2023(tmp_path)
    out = tmp_path / "out"
    flags = [
        "--min-review-chars",
        "20",
        "--min-description-chars",
        "10",
        "--min-item-users",
        "3",
        "--min-user-reviews",
        "4",
        "--num-inputs",
        "2",
        "--profile-min-item-users",
        "3",
        "--profile-min-user-reviews",
        "2",
        "-q",
    ]
    argv = ["build", "--reviews", str(reviews), "--meta", str(meta), "--out", str(out), *flags]
    assert data_main(argv) == 0
    info = json.loads((out / "build_info.json").read_text())
    assert info["command"].startswith("drp-bench data build --reviews ")
    capsys.readouterr()
    assert data_main(["check", str(out), "--split", "all"]) == 0
    printed = capsys.readouterr().out
    assert "[test]: 5 samples, 5 users, 5 items" in printed
    assert "[validation]: 5 samples" in printed
    assert "[train]" not in printed  # no empty train file was written
    (out / "test.jsonl").write_text('{"user_id": "U0"}\n')
    assert data_main(["check", str(out)]) == 1
    assert "line 1: field 'profile'" in capsys.readouterr().err


def _assert_rebuilds_bundled_sample(out: Path, reviews: Path, meta: Path) -> None:
    """``drp-bench data build`` with the sample's command gives the bundled files exactly."""
    argv = ["build", "--reviews", str(reviews), "--meta", str(meta), "--out", str(out)]
    assert data_main([*argv, "--gzip", "-q", *SAMPLE_FLAGS]) == 0
    info = json.loads((out / "build_info.json").read_text())
    bundled = json.loads((SAMPLE_DIR / "build_info.json").read_text())
    core = info["counts"]["core"]
    assert (core["reviews"], core["users"], core["items"]) == (760, 59, 78)
    assert core["iterations"] == bundled["counts"]["core"]["iterations"]
    assert info["counts"]["split"] == bundled["counts"]["split"]
    assert info["counts"]["samples"] == bundled["counts"]["samples"]
    assert info["outputs"] == bundled["outputs"]
    assert info["config"] == bundled["config"]


def test_bundled_sample_is_rebuilt_identically_from_the_shared_data(tmp_path, music):
    """From the vendored subset of the shared files: the same core, split and output files."""
    _assert_rebuilds_bundled_sample(tmp_path / "music", *music)


def test_bundled_sample_is_rebuilt_identically_from_the_full_files(tmp_path, full_music):
    _assert_rebuilds_bundled_sample(tmp_path / "music", *full_music)


def test_raw_truncated_gzip_is_an_error_naming_the_file(tmp_path):
    line = json.dumps(
        {
            "reviewerID": "U",
            "asin": "A",
            "reviewText": "x" * 300,
            "overall": 1.0,
            "summary": "s",
            "unixReviewTime": 5,
        }
    )
    data = gzip.compress(("\n".join([line] * 200) + "\n").encode())
    path = tmp_path / "reviews.json.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawDataError, match="cannot read file") as err:
        list(iter_reviews(path))
    assert err.value.path == str(path)
