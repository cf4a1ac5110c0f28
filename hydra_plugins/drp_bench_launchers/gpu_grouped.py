"""Submitit launchers that give each job of a sweep the GPUs its own models need.

The stock submitit launcher sets one ``gpus_per_node`` for a whole sweep. A sweep over model
sizes needs 1 GPU for a 7B model and 2 for a 32B one. These launchers compose every job's
config, compute the GPUs it needs (:func:`job_gpus`), group the jobs by that number and submit
each group with its own ``gpus_per_node`` (and CPUs/memory scaled per GPU). All groups are
submitted before any result is awaited, jobs keep their sweep numbers (``hydra.job.num``) and
results come back in sweep order.

Registered in Hydra's ConfigStore as ``hydra/launcher=submitit_slurm_gpu_grouped`` and
``hydra/launcher=submitit_local_gpu_grouped``. See docs/slurm.md.
"""

# No `from __future__ import annotations`: Hydra's plugin scanner runs this module before it is
# in sys.modules, and dataclasses then cannot resolve string annotations.
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as _submitit
from hydra_plugins.hydra_submitit_launcher.config import (
    BaseQueueConf,
    LocalQueueConf,
    SlurmQueueConf,
)
from omegaconf import DictConfig, OmegaConf

from drp_bench.methods.contracts import ROLES

log = logging.getLogger(__name__)

# The roles of a drp-bench run; they run one after another in a job.
DEFAULT_ROLES = ROLES

_MODULE = "hydra_plugins.drp_bench_launchers.gpu_grouped"


def job_gpus(
    cfg: DictConfig,
    roles: Sequence[str] = DEFAULT_ROLES,
    gpu_backends: Sequence[str] = ("vllm",),
    gpus_key: str | None = "gpus_needed",
) -> int:
    """GPUs one job needs: the largest tensor-parallel size among its GPU-served roles.

    ``cfg[gpus_key]``, if set, wins (e.g. ``+gpus_needed=4``). Otherwise every role whose
    ``ROLE.backend.kind`` is in ``gpu_backends`` needs ``ROLE.backend.options.tensor_parallel_size``
    if given (it overrides the registry value in the vLLM backend) or else
    ``ROLE.tensor_parallel_size`` (missing/null: 1). Other backends (llama.cpp, an OpenAI-compatible
    server elsewhere) need 0. Roles absent from the config are skipped, and so is the UVQ
    normaliser when ``uvq`` is false.
    """
    if gpus_key:
        explicit = OmegaConf.select(cfg, gpus_key, default=None)
        if explicit is not None:
            return _count(explicit, gpus_key, minimum=0)
    need = 0
    for role in roles:
        if OmegaConf.select(cfg, role, default=None) is None:
            continue
        if role == "normalizer" and OmegaConf.select(cfg, "uvq", default=True) is False:
            continue  # the UVQ normaliser runs only with uvq=true
        kind = OmegaConf.select(cfg, f"{role}.backend.kind", default=None)
        if kind not in gpu_backends:
            continue
        where = f"{role}.backend.options.tensor_parallel_size"
        size = OmegaConf.select(cfg, where, default=None)
        if size is None:
            where = f"{role}.tensor_parallel_size"
            size = OmegaConf.select(cfg, where, default=None)
        need = max(need, 1 if size is None else _count(size, where, minimum=1))
    return need


