"""`drp-bench run` end to end with the real embedded model (SmolLM2-135M via llama.cpp)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drp_bench.backends.cache import CallCache
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def drp_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def run_tiny(run_dir: Path, cache: Path, *extra: str) -> dict:
    proc = drp_bench("run", *TINY, f"cache.path={cache}", f"hydra.run.dir={run_dir}", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"run directory: {run_dir}" in proc.stdout
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    cache = root / "calls.sqlite"
    metrics = run_tiny(root / "run1", cache)
    return root, cache, metrics


def test_run_folder_holds_config_predictions_and_metrics(first_run):
    root, _, _ = first_run
    run_dir = root / "run1"
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert set(record["stages"]) >= {"extract", "validate", "summarize", "generate"}
    extract = record["stages"]["extract"][0]
    assert len(extract["representatives"]) == 2
    assert extract["prompt_tokens"] > 0 and extract["completion_tokens"] > 0
    assert extract["messages"][-1]["role"] == "user"
    assert record["reference"] and isinstance(record["prediction"], str)
    assert record["stages"]["generate"]["finish_reason"] in {"stop", "length"}


def test_metrics_are_finite_and_in_range(first_run):
    _, _, metrics = first_run
    m = metrics["metrics"]
    assert 0.0 <= m["bleu"] <= 100.0
    for key in ("meteor", "rouge1", "rougeL"):
        assert math.isfinite(m[key]) and 0.0 <= m[key] <= 1.0
    assert metrics["run"]["num_samples"] == 2
    assert metrics["calls"]["failed"] == 0
    assert metrics["calls"]["total"] == sum(
        v["calls"] for k, v in metrics["compute"].items() if k != "per_sample"
    )
    assert metrics["compute"]["generate"]["calls"] == 2
    assert metrics["compute"]["generate"]["wall_s"] > 0
    assert metrics["versions"]["llama-cpp-python"]
    assert all(v.startswith("sha256:") for v in metrics["dataset_fingerprint"].values())


def test_rerun_of_the_same_config_makes_no_model_call(first_run):
    root, cache, metrics = first_run
    again = run_tiny(root / "run2", cache)
    assert again["calls"]["cached"] == again["calls"]["total"] == metrics["calls"]["total"]
    assert again["metrics"] == metrics["metrics"]
    first = (root / "run1" / "predictions.jsonl").read_text().splitlines()
    second = (root / "run2" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(x)["prediction"] for x in first] == [
        json.loads(x)["prediction"] for x in second
    ]


def test_killed_run_resumes_from_the_calls_already_made(tmp_path):
    cache = tmp_path / "calls.sqlite"
    run_dir = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "drp_bench.cli",
        "run",
        *TINY,
        "method=dpl",
        f"cache.path={cache}",
        f"hydra.run.dir={run_dir}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if cache.exists() and CallCache(cache).stats()["entries"] >= 2:
                break
            if proc.poll() is not None:
                pytest.fail("run finished before it could be killed")
            time.sleep(0.5)
        else:
            pytest.fail("no call finished within 300 s")
    finally:
        proc.kill()
        proc.wait()
    assert not (run_dir / "metrics.json").exists()
    done_before = CallCache(cache).stats()["entries"]
    metrics = run_tiny(run_dir, cache, "method=dpl")
    assert metrics["calls"]["cached"] >= done_before >= 2
    assert metrics["calls"]["cached"] < metrics["calls"]["total"]


def test_bad_override_fails_with_a_clear_message(tmp_path):
    proc = drp_bench("run", "method=nosuchmethod", f"hydra.run.dir={tmp_path}/x")
    assert proc.returncode != 0
    assert "nosuchmethod" in proc.stderr


def test_run_against_an_openai_compatible_server(tmp_path):
    """The `vllm serve` path: the generator behind a real llama.cpp OpenAI-compatible server."""
    from drp_bench.backends.bundled import bundled_gguf_path
    from tests.servers import LlamaServer

    with LlamaServer(bundled_gguf_path(), n_ctx=4096, log_path=tmp_path / "server.log") as server:
        metrics = run_tiny(
            tmp_path / "run",
            tmp_path / "calls.sqlite",
            "method=rag",
            "generator.backend.kind=openai",
            f"+generator.backend.options.base_url={server.base_url}",
        )
    assert metrics["run"]["models"]["generator"]["backend"] == "openai"
    assert metrics["calls"] == {
        "total": 2,
        "failed": 0,
        "cached": 0,
        "skipped": 0,
        "reasoning_truncated": 0,
    }
    assert metrics["compute"]["generate"]["completion_tokens"] > 0
    record = json.loads((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()[0])
    assert record["prediction"]
