"""Plan one job: build its inputs as the run does, run its stages on planning backends, and
turn the tallies into calls, tokens, hours and GPU-hours per stage."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from drp_bench.backends.cache import CallCache
from drp_bench.config.run_config import BUNDLED_EMBEDDER, EmbedderSpec, RunConfig
from drp_bench.plan.backend import PlannedStage, PlanningBackend, PlanRecorder, StageTally
from drp_bench.plan.tokens import counter_for
from drp_bench.run.inputs import RunInputs, build_run_inputs, make_renderer

log = logging.getLogger("drp_bench")

#: The end of the one line about a missing hub embedder: what planning can do instead. The
#: embedder picks which users represent an item, never how many items or calls there are.
PLANNING_ALTERNATIVE = (
    "or set embedding.model to a local folder; or plan with "
    f"embedding.model={BUNDLED_EMBEDDER}: the same call counts, other representatives (so "
    "somewhat other prompt tokens)"
)


@dataclass(frozen=True)
class Throughput:
    """A role's model: tokens per second of one replica, and the GPUs a replica holds."""

    device: str
    hardware: str
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    gpus: int

    @classmethod
    def of(cls, role_cfg: dict[str, Any], tensor_parallel_size: int) -> Throughput:
        t = dict(role_cfg.get("throughput") or {})
        prefill = float(t.get("prefill_tokens_per_s") or 0)
        decode = float(t.get("decode_tokens_per_s") or 0)
        if prefill <= 0 or decode <= 0:
            raise ValueError(
                f"{role_cfg.get('name')}: throughput.prefill_tokens_per_s and "
                f"decode_tokens_per_s must be > 0 (found {prefill}, {decode})"
            )
        device = str(t.get("device") or "gpu")
        return cls(
            device=device,
            hardware=str(t.get("hardware") or ""),
            prefill_tokens_per_s=prefill,
            decode_tokens_per_s=decode,
            gpus=tensor_parallel_size if device == "gpu" else 0,
        )

    def seconds(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (
            prompt_tokens / self.prefill_tokens_per_s + completion_tokens / self.decode_tokens_per_s
        )


@dataclass
class JobPlan:
    """One job's plan: its overrides, what it runs on, and every stage's figures."""

    overrides: list[str]
    method: str
    dataset: str
    samples: int
    models: dict[str, str]
    stages: list[PlannedStage]
    planning_s: float = 0.0
    totals: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "stages": [asdict(s) for s in self.stages]}


class ContextMemo:
    """Jobs that differ only in models share their inputs (data, BM25, representatives):
    built once per distinct data and context setting."""

    def __init__(self) -> None:
        self._built: dict[str, RunInputs] = {}
        self._cpu_noted = False

    def inputs(self, cfg: RunConfig) -> RunInputs:
        on_cpu = False
        if cfg.method.embeds:
            embedder = planning_embedder(cfg.embedder)
            on_cpu = embedder.device != cfg.embedder.device
            if on_cpu and not self._cpu_noted:
                log.warning(
                    "note: no CUDA here: embeddings for planning run on the CPU "
                    "(embedding.device=%s in the config)",
                    cfg.embedder.device,
                )
                self._cpu_noted = True
            cfg = replace(cfg, embedder=embedder)
        method = cfg.method
        key = json.dumps(
            [
                cfg.dataset,
                method.past_reviews,
                method.differences,
                method.embeds,
                sorted(method.contexts),
                method.neighbours,
                method.recent_reviews,
                cfg.num_retrieved,
                cfg.num_users,
                cfg.seed,
                asdict(cfg.embedder),
                cfg.cache_path,
            ],
            sort_keys=True,
            default=str,
        )
        if key not in self._built:  # vectors made on the CPU stay out of the run's cache
            self._built[key] = build_run_inputs(cfg, store_embeddings=not on_cpu)
        return self._built[key]


def planning_embedder(spec: EmbedderSpec) -> EmbedderSpec:
    """The run's embedder, checked to be on this machine (:class:`EmbedderMissing` names it
    and how to fetch it; nothing is downloaded), on the CPU where the run asks for a CUDA
    device torch does not have here."""
    from drp_bench.pipeline.representatives import (
        EmbedderMissing,
        cuda_available,
        local_model_folder,
    )

    try:
        local_model_folder(spec.model)
    except EmbedderMissing:
        raise EmbedderMissing(spec.model, PLANNING_ALTERNATIVE) from None
    if spec.device.startswith("cuda") and not cuda_available():
        return replace(spec, device="cpu")
    return spec


