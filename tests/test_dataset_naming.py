"""A run is named after the data it reads: a preset's name only on the preset's own path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from drp_bench import compose_run_config, evaluate
from drp_bench.data.naming import DatasetNameError, name_from_data
from tests.test_api import EchoModel

SAMPLE = Path(__file__).resolve().parents[1] / "drp_bench" / "sample_data" / "music_sample"
DATA_FILES = ("test.jsonl.gz", "validation.jsonl.gz", "train.jsonl.gz", "meta.jsonl.gz")


def dpl_folder(parent: Path, name: str, build_info: bool = False) -> Path:
    """A DPL-layout folder ``parent/name`` with the bundled sample's files (and, if asked, its
    ``build_info.json``, which says it was built as ``music_sample``)."""
    folder = parent / name
    folder.mkdir(parents=True)
    for file in DATA_FILES + (("build_info.json",) if build_info else ()):
        shutil.copy(SAMPLE / file, folder / file)
    return folder


def named(*overrides: str) -> tuple[str, str]:
    """``dataset.name`` and ``hydra.run.dir`` of ``drp-bench run OVERRIDES``."""
    cfg = compose_run_config(list(overrides))
    return cfg.dataset.name, str(cfg.hydra.run.dir)


def test_the_preset_path_keeps_the_preset_name():
    assert named()[0] == "music_sample"
    name, run_dir = named("dataset.path=bundled:music_sample")  # the preset's path, as written
    assert name == "music_sample" and run_dir.startswith("outputs/runs/music_sample/")


def test_another_path_without_a_name_is_named_after_its_folder(tmp_path):
    folder = dpl_folder(tmp_path, "CDs_and_Vinyl_small")
    name, run_dir = named("+experiment=demo", f"dataset.path={folder}")
    assert name == "CDs_and_Vinyl_small"
    assert run_dir.startswith("outputs/runs/CDs_and_Vinyl_small/drp/")
    split_file = f"dataset.path={folder / 'test.jsonl.gz'}"  # a split file: its folder
    assert named(split_file)[0] == "CDs_and_Vinyl_small"


def test_a_builders_folder_is_named_as_it_was_built(tmp_path):
    folder = dpl_folder(tmp_path, "copy_of_the_sample", build_info=True)
    assert json.loads((folder / "build_info.json").read_text())["out_dir"].endswith("music_sample")
    assert named(f"dataset.path={folder}")[0] == "music_sample"
    assert name_from_data(str(SAMPLE)) == "music_sample"
    assert name_from_data("bundled:other_sample") == "other_sample"


def test_an_explicit_name_is_kept(tmp_path):
    folder = dpl_folder(tmp_path, "Digital_Music")
    assert named(f"dataset.path={folder}", "dataset.name=mine")[0] == "mine"
    assert named("dataset.name=mine")[0] == "mine"


def test_an_env_preset_is_named_by_the_preset_until_its_path_is_overridden(tmp_path, monkeypatch):
    folder = dpl_folder(tmp_path, "Books_2023")
    monkeypatch.setenv("DRP_BENCH_BOOKS", str(folder))
    assert named("dataset=books")[0] == "books"
    other = dpl_folder(tmp_path, "Books_other")
    assert named("dataset=books", f"dataset.path={other}")[0] == "Books_other"
    monkeypatch.delenv("DRP_BENCH_BOOKS")  # the preset's own path is never resolved then
    assert named("dataset=books", f"dataset.path={other}")[0] == "Books_other"
    monkeypatch.setenv("DRP_BENCH_CDS", str(folder))
    assert named("dataset=cds_and_vinyl")[0] == "cds_and_vinyl"


def test_a_name_that_is_no_folder_name_is_refused_with_the_way_out(tmp_path):
    folder = dpl_folder(tmp_path, "two words")
    with pytest.raises(DatasetNameError, match=r"'two words', is not a plain folder name.*"):
        name_from_data(str(folder))
    cfg = compose_run_config([f"dataset.path={folder}"])
    with pytest.raises(InterpolationResolutionError, match=r"with dataset\.name=NAME"):
        OmegaConf.select(cfg, "hydra.run.dir")
    assert named(f"dataset.path={folder}", "dataset.name=two_words")[0] == "two_words"


def test_a_bad_build_info_is_an_error_naming_file_and_field(tmp_path):
    folder = dpl_folder(tmp_path, "Music")
    (folder / "build_info.json").write_text(json.dumps({"out_dir": 3}))
    with pytest.raises(DatasetNameError, match=r"build_info.json: field 'out_dir'"):
        name_from_data(str(folder))
    (folder / "build_info.json").write_text("{not json")
    with pytest.raises(DatasetNameError, match=r"build_info.json: cannot read it"):
        name_from_data(str(folder))


def test_the_cli_refuses_an_unnamable_path_in_one_line(tmp_path):
    folder = dpl_folder(tmp_path, "two words")
    proc = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", f"dataset.path={folder}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "drp-bench run: error: dataset.path=" in proc.stderr
    assert "dataset.name=NAME" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_run_on_other_data_is_filed_and_recorded_under_that_data(tmp_path, monkeypatch):
    folder = dpl_folder(tmp_path / "data", "Digital_Music_copy")
    monkeypatch.chdir(tmp_path)
    result = evaluate(
        [
            "method=rag",
            "dataset.limit=2",
            f"dataset.path={folder}",
            f"cache.path={tmp_path / 'calls.sqlite'}",
        ],
        backends={"generator": EchoModel()},
    )
    assert result.run_dir.parts[:3] == ("outputs", "runs", "Digital_Music_copy")
    assert result.metrics["run"]["dataset"] == "Digital_Music_copy"
    bundled = json.loads((SAMPLE / "build_info.json").read_text())["outputs"]
    assert result.metrics["dataset_fingerprint"] == {
        "test.jsonl.gz": bundled["test.jsonl.gz"],
        "meta.jsonl.gz": bundled["meta.jsonl.gz"],
    }
