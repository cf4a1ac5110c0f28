"""The plan beside what happened: per job and stage, planned and actual calls, tokens and time.

A plan's job is matched to the run folder with the same overrides (``.hydra/overrides.yaml``),
as a sweep's jobs are; its ``status`` is the run folder's (``drp_bench.run.folder.classify``,
as in the sweep summary), and actual figures come only from a complete or degraded run.
Planned completion tokens are the cached calls' plus the expected ones; planned hours are those
of the calls the plan found missing from the call cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from drp_bench.report.collect import SCORED, Run

COLUMNS = [
    "job",
    "run_dir",
    "status",
    "stage",
    "calls_planned",
    "calls_actual",
    "cached_planned",
    "cached_actual",
    "prompt_tokens_planned",
    "prompt_tokens_actual",
    "prompt_tokens_exact",
    "completion_tokens_planned",
    "completion_tokens_actual",
    "hours_planned",
    "hours_actual",
]


def compare(plan: dict[str, Any], runs: Sequence[Run]) -> pd.DataFrame:
    """One row per planned job and stage (actual figures empty unless a complete or degraded
    run matches), then one ``(job)`` row per job with the job's totals; the run's whole wall
    time is its actual. ``status``: the matched run's, None when no run folder matches."""
    by_overrides: dict[frozenset[str], Run] = {}
    for r in sorted(runs, key=lambda r: r.status in SCORED):  # a run with scores wins
        if r.status != "missing":
            by_overrides[frozenset(r.overrides)] = r
    rows: list[dict[str, Any]] = []
    for n, job in enumerate(plan["jobs"]):
        run = by_overrides.get(frozenset(job["overrides"]))
        record = run.record if run is not None and run.status in SCORED else {}
        status = run.status if run is not None else None
        compute = record.get("compute") or {}
        name = f"{n}: " + (" ".join(job["overrides"]) or "(defaults)")
        for stage in job["stages"]:
            actual = compute.get(stage["stage"]) or {}
            rows.append(
                {
                    "job": name,
                    "run_dir": str(run.run_dir) if run else None,
                    "status": status,
                    "stage": stage["stage"],
                    "calls_planned": stage["calls"],
                    "calls_actual": actual.get("calls"),
                    "cached_planned": stage["cached"],
                    "cached_actual": None,  # metrics.json counts cached calls per run only
                    "prompt_tokens_planned": stage["prompt_tokens"],
                    "prompt_tokens_actual": actual.get("prompt_tokens"),
                    "prompt_tokens_exact": stage["prompt_tokens_exact"],
                    "completion_tokens_planned": stage["completion_tokens_cached"]
                    + stage["completion_tokens_expected"],
                    "completion_tokens_actual": actual.get("completion_tokens"),
                    "hours_planned": stage["hours"],
                    "hours_actual": actual["wall_s"] / 3600 if "wall_s" in actual else None,
                }
            )
        t = job["totals"]
        stage_rows = rows[-len(job["stages"]) :] if job["stages"] else []
        rows.append(
            {
                "job": name,
                "run_dir": str(run.run_dir) if run else None,
                "status": status,
                "stage": "(job)",
                "calls_planned": t["calls"],
                "calls_actual": (record.get("calls") or {}).get("total"),
                "cached_planned": t["cached"],
                "cached_actual": (record.get("calls") or {}).get("cached"),
                "prompt_tokens_planned": t["prompt_tokens"],
                "prompt_tokens_actual": _sum(r["prompt_tokens_actual"] for r in stage_rows),
                "prompt_tokens_exact": all(s["prompt_tokens_exact"] for s in job["stages"]),
                "completion_tokens_planned": _sum(
                    r["completion_tokens_planned"] for r in stage_rows
                ),
                "completion_tokens_actual": _sum(r["completion_tokens_actual"] for r in stage_rows),
                "hours_planned": t["hours"],
                "hours_actual": record["wall_time_s"] / 3600 if "wall_time_s" in record else None,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _sum(values: Any) -> float | None:
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def _cell(v: Any, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and pd.isna(v)) else format(v, fmt)


def to_markdown(frame: pd.DataFrame) -> str:
    """The comparison as a markdown table: planned / actual in each cell."""
    head = ["Job", "Stage", "Calls", "Cached", "Prompt tokens", "Completion tokens", "Hours"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    last_job = None
    for r in frame.to_dict("records"):
        job = "" if r["job"] == last_job else r["job"].replace("|", "\\|")
        if job and isinstance(r["status"], str) and r["status"] != "complete":
            job += f" [{r['status']}]"
        last_job = r["job"]
        mark = "" if r["prompt_tokens_exact"] else "~"
        cells = [
            job,
            r["stage"],
            f"{_cell(r['calls_planned'], ',.0f')} / {_cell(r['calls_actual'], ',.0f')}",
            f"{_cell(r['cached_planned'], ',.0f')} / {_cell(r['cached_actual'], ',.0f')}",
            f"{mark}{_cell(r['prompt_tokens_planned'], ',.0f')} / "
            f"{_cell(r['prompt_tokens_actual'], ',.0f')}",
            f"{_cell(r['completion_tokens_planned'], ',.0f')} / "
            f"{_cell(r['completion_tokens_actual'], ',.0f')}",
            f"{_cell(r['hours_planned'], '.3f')} / {_cell(r['hours_actual'], '.3f')}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = (
    "Each cell: planned / actual. Planned completion tokens: the cached calls' plus the "
    "expected ones (the call cache's mean for the model and stage, else max_tokens); planned "
    "hours: the calls not in the cache at the plan's throughput; actual hours: the stage's "
    "wall time ((job): the run's). ~: planned prompt tokens estimated."
)


def find_plans(sweep_dirs: Sequence[Path]) -> list[Path]:
    """plan.json files directly in the given folders."""
    return [d / "plan.json" for d in sweep_dirs if (d / "plan.json").is_file()]
