"""``drp-bench leaderboard reproduce ENTRY``: re-run an entry's config, compare predictions.

The entry's resolved config is run again with the split's data and, by default, an empty call
cache of its own (so every call is made again, not read back). The models must be the same
(name, hub id, revision and, for GGUF files, sha256); the reproduction passes when every
prediction is identical. With ``record`` the outcome goes into ``reproductions.json``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drp_bench.leaderboard.records import REPRODUCTIONS, content_hashes, save_record
from drp_bench.leaderboard.splits import resolve_data
from drp_bench.leaderboard.verify import verify_entry

LOCAL_PREFIX = "local:"
IDENTITY_FIELDS = ("name", "hub_id", "revision", "sha256")


class ReproduceError(ValueError):
    """The entry cannot be re-run here (the message says what is needed)."""


@dataclass
class Reproduction:
    entry_id: str
    run_dir: Path
    samples: int
    differing: list[str] = field(default_factory=list)
    model_mismatches: list[str] = field(default_factory=list)
    wall_time_s: float | None = None
    entry_commit: str | None = None  # the drp-bench commit the entry was made with
    commit_here: str | None = None  # the one that re-ran it

    @property
    def identical(self) -> bool:
        return not self.differing and not self.model_mismatches

    @property
    def other_code(self) -> bool:
        """Made and re-run by different drp-bench commits (both known)."""
        return bool(self.entry_commit and self.commit_here) and (
            self.entry_commit != self.commit_here
        )


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


def current_defaults() -> dict[str, Any]:
    """Today's default run config, interpolations unresolved (``judge: ${generator}`` stays a
    reference, so a role added since an entry was made follows the entry's own models)."""
    from omegaconf import OmegaConf

    from drp_bench.api import compose_run_config

    cfg = compose_run_config([])
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return container


def rerun_config(
    submission_config: Mapping[str, Any],
    data_path: Path,
    cache_path: Path | None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The entry's config made runnable here: the split's data, a cache path, ``settings``
    (dotted key -> value) for what the entry recorded as ``local:<name>``."""
    import copy

    cfg = copy.deepcopy(dict(submission_config))
    for key, value in current_defaults().items():  # keys added to drp-bench since the entry
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


def reproduce_entry(
    entry_dir: Path,
    board: Path,
    *,
    data_paths: Mapping[str, Path] | None = None,
    settings: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    use_cache: Path | None = None,
    record: bool = False,
) -> Reproduction:
    """Re-run a verified entry and compare its predictions (and models) with the entry's."""
    from drp_bench.api import evaluate
    from drp_bench.leaderboard.submit import _role_model

    entry_dir, board = Path(entry_dir), Path(board)
    checked = verify_entry(entry_dir, board, data_paths)
    if checked.problems:
        raise ReproduceError(
            f"entry {entry_dir.name} does not verify; fix that first:\n  - "
            + "\n  - ".join(checked.problems)
        )
    sub = checked.submission
    assert sub is not None and checked.split is not None and checked.predictions is not None
    if sub.source.get("kind") != "drp-bench run":
        raise ReproduceError(
            f"entry {sub.entry_id}: its predictions come from {sub.source.get('kind')}; "
            "re-run that tool to reproduce it"
        )
    data_path = resolve_data(checked.split, data_paths)
    if data_path is None:
        raise ReproduceError(f"split {checked.split.id}: pass --data {checked.split.id}=PATH")
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="drp-reproduce-"))
    cache = use_cache if use_cache is not None else work / "calls.sqlite"
    cfg = rerun_config(sub.config, data_path, cache, settings)
    started = dt.datetime.now()
    result = evaluate(config=cfg, out_dir=work / "run")
    wall = (dt.datetime.now() - started).total_seconds()
    mismatches = []
    for role, claimed in sub.models.items():
        now = _role_model(role, cfg)
        for key in IDENTITY_FIELDS:
            if now.get(key) != getattr(claimed, key):
                mismatches.append(
                    f"{role}.{key}: entry {getattr(claimed, key)!r}, here {now.get(key)!r}"
                )
    new = {r["sample_id"]: r["prediction"] for r in result.records}
    differing = [s for s in checked.split.sample_ids if new.get(s) != checked.predictions[s]]
    from drp_bench.provenance import git_commit

    outcome = Reproduction(
        entry_id=sub.entry_id,
        run_dir=result.run_dir,
        samples=len(checked.split.sample_ids),
        differing=differing,
        model_mismatches=mismatches,
        wall_time_s=round(wall, 1),
        entry_commit=sub.git_commit,
        commit_here=git_commit(),
    )
    if record:
        from drp_bench import __version__

        save_record(
            board,
            REPRODUCTIONS,
            sub.entry_id,
            {
                **content_hashes(checked.raw or {}),
                "identical": outcome.identical,
                "samples": outcome.samples,
                "differing": differing[:20],
                "differing_count": len(differing),
                "model_mismatches": mismatches,
                "fresh_cache": use_cache is None,
                "date": dt.date.today().isoformat(),
                "drp_bench": __version__,
                "git_commit": git_commit(),
                "wall_time_s": outcome.wall_time_s,
            },
        )
    return outcome
