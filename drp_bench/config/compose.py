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
    overrides: Sequence[str] = (), config_dir: str | Path | None = None, multirun: bool = False
) -> DictConfig:
    """The run config ``drp-bench run OVERRIDES`` would use, Hydra's node included.

    ``config_dir`` replaces the packaged ``conf/`` (as Hydra's ``--config-dir`` would add one).
    ``multirun``: the config of ``drp-bench run -m OVERRIDES`` (the sweep's own, from which its
    jobs are made): as Hydra does for a sweep, a group the preset leaves to the sweep (``???``,
    e.g. ``dataset`` in ``+experiment=paper_table``) may still be missing.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    if GlobalHydra.instance().is_initialized():
        raise RuntimeError(
            "compose_run_config: Hydra is already initialised in this process (inside a Hydra "
            "app?); pass the app's config to evaluate(config=...) instead"
        )
    register_schema()
    register_resolvers()
    folder = Path(config_dir) if config_dir else packaged_config_dir()
    with initialize_config_dir(config_dir=str(folder.resolve()), version_base="1.3"):
        if not multirun:
            return compose(
                config_name=CONFIG_NAME, overrides=list(overrides), return_hydra_config=True
            )
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        return hydra.compose_config(
            config_name=CONFIG_NAME,
            overrides=list(overrides),
            run_mode=RunMode.MULTIRUN,
            from_shell=False,
            with_log_configuration=False,
        )
