"""Per-sample stages made of several calls in rounds (LLM-TRSR's blocks; P-DB's persona builds on
them in :mod:`drp_bench.pipeline.kinds.persona`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drp_bench.config.models import SamplingParams
from drp_bench.data.types import Review
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.kinds.history import recent
from drp_bench.pipeline.parsing import strip_answer_prefix
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import SampleState, StepsOutput


class StepStage:
    """A stage whose calls for a sample come one round after another (the kind's contract
    has ``rounds``): ``plan`` gives the next call(s) from the steps stored so far, nothing
    once the sample is done. Each answer's text is after ``[label]:``; the output
    (:class:`StepsOutput`) is read as its last step's text. Recorded as a list of calls, in
    order, each with its ``summary``."""

    label = "Summary"

    def output(self, stage: StageSpec, sample: SampleState) -> StepsOutput:
        if stage.writes not in sample.values:
            sample.values[stage.writes] = StepsOutput(stage.record)
        return sample.values[stage.writes]

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        output = self.output(stage, sample)
        assert planned.item == len(output.steps), "steps are stored in order"
        text = strip_answer_prefix(call.answer, self.label, env.answer_prefix) if call.ok else ""
        output.steps.append((call, text))

    def record(self, stage: StageSpec, sample: SampleState) -> list[dict[str, Any]]:
        output: StepsOutput = sample.values[stage.writes]
        return [{**call.record(), "summary": text} for call, text in output.steps]


def skip_rest(output: StepsOutput, total: int) -> list[Planned]:
    """The steps left, skipped, when the last step failed (none when it succeeded)."""
    n = len(output.steps)
    if not n or output.call.ok:
        return []
    reason = f"step {n} of this sample's {output.stage} failed"
    return [Planned(i, skip=reason) for i in range(n, total)]


def blocks(reviews: tuple[Review, ...], size: int, limit: int | None) -> list[list[Review]]:
    """The ``size * limit`` latest reviews (all when ``limit`` is null) in time order, cut
    into blocks of ``size`` from the oldest, as LLM-TRSR slices a history
    (``prev_items[n*size:(n+1)*size]``): the first (oldest) block full, the newest possibly
    shorter. No review: one empty block."""
    ordered = recent(reviews, None if limit is None else size * limit)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)] or [[]]


def capped(sampling: SamplingParams, max_tokens: int | None) -> SamplingParams | None:
    """The role's sampling with at most ``max_tokens`` new tokens (None: the role's as is)."""
    if max_tokens is None or sampling.max_tokens <= max_tokens:
        return None
    return replace(sampling, max_tokens=max_tokens)


class SummarizeBlocks(StepStage):
    """LLM-TRSR (arXiv 2403.13325): the user's history in blocks (:func:`blocks`).
    ``recurrent``: one call per block, in rounds; the n-th reads the (n-1)-th summary and the
    n-th block. ``hierarchical``: every block summarised alone (one round), then one call
    (``merge_template``) merging the block summaries (none with a single block). Every call
    writes at most ``max_tokens`` new tokens (the role's own limit when lower or null). A
    failed call skips the calls after it. Nothing of the target is in the prompts: the same
    calls for every sample of a user."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        assert stage.role is not None
        sampling = capped(env.sampling[stage.role], stage.options["max_tokens"])
        return [
            replace(p, sampling=sampling) if p.skip is None else p
            for p in self._plan(stage, sample, env)
        ]

    def _plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        output = self.output(stage, sample)
        options = stage.options
        history = sample.read(stage.inputs["history"])
        parts = blocks(history, options["block_size"], options["max_blocks"])
        merge = options["mode"] == "hierarchical" and len(parts) > 1
        total = len(parts) + int(merge)
        n = len(output.steps)
        if n == total:
            return []
        skipped = skip_rest(output, total)
        if skipped:
            return skipped

        def block_call(i: int, previous: str) -> Planned:
            messages = env.render(
                stage.role,
                stage.template,
                block=parts[i],
                previous=previous,
                block_index=i + 1,
                blocks=len(parts),
                items=env.items,
            )
            return Planned(i, messages)

        if options["mode"] == "recurrent":
            return [block_call(n, output.text if n else "")]
        if n == 0:
            return [block_call(i, "") for i in range(len(parts))]
        if any(not call.ok for call in output.calls()):
            failed = sum(1 for call in output.calls() if not call.ok)
            return [Planned(n, skip=f"{failed} block summary call(s) of this sample failed")]
        summaries = [text for _, text in output.steps]
        merged = env.render(stage.role, options["merge_template"], summaries=summaries)
        return [Planned(n, merged)]
