"""Helpers shared by the benchmark scripts: run `drp-bench run` and read run folders.

Importing this module puts the checkout it lives in first on ``sys.path``, so the scripts
measure this checkout's drp_bench, not another installed copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


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


def uptime() -> str:
    """The machine's load (``uptime``), to print with every timing figure."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime not available"
