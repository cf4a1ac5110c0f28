"""The worked example of docs/extending.md, really installed: ``examples/drp-bench-example``
is pip-installed (offline) into a fresh venv layered on the project's, and ``drp-bench run``
runs its method (its plugin kind) on its backend with its metric. Without the install, the
same names are unknown, with a clear error.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "drp-bench-example"
EXAMPLE_CONF = EXAMPLE / "src" / "drp_bench_example" / "conf"
NLTK_DATA = Path(sys.prefix) / "nltk_data"  # where `make setup` puts WordNet and punkt_tab
RUN = [
    "method=keywords",
    "model@extractor=echo",
    "model@generator=echo",
    "dataset.limit=3",
]


def plugin_venv(root: Path) -> Path:
    """A venv whose own site-packages come first and the project venv's after (a ``.pth``
    line: ``--system-site-packages`` would give the base interpreter's, not the project's)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    project = sysconfig.get_paths()["purelib"]
    (Path(own) / "_project_venv.pth").write_text(f"import site; site.addsitedir({project!r})\n")
    return python


def drp_bench(python: Path | str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NLTK_DATA": str(NLTK_DATA)}
    return subprocess.run(
        [str(python), "-m", "drp_bench.cli", "run", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def top_words(texts: list[str], k: int) -> list[tuple[str, int]]:
    """The example's keyword count, written again from its documentation."""
    from_example = re.compile(r"[a-z][a-z']+")
    stop = set(
        (EXAMPLE / "src" / "drp_bench_example" / "kind.py")
        .read_text()
        .split('_STOPWORDS = """')[1]
        .split('"""')[0]
        .split()
    )
    words = [w for t in texts for w in from_example.findall(html.unescape(t).lower())]
    return Counter(w for w in words if w not in stop).most_common(k)


@pytest.mark.slow
def test_the_installed_example_runs_with_its_kind_metric_and_backend(tmp_path: Path) -> None:
    python = plugin_venv(tmp_path / "venv")
    build = tmp_path / "src"  # a copy: the build leaves build/ and *.egg-info next to it
    subprocess.run(["cp", "-r", str(EXAMPLE), str(build)], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", str(build)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    proc = drp_bench(
        python,
        tmp_path,
        "hydra.searchpath=[pkg://drp_bench_example/conf]",
        *RUN,
        f"hydra.run.dir={run_dir}",
        f"cache.path={tmp_path / 'calls.sqlite'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "metrics.json").read_text())

    # the plugin metric: the mean of prediction words / reference words over the samples
    ratios = [len(r["prediction"].split()) / max(len(r["reference"].split()), 1) for r in rows]
    assert len(rows) == 3 and all(r["status"] == "complete" for r in rows)
    assert metrics["metrics"]["length_ratio"] == pytest.approx(sum(ratios) / 3, abs=1e-12)
    assert list(metrics["metrics"])[-2:] == ["length_ratio", "n"]

    # the plugin kind: one summarize call per sample, its prompt listing the user's top words
    from drp_bench.data.loader import load_dataset

    data = load_dataset(REPO / "drp_bench" / "sample_data" / "music_sample", None, limit=3)
    for row, sample in zip(rows, data.samples, strict=True):
        call = row["stages"]["summarize"]
        expected = top_words([f"{r.title} {r.text}" for r in sample.profile], 10)
        listed = "\n".join(f"{w}: {n}" for w, n in expected)
        assert call["messages"][-1]["content"].endswith(listed)
        # the echo backend answered with the prompt's first 12 words; that is the summary
        assert call["summary"] == " ".join(call["messages"][-1]["content"].split()[:12])
        assert call["summary"] in row["stages"]["generate"]["messages"][-1]["content"]
    assert metrics["run"]["models"]["generator"]["backend"] == "echo"

    # and `drp-bench report`'s results.csv has it (the plugin installed or not: it reads files)
    report = subprocess.run(
        [python, "-m", "drp_bench.cli", "report", "--no-plots", "--bootstrap", "0",
         "--out", str(tmp_path / "report"), str(run_dir)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    with (tmp_path / "report" / "results.csv").open() as f:
        (row,) = [r for r in csv.DictReader(f) if r["metric"] == "length_ratio"]
    assert float(row["value"]) == pytest.approx(sum(ratios) / 3, abs=1e-12)


@pytest.mark.slow
def test_without_the_install_the_example_names_are_unknown(tmp_path: Path) -> None:
    searchpath = f"hydra.searchpath=[file://{EXAMPLE_CONF}]"  # its configs, not its code
    cache = f"cache.path={tmp_path / 'calls.sqlite'}"
    kind = drp_bench(sys.executable, tmp_path, searchpath, *RUN, cache)
    assert kind.returncode == 1
    assert "unknown stage kind 'summarize_keywords'" in kind.stderr
    assert "Traceback" not in kind.stderr
    backend = drp_bench(sys.executable, tmp_path, searchpath, "method=rag", *RUN[1:], cache)
    assert backend.returncode == 1
    assert "unknown backend kind 'echo'; known kinds: llamacpp, openai, vllm" in backend.stderr

    from drp_bench.metrics.table import metric_info

    with pytest.raises(KeyError, match="unknown metric 'length_ratio'"):
        metric_info("length_ratio")
