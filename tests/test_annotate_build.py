"""annotate build: real run folders (DRP and RAG on the bundled sample, scripted backend) ->
a blinded study: files, blinding, gold pairs, repeats, strata, seeds, the validator's
decisions, refused runs, malformed files and the command line."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from drp_bench.annotate import formats as fm
from drp_bench.annotate.build import build_study, shown_text
from drp_bench.annotate.sources import StudyBuildError
from drp_bench.cli import main as cli_main
from drp_bench.data.loader import load_dataset
from drp_bench.data.locate import resolve_data_path
from tests.annotate_runs import EXTRACTED, KEPT, MODELS, RUNS, make_runs
from tests.run_folders import write_error


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(resolve_data_path("bundled:music_sample"), None, split="test")


def _build(runs: dict[str, Path], out: Path, **options: Any) -> fm.StudyManifest:
    return build_study(list(runs.values()), out, **options)


def _study(out: Path) -> tuple[list[Any], list[Any]]:
    return fm.read_tasks(out / fm.TASKS_FILE), fm.read_keys(out / fm.KEY_FILE)


@pytest.fixture(scope="module")
def study(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "s"
    _build(runs, out, feature_items=12, preference_pairs=16, gold_rate=0.25, repeat_rate=0.2)
    return out


# ---------------------------------------------------------------- files and blinding


def test_the_study_folder_holds_valid_files_that_agree(study: Path, runs) -> None:
    manifest = fm.read_manifest(study / fm.MANIFEST_FILE)
    tasks, keys = _study(study)
    assert [t.task_id for t in tasks] == [k.task_id for k in keys]
    assert [t.type for t in tasks] == [k.type for k in keys]
    assert [t.repeat_of for t in tasks] == [k.repeat_of for k in keys]
    text = (study / fm.TASKS_FILE).read_text(encoding="utf-8")
    import hashlib

    assert manifest.study_id == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert [(r.run_id, r.method, r.model) for r in manifest.runs] == [
        ("r0", "drp", MODELS[0]), ("r1", "drp", MODELS[1]), ("r2", "drp", MODELS[1]),
        ("r3", "rag", MODELS[0]),
    ]  # fmt: skip
    assert all(r.samples == 4 for r in manifest.runs)
    assert manifest.sizes["gold_rate"] == 0.25 and manifest.task_types == list(fm.TASK_TYPES)
    assert (study / "annotations" / "README.txt").read_text().count("annotate score") == 1
    assert (study / "index.html").is_file()
    # ids t0001... in file order, opaque: both types are spread over the ids
    assert [t.task_id for t in tasks] == [f"t{i:04d}" for i in range(1, len(tasks) + 1)]
    types = "".join("f" if t.type == "feature_validity" else "p" for t in tasks)
    assert not re.fullmatch(r"f*p*|p*f*", types), types


def test_tasks_never_name_a_method_model_run_or_the_validator(study: Path, runs) -> None:
    for name in (fm.TASKS_FILE, "index.html"):
        text = (study / name).read_text(encoding="utf-8")
        lowered = text.lower()
        for secret in ("smollm", "qwen", "validator", '"gold', '"method"', '"model"'):
            assert secret not in lowered, (name, secret)
        assert not re.search(r"\bvalidat", lowered), name  # the form's `novalidate` is fine
        assert not re.search(r"(?<![\w-])(drp|rag)(?![\w-])", lowered), name  # not drp-bench
        assert not re.search(r'"r\d+"', text), name
        for path in runs.values():
            assert str(path.parent) not in text
        assert '"reference"' not in text and "other_user" not in text


def test_sides_are_random_and_balanced(runs, tmp_path: Path) -> None:
    a_first = total = 0
    for seed in range(4):
        out = tmp_path / f"s{seed}"
        _build(runs, out, tasks=["preference"], preference_pairs=12, gold_rate=0.25, seed=seed)
        for key in _study(out)[1]:
            order = sorted([key.sides.A, key.sides.B], key=lambda s: (s.source, s.run_id or ""))
            a_first += order[0] == key.sides.A
            total += 1
    assert total >= 40 and 0.3 <= a_first / total <= 0.7, (a_first, total)


# ---------------------------------------------------------------- preference pairs


def test_a_pair_shows_the_two_runs_texts_of_one_sample(study: Path, runs) -> None:
    words = {f"r{i}": RUNS[name][1] for i, name in enumerate(runs)}
    tasks, keys = _study(study)
    both = zip(tasks, keys, strict=True)
    pairs = [(t, k) for t, k in both if k.type == "preference" and not k.gold]
    assert pairs
    for task, key in pairs:
        for side in ("A", "B"):
            source = getattr(key.sides, side)
            assert source.source == "run"
            assert f"A {words[source.run_id]} review" in getattr(task.reviews, side)
        assert (key.sides.A.method, key.sides.A.model) != (key.sides.B.method, key.sides.B.model)
        assert key.gold_answer is None
        assert task.item.asin == key.sample_id.split(":")[1]
        assert len(task.history) == 3 and all(h.text for h in task.history)


def test_a_gold_pair_holds_the_users_real_review_on_the_answer_side(study, dataset) -> None:
    samples = {s.sample_id: s for s in dataset.samples}
    others: dict[str, set[str]] = {}
    for s in dataset.samples:
        for r in (*s.profile, s.target):
            others.setdefault(r.asin, set()).add(shown_text(r.text))
    tasks, keys = _study(study)
    gold = [(t, k) for t, k in zip(tasks, keys, strict=True) if k.type == "preference" and k.gold]
    assert len({k.task_id for _, k in gold if k.repeat_of is None}) == 4  # 16 * 0.25
    for task, key in gold:
        real = shown_text(samples[key.sample_id].target.text)  # as the page shows it
        answer, other = key.gold_answer, "B" if key.gold_answer == "A" else "A"
        assert getattr(task.reviews, answer) == real
        assert getattr(key.sides, answer).source == "reference"
        assert getattr(key.sides, other).source == "other_user"
        assert getattr(task.reviews, other) != real
        assert getattr(task.reviews, other) in others[task.item.asin]
    assert {k.gold_answer for _, k in gold} == {"A", "B"}


def test_pairs_are_spread_evenly_over_the_strata(runs, tmp_path: Path) -> None:
    _build(runs, tmp_path / "s", tasks=["preference"], preference_pairs=9, gold_rate=0.0,
           repeat_rate=0.0)  # fmt: skip
    tasks, keys = _study(tmp_path / "s")
    strata = Counter(
        tuple(sorted([(k.sides.A.method, k.sides.A.model), (k.sides.B.method, k.sides.B.model)]))
        for k in keys
    )
    # three groups (drp/Smol, drp/Qwen with two runs, rag/Smol) -> three strata, 3 pairs each
    assert len(keys) == 9 and sorted(strata.values()) == [3, 3, 3], strata
    assert {t.type for t in tasks} == {"preference"}


# ---------------------------------------------------------------- feature validity


def test_feature_tasks_are_spread_over_the_groups_that_extract(runs, tmp_path: Path) -> None:
    _build(runs, tmp_path / "s", tasks=["feature_validity"], feature_items=8, repeat_rate=0.0)
    tasks, keys = _study(tmp_path / "s")
    groups = Counter((k.method, k.model) for k in keys)
    assert groups == {("drp", MODELS[0]): 4, ("drp", MODELS[1]): 4}  # rag extracts nothing
    for task in tasks:
        assert [(f.name, f.definition, f.difference) for f in task.features] == [
            (f.name, f.definition, f.difference) for f in EXTRACTED
        ]
        assert [f.feature_id for f in task.features] == ["f1", "f2", "f3"]
        assert task.user_review.text and len(task.representative_reviews) == 2
        assert [r.label for r in task.representative_reviews] == [
            "Other reviewer 1", "Other reviewer 2"
        ]  # fmt: skip


def test_the_validators_decisions_and_categories_match_a_hand_count(study: Path, runs) -> None:
    tasks, keys = _study(study)
    by_id = {t.task_id: t for t in tasks}
    validated = kept = 0
    for key in (k for k in keys if k.type == "feature_validity"):
        names = {f.feature_id: f.name for f in by_id[key.task_id].features}
        for f in key.features:
            if key.run_id == "r2":  # no validate stage
                assert f.validator_kept is None
            else:
                assert f.validator_kept == (names[f.feature_id] in KEPT)
                validated += 1
                kept += f.validator_kept
            # UVQ only in r0: its normaliser put "tone" under Emotion
            want = "Emotion" if key.run_id == "r0" and names[f.feature_id] == "Tone" else None
            assert f.category == want
    assert validated and kept * 3 == validated * 2  # 2 of the 3 features kept, every item


def test_repeats_are_full_copies_with_their_own_id(study: Path) -> None:
    tasks, keys = _study(study)
    originals = [t for t in tasks if t.repeat_of is None]
    repeats = [t for t in tasks if t.repeat_of is not None]
    assert len(repeats) == round(len(originals) * 0.2) and repeats
    by_id = {t.task_id: t for t in tasks}
    key_by_id = {k.task_id: k for k in keys}
    for task in repeats:
        first = by_id[task.repeat_of]
        assert first.repeat_of is None and task.task_id != first.task_id
        drop = {"task_id", "repeat_of"}
        assert task.model_dump(exclude=drop) == first.model_dump(exclude=drop)
        assert key_by_id[task.task_id].model_dump(exclude=drop) == key_by_id[
            first.task_id
        ].model_dump(exclude=drop)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_study(runs, tmp_path):
    options = {"feature_items": 6, "preference_pairs": 6, "repeat_rate": 0.3}
    first = _build(runs, tmp_path / "a", seed=7, **options)
    again = _build(runs, tmp_path / "b", seed=7, **options)
    other = _build(runs, tmp_path / "c", seed=8, **options)
    for name in (fm.TASKS_FILE, fm.KEY_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.study_id == again.study_id != other.study_id
    key_a, key_c = (tmp_path / "a" / fm.KEY_FILE), (tmp_path / "c" / fm.KEY_FILE)
    assert key_a.read_bytes() != key_c.read_bytes()


# ---------------------------------------------------------------- refused input


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_failed_or_interrupted_run_is_refused(runs, tmp_path: Path, interrupted: bool) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(runs["rag"], broken)
    write_error(broken, "RuntimeError: server died", interrupted=interrupted)
    status = "interrupted" if interrupted else "failed"
    with pytest.raises(StudyBuildError, match=rf"{re.escape(str(broken))}: the run is {status}"):
        build_study([runs["drp-qwen"], broken], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_run_whose_dataset_lost_its_samples_is_refused(runs, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(runs["rag"], moved)
    config = moved / ".hydra" / "config.yaml"
    config.write_text(
        config.read_text().replace("split: test", "split: validation"), encoding="utf-8"
    )
    with pytest.raises(StudyBuildError, match=r"predictions\.jsonl: sample .* is not in"):
        build_study([moved], tmp_path / "s")


def _write_lines(path: Path, objs: list[Any]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


def _label_file(tmp_path: Path, edit) -> Path:
    good = {
        "schema": fm.ANNOTATIONS_SCHEMA, "study_id": "abc123", "annotator": "ann.1",
        "exported_at": "2026-01-02T03:04:05.678Z",
        "labels": [
            {"task_id": "t0001", "answered_at": "2026-01-02T03:04:05Z", "set_rating": 4,
             "features": [{"feature_id": "f1", "valid": True, "reason": None},
                          {"feature_id": "f2", "valid": False, "reason": "unsupported"}]},
            {"task_id": "t0002", "answered_at": "2026-01-02T03:04:06Z", "choice": "tie"},
        ],
    }  # fmt: skip
    edit(good)
    path = tmp_path / "ann.1.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    return path


def test_a_good_annotator_file_reads_and_writes_back_the_same(tmp_path: Path) -> None:
    path = _label_file(tmp_path, lambda g: None)
    read = fm.read_annotator_file(path)
    assert [lab.type for lab in read.labels] == ["feature_validity", "preference"]
    assert read.to_json_dict() == json.loads(path.read_text())


@pytest.mark.parametrize(
    "edit, field, message",
    [
        (lambda g: g["labels"][0]["features"][1].update(reason=None),
         "labels[0].features[1].reason", "required when valid is false"),
        (lambda g: g["labels"][0]["features"][0].update(reason="unclear"),
         "labels[0].features[0].reason", "must be null when valid is true"),
        (lambda g: g["labels"][0]["features"][1].update(reason="boring"),
         "labels[0].features[1].reason", "'content_not_style'"),
        (lambda g: g["labels"][0].update(set_rating=6), "labels[0].set_rating",
         "less than or equal to 5"),
        (lambda g: g["labels"][0].update(set_rating="4"), "labels[0].set_rating", "valid integer"),
        (lambda g: g["labels"][1].update(choice="C"), "labels[1].choice", "'A', 'B' or 'tie'"),
        (lambda g: g["labels"][1].update(set_rating=3), "labels[1]", "not both"),
        (lambda g: g.update(annotator="Ann Smith"), "annotator", "[A-Za-z0-9_.-]"),
        (lambda g: g.update(annotator="x" * 65), "annotator", "1-64 characters"),
        (lambda g: g.update(schema="drp-bench-annotations/2"), "schema", "expected"),
        (lambda g: g.update(extra=1), "extra", "unknown field"),
        (lambda g: g.pop("study_id"), "study_id", "missing required field"),
        (lambda g: g["labels"].append(g["labels"][1]), "labels", "duplicate task_id 't0002'"),
        (lambda g: g.update(exported_at="yesterday"), "exported_at", "ISO 8601"),
    ],
)  # fmt: skip
def test_a_malformed_annotator_file_names_file_and_field(tmp_path, edit, field, message) -> None:
    path = _label_file(tmp_path, edit)
    with pytest.raises(fm.StudyFormatError) as caught:
        fm.read_annotator_file(path)
    err = caught.value
    assert err.path == path and err.line is None and err.field == field
    assert str(err).startswith(f"{path}: field {field!r}: ") and message in str(err), str(err)


def test_malformed_task_and_key_lines_name_file_line_and_field(study: Path, tmp_path) -> None:
    lines = (study / fm.TASKS_FILE).read_text().splitlines()
    bad = json.loads(lines[1])
    bad["features" if bad["type"] == "feature_validity" else "reviews"] = None
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n")
    with pytest.raises(fm.StudyFormatError) as caught:
        fm.read_tasks(path)
    assert caught.value.line == 2 and caught.value.field in ("features", "reviews")
    assert str(caught.value).startswith(f"{path}:2: field ")

    _write_lines(path, [json.loads(lines[0]), {**json.loads(lines[0]), "type": "essay"}])
    with pytest.raises(fm.StudyFormatError, match=r":2: field 'type': expected one of"):
        fm.read_tasks(path)
    _write_lines(path, [json.loads(lines[0]), json.loads(lines[0])])
    with pytest.raises(fm.StudyFormatError, match=r":2: field 'task_id': duplicate .* line 1"):
        fm.read_tasks(path)
    path.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(fm.StudyFormatError, match=r"tasks\.jsonl:2: not valid JSON"):
        fm.read_tasks(path)

    key = json.loads((study / fm.KEY_FILE).read_text().splitlines()[0])
    gold = {**key, "type": "preference", "gold": True, "gold_answer": None,
            "sides": {s: {"source": "reference", "run_id": None, "method": None, "model": None}
                      for s in "AB"}}  # fmt: skip
    for drop in ("run_id", "method", "model", "comparison_asin", "features"):
        gold.pop(drop, None)
    needs = r"key\.jsonl:1: field 'gold_answer': a gold pair needs"
    with pytest.raises(fm.StudyFormatError, match=needs):
        fm.read_keys(_write_lines(tmp_path / "key.jsonl", [gold]))


def test_nan_and_non_objects_are_not_json_the_study_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"schema": NaN}')
    with pytest.raises(fm.StudyFormatError, match="not valid JSON: NaN"):
        fm.read_annotator_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(fm.StudyFormatError, match="expected a JSON object, found list"):
        fm.read_annotator_file(path)
    with pytest.raises(fm.StudyFormatError, match="no such file"):
        fm.read_manifest(tmp_path / "missing.json")


# ---------------------------------------------------------------- command line


def test_the_command_line_builds_refuses_a_full_folder_and_forces(runs, tmp_path, capsys):
    out = tmp_path / "study"
    args = ["annotate", "build", *map(str, runs.values()), "--out", str(out),
            "--feature-items", "4", "--preference-pairs", "4", "--seed", "3",
            "--title", "Pilot"]  # fmt: skip
    assert cli_main(args) == 0
    said = capsys.readouterr().out
    manifest = fm.read_manifest(out / fm.MANIFEST_FILE)
    assert manifest.title == "Pilot" and manifest.seed == 3 and manifest.study_id in said
    assert manifest.sizes == {"feature_items": 4, "preference_pairs": 4, "gold_rate": 0.15,
                              "repeat_rate": 0.1, "history": 3}  # fmt: skip
    # run paths are kept relative to the study (score finds the runs from any working folder)
    for ref, run_dir in zip(manifest.runs, runs.values(), strict=True):
        assert not Path(ref.path).is_absolute() and (out / ref.path).resolve() == run_dir.resolve()
    before = (out / fm.TASKS_FILE).read_bytes()

    assert cli_main(args) == 2
    assert "exists and is not empty; pass --force" in capsys.readouterr().err
    (out / "annotations" / "ann.json").write_text("{}")
    assert cli_main([*args, "--force", "--tasks", "preference"]) == 0
    assert (out / "annotations" / "ann.json").read_text() == "{}"  # annotators' files kept
    tasks = fm.read_tasks(out / fm.TASKS_FILE)
    assert {t.type for t in tasks} == {"preference"}
    assert (out / fm.TASKS_FILE).read_bytes() != before
    assert not (out / "label-studio").exists()

    # --format label-studio adds Label Studio's import beside the page, same tasks, same blinding
    ls_out = tmp_path / "ls-study"
    assert cli_main([*args[:-6], "--out", str(ls_out), "--format", "label-studio"]) == 0
    imported = json.loads((ls_out / "label-studio" / "tasks.json").read_text(encoding="utf-8"))
    shown = fm.read_tasks(ls_out / fm.TASKS_FILE)
    assert [t["data"]["task_id"] for t in imported] == [t.task_id for t in shown]
    assert (ls_out / "label-studio" / "config.xml").read_text().startswith("<View")
    assert (ls_out / "index.html").is_file()

    with pytest.raises(SystemExit) as stopped:  # argparse's usage error
        cli_main(["annotate", "build", str(runs["rag"]), "--out", str(tmp_path / "x"),
                  "--tasks", "essays"])  # fmt: skip
    assert stopped.value.code == 2
    assert "expected one or more of feature_validity,preference" in capsys.readouterr().err
    failed = tmp_path / "failed"
    shutil.copytree(runs["rag"], failed)
    write_error(failed, "RuntimeError: out of memory")
    assert cli_main(["annotate", "build", str(failed), "--out", str(tmp_path / "y")]) == 2
    assert "the run is failed: RuntimeError: out of memory" in capsys.readouterr().err
    assert cli_main(["annotate", "score", str(out)]) == 2
    # score reads the kept annotations/ folder: the hand-written file is no annotator file
    err = capsys.readouterr().err
    assert "annotations/ann.json" in err and "field 'study_id': missing required field" in err


def test_texts_are_shown_as_people_read_them_not_as_html_references() -> None:
    raw = {"text": "the &quot;lightest&quot; album &amp; more", "n": 4.0, "xs": ["&lt;b&gt;"]}
    assert shown_text(raw) == {"text": 'the "lightest" album & more', "n": 4.0, "xs": ["<b>"]}


def test_the_study_holds_no_html_references(study: Path) -> None:
    assert not re.search(r"&(quot|amp|lt|gt|#\d+);", (study / fm.TASKS_FILE).read_text())
