"""The jobs of a run (one) or of a sweep (``-m``), expanded as Hydra's basic sweeper does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf


def sweep_jobs(params: dict[str, Any] | None, task: Sequence[str]) -> list[list[str]]:
    """Each job's overrides: the sweeper's ``params`` (a config's ``hydra.sweeper.params``)
    whose key the command line does not set, then the command line's ``task`` overrides, split
    into one list per combination with Hydra's own parser and basic sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = {o.split("=", 1)[0].lstrip("+~") for o in task}
    args = [f"{k}={v}" for k, v in (params or {}).items() if k not in given] + list(task)
    parsed = OverridesParser.create().parse_overrides(args)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


def job_overrides(
    overrides: Sequence[str], multirun: bool, composed: DictConfig
) -> list[list[str]]:
    """The jobs ``drp-bench run [-m] OVERRIDES`` would run (``composed``: the config composed
    with ``OVERRIDES`` and Hydra's node). Overrides of ``hydra.*`` are not part of a job's own
    overrides (Hydra keeps them apart), so they are left out."""
    task = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    if not multirun:
        return [task]
    params = OmegaConf.select(composed, "hydra.sweeper.params")
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    return sweep_jobs({k: str(v) for k, v in params.items()}, task)  # type: ignore[union-attr]
