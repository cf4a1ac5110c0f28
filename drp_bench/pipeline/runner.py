"""One run's model calls: every stage of the method in order, each batched across samples."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from drp_bench.backends.base import Backend
from drp_bench.config.models import SamplingParams
from drp_bench.config.run_config import RunConfig
from drp_bench.data.types import Dataset
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.context import SampleContext
from drp_bench.pipeline.kinds import kinds
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.progress import StageProgress
from drp_bench.pipeline.prompts import Message, PromptRenderer
from drp_bench.pipeline.reference_prompts import JOINS_INSTRUCTION, role_wrappers
from drp_bench.pipeline.sample_record import sample_record
from drp_bench.pipeline.stages import StageCall, run_stage
from drp_bench.pipeline.state import SampleState

#: A kind with rounds that still plans calls after this many rounds is a bug, not a method.
MAX_ROUNDS = 100


class Pipeline:
    """Runs a method's stages over all samples: per stage, one batch of every sample's calls
    (so backends can batch and share prefixes); a call whose input failed is skipped."""

    def __init__(
        self,
        cfg: RunConfig,
        backends: Mapping[str, Backend],
        renderer: PromptRenderer,
        embedder: Any | None = None,
    ):
        """``embedder`` (anything with ``encode(texts)``): what a stage that embeds uses; None:
        the run's (``embedding.model`` through the persistent embedding cache), made when such
        a stage first embeds and closed when the run ends."""
        missing = [role for role in cfg.roles if role not in backends]
        if missing:
            raise ValueError(f"no backend for role(s) {missing}")
        check_stages(cfg, renderer)
        self.wrappers = role_wrappers(cfg)  # prompts.mode=reference_exact: role -> raw string
        self.cfg = cfg
        self.backends = backends
        self.renderer = renderer
        self.embedder = embedder
        self._own_embedder: Any | None = None
        self.stage_wall_s: dict[str, float] = {}
        self.stage_progress: dict[str, list[StageProgress]] = {}  # per stage: one per round

    def render(self, role: str, template: str, **variables: Any) -> list[Message]:
        """The messages of one call of ``role``: its model may say where instructions go
        (R1-Distill models take none in a system message). Under ``reference_exact`` a wrapper
        that joins the instruction to the material itself (the R1 string) gets them apart."""
        model = self.cfg.roles[role]
        where = model.instructions_in
        if role in self.wrappers and model.prompt_format in JOINS_INSTRUCTION:
            where = "system"
        return self.renderer.messages(template, instructions_in=where, **variables)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text from the given embedder, else the run's (made on first use)."""
        if self.embedder is None and self._own_embedder is None:
            from drp_bench.pipeline.representatives import Embedder
            from drp_bench.storage.embedding_cache import embedding_cache_path

            cache = embedding_cache_path(self.cfg.cache_path)
            self._own_embedder = Embedder(self.cfg.embedder, cache)
        return (self.embedder or self._own_embedder).encode(list(texts))

    def progress_report(self) -> dict[str, dict[str, int | bool]]:
        """Per stage started so far: calls planned, finished, failed, and whether it ended."""
        return {
            stage: {
                "calls": sum(p.total for p in rounds),
                "done": sum(p.done for p in rounds),
                "failed": sum(p.failed for p in rounds),
                "finished": stage in self.stage_wall_s,
            }
            for stage, rounds in self.stage_progress.items()
        }

    def run(self, dataset: Dataset, contexts: list[SampleContext]) -> list[dict[str, Any]]:
        """Every stage over every sample, then one predictions.jsonl record per sample; then
        the scorers (e.g. the LLM judge), which read those records and add their entry."""
        sampling = {role: spec.sampling for role, spec in self.cfg.roles.items()}
        embeds = any(s.contract.embeds for s in self.cfg.method.stages)
        env = StageEnv(
            dataset.items,
            self.render,
            self.cfg.answer_prefix,
            sampling,
            embed=self.embed if embeds else None,
        )
        samples = [SampleState(i, ctx, ctx.named()) for i, ctx in enumerate(contexts)]
        method = self.cfg.method
        try:
            for stage in method.own_stages:
                self._run_stage(stage, samples, env)
        finally:
            if self._own_embedder is not None:
                self._own_embedder.close()
                self._own_embedder = None
        records = [sample_record(method, sample) for sample in samples]
        for sample, record in zip(samples, records, strict=True):
            sample.row = record
        for stage in method.scorers:
            self._run_stage(stage, samples, env)
            for sample, record in zip(samples, records, strict=True):
                entry = kinds()[stage.kind].record(stage, sample)
                if entry is not None:
                    record["stages"][stage.record] = entry
        return records

    def _run_stage(self, stage: StageSpec, samples: list[SampleState], env: StageEnv) -> None:
        """One batch of every sample's calls; a kind with ``rounds`` plans again after each
        batch (its next calls may read the answers just stored) until a round plans none."""
        kind = kinds()[stage.kind]
        start = time.perf_counter()
        for round_ in range(MAX_ROUNDS):
            planned = [(s, p) for s in samples for p in kind.plan(stage, s, env)]
            if not stage.contract.model:  # no role, no model call: plan() did the work
                break
            if round_ and not planned:
                break
            todo: list[tuple[SampleState, Planned]] = []
            for sample, unit in planned:
                if unit.skip is not None:
                    kind.store(stage, sample, unit, StageCall.skip(unit.skip), env)
                else:
                    todo.append((sample, unit))
            prompts = [unit.messages or [] for _, unit in todo]
            calls = self._calls(stage, prompts, round_, [unit.sampling for _, unit in todo])
            for (sample, unit), call in zip(todo, calls, strict=True):
                kind.store(stage, sample, unit, call, env)
            if not stage.contract.rounds:
                break
        else:
            raise RuntimeError(f"stage {stage.record}: still planning calls after {MAX_ROUNDS}")
        self.stage_wall_s[stage.record] = round(time.perf_counter() - start, 3)

    def _calls(
        self,
        stage: StageSpec,
        prompts: list[list[Message]],
        round_: int,
        samplings: list[SamplingParams | None],
    ) -> list[StageCall]:
        """One batch to the stage's role, with progress under its record name (a later round
        adds to the stage's progress). With ``prompts.prefix_order`` (the default) the batch is
        sent with prompts that share a prefix adjacent; the calls come back in plan order.
        ``samplings``: each call's own sampling, None: the role's."""
        assert stage.role is not None
        name = stage.record
        progress = StageProgress(name if not round_ else f"{name} round {round_ + 1}", len(prompts))
        self.stage_progress.setdefault(name, []).append(progress)
        role = self.cfg.roles[stage.role]
        ordered = bool(self.cfg.prompts.get("prefix_order", True))
        sampling = [s or role.sampling for s in samplings]
        return run_stage(
            name,
            prompts,
            self.backends[stage.role],
            sampling,
            progress,
            ordered=ordered,
            wrap=self.wrappers.get(stage.role),
        )


def check_stages(cfg: RunConfig, renderer: PromptRenderer) -> None:
    """Every stage's kind has code and its templates exist (before any model call): its
    ``template`` and the options that name further templates."""
    for stage in cfg.method.stages:
        at = f"method {cfg.method.name!r}: stages[{stage.index}] ({stage.kind})"
        if stage.contract.scorer is not None:
            at = f"metrics.{stage.kind}"
        if stage.kind not in kinds():
            raise ValueError(
                f"{at}: no implementation of this kind in drp_bench.pipeline.kinds or a plugin"
            )
        templates = {"template": stage.template} | {
            f"options.{key}": stage.options[key]
            for key, option in stage.contract.options.items()
            if option.template
        }
        for where, template in templates.items():
            if template is not None and not renderer.has_template(template):
                raise FileNotFoundError(
                    f"{at}.{where}: prompt template {template!r} not found "
                    f"(prompts.dir={cfg.prompts.get('dir')!r}, then the package's)"
                )
