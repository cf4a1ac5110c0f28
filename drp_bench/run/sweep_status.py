"""The end of a multirun: which jobs are complete, degraded, failed or interrupted (each job
folder by :func:`drp_bench.run.folder.classify`, the rule ``report`` and ``submit`` use too),
and the exit status.

A Hydra callback (:class:`SweepStatusCallback`, registered under ``hydra.callbacks`` in
``conf/config.yaml``) reads the job folders under ``hydra.sweep.dir`` when the sweep ends,
prints a summary, writes it to ``<sweep dir>/sweep_status.json`` and records the verdict in
this module; ``drp-bench run`` (``drp_bench.cli._run``) turns it into its exit status. Job
folders are read from the filesystem, so it works the same for the basic, joblib and submitit
launchers (their jobs run in other processes but share the filesystem).

Job folder names come from ``${drp_safe_dirname:...}`` (:mod:`drp_bench.config.resolvers`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from drp_bench.config.resolvers import register_resolvers
from drp_bench.run.folder import FOLDER_STATUSES, FolderStatus, classify, one_line

# Job processes (submitit, joblib) import this module when Hydra rebuilds the callback there;
# the job's folder name is resolved with ${drp_safe_dirname:...}.
register_resolvers()

JobState = FolderStatus
STATES: tuple[JobState, ...] = FOLDER_STATUSES
#: Values of the top-level config key ``sweep_exit``.
EXIT_POLICIES = ("strict", "zero")
STATUS_FILE = "sweep_status.json"


# ---------------------------------------------------------------- job folders


@dataclass
class JobStatus:
    """One job of a sweep: its folder (relative to the sweep dir), state and why."""

    folder: str
    status: JobState
    reason: str = ""
    overrides: list[str] = field(default_factory=list)


@dataclass
class SweepStatus:
    """Every job of a sweep and the exit status the sweep should end with."""

    sweep_dir: str
    jobs: list[JobStatus]
    exit_policy: str = "strict"
    note: str = ""  # set when the sweep did not run to its end

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(j.status == s for j in self.jobs) for s in STATES}

    @property
    def problems(self) -> list[JobStatus]:
        return [j for j in self.jobs if j.status != "complete"]

    @property
    def exit_code(self) -> int:
        """1 if a job failed or degraded (``sweep_exit=zero``: 0), or the sweep broke off."""
        if self.note:
            return 1
        return 1 if self.problems and self.exit_policy != "zero" else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_dir": self.sweep_dir,
            "counts": self.counts,
            "exit_policy": self.exit_policy,
            "exit_code": self.exit_code,
            "note": self.note,
            "jobs": [asdict(j) for j in self.jobs],
        }


def find_job_dirs(sweep_dir: Path) -> list[Path]:
    """Folders under ``sweep_dir`` holding ``.hydra/config.yaml``, in job-number order."""
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(sweep_dir):
        here = Path(dirpath)
        if (here / ".hydra" / "config.yaml").is_file():
            found.append(here)
            dirnames[:] = []
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(found, key=lambda p: _natural_key(p.relative_to(sweep_dir)))


def _natural_key(path: Path) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(path))]


def _overrides(job_dir: Path) -> list[str]:
    try:
        data = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    return [str(o) for o in data] if isinstance(data, list) else []


def collect(
    sweep_dir: Path,
    exit_policy: str = "strict",
    dead: dict[tuple[str, ...], str] | None = None,
) -> SweepStatus:
    """Read every job folder under ``sweep_dir``.

    ``dead`` maps a job's overrides to the reason its process died (a launcher's view): a job
    that wrote no metrics.json or error.json gets that reason (its folder says interrupted), and
    is listed without folder, interrupted, if it never got one.
    """
    dead = dict(dead or {})
    jobs = []
    for job_dir in find_job_dirs(sweep_dir):
        overrides = _overrides(job_dir)
        state = classify(job_dir)
        reason = state.reason
        died = dead.pop(tuple(overrides), None)
        if died is not None and not state.read:  # it wrote nothing: the launcher knows why
            reason = one_line(died)
        folder = str(job_dir.relative_to(sweep_dir))
        jobs.append(JobStatus(folder, state.status, reason, overrides))
    # a job process that died before Hydra made its folder: stopped from outside too
    jobs += [JobStatus("", "interrupted", one_line(r), list(ov)) for ov, r in dead.items()]
    return SweepStatus(str(sweep_dir), jobs, exit_policy)


# ---------------------------------------------------------------- summary


def format_summary(status: SweepStatus) -> str:
    """Counts, one line per job that is not complete, the status file and the exit status
    (unless the sweep broke off)."""
    head = "Sweep ended" if not status.note else f"Sweep broke off ({status.note})"
    counts = ", ".join(f"{n} {state}" for state, n in status.counts.items())
    lines = [f"{head}: {len(status.jobs)} jobs: {counts}"]
    width = max(map(len, STATES))
    for job in status.problems:
        where = (
            str(Path(status.sweep_dir) / job.folder)
            if job.folder
            else f"(no folder) {' '.join(job.overrides)}"
        )
        lines.append(f"  {job.status.upper():<{width}}  {where}: {job.reason}")
    lines.append(f"Sweep status: {Path(status.sweep_dir) / STATUS_FILE}")
    if not status.note:  # a sweep that broke off exits as its error or interrupt says
        lines.append(_exit_line(status))
    return "\n".join(lines)


def _exit_line(status: SweepStatus) -> str:
    code = status.exit_code
    if not status.problems:
        return f"Exit status {code}"
    n = f"{len(status.problems)} of {len(status.jobs)} jobs"
    if code:
        return f"Exit status {code}: {n} not complete (sweep_exit=zero to exit 0 anyway)"
    return f"Exit status 0 (sweep_exit=zero), although {n} are not complete"


def write_status(status: SweepStatus) -> Path:
    """``<sweep dir>/sweep_status.json``, replaced atomically."""
    path = Path(status.sweep_dir) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(status.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- the sweep's verdict


@dataclass
class _State:
    """What the driver process knows about the current multirun."""

    sweep_dir: Path | None = None
    exit_policy: str = "strict"
    verdict: SweepStatus | None = None


_STATE = _State()


def exit_policy(config: DictConfig) -> str:
    """The config's ``sweep_exit`` (default ``strict``), checked."""
    policy = OmegaConf.select(config, "sweep_exit", default="strict")
    if policy not in EXIT_POLICIES:
        raise ValueError(
            f"sweep_exit: expected one of {', '.join(EXIT_POLICIES)}, found {policy!r}"
        )
    return str(policy)


