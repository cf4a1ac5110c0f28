"""The run config ``drp-bench run OVERRIDES`` would use, composed with Hydra's compose API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from drp_bench.config.resolvers import register_resolvers
from drp_bench.config.schema import register as register_schema
from drp_bench.resources import config_dir as packaged_config_dir

#: The primary config's name in ``conf/``.
CONFIG_NAME = "config"


def compose_run_config(
    overrides: Sequence[str] = (), config_dir: str | Path | None = None
) -> DictConfig:
    """The run config ``drp-bench run OVERRIDES`` would use, Hydra's node included.

    ``config_dir`` replaces the packaged ``conf/`` (as Hydra's ``--config-dir`` would add one).
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        raise RuntimeError(
            "compose_run_config: Hydra is already initialised in this process (inside a Hydra "
            "app?); pass the app's config to evaluate(config=...) instead"
        )
    register_schema()
    register_resolvers()
    folder = Path(config_dir) if config_dir else packaged_config_dir()
    with initialize_config_dir(config_dir=str(folder.resolve()), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides), return_hydra_config=True)