def plan_job(
    overrides: Sequence[str],
    cfg_dict: dict[str, Any],
    memo: ContextMemo | None = None,
    completion_tokens: int | None = None,
) -> JobPlan:
    """The plan of one job (``cfg_dict``: its resolved config, without Hydra's node).
    ``completion_tokens``: expected per call where the cache has no record (None: max_tokens)."""
    from drp_bench.backends.pool import model_identity
    from drp_bench.pipeline.runner import Pipeline

    start = time.perf_counter()
    cfg = RunConfig.from_config(cfg_dict)
    renderer = make_renderer(cfg)
    embedder = None
    inputs = (memo or ContextMemo()).inputs(cfg)
    cache = CallCache(cfg.cache_path) if cfg.cache_path else None
    recorder = PlanRecorder()
    try:
        backends = {
            role: PlanningBackend(
                role,
                model_identity(spec),
                cache,
                counter_for(spec),
                recorder,
                completion_tokens,
                spec.context_length,
            )
            for role, spec in cfg.roles.items()
        }
        embedder = stage_embedder(cfg)
        pipeline = Pipeline(cfg, backends, renderer, embedder=embedder)
        with _quiet_progress():
            pipeline.run(inputs.dataset, inputs.contexts)
    finally:
        if cache is not None:
            cache.close()
        if embedder is not None:
            embedder.close()
    stages = [
        _planned(tally, cfg, cfg_dict, len(inputs.dataset.samples))
        for tally in recorder.stages.values()
    ]
    plan = JobPlan(
        overrides=list(overrides),
        method=cfg.method.name,
        dataset=str(cfg.dataset.get("name")),
        samples=len(inputs.dataset.samples),
        models={role: spec.name for role, spec in cfg.used_roles.items()},
        stages=stages,
    )
    plan.totals = totals(stages)
    plan.planning_s = round(time.perf_counter() - start, 3)
    return plan


def stage_embedder(cfg: RunConfig) -> Any | None:
    """The embedder of a method whose stages embed while they run (P-DB's persona entries),
    as for the contexts: on this machine, on the CPU when the run's CUDA device is missing
    (its vectors then stay out of the run's cache); None when no stage embeds."""
    if not any(s.contract.embeds for s in cfg.method.stages):
        return None
    from drp_bench.pipeline.representatives import Embedder
    from drp_bench.storage.embedding_cache import embedding_cache_path

    spec = planning_embedder(cfg.embedder)
    store = spec.device == cfg.embedder.device
    return Embedder(spec, embedding_cache_path(cfg.cache_path), store=store)


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No per-stage progress lines (or bars) while the planning backends answer."""
    progress_log = logging.getLogger("drp_bench.pipeline.progress")
    level = progress_log.level
    progress_log.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        progress_log.setLevel(level)


def _planned(
    tally: StageTally, cfg: RunConfig, cfg_dict: dict[str, Any], samples: int
) -> PlannedStage:
    spec = cfg.roles[tally.role]
    throughput = Throughput.of(cfg_dict[tally.role], spec.tensor_parallel_size)
    counter = counter_for(spec)  # the one the role's backend counted with (cached)
    seconds = throughput.seconds(tally.prompt_tokens_uncached, tally.completion_tokens_expected)
    return PlannedStage(
        stage=tally.stage,
        role=tally.role,
        model=spec.name,
        calls=tally.calls,
        cached=tally.cached,
        calls_per_sample=round(tally.calls / samples, 3) if samples else 0.0,
        prompt_tokens=tally.prompt_tokens,
        prompt_tokens_to_compute=tally.prompt_tokens_uncached,
        prompt_tokens_method=counter.method,
        prompt_tokens_exact=counter.exact and not tally.read_stand_ins,
        completion_tokens_cached=tally.completion_tokens_cached,
        completion_tokens_expected=round(tally.completion_tokens_expected, 1),
        completion_tokens_source=tally.completion_source or "all calls cached",
        max_tokens=tally.max_tokens,
        over_context=tally.over_context,
        device=throughput.device,
        hardware=throughput.hardware,
        prefill_tokens_per_s=throughput.prefill_tokens_per_s,
        decode_tokens_per_s=throughput.decode_tokens_per_s,
        gpus=throughput.gpus,
        hours=round(seconds / 3600, 4),
        gpu_hours=round(seconds * throughput.gpus / 3600, 4),
    )


def totals(stages: Sequence[PlannedStage]) -> dict[str, Any]:
    """Sums over stages (or over jobs' stages)."""
    return {
        "calls": sum(s.calls for s in stages),
        "cached": sum(s.cached for s in stages),
        "prompt_tokens": sum(s.prompt_tokens for s in stages),
        "prompt_tokens_to_compute": sum(s.prompt_tokens_to_compute for s in stages),
        "completion_tokens_expected": round(sum(s.completion_tokens_expected for s in stages), 1),
        "hours": round(sum(s.hours for s in stages), 4),
        "gpu_hours": round(sum(s.gpu_hours for s in stages), 4),
    }
