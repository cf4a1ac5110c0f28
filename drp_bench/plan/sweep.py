"""Plan a run or a sweep: expand its jobs, plan each, and write plan.json."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

from drp_bench.plan.engine import ContextMemo, JobPlan, plan_job, totals
from drp_bench.plan.jobs import job_overrides
from drp_bench.plan.plan_file import SCHEMA_VERSION

log = logging.getLogger("drp_bench")


def plan(
    overrides: Sequence[str],
    multirun: bool = False,
    config_dir: str | None = None,
    completion_tokens: int | None = None,
) -> dict[str, Any]:
    """The plan of ``drp-bench run [-m] OVERRIDES``, as plan.json holds it.
    ``completion_tokens``: expected per call where the cache has no record (None: max_tokens,
    an upper bound)."""
    from drp_bench.config.compose import compose_run_config
    from drp_bench.run.evaluate import _without_hydra

    composed = compose_run_config(
        _without_sweeps(overrides) if multirun else overrides, config_dir, multirun=multirun
    )
    jobs = job_overrides(overrides, multirun, composed)
    folder = OmegaConf.select(composed, "hydra.sweep.dir" if multirun else "hydra.run.dir")
    memo = ContextMemo()
    plans: list[JobPlan] = []
    for n, job in enumerate(jobs):
        log.info("planning job %d of %d: %s", n + 1, len(jobs), " ".join(job))
        cfg = compose_run_config(job, config_dir)
        resolved = OmegaConf.to_container(_without_hydra(cfg), resolve=True)
        plans.append(plan_job(job, resolved, memo, completion_tokens))  # type: ignore[arg-type]
    all_stages = [s for p in plans for s in p.stages]
    return {
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": ["drp-bench", "run", *(["-m"] if multirun else []), *overrides],
        "multirun": multirun,
        "folder": str(folder) if folder else None,
        "completion_tokens_without_records": completion_tokens or "max_tokens",
        "jobs": [p.to_json() for p in plans],
        "totals": {**totals(all_stages), "jobs": len(plans)},
    }


def _without_sweeps(overrides: Sequence[str]) -> list[str]:
    """The overrides that are not sweeps (``a=1,2``): what composes the sweep's own config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.input_line for o in parsed if not o.is_sweep_override()]  # type: ignore[misc]