def _count(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected an integer >= {minimum}, found {value!r}")
    return value


def group_jobs(
    job_overrides: Sequence[Sequence[str]],
    compose: Callable[[list[str]], DictConfig],
    roles: Sequence[str] = DEFAULT_ROLES,
    gpu_backends: Sequence[str] = ("vllm",),
    gpus_key: str | None = "gpus_needed",
) -> dict[int, list[int]]:
    """Positions of the jobs in ``job_overrides`` grouped by the GPUs they need.

    ``compose(overrides)`` returns a job's config (the launcher uses Hydra's
    ``load_sweep_config``). Groups appear in order of their first job; positions ascend.
    """
    groups: dict[int, list[int]] = {}
    for pos, overrides in enumerate(job_overrides):
        cfg = compose(list(overrides))
        try:
            gpus = job_gpus(cfg, roles, gpu_backends, gpus_key)
        except Exception as exc:
            raise ValueError(
                f"sweep job {pos} ({' '.join(overrides)}): cannot tell the GPUs it needs: {exc}"
            ) from exc
        groups.setdefault(gpus, []).append(pos)
    return groups


class _GpuGroupedMixin:
    """``launch`` for submitit launchers: one executor per GPU group, original job numbers."""

    _EXECUTOR: str
    # Launcher fields that are this plugin's, never submitit parameters.
    _OWN_KEYS = (
        "gpus_key",
        "roles",
        "gpu_backends",
        "cpus_per_gpu",
        "mem_gb_per_gpu",
        "cpu_partition",
        "enforce_gpus",
    )

    params: dict[str, Any]
    config: DictConfig | None
    hydra_context: Any

    def _split_params(self) -> None:
        own = {k: self.params.pop(k) for k in self._OWN_KEYS if k in self.params}
        self.gpus_key: str | None = own.get("gpus_key") or None
        self.roles: list[str] = list(own.get("roles") or DEFAULT_ROLES)
        self.gpu_backends: list[str] = list(own.get("gpu_backends") or ("vllm",))
        self.cpus_per_gpu: int | None = own.get("cpus_per_gpu")
        self.mem_gb_per_gpu: float | None = own.get("mem_gb_per_gpu")
        self.cpu_partition: str | None = own.get("cpu_partition")
        self.enforce_gpus: bool = bool(own.get("enforce_gpus", True))

    def group_params(self, gpus: int) -> dict[str, Any]:
        """The launcher parameters (submitit names, unprefixed) of a group needing ``gpus``."""
        params = dict(self.params)
        if not self.enforce_gpus:
            return params
        tasks = int(params.get("tasks_per_node") or 1)
        if gpus > 0:
            params["gpus_per_node"] = gpus
            if self.cpus_per_gpu:
                scaled = math.ceil(self.cpus_per_gpu * gpus / tasks)
                params["cpus_per_task"] = max(int(params.get("cpus_per_task") or 1), scaled)
            if self.mem_gb_per_gpu:
                scaled_mem = self.mem_gb_per_gpu * gpus
                params["mem_gb"] = max(params.get("mem_gb") or 0, scaled_mem)
        else:
            # None, not 0: submitit then leaves --gpus-per-node out of the sbatch script.
            params["gpus_per_node"] = None if self._EXECUTOR == "slurm" else 0
            if self.cpu_partition and "partition" in params:
                params["partition"] = self.cpu_partition
        return params

    def _check_params(self) -> None:
        if not self.enforce_gpus:
            return
        if self.params.get("gpus_per_node") is not None:
            log.warning(
                "hydra.launcher.gpus_per_node=%s is ignored: %s sets it per job group",
                self.params["gpus_per_node"],
                type(self).__name__,
            )
        clash = {
            k: self.params.get(k)
            for k in ("gpus_per_task", "gres")
            if self.params.get(k) is not None
            and (k != "gres" or "gpu" in str(self.params.get(k)).lower())
        }
        if clash:
            raise ValueError(
                f"hydra.launcher: {clash} would allocate GPUs on top of the per-group "
                "gpus_per_node that this launcher sets; expected them unset (null)"
            )

    def _executor(self, params: dict[str, Any]) -> Any:
        """A submitit executor for one group, configured as the stock launcher does it."""
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        init_params: dict[str, Any] = {"folder": params["submitit_folder"]}
        if "max_num_timeout" in params:
            init_params[f"{self._EXECUTOR}_max_num_timeout"] = params["max_num_timeout"]
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in params.items()
                if k not in init_keys
            }
        )
        return executor

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        assert len(job_overrides) > 0
        self._check_params()
        loader = self.hydra_context.config_loader

        def compose(overrides: list[str]) -> DictConfig:
            return loader.load_sweep_config(self.config, overrides)

        groups = group_jobs(job_overrides, compose, self.roles, self.gpu_backends, self.gpus_key)

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info("Submitit '%s' sweep output dir : %s", self._EXECUTOR, self.config.hydra.sweep.dir)
        log.info(
            "GPU groups%s: %s",
            "" if self.enforce_gpus else " (recorded, not enforced: enforce_gpus=false)",
            "; ".join(
                f"{gpus} GPU(s): jobs {', '.join(str(initial_job_idx + p) for p in pos)}"
                for gpus, pos in groups.items()
            ),
        )

        submitted: list[tuple[int, Any]] = []
        for gpus, positions in groups.items():
            params = self.group_params(gpus)
            executor = self._executor(params)
            job_params = []
            for pos in positions:
                idx = initial_job_idx + pos
                overrides = list(job_overrides[pos])
                log.info("\t#%d [%d GPU] : %s", idx, gpus, " ".join(filter_overrides(overrides)))
                job_params.append(
                    (overrides, "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state())
                )
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
            submitted.extend(zip(positions, jobs, strict=True))

        # Wait for every job, even after one failed, so that the sweep's folder is complete.
        results: list[JobReturn | None] = [None] * len(job_overrides)
        failures: list[tuple[int, Exception]] = []
        for pos, job in submitted:
            try:
                results[pos] = job.results()[0]
            except Exception as exc:  # submitit: the job died (timeout, OOM, node failure)
                failures.append((initial_job_idx + pos, exc))
        if failures:
            self._summarize_dead_jobs(job_overrides, failures, initial_job_idx)
            lines = "\n".join(f"  #{idx}: {type(e).__name__}: {e}" for idx, e in failures)
            raise RuntimeError(
                f"{len(failures)} of {len(job_overrides)} sweep jobs did not finish:\n{lines}"
            ) from failures[0][1]
        return results  # type: ignore[return-value]

    def _summarize_dead_jobs(
        self,
        job_overrides: Sequence[Sequence[str]],
        failures: Sequence[tuple[int, Exception]],
        initial_job_idx: int,
    ) -> None:
        """The sweep's summary and exit status, with the dead jobs' reasons, before raising.

        Hydra skips ``on_multirun_end`` when the launcher raises, so the summary callback
        (drp_bench.run.sweep_status) would not run; the sweep's exit policy applies as usual.
        """
        from drp_bench.run.sweep_status import finish_sweep

        dead = {
            tuple(job_overrides[idx - initial_job_idx]): (
                f"job process died: {type(e).__name__}: {e}"
            )
            for idx, e in failures
        }
        try:
            finish_sweep(self.config, dead=dead)
        except Exception as exc:  # the launcher's own error below matters more
            log.warning("cannot summarize the sweep: %s", exc)


class GpuGroupedSlurmLauncher(_GpuGroupedMixin, _submitit.SlurmLauncher):
    """SLURM launcher: each job gets ``gpus_per_node`` = the GPUs its models need."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._split_params()


class GpuGroupedLocalLauncher(_GpuGroupedMixin, _submitit.LocalLauncher):
    """Local launcher (one process per job): GPUs are grouped and logged.

    ``enforce_gpus=false`` (default): every group runs with the configured ``gpus_per_node``;
    submitit's local executor has no GPU scheduler (``gpus_per_node=N`` just sets
    ``CUDA_VISIBLE_DEVICES=0..N-1`` for every job at once). ``enforce_gpus=true`` applies the
    per-group counts as on SLURM.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._split_params()


