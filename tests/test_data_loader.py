"""Specification of the DPL-main / DPL-meta loader: formats, validation errors, fingerprint."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from drp_bench.data import DataValidationError, available_splits, iter_samples, load_dataset
from drp_bench.data.types import Item, Review

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "drp_bench" / "sample_data" / "music_sample"


def review(asin: str, ts: int, rating: Any = 4.0) -> dict[str, Any]:
    return {
        "asin": asin,
        "title": f"About {asin}",
        "text": f"My review of {asin}.",
        "rating": rating,
        "timestamp": ts,
    }


def rows() -> list[dict[str, Any]]:
    return [
        {"user_id": "u1", "profile": [review("A", 1), review("B", 2)], "data": review("T", 3)},
        {"user_id": "u2", "profile": [review("B", 1)], "data": review("A", 5)},
        {"user_id": "u3", "profile": [review("A", 2), review("T", 4)], "data": review("B", 9)},
    ]


def meta_rows() -> list[dict[str, Any]]:
    return [
        {"asin": "A", "title": "Album A", "description": "An album."},
        {"asin": "B", "title": "Album B", "description": ["Two", "parts."]},
        {"asin": "T", "title": "Album T", "description": ""},
        {"asin": "Z", "title": "Unused", "description": "Not mentioned by any sample."},
    ]


def write_jsonl(path: Path, items: list[Any], gz: bool = False) -> Path:
    data = "".join(json.dumps(x) + "\n" for x in items).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_parquet(path: Path, items: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(items), path)
    return path


def expected_first_sample_ok(ds) -> None:
    assert [s.user_id for s in ds.samples] == ["u1", "u2", "u3"]
    first = ds.samples[0]
    assert first.profile == (
        Review("A", "About A", "My review of A.", 4.0, 1),
        Review("B", "About B", "My review of B.", 4.0, 2),
    )
    assert first.target.asin == "T"
    assert ds.items == {
        "A": Item("A", "Album A", "An album."),
        "B": Item("B", "Album B", "Two parts."),  # list description joined with spaces
        "T": Item("T", "Album T", ""),
    }  # the unused item Z is not kept


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_jsonl_directory_round_trip_with_meta_found_beside(tmp_path, gz):
    suffix = ".jsonl.gz" if gz else ".jsonl"
    write_jsonl(tmp_path / f"test{suffix}", rows(), gz=gz)
    write_jsonl(tmp_path / f"meta{suffix}", meta_rows(), gz=gz)
    ds = load_dataset(tmp_path, None, split="test")
    expected_first_sample_ok(ds)
    assert (ds.name, ds.split) == (tmp_path.name, "test")


def test_jsonl_file_with_explicit_meta_and_fingerprint(tmp_path):
    main = write_jsonl(tmp_path / "books.jsonl", rows())
    meta = write_jsonl(tmp_path / "books_meta.jsonl", meta_rows())
    ds = load_dataset(main, meta, split="test", name="mybooks")
    expected_first_sample_ok(ds)
    assert ds.name == "mybooks"
    assert ds.fingerprint == {
        "books.jsonl": "sha256:" + hashlib.sha256(main.read_bytes()).hexdigest(),
        "books_meta.jsonl": "sha256:" + hashlib.sha256(meta.read_bytes()).hexdigest(),
    }


def test_parquet_file_and_directory_round_trip(tmp_path):
    write_parquet(tmp_path / "test.parquet", rows())
    # A Parquet column has one type: write every description as a list of strings.
    write_parquet(
        tmp_path / "meta.parquet",
        [
            {
                **m,
                "description": [m["description"]]
                if isinstance(m["description"], str)
                else m["description"],
            }
            for m in meta_rows()
        ],
    )
    expected_first_sample_ok(load_dataset(tmp_path, None))
    expected_first_sample_ok(load_dataset(tmp_path / "test.parquet", tmp_path / "meta.parquet"))


def test_save_to_disk_dataset_dict_round_trip_with_dpl_val_alias(tmp_path):
    main = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows()[:1]),
            "val": datasets.Dataset.from_list(rows()[1:]),
            "test": datasets.Dataset.from_list(rows()),
        }
    )
    meta = datasets.DatasetDict(
        {
            "full": datasets.Dataset.from_list(
                [
                    {
                        **m,
                        "description": [m["description"]]
                        if isinstance(m["description"], str)
                        else m["description"],
                    }
                    for m in meta_rows()
                ]
            )
        }
    )
    main.save_to_disk(str(tmp_path / "DPL-main" / "Music"))
    meta.save_to_disk(str(tmp_path / "DPL-meta" / "Music"))
    main_dir, meta_dir = tmp_path / "DPL-main" / "Music", tmp_path / "DPL-meta" / "Music"

    ds = load_dataset(main_dir, meta_dir, split="test")
    expected_first_sample_ok(ds)
    assert ds.name == "Music"
    assert all(v.startswith("sha256:") for v in ds.fingerprint.values())
    assert any(k.startswith("test/") and k.endswith(".arrow") for k in ds.fingerprint)
    assert any("full/" in k for k in ds.fingerprint)
    val = load_dataset(main_dir, meta_dir, split="validation")  # DPL names it "val"
    assert [s.user_id for s in val.samples] == ["u2", "u3"]
    assert set(available_splits(main_dir)) == {"train", "val", "test"}


def test_save_to_disk_single_dataset_round_trip(tmp_path):
    datasets.Dataset.from_list(rows()).save_to_disk(str(tmp_path / "main"))
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    expected_first_sample_ok(load_dataset(tmp_path / "main", tmp_path / "meta.jsonl"))


def test_limit_keeps_the_first_samples_and_only_their_items(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", [*rows()[:1], {"broken": True}])
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    ds = load_dataset(tmp_path, None, limit=1)  # the broken second row is not validated
    assert [s.user_id for s in ds.samples] == ["u1"]
    assert set(ds.items) == {"A", "B", "T"}


def test_iter_samples_streams_validated_samples(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", rows())
    assert [s.target.asin for s in iter_samples(tmp_path)] == ["T", "A", "B"]


# --- validation errors ---------------------------------------------------------------------


def broken(tmp_path: Path, edit) -> Path:
    data = rows()
    edit(data)
    write_jsonl(tmp_path / "test.jsonl", data)
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    return tmp_path


def load_error(path: Path, meta: Path | None = None) -> DataValidationError:
    with pytest.raises(DataValidationError) as err:
        load_dataset(path, meta)
    return err.value


def test_missing_field_error_names_file_line_and_field(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d[1]["data"].pop("text")))
    assert str(tmp_path / "test.jsonl") in str(err)
    assert "line 2" in str(err) and "field 'data.text'" in str(err)
    assert "missing" in str(err)
    assert (err.record, err.field) == ("line 2", "data.text")


def test_wrong_rating_type_is_an_error_not_coerced(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d[2]["profile"][1].update(rating="five")))
    assert "line 3" in str(err) and "field 'profile[1].rating'" in str(err)
    assert "expected a number, found str 'five'" in str(err)


def test_numeric_string_timestamp_is_an_error(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d[0]["data"].update(timestamp="12")))
    assert "field 'data.timestamp'" in str(err) and "found str '12'" in str(err)


def test_integral_float_timestamp_and_int_rating_are_accepted(tmp_path):
    def edit(d):
        d[0]["data"].update(timestamp=3.0, rating=5)

    ds = load_dataset(broken(tmp_path, edit), None)
    assert ds.samples[0].target.timestamp == 3 and ds.samples[0].target.rating == 5.0


def test_empty_profile_is_an_error(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d[0].update(profile=[])))
    assert "line 1" in str(err) and "field 'profile'" in str(err) and "empty" in str(err)


def test_item_without_metadata_is_an_error(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d[2]["profile"][0].update(asin="NOPE")))
    assert str(tmp_path / "test.jsonl") in str(err)
    assert "line 3" in str(err) and "field 'profile[0].asin'" in str(err)
    assert "'NOPE' without one" in str(err)


def test_invalid_json_line_is_an_error(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(rows()[0]) + "\n{not json\n")
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    err = load_error(tmp_path)
    assert "line 2" in str(err) and "expected a JSON object" in str(err)


def test_parquet_errors_name_the_row_index(tmp_path):
    data = rows()
    data[1]["user_id"] = ""
    write_parquet(tmp_path / "test.parquet", data)
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    err = load_error(tmp_path)
    assert str(tmp_path / "test.parquet") in str(err)
    assert "row 1" in str(err) and "field 'user_id'" in str(err)


def test_bad_meta_row_names_meta_file_and_field(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", rows())
    bad = copy.deepcopy(meta_rows())
    bad[2]["description"] = 7
    write_jsonl(tmp_path / "meta.jsonl", bad)
    err = load_error(tmp_path)
    assert str(tmp_path / "meta.jsonl") in str(err)
    assert "line 3" in str(err) and "field 'description'" in str(err)


def test_missing_split_and_missing_meta_are_explained(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", rows())
    assert "found splits ['train']" in str(load_error(tmp_path))
    write_jsonl(tmp_path / "test.jsonl", rows())
    assert "meta.jsonl" in str(load_error(tmp_path))


# --- split-level checks: empty, duplicate sample ids, duplicate users ----------------------


def test_empty_split_file_is_refused_naming_file_and_split(tmp_path):
    (tmp_path / "test.jsonl").write_text("")
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    err = load_error(tmp_path)
    assert str(err) == (
        f"{tmp_path / 'test.jsonl'}: expected at least one sample in split 'test', "
        "found 0 (empty split)"
    )


def test_split_of_blank_lines_is_empty_too_even_with_a_limit(tmp_path):
    (tmp_path / "validation.jsonl").write_text("\n  \n")
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    with pytest.raises(DataValidationError, match=r"split 'validation', found 0 \(empty split\)"):
        load_dataset(tmp_path, None, split="validation", limit=5)


def test_duplicate_sample_id_names_both_lines(tmp_path):
    err = load_error(broken(tmp_path, lambda d: d.append(copy.deepcopy(d[0]))))
    assert str(err) == (
        f"{tmp_path / 'test.jsonl'}: line 4: expected unique sample ids (user_id:data.asin) in "
        "split 'test', found 'u1:T' again (first at line 1)"
    )
    assert err.record == "line 4"


def test_same_user_twice_in_the_test_split_names_both_lines(tmp_path):
    def edit(d):
        d.insert(2, {**copy.deepcopy(d[0]), "data": review("B", 7)})  # u1 again, other target

    err = load_error(broken(tmp_path, edit))
    assert str(err) == (
        f"{tmp_path / 'test.jsonl'}: line 3: field 'user_id': expected one sample per user in "
        "split 'test', found user 'u1' again (first at line 1); it would be scored twice"
    )


def test_train_split_may_hold_several_samples_per_user_but_no_duplicate_sample(tmp_path):
    data = rows()
    data.append({**copy.deepcopy(data[0]), "data": review("B", 7)})  # u1, another target
    write_jsonl(tmp_path / "train.jsonl", data)
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    assert len(load_dataset(tmp_path, None, split="train").samples) == 4
    write_jsonl(tmp_path / "train.jsonl", [*data, data[3]])
    with pytest.raises(DataValidationError, match=r"line 5: .*'u1:B' again \(first at line 4\)"):
        load_dataset(tmp_path, None, split="train")


def test_duplicates_beyond_the_limit_are_still_refused(tmp_path):
    # A run scores a limited prefix of a split that is checked as a whole.
    write_jsonl(tmp_path / "test.jsonl", [*rows(), rows()[1]])
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    with pytest.raises(DataValidationError, match=r"line 4: .*'u2:A' again \(first at line 2\)"):
        load_dataset(tmp_path, None, limit=1)


def test_duplicate_in_parquet_names_both_row_indices(tmp_path):
    write_parquet(tmp_path / "test.parquet", [*rows(), rows()[2]])
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    err = load_error(tmp_path)
    assert str(tmp_path / "test.parquet") in str(err)
    assert "row 3: expected unique sample ids" in str(err)
    assert "found 'u3:B' again (first at row 2)" in str(err)


def test_duplicate_user_in_a_saved_dataset_names_both_rows(tmp_path):
    data = [*rows(), {**rows()[0], "data": review("A", 8)}]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(data)}).save_to_disk(
        str(tmp_path / "main")
    )
    write_jsonl(tmp_path / "meta.jsonl", meta_rows())
    err = load_error(tmp_path / "main", tmp_path / "meta.jsonl")
    assert "row 3: field 'user_id': expected one sample per user" in str(err)
    assert "found user 'u1' again (first at row 0)" in str(err)


# --- bundled sample ------------------------------------------------------------------------


def test_bundled_music_sample_loads_all_splits():
    counts = {}
    for split in ("test", "validation", "train"):
        ds = load_dataset(SAMPLE_DIR, None, split=split)
        counts[split] = len(ds.samples)
        assert all(len(s.profile) >= 4 for s in ds.samples)
        assert ds.name == "music_sample"
        assert set(ds.fingerprint) == {f"{split}.jsonl.gz", "meta.jsonl.gz"}
    assert counts == {"test": 57, "validation": 57, "train": 57}
    test = load_dataset(SAMPLE_DIR, None)
    assert len({s.user_id for s in test.samples}) == 57
    assert all(s.target.timestamp >= max(r.timestamp for r in s.profile) for s in test.samples)
