"""A run says what really happened: degraded when calls fail, interrupted when stopped, and
never a half-written file, with the real embedded model and a real llama.cpp server."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drp_bench.backends.cache import CallCache
from drp_bench.report.cli import main as report_main
from tests.conftest import TINY, require
from tests.servers import LlamaServer

pytestmark = pytest.mark.slow

EXIT_DEGRADED = 3


def command(run_dir: Path, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "drp_bench.cli", "run", *TINY,
        f"cache.path={cache}", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def remote_roles(base_url: str) -> list[str]:
    """Every role behind one OpenAI-compatible server, with no client-side retries."""
    return [
        override
        for role in ("extractor", "generator")  # validator and summarizer follow these two
        for override in (
            f"{role}.backend.kind=openai",
            f"+{role}.backend.options.base_url={base_url}",
            f"+{role}.backend.options.max_retries=0",
        )
    ]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_server_killed_while_validating_degrades_the_run_and_a_rerun_completes_it(tmp_path, capsys):
    require("llama_cpp.server.app", "llama-cpp-python[server]")
    from drp_bench.backends.bundled import bundled_gguf_path

    cache, run_dir, log = tmp_path / "calls.sqlite", tmp_path / "run", tmp_path / "server.log"
    server = LlamaServer(bundled_gguf_path(), n_ctx=4096, log_path=log).start()
    try:
        cmd = command(run_dir, cache, *remote_roles(server.base_url))
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "[extract]" in line and "(done)" in line:
                server.kill()  # the validate stage starts now and never gets an answer
        proc.wait(timeout=300)
    finally:
        server.kill()
    output = "".join(lines)
    assert proc.returncode == EXIT_DEGRADED, output[-3000:]
    summary = output[output.index("DEGRADED:") :]
    assert summary.splitlines()[1].startswith("method")  # DEGRADED is the summary's first line

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "degraded"
    by_stage = metrics["failures"]["calls_by_stage"]
    assert by_stage["extract"]["failed"] == 0
    assert by_stage["validate"]["failed"] >= 1
    assert "validate" in metrics["failures"]["reason"]
    records = read_jsonl(run_dir / "predictions.jsonl")
    assert {r["status"] for r in records} <= {"failed", "context_incomplete"}
    assert sorted(r["sample_id"] for r in records) == metrics["failures"]["samples"]
    assert all("validate" in r["failed_stages"] for r in records)

    assert report_main([str(run_dir), "--no-plots", "--bootstrap", "0"]) == 1  # none complete
    report = capsys.readouterr().out
    assert "1 degraded run(s) (shown, not ranked)" in report
    assert f"[degraded] {run_dir}" in report

    succeeded = metrics["calls"]["total"] - metrics["calls"]["failed"]
    extract_calls = metrics["compute"]["extract"]["calls"]
    with LlamaServer(bundled_gguf_path(), n_ctx=4096, log_path=log, port=server.port):
        again = subprocess.run(
            command(run_dir, cache, *remote_roles(server.base_url)),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "\nstatus: complete (every call succeeded)\nmethod" in again.stdout
    rerun = json.loads((run_dir / "metrics.json").read_text())
    assert rerun["status"] == "complete" and rerun["failures"] is None
    # every earlier success whose prompt recurs comes from the cache, the failed ones are retried
    assert extract_calls <= rerun["calls"]["cached"] <= succeeded
    assert rerun["calls"]["failed"] == 0
    assert {r["status"] for r in read_jsonl(run_dir / "predictions.jsonl")} == {"complete"}


def test_sigterm_writes_an_interrupted_error_and_keeps_the_finished_calls(tmp_path):
    cache, run_dir = tmp_path / "calls.sqlite", tmp_path / "run"
    proc = subprocess.Popen(
        command(run_dir, cache, "method=dpl"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not (cache.exists() and CallCache(cache).stats()["entries"] >= 1):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no call finished within 300 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr.decode()[-2000:]
    assert b"interrupted" in stderr
    error = json.loads((run_dir / "error.json").read_text())
    assert error["interrupted"] is True and error["error"] == "interrupted by SIGTERM"
    assert error["finished"]["phase"] == "model calls"
    assert error["finished"]["stages"]["extract"]["done"] >= 1
    assert not (run_dir / "metrics.json").exists()
    kept = CallCache(cache).stats()["entries"]
    assert kept >= 1
    done = subprocess.run(command(run_dir, cache, "method=dpl"), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["calls"]["cached"] >= kept
    assert not (run_dir / "error.json").exists()


def _outputs(path: Path) -> list[tuple[str, str, list[str]]]:
    """What a run produced, without timings: prediction and every stage's output per sample."""
    rows = []
    for r in read_jsonl(path):
        outputs = [
            call["output"]
            for stage in r["stages"].values()
            for call in (stage if isinstance(stage, list) else [stage])
        ]
        rows.append((r["sample_id"], r["prediction"], outputs))
    return rows


def _assert_whole_or_absent(run_dir: Path) -> None:
    if (run_dir / "predictions.jsonl").exists():
        assert len(read_jsonl(run_dir / "predictions.jsonl")) == 2
    if (run_dir / "metrics.json").exists():
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "complete"


@pytest.mark.timeout(1500)  # a reference run, several killed runs and a final run, serially
def test_sigkill_at_random_moments_then_a_rerun_gives_the_uninterrupted_predictions(tmp_path):
    reference_dir = tmp_path / "reference"
    start = time.monotonic()
    ref = subprocess.run(
        command(reference_dir, tmp_path / "reference.sqlite", "method=dpl"),
        capture_output=True, timeout=600,
    )  # fmt: skip
    duration = time.monotonic() - start
    assert ref.returncode == 0, ref.stderr.decode()[-2000:]

    rng = random.Random(20261126)
    cache, run_dir = tmp_path / "calls.sqlite", tmp_path / "run"
    moments = [round(rng.uniform(0.5, duration), 1) for _ in range(3)]
    for moment in moments:
        proc = subprocess.Popen(
            command(run_dir, cache, "method=dpl"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            proc.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _assert_whole_or_absent(run_dir)
    final = subprocess.run(command(run_dir, cache, "method=dpl"), capture_output=True, timeout=600)
    assert final.returncode == 0, (moments, final.stderr.decode()[-2000:])
    assert _outputs(run_dir / "predictions.jsonl") == _outputs(
        reference_dir / "predictions.jsonl"
    ), f"kill moments {moments} s"


def test_uvq_run_with_the_embedded_model_normalizes_every_validated_item(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        command(run_dir, tmp_path / "calls.sqlite", "uvq=true"),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode in (0, EXIT_DEGRADED), proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    records = read_jsonl(run_dir / "predictions.jsonl")
    validated = [e for r in records for e in r["stages"]["validate"] if e["output"].strip()]
    normalized = [e for r in records for e in r["stages"].get("normalize", [])]
    # every validated item with an answer is normalised, parsed into features or sent raw
    assert len(normalized) == len(validated) >= 1
    assert metrics["compute"]["normalize"]["calls"] == len(normalized)
    assert all(isinstance(e["units"], list) and "parse_ok" in e for e in normalized)
    uvq = metrics["uvq"]
    assert uvq["users"] == 2
    assert uvq["malformed_items"] == sum(1 for e in normalized if not e["parse_ok"])
    assert 0.0 <= uvq["invalid_share"] <= 1.0 and uvq["mean"] >= 0.0
