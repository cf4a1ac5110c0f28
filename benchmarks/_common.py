"""Helpers shared by the benchmark scripts: run `drp-bench run` and read run folders."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def drp_bench_run(*overrides: str) -> float:
    """Run `drp-bench run OVERRIDES` in a fresh process; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "drp_bench.cli", "run", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"drp-bench run failed:\n{proc.stderr[-3000:]}")
    return elapsed


def run_metrics(root: Path) -> list[dict]:
    """metrics.json of every run folder under ``root``."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("metrics.json"))]