def start_sweep(config: DictConfig) -> None:
    """Remember the sweep folder and exit policy (forgetting any earlier sweep's verdict)."""
    _STATE.verdict = None
    _STATE.sweep_dir = None
    _STATE.exit_policy = exit_policy(config)
    _STATE.sweep_dir = Path(str(config.hydra.sweep.dir))


def finish_sweep(
    config: DictConfig | None = None,
    dead: dict[tuple[str, ...], str] | None = None,
    note: str = "",
) -> SweepStatus:
    """Collect the jobs, print the summary, write ``sweep_status.json``, record the verdict.

    ``config`` (the sweep's) gives the folder and policy; without it, those from
    :func:`start_sweep`.
    """
    if config is not None:
        sweep_dir, policy = Path(str(config.hydra.sweep.dir)), exit_policy(config)
    elif _STATE.sweep_dir is not None:
        sweep_dir, policy = _STATE.sweep_dir, _STATE.exit_policy
    else:
        raise RuntimeError("finish_sweep: no sweep config and no sweep started")
    status = collect(sweep_dir, policy, dead)
    status.note = note
    write_status(status)
    print(format_summary(status), flush=True)
    _STATE.verdict = status
    return status


def reset() -> None:
    """Forget the current sweep (before a new ``drp-bench run``)."""
    _STATE.sweep_dir = None
    _STATE.verdict = None
    _STATE.exit_policy = "strict"


def sweep_exit_code(broke_off: str = "") -> int | None:
    """Exit status of the multirun that just ended in this process; None if there was none.

    ``broke_off`` says why Hydra did not return normally ("": it did). A sweep that started but
    recorded no verdict (the sweeper or launcher raised, the callback failed, an interrupt)
    gets its summary now, from the job folders, and exits 1 whatever the policy.
    """
    if _STATE.verdict is not None:
        return _STATE.verdict.exit_code
    if _STATE.sweep_dir is None:
        return None
    try:
        return finish_sweep(note=broke_off or "no summary was made at its end").exit_code
    except Exception as e:  # never hide the sweep's own error behind this one
        print(f"drp-bench run: cannot summarize the sweep: {e}", file=sys.stderr)
        return 1


class SweepStatusCallback(Callback):
    """``hydra.callbacks``: summary, ``sweep_status.json`` and verdict at the end of a sweep."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            start_sweep(config)
        except ValueError as e:  # Hydra turns callback exceptions into warnings
            print(f"drp-bench run: error: {e}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_sweep(config)