@dataclass
class _GpuGroupingConf:
    # Config key that, when set in a job's config, gives its GPU count directly.
    gpus_key: str = "gpus_needed"
    # Roles whose models the job loads (one after another).
    roles: list[str] = field(default_factory=lambda: list(DEFAULT_ROLES))
    # backend.kind values that run on local GPUs; other kinds need 0 GPUs.
    gpu_backends: list[str] = field(default_factory=lambda: ["vllm"])
    # For groups with GPUs: mem_gb = max(mem_gb, mem_gb_per_gpu * GPUs).
    mem_gb_per_gpu: int | None = None


@dataclass
class GpuGroupedSlurmConf(_GpuGroupingConf, SlurmQueueConf):
    """``hydra/launcher=submitit_slurm_gpu_grouped``.

    ``cpus_per_gpu`` is reinterpreted: not passed to sbatch (it needs ``gpus_per_task``), but
    ``cpus_per_task = max(cpus_per_task, ceil(cpus_per_gpu * GPUs / tasks_per_node))``.
    ``cpus_per_task``/``mem_gb`` apply as they are to jobs needing no GPU.
    """

    _target_: str = f"{_MODULE}.GpuGroupedSlurmLauncher"
    # Partition for jobs that need no GPU (null: ``partition``).
    cpu_partition: str | None = None


@dataclass
class GpuGroupedLocalConf(_GpuGroupingConf, LocalQueueConf):
    """``hydra/launcher=submitit_local_gpu_grouped``."""

    _target_: str = f"{_MODULE}.GpuGroupedLocalLauncher"
    cpus_per_gpu: int | None = None
    # Apply the per-group GPU counts (CUDA_VISIBLE_DEVICES=0..N-1 for each job) or only log them.
    enforce_gpus: bool = False


ConfigStore.instance().store(
    group="hydra/launcher",
    name="submitit_slurm_gpu_grouped",
    node=GpuGroupedSlurmConf(),
    provider="drp_bench",
)
ConfigStore.instance().store(
    group="hydra/launcher",
    name="submitit_local_gpu_grouped",
    node=GpuGroupedLocalConf(),
    provider="drp_bench",
)
