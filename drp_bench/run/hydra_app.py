"""The Hydra application behind `drp-bench run`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from drp_bench.config.resolvers import register_resolvers
from drp_bench.config.schema import register as register_schema
from drp_bench.resources import config_dir

log = logging.getLogger("drp_bench")

# Before @hydra.main composes the config: its schema and resolvers.
register_schema()
register_resolvers()

#: Exit status of a single run that finished with failed calls (status "degraded").
EXIT_DEGRADED = 3

# Bad configuration or bad input: one clear line, not a traceback (error.json keeps it).
USER_ERRORS = (ValueError, FileNotFoundError, OmegaConfBaseException)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def run_app(cfg: DictConfig) -> None:
    """One run (a sweep job, with -m) through the library entry point."""
    from drp_bench.run.evaluate import evaluate
    from drp_bench.run.execute import write_error

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        result = evaluate(list(hydra_cfg.overrides.task), config=cfg, out_dir=out_dir)
    except Exception as exc:
        if not (out_dir / "error.json").exists():
            write_error(out_dir, exc)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            log.exception("run failed; see %s/error.json (the sweep goes on)", out_dir)
            return
        if isinstance(exc, USER_ERRORS):
            print(f"drp-bench run: error: {exc}", file=sys.stderr)
            print(f"(details: {out_dir / 'error.json'})", file=sys.stderr)
            raise SystemExit(1) from None
        raise
    print(result.summary())
    print(f"run directory: {_shown(out_dir)}")
    if result.status != "complete" and hydra_cfg.mode != RunMode.MULTIRUN:
        raise SystemExit(EXIT_DEGRADED)


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it (as the user typed it)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path
