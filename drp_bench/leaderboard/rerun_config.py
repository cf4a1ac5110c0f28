"""An entry's config as this checkout runs it, and whether its prompts are today's.

Light on purpose (the leaderboard's build reads the Prompts status of every entry): it composes
configs and fingerprints templates but loads no pipeline, backend or data.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCAL_PREFIX = "local:"


class ReproduceError(ValueError):
    """The entry cannot be re-run here (the message says what is needed)."""


def _local_values(obj: Any, where: str = "") -> list[str]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _local_values(v, f"{where}.{k}".lstrip("."))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _local_values(v, f"{where}[{i}]")]
    return [where] if isinstance(obj, str) and obj.startswith(LOCAL_PREFIX) else []


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    node = cfg
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


@functools.cache
def current_defaults() -> dict[str, Any]:
    """Today's default run config, interpolations unresolved (``judge: ${generator}`` stays a
    reference, so a role added since an entry was made follows the entry's own models)."""
    from omegaconf import OmegaConf

    from drp_bench.config.compose import compose_run_config

    cfg = compose_run_config([])
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return container  # callers copy before changing it


def rerun_config(
    submission_config: Mapping[str, Any],
    data_path: Path,
    cache_path: Path | None,
    settings: Mapping[str, Any] | None = None,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """The entry's config made runnable: the split's data, a cache path, ``settings`` (dotted
    key -> value) for what the entry recorded as ``local:<name>``; ``fill_defaults``: keys
    added to drp-bench since the entry get today's defaults (not for a re-run at the entry's
    own commit, whose code knows exactly the keys it wrote)."""
    cfg = copy.deepcopy(dict(submission_config))
    if fill_defaults:
        for key, value in copy.deepcopy(current_defaults()).items():
            cfg.setdefault(key, value)
    cfg["dataset"] = {**cfg.get("dataset", {}), "path": str(data_path), "meta_path": None}
    cfg["cache"] = {"enabled": cache_path is not None, "path": str(cache_path or "")}
    for key, value in (settings or {}).items():
        _set(cfg, key, value)
    unresolved = _local_values(cfg)
    if unresolved:
        raise ReproduceError(
            "the entry was run with local files, recorded only by name: "
            + ", ".join(unresolved)
            + "; pass each as --set KEY=PATH"
        )
    return cfg


# ---------------------------------------------------------------- prompts and where to run


def todays_prompts_sha256(config: Mapping[str, Any]) -> str:
    """The prompt fingerprint the entry's config has with this checkout's code and templates
    (drp_bench.run.prompts_fingerprint); raises ValueError/OSError when it cannot run here."""
    from omegaconf import OmegaConf

    from drp_bench.config.run_config import RunConfig
    from drp_bench.run.prompts_fingerprint import prompts_fingerprint

    resolved = OmegaConf.to_container(OmegaConf.create(dict(config)), resolve=True)
    assert isinstance(resolved, dict)
    try:
        return prompts_fingerprint(RunConfig.from_config(resolved))  # type: ignore[arg-type]
    except Exception as e:  # an interpolation or a key today's code lacks
        if isinstance(e, (ValueError, OSError)):
            raise
        raise ValueError(f"{type(e).__name__}: {e}") from e


def prompts_status(entry_sha256: str | None, config: Mapping[str, Any]) -> str:
    """``"current"`` (the entry's prompts are today's), ``"other"`` or ``"unknown"`` (the
    entry did not record them, or its config does not run with today's code as it is)."""
    if entry_sha256 is None:
        return "unknown"
    try:
        cfg = rerun_config(config, Path("."), None)
        return "current" if todays_prompts_sha256(cfg) == entry_sha256 else "other"
    except (ValueError, OSError):
        return "unknown"
