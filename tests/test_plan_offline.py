"""Planning a GPU preset on a laptop: no CUDA, no hub access, nothing downloaded."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from drp_bench.config.compose import compose_run_config
from drp_bench.config.run_config import BUNDLED_EMBEDDER, EmbedderSpec, RunConfig
from drp_bench.data.locate import SAMPLE_DATA
from drp_bench.pipeline.representatives import (
    Embedder,
    EmbedderMissing,
    cuda_available,
    resolve_embedder_path,
)
from drp_bench.plan.engine import ContextMemo, plan_job
from drp_bench.run.evaluate import _without_hydra
from tests.conftest import REPO

GTE = "Alibaba-NLP/gte-Qwen2-1.5B-instruct"  # the paper preset's embedder, not on this machine
#: The paper table's sweep narrowed to one quick job (one dataset, extractor and temperature).
PAPER = [
    "+experiment=paper_table",
    "dataset=books",
    "model@extractor=qwen2.5-1.5b-instruct",
    "temperature=0.0",
    "dataset.limit=1",
    "num_retrieved=2",
    "num_users=2",
]
NOTE = (
    "note: no CUDA here: embeddings for planning run on the CPU "
    "(embedding.device=cuda in the config)"
)
HUB_NOISE = ("Retrying", "Traceback", "huggingface.co")


def _env(tmp_path: Path) -> dict[str, str]:
    """This checkout's code; the paper datasets are the bundled sample; an empty Hugging Face
    cache; hub offline mode not set (any hub request would be tried, and fail slowly here)."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
    }
    sample = str(SAMPLE_DATA / "music_sample")
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        DRP_BENCH_BOOKS=sample,
        DRP_BENCH_CDS=sample,
        HF_HOME=str(tmp_path / "hf"),
        DRP_BENCH_CACHE=str(tmp_path / "cache" / "calls.sqlite"),
    )
    return env


def _drp_bench(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(tmp_path),
        cwd=tmp_path,
    )


def _no_hub_noise(proc: subprocess.CompletedProcess) -> None:
    for noise in HUB_NOISE:
        assert noise not in proc.stdout + proc.stderr, noise


@pytest.mark.slow
def test_the_paper_preset_plans_without_cuda_and_says_its_embeddings_run_on_the_cpu(tmp_path):
    if cuda_available():
        pytest.skip("this machine has CUDA: nothing to fall back from")
    cfg = compose_run_config(PAPER, None)
    assert cfg.embedding.device == "cuda"  # as the preset sets it: not overridden below
    out = tmp_path / "plan.json"
    proc = _drp_bench(
        tmp_path, "plan", "-m", *PAPER, f"embedding.model={BUNDLED_EMBEDDER}", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines().count(NOTE) == 1
    _no_hub_noise(proc)
    (job,) = OmegaConf.load(out).jobs
    assert [s.stage for s in job.stages] == [
        "extract", "validate", "normalize", "summarize", "generate",
    ]  # fmt: skip
    assert job.stages[0].gpus == 1 and job.stages[2].gpus == 2  # the GPU preset's figures
    # planning never writes CPU vectors into the cache the GPU run will read
    with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (0,)


def test_a_missing_hub_embedder_is_one_line_naming_it_and_no_hub_traffic(tmp_path):
    proc = _drp_bench(tmp_path, "plan", "-m", *PAPER, "--out", str(tmp_path / "p.json"), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"drp-bench plan: embedding model {GTE} is not on this machine: fetch it with "
        f"'hf download {GTE}' (or set embedding.model to a local folder; or plan with "
        f"embedding.model={BUNDLED_EMBEDDER}: the same call counts, other representatives (so "
        "somewhat other prompt tokens))"
    )
    _no_hub_noise(proc)
    assert proc.stdout == "" and not (tmp_path / "p.json").exists()


def test_a_run_with_a_missing_hub_embedder_downloads_nothing_and_says_how_to_fetch_it(tmp_path):
    run = [
        "run", "dataset.limit=1", f"embedding.model={GTE}", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    proc = _drp_bench(tmp_path, *run, timeout=60)
    assert proc.returncode == 1
    assert (
        f"drp-bench run: error: embedding model {GTE} is not on this machine: fetch it with "
        f"'hf download {GTE}' (or set embedding.model to a local folder)\n"
    ) in proc.stderr
    _no_hub_noise(proc)
    assert (tmp_path / "run" / "error.json").is_file()


def test_a_missing_embedder_folder_is_named() -> None:
    with pytest.raises(EmbedderMissing, match=r"^embedding model folder /nowhere/model not found"):
        Embedder(EmbedderSpec(model="/nowhere/model"))


def _hub_cache_copy(hub: Path, repo_id: str, folder: Path) -> None:
    """``folder`` as the Hugging Face cache holds a downloaded ``repo_id`` (refs/main and a
    snapshot)."""
    commit = "0" * 40
    entry = hub / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)


@pytest.mark.slow
def test_a_hub_embedder_in_the_hugging_face_cache_loads_with_no_hub_request(tmp_path):
    _hub_cache_copy(
        tmp_path / "hf" / "hub", "someone/minilm", Path(resolve_embedder_path(BUNDLED_EMBEDDER))
    )
    code = (
        "from drp_bench.config.run_config import EmbedderSpec\n"
        "from drp_bench.pipeline.representatives import Embedder\n"
        "import numpy as np, sys\n"
        "for model in ('someone/minilm', 'bundled:all-MiniLM-L6-v2'):\n"
        "    np.save(sys.stdout.buffer, Embedder(EmbedderSpec(model=model)).encode(['Loud.']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, env=_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    for noise in HUB_NOISE:
        assert noise.encode() not in proc.stderr, noise
    stream = io.BytesIO(proc.stdout)
    from_hub_cache, bundled = np.load(stream), np.load(stream)
    assert from_hub_cache.shape == (1, 384) and np.array_equal(from_hub_cache, bundled)


def _resolved(overrides: list[str]) -> dict:
    cfg = compose_run_config(overrides)
    return OmegaConf.to_container(_without_hydra(cfg), resolve=True)  # type: ignore[return-value]


@pytest.mark.slow
def test_another_embedder_picks_other_representatives_but_the_same_calls(tmp_path):
    """What the missing-embedder line promises: planning with the bundled embedder gives the
    run's call counts (items and calls do not depend on which users represent an item)."""
    prompted = tmp_path / "model"
    shutil.copytree(resolve_embedder_path(BUNDLED_EMBEDDER), prompted)
    st_config = prompted / "config_sentence_transformers.json"
    st_config.write_text(json.dumps({**json.loads(st_config.read_text()), "prompts": {"q": "Q: "}}))
    base = [
        "method=drp", "dataset.limit=2", "num_retrieved=1", "num_users=2",
        f"cache.path={tmp_path / 'calls.sqlite'}",
    ]  # fmt: skip
    other = [*base, f"embedding.model={prompted}", "embedding.prompt_name=q"]
    memo = ContextMemo()  # the contexts built here are the ones each plan reads
    chosen = [
        [
            c.representative_users
            for ctx in memo.inputs(RunConfig.from_config(_resolved(o))).contexts
            for c in ctx.comparisons
        ]
        for o in (base, other)
    ]
    assert chosen[0] != chosen[1]  # other vectors, other representatives
    plans = [plan_job(o, _resolved(o), memo) for o in (base, other)]
    calls = [{s.stage: s.calls for s in p.stages} for p in plans]
    assert calls[0] == calls[1] and calls[0]["extract"] > 0
