"""The Hydra application behind `drp-bench run`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from drp_bench import sweep_status  # noqa: F401  registers ${drp_safe_dirname:...}
from drp_bench.cli import CONF_DIR
from drp_bench.metrics.table import METRICS

log = logging.getLogger("drp_bench")

#: Exit status of a single run that finished with failed calls (status "degraded").
EXIT_DEGRADED = 3

# Bad configuration or bad input: one clear line, not a traceback (error.json keeps it).
USER_ERRORS = (ValueError, FileNotFoundError, OmegaConfBaseException)


def format_metrics(metrics: dict) -> str:
    """A short plain-text table of a run's scores and cost."""
    m = metrics.get("metrics", {})
    run = metrics.get("run", {})
    rows = [
        ("method", run.get("method")),
        ("dataset", f"{run.get('dataset')} ({run.get('num_samples')} samples)"),
        ("extractor", run.get("models", {}).get("extractor", {}).get("name")),
        ("generator", run.get("models", {}).get("generator", {}).get("name")),
        *((info.label, _fmt(m.get(info.key))) for info in METRICS),
        ("calls (cached/failed)", "{total} ({cached}/{failed})".format(**metrics["calls"])),
        ("samples affected", _affected(metrics)),
        (
            "tokens per sample",
            _fmt(metrics["compute"]["per_sample"]["completion_tokens"], 1)
            + " completion, "
            + _fmt(metrics["compute"]["per_sample"]["prompt_tokens"], 1)
            + " prompt",
        ),
        ("wall time", f"{metrics.get('wall_time_s', 0):.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join([status_line(metrics), *(f"{k.ljust(width)}  {v}" for k, v in rows)])


def status_line(metrics: dict) -> str:
    """First line of a run's summary: complete, or DEGRADED with what failed."""
    if metrics.get("status") == "complete":
        return "status: complete (every call succeeded)"
    reason = (metrics.get("failures") or {}).get("reason", "some calls failed")
    return (
        f"DEGRADED: {reason}. Scores below are not the method's; re-run the same command to "
        "retry only the failed calls (the others come from the cache)."
    )


def _affected(metrics: dict) -> str:
    failures = metrics.get("failures") or {}
    n = metrics.get("run", {}).get("num_samples")
    ids = failures.get("samples") or []
    shown = ", ".join(ids[:5]) + (f", ... (+{len(ids) - 5})" if len(ids) > 5 else "")
    return f"{len(ids)} of {n}" + (f": {shown}" if ids else "")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def run_app(cfg: DictConfig) -> None:
    from drp_bench.run import execute, write_error

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        cfg_dict = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        metrics = execute(cfg_dict, out_dir)  # type: ignore[arg-type]
    except Exception as exc:
        if not (out_dir / "error.json").exists():
            write_error(out_dir, exc)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.exception("run failed; see %s/error.json (the sweep goes on)", out_dir)
            return
        if isinstance(exc, USER_ERRORS):
            print(f"drp-bench run: error: {exc}", file=sys.stderr)
            print(f"(details: {out_dir / 'error.json'})", file=sys.stderr)
            raise SystemExit(1) from None
        raise
    print(format_metrics(metrics))
    print(f"run directory: {out_dir}")
    if metrics.get("status") != "complete" and HydraConfig.get().mode != RunMode.MULTIRUN:
        raise SystemExit(EXIT_DEGRADED)
