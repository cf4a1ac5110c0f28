"""One run from Python, as ``drp-bench run`` does it: :func:`evaluate` and its :class:`RunResult`
(re-exported by :mod:`drp_bench.api`, the documented entry point)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from drp_bench.backends.base import Backend
from drp_bench.config.compose import compose_run_config


@dataclass
class RunResult:
    """A finished run: its metrics.json content, its folder and its predictions rows."""

    metrics: dict[str, Any]
    run_dir: Path
    records: list[dict[str, Any]] = field(repr=False)

    @property
    def status(self) -> str:
        """``complete``, or ``degraded`` when some model calls failed (see ``failures``)."""
        return str(self.metrics["status"])

    @property
    def scores(self) -> dict[str, float]:
        """BLEU (0-100), METEOR, ROUGE-1/L (0-1) and the other corpus metrics."""
        return dict(self.metrics["metrics"])

    @property
    def predictions(self) -> list[str]:
        return [r["prediction"] for r in self.records]

    def summary(self) -> str:
        """The terminal summary ``drp-bench run`` prints."""
        from drp_bench.run.metrics_file import format_summary

        return format_summary(self.metrics)


def evaluate(
    overrides: Sequence[str] = (),
    *,
    config: DictConfig | Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    backends: Mapping[str, Backend] | None = None,
    config_dir: str | Path | None = None,
) -> RunResult:
    """Run one configuration and write its run folder; what ``drp-bench run`` does.

    - ``overrides``: Hydra overrides, exactly as on the command line (``["method=dpl"]``).
    - ``config``: an already composed config instead (e.g. from :func:`compose_run_config`
      or a Hydra app); ``overrides`` are then only recorded.
    - ``out_dir``: the run folder; default: the config's ``hydra.run.dir``, as the CLI.
    - ``backends``: role -> backend for roles you serve yourself (anything with ``identity``,
      ``chat`` and ``close``; see :class:`drp_bench.backends.base.Backend`); they go through
      the call cache too. Other roles use their registry entry.

    A run whose calls failed returns with ``status == "degraded"``; bad config or data raise.
    """
    from drp_bench.run.execute import execute

    cfg = compose_run_config(overrides, config_dir) if config is None else _as_config(config)
    run_dir = Path(out_dir) if out_dir is not None else _default_run_dir(cfg)
    run_cfg = _without_hydra(cfg)
    _write_hydra_files(run_dir, run_cfg, overrides)
    resolved = OmegaConf.to_container(run_cfg, resolve=True, throw_on_missing=True)
    output = execute(resolved, run_dir, backends)  # type: ignore[arg-type]
    return RunResult(output.metrics, run_dir, output.records)


def _as_config(config: DictConfig | Mapping[str, Any]) -> DictConfig:
    return config if isinstance(config, DictConfig) else OmegaConf.create(dict(config))


def _default_run_dir(cfg: DictConfig) -> Path:
    run_dir = OmegaConf.select(cfg, "hydra.run.dir")
    if not run_dir:
        raise ValueError("evaluate: pass out_dir (the config has no hydra.run.dir)")
    return Path(str(run_dir))


def _without_hydra(cfg: DictConfig) -> DictConfig:
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return OmegaConf.create(container)


def _write_hydra_files(run_dir: Path, cfg: DictConfig, overrides: Sequence[str]) -> None:
    """``.hydra/config.yaml`` and ``overrides.yaml``, as Hydra writes them for the CLI, so
    ``drp-bench report`` and ``export-lmeval`` read a library run like any other."""
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), hydra_dir / "overrides.yaml")
