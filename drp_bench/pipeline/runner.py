"""One run: dataset -> contexts -> stages -> predictions -> metrics, written to a run folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drp_bench.backends.base import Backend
from drp_bench.config import RunConfig
from drp_bench.pipeline.context import ComparisonItem, SampleContext
from drp_bench.pipeline.parsing import format_features, parse_features, strip_answer_prefix
from drp_bench.pipeline.prompts import Message, PromptRenderer
from drp_bench.pipeline.stages import StageCall, run_stage
from drp_bench.progress import StageProgress
from drp_bench.records import Dataset, Feature

log = logging.getLogger("drp_bench")


@dataclass
class ItemWork:
    """The difference-extraction work of one (sample, item) pair as it moves through stages."""

    sample_index: int
    comparison: ComparisonItem
    calls: dict[str, StageCall] = field(default_factory=dict)
    features: dict[str, tuple[Feature, ...]] = field(default_factory=dict)
    parse_ok: dict[str, bool] = field(default_factory=dict)
    units: list[Any] = field(default_factory=list)
    normalize_ok: bool | None = None

    def differences_text(self, stage: str, handoff: str = "parsed") -> str:
        """What a later stage reads of this item's ``stage`` output: with ``handoff="raw"``
        the answer as the model wrote it (as the papers' code passes it on); with "parsed" the
        parsed features re-formatted, or the raw answer when it did not parse."""
        if handoff == "parsed" and self.parse_ok.get(stage):
            return format_features(self.features[stage])
        return self.calls[stage].answer


class Pipeline:
    """Runs a method's stages over all samples, batch by batch."""

    def __init__(self, cfg: RunConfig, backends: Mapping[str, Backend], renderer: PromptRenderer):
        missing = [role for role in cfg.roles if role not in backends]
        if missing:
            raise ValueError(f"no backend for role(s) {missing}")
        self.cfg = cfg
        self.backends = backends
        self.renderer = renderer
        self.stage_wall_s: dict[str, float] = {}
        self.stage_progress: dict[str, StageProgress] = {}

    def render(self, role: str, template: str, **variables: Any) -> list[Message]:
        """The messages of one call of ``role``: its model may say where instructions go
        (R1-Distill models take none in a system message)."""
        where = self.cfg.roles[role].instructions_in
        return self.renderer.messages(template, instructions_in=where, **variables)

    def progress_report(self) -> dict[str, dict[str, int | bool]]:
        """Per stage started so far: calls planned, finished, failed, and whether it ended."""
        return {
            stage: {
                "calls": p.total,
                "done": p.done,
                "failed": p.failed,
                "finished": stage in self.stage_wall_s,
            }
            for stage, p in self.stage_progress.items()
        }

    def _stage(self, stage: str, role: str, prompts: list[list[Message]]) -> list[StageCall]:
        spec = self.cfg.roles[role]
        start = time.perf_counter()
        progress = self.stage_progress[stage] = StageProgress(stage, len(prompts))
        calls = run_stage(stage, prompts, self.backends[role], spec.sampling, progress)
        self.stage_wall_s[stage] = round(time.perf_counter() - start, 3)
        return calls

    def run(self, dataset: Dataset, contexts: list[SampleContext]) -> list[dict[str, Any]]:
        method = self.cfg.method
        items = dataset.items
        work = [
            ItemWork(i, comparison)
            for i, ctx in enumerate(contexts)
            for comparison in ctx.comparisons
        ]
        if method.differences:
            self._extract(work, items)
            if method.validate:
                self._validate(work, items)
            if self.cfg.uvq:
                self._normalize(work, items)
        summaries = self._summarize(contexts, work, items) if method.differences else {}
        generations = self._generate(contexts, summaries, items)
        return [
            self._record(i, ctx, work, summaries.get(i), generations[i])
            for i, ctx in enumerate(contexts)
        ]

    def _comparison_vars(self, w: ItemWork, items: dict) -> dict[str, Any]:
        return {
            "item": items[w.comparison.review.asin],
            "target": w.comparison.review,
            "others": list(w.comparison.representatives),
        }

    def _extract(self, work: list[ItemWork], items: dict) -> None:
        template = self.cfg.method.templates["extract"]
        prompts = [
            self.render("extractor", template, **self._comparison_vars(w, items)) for w in work
        ]
        for w, call in zip(work, self._stage("extract", "extractor", prompts), strict=True):
            self._store(w, "extract", call)

    def _validate(self, work: list[ItemWork], items: dict) -> None:
        template = self.cfg.method.templates["validate"]
        todo = [w for w in work if w.calls["extract"].ok]
        for w in work:
            if not w.calls["extract"].ok:
                self._store(w, "validate", StageCall.skip("the extract call of this item failed"))
        prompts = [
            self.render(
                "validator",
                template,
                candidates=w.differences_text("extract", self.cfg.method.handoff),
                **self._comparison_vars(w, items),
            )
            for w in todo
        ]
        for w, call in zip(todo, self._stage("validate", "validator", prompts), strict=True):
            self._store(w, "validate", call)

    def _store(self, w: ItemWork, stage: str, call: StageCall) -> None:
        parsed = parse_features(call.answer)
        w.calls[stage] = call
        w.features[stage] = parsed.features
        w.parse_ok[stage] = parsed.ok

    def _final_stage(self) -> str:
        return "validate" if self.cfg.method.validate else "extract"

    def _summary_source(self) -> str:
        return "extract" if self.cfg.method.summary_reads == "extracted" else self._final_stage()

    def _normalize(self, work: list[ItemWork], items: dict) -> None:
        from drp_bench.uvq.normalize import parse_units

        source = self._final_stage()
        # An output that did not parse into features goes to the normaliser as raw text (as
        # DRP's analysis script does) rather than being left out.
        todo = [w for w in work if w.calls[source].ok and w.calls[source].answer.strip()]
        prompts = [
            self.render(
                "normalizer",
                self.cfg.method.templates.get("normalize", "normalize"),
                **self._normalizer_input(w, source, items),
            )
            for w in todo
        ]
        for w, call in zip(todo, self._stage("normalize", "normalizer", prompts), strict=True):
            result = parse_units(call.answer)
            w.calls["normalize"] = call
            w.units = list(result.units)
            w.normalize_ok = result.ok

    def _normalizer_input(self, w: ItemWork, source: str, items: dict) -> dict[str, Any]:
        """Parsed features; the raw answer when it did not parse, or always with the raw
        hand-off (DRP's analysis script sends every validation output as written)."""
        from drp_bench.uvq.normalize import prompt_variables

        title = items[w.comparison.review.asin].title
        if w.parse_ok[source] and self.cfg.method.handoff == "parsed":
            return prompt_variables(title, w.features[source])
        return prompt_variables(title, (), w.calls[source].answer)

    def _summarize(
        self, contexts: list[SampleContext], work: list[ItemWork], items: dict
    ) -> dict[int, StageCall]:
        source = self._summary_source()
        by_sample: dict[int, list[ItemWork]] = {}
        for w in work:
            by_sample.setdefault(w.sample_index, []).append(w)
        prompts = []
        for i, ctx in enumerate(contexts):
            # an item whose extract/validate call failed contributes nothing (the sample is
            # marked incomplete in its record)
            differences = [
                {
                    "item": items[w.comparison.review.asin],
                    "text": w.differences_text(source, self.cfg.method.handoff),
                }
                for w in by_sample.get(i, [])
                if w.calls[source].ok
            ]
            prompts.append(
                self.render(
                    "summarizer",
                    self.cfg.method.templates["summarize"],
                    differences=differences,
                    past_reviews=list(ctx.past_reviews),
                    items=items,
                )
            )
        calls = self._stage("summarize", "summarizer", prompts)
        return dict(enumerate(calls))

    def _generate(
        self, contexts: list[SampleContext], summaries: dict[int, StageCall], items: dict
    ) -> list[StageCall]:
        """One generation per sample; none where the method's summary call failed."""
        calls: list[StageCall | None] = [None] * len(contexts)
        todo, prompts = [], []
        for i, ctx in enumerate(contexts):
            summary = summaries.get(i)
            if summary is not None and not summary.ok:
                calls[i] = StageCall.skip("the summarize call of this sample failed")
                continue
            todo.append(i)
            prompts.append(
                self.render(
                    "generator",
                    self.cfg.method.templates["generate"],
                    item=items[ctx.sample.target.asin],
                    target=ctx.sample.target,
                    past_reviews=list(ctx.past_reviews),
                    summary=strip_answer_prefix(summary.answer, "Summary", self.cfg.answer_prefix)
                    if summary
                    else "",
                    items=items,
                )
            )
        for i, call in zip(todo, self._stage("generate", "generator", prompts), strict=True):
            calls[i] = call
        return calls  # type: ignore[return-value]

    def _record(
        self,
        index: int,
        ctx: SampleContext,
        work: list[ItemWork],
        summary: StageCall | None,
        generation: StageCall,
    ) -> dict[str, Any]:
        sample = ctx.sample
        stages: dict[str, Any] = {}
        mine = [w for w in work if w.sample_index == index]
        for stage in ("extract", "validate", "normalize"):
            entries = [_item_record(w, stage) for w in mine if stage in w.calls]
            if entries:
                stages[stage] = entries
        if summary is not None:
            stages["summarize"] = {
                **summary.record(),
                "summary": strip_answer_prefix(summary.answer, "Summary", self.cfg.answer_prefix),
            }
        stages["generate"] = generation.record()
        prediction = (
            strip_answer_prefix(generation.answer, "Review", self.cfg.answer_prefix)
            if generation.ok
            else ""
        )
        failed_before = sorted(
            {stage for stage, call in _calls_of(mine, summary) if not call.ok},
            key=STAGE_ORDER.index,
        )
        context_stages = {"extract", "summarize", self._summary_source()}
        return {
            "sample_id": sample.sample_id,
            "user_id": sample.user_id,
            "target_asin": sample.target.asin,
            "reference": sample.target.text,
            "prediction": prediction,
            "past_reviews": [r.asin for r in ctx.past_reviews],
            "status": sample_status(generation.ok, context_stages.intersection(failed_before)),
            "failed_stages": failed_before + ([] if generation.ok else ["generate"]),
            "stages": stages,
            "error": generation.result.error,
        }


STAGE_ORDER = ("extract", "validate", "normalize", "summarize", "generate")


def sample_status(generated: bool, failed_context_stages: set[str]) -> str:
    """``complete``; ``context_incomplete`` (a call whose output the generation reads failed,
    so the prediction is not the method's); ``failed`` (no prediction)."""
    if not generated:
        return "failed"
    return "context_incomplete" if failed_context_stages else "complete"


def _calls_of(mine: list[ItemWork], summary: StageCall | None) -> list[tuple[str, StageCall]]:
    calls = [(stage, call) for w in mine for stage, call in w.calls.items()]
    return calls + ([("summarize", summary)] if summary is not None else [])


def _item_record(w: ItemWork, stage: str) -> dict[str, Any]:
    call = w.calls[stage]
    record: dict[str, Any] = {
        "asin": w.comparison.review.asin,
        "representatives": list(w.comparison.representative_users),
        **call.record(),
    }
    if stage == "normalize":
        record["units"] = [u.to_dict() for u in w.units]
        record["parse_ok"] = bool(w.normalize_ok)
    else:
        record["features"] = [
            {"name": f.name, "definition": f.definition, "difference": f.difference}
            for f in w.features[stage]
        ]
        record["parse_ok"] = w.parse_ok[stage]
    return record
