"""drp-bench installs and runs outside the checkout (issue 7, "Install anywhere").

The slow test builds a real (not editable) wheel from a copy of the source tree, installs it
into a fresh venv and runs ``drp-bench`` from an empty folder. The fresh venv takes its
third-party dependencies from the project venv through one ``.pth`` line naming the project
venv's site-packages. ``.pth`` files are processed only in site directories, not in folders a
``.pth`` line adds, so the project venv's editable drp-bench (a ``.pth`` import hook pointing
at the checkout) stays inactive and only the wheel's ``drp_bench`` can be imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from drp_bench import resources

REPO = Path(__file__).resolve().parents[1]

#: Not part of the source tree: local state a developer's checkout may hold.
NOT_SOURCE = (
    ".git",
    ".venv",
    ".ci-cache",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    "outputs",
    "multirun",
)


# ---------------------------------------------------------------- the checkout (fast)


def test_resources_find_the_checkouts_folders():
    assert resources.checkout_root() == REPO
    assert resources.config_dir() == REPO / "conf"
    assert (resources.config_dir() / "config.yaml").is_file()
    assert resources.tasks_dir() == REPO / "tasks"
    assert (resources.tasks_dir() / "drp_generation.yaml").is_file()
    assert (resources.tasks_dir() / "drp_metrics.py").is_file()
    assert resources.reference_dir() == REPO / "results" / "reference"
    assert resources.paper_table_path() == REPO / "results" / "reference" / "drp_paper_table.csv"
    assert resources.paper_table_path().is_file()


def test_an_installed_package_reads_its_packaged_data(tmp_path, monkeypatch):
    """Outside a checkout, _data/ is used, even beside a stray site-packages/conf/."""
    site = tmp_path / "site-packages"
    package = site / "drp_bench"
    (package / "_data" / "conf").mkdir(parents=True)
    (site / "conf").mkdir()  # another distribution's top-level folder
    (site / "conf" / "config.yaml").write_text("{}\n")
    monkeypatch.setattr(resources, "PACKAGE_DIR", package)
    monkeypatch.setattr(resources, "PACKAGED_DATA_DIR", package / "_data")
    assert resources.checkout_root() is None
    assert resources.data_root() == package / "_data"
    assert resources.tasks_dir() == package / "_data" / "tasks"
    assert resources.paper_table_path() == (
        package / "_data" / "results" / "reference" / "drp_paper_table.csv"
    )


# ---------------------------------------------------------------- a real wheel (slow)


def _build_wheel(out: Path) -> Path:
    """``pip wheel`` of a copy of the source tree (the checkout itself gets no build/ folder)."""
    src = out / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    # --no-build-isolation: build with the project venv's (locked) setuptools, offline
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out / "dist"), str(src)],
        check=True,
    )  # fmt: skip
    (wheel,) = (out / "dist").glob("drp_bench-*.whl")
    return wheel


def _fresh_venv(path: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; dependencies come from the project venv's site-packages."""
    # venv.create uses the base interpreter, so the new venv does not inherit the project venv
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    project_site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "drp_bench_test_dependencies.pth").write_text("\n".join(sorted(project_site)))
    return path


@pytest.mark.slow
def test_the_wheel_works_from_an_empty_folder(tmp_path):
    wheel = _build_wheel(tmp_path / "build")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "drp_bench/_data/conf/config.yaml",
        "drp_bench/_data/conf/experiment/demo.yaml",
        "drp_bench/_data/conf/hydra/launcher/slurm_gpu.yaml",
        "drp_bench/_data/tasks/drp_generation.yaml",
        "drp_bench/_data/tasks/drp_metrics.py",
        "drp_bench/_data/results/reference/drp_paper_table.csv",
        "drp_bench/_data/results/schema/metrics.schema.json",
        "drp_bench/prompts/generate.j2",
        "drp_bench/prompts/paper/drp_generate.system.j2",
        "drp_bench/sample_data/music_sample/test.jsonl.gz",
        "drp_bench/sample_data/music_sample/meta.jsonl.gz",
        "hydra_plugins/drp_bench_launchers/__init__.py",
        "hydra_plugins/drp_bench_config/__init__.py",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"

    env_dir = _fresh_venv(tmp_path / "venv", wheel)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["DRP_BENCH_CACHE"] = str(tmp_path / "calls.sqlite")
    # METEOR's WordNet: `make setup` put it into the project venv (a user runs `drp-bench setup`)
    env.setdefault("NLTK_DATA", str(Path(sys.prefix) / "nltk_data"))

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        shown = " ".join(args).replace(str(env_dir), "$VENV")
        print(f"$ {shown}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"{shown} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    drp_bench = str(env_dir / "bin" / "drp-bench")
    python = str(env_dir / "bin" / "python")

    # the wheel's module, not the checkout's, with its packaged data found
    where = run(
        python,
        "-c",
        "import drp_bench, drp_bench.resources as r, drp_bench.provenance as p; "
        "from drp_bench.integrations.lmeval_export import TEMPLATE; "
        "from drp_bench.report.tables import DEFAULT_PAPER_TABLE; "
        "print(drp_bench.__file__); print(r.config_dir()); print(TEMPLATE); "
        "print(DEFAULT_PAPER_TABLE); print(p.git_commit())",
    ).splitlines()
    module, conf, template, paper_table, commit = where
    for path in (module, conf, template, paper_table):
        assert Path(path).resolve().is_relative_to(env_dir.resolve()), f"{path} not in the venv"
        assert not Path(path).resolve().is_relative_to(REPO)
        assert Path(path).exists()
    assert commit == "None"  # no checkout, so no commit to record

    job = run(drp_bench, "run", "--cfg", "job")
    assert "method:" in job and "name: drp" in job
    assert "path: bundled:music_sample" in job
    demo = run(drp_bench, "run", "--cfg", "job", "+experiment=demo", "method=dpl")
    assert "name: dpl" in demo and "limit: 3" in demo

    sample = Path(module).parent / "sample_data" / "music_sample"
    check = run(drp_bench, "data", "check", str(sample), "--split", "all")
    for split in ("test", "train", "validation"):
        assert f"music_sample [{split}]: 57 samples, 57 users" in check

    assert "usage: drp-bench export-lmeval" in run(drp_bench, "export-lmeval", "--help")
    assert "usage: drp-bench report" in run(drp_bench, "report", "--help")

    # a real run on the embedded model (one sample, one call: about 25 s), then its report
    # (reads the packaged paper table) and its lm-eval export (the packaged task template)
    summary = run(
        drp_bench, "run", "+experiment=demo", "method=nonp", "dataset.limit=1", "num_users=1"
    )
    assert "status: complete" in summary and "BLEU" in summary
    (run_dir,) = (workdir / "outputs" / "runs" / "music_sample" / "nonp").glob("*/*")
    assert (run_dir / "metrics.json").is_file()
    report = run(drp_bench, "report", "outputs", "--no-plots", "--bootstrap", "100")
    assert "1 complete run(s)" in report
    assert "| music_sample, n=1 | BLEU |" in (workdir / "outputs/report/results.md").read_text()
    export = run(drp_bench, "export-lmeval", str(run_dir.relative_to(workdir)), "--out", "task")
    assert "lm_eval --model" in export
    (task_yaml,) = (workdir / "task").glob("drp_gen_nonp_*.yaml")
    assert "drp_metrics.process_results" in task_yaml.read_text()  # the template's metrics
    assert (workdir / "task" / "drp_metrics.py").is_file()
