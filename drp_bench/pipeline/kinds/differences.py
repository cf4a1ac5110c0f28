"""Difference extraction and validation: per comparison item, features in the feature format.

Two compute knobs (docs/methods.md, "Compute knobs"): extraction ``samples`` (n calls per item
at ``temperature``, seeds the role's + 0..n-1, merged by agreement:
:mod:`drp_bench.pipeline.agreement`) and validation ``rounds`` (each round validates the
previous round's output). With 1 of each, one call per item as before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drp_bench.backends.base import ChatResult
from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.agreement import majority, merge_by_agreement
from drp_bench.pipeline.kinds import items
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.parsing import format_features, parse_features
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import ItemOutputs, ItemResult, SampleState


class _FeatureStage:
    """Stores each answer with its parsed features; records them per item."""

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        parsed = parse_features(call.answer)
        output = sample.values[stage.writes]
        output.results[planned.item] = ItemResult(call, parsed.ok, parsed.features)

    def record(self, stage: StageSpec, sample: SampleState) -> list[dict[str, Any]] | None:
        return items.entries(stage, sample, _features)


def _features(result: ItemResult) -> dict[str, Any]:
    """An item's features; with several calls, the outcome's and each call's (``calls``)."""
    fields: dict[str, Any] = {
        "features": [
            {"name": f.name, "definition": f.definition, "difference": f.difference}
            for f in result.features
        ],
        "parse_ok": result.parse_ok,
    }
    if result.steps:
        fields["error"] = result.call.result.error
        fields["calls"] = [_step(step) for step in result.steps]
    return fields


def _step(step: ItemResult) -> dict[str, Any]:
    """One of an item's several calls: the call, its parse and its own sampling (if any)."""
    sampling = step.sampling
    return {
        **step.call.record(),
        **_features(step),
        "temperature": sampling.temperature if sampling else None,
        "seed": sampling.seed if sampling else None,
    }


class ExtractDifferences(_FeatureStage):
    """Per comparison item, one call (the item, the user's review and the representatives'),
    or ``samples`` calls merged by agreement."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        items.start(stage, sample)
        comparisons = sample.read(stage.inputs["comparisons"])
        n = stage.options["samples"]
        sampling = [None] if n == 1 else _sample_sampling(stage, env, n)
        return [
            Planned(i, messages, step=s, sampling=sampling[s])
            for i, c in enumerate(comparisons)
            for messages in [
                env.render(stage.role, stage.template, **items.comparison_vars(c, env.items))
            ]
            for s in range(n)
        ]

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        n = stage.options["samples"]
        if n == 1:
            return super().store(stage, sample, planned, call, env)
        parsed = parse_features(call.answer)
        output: ItemOutputs = sample.values[stage.writes]
        assert planned.item is not None
        got = output.pending.setdefault(planned.item, [None] * n)
        got[planned.step] = ItemResult(call, parsed.ok, parsed.features, sampling=planned.sampling)
        if all(r is not None for r in got):
            agree = stage.options["agree"] or majority(n)
            output.results[planned.item] = merged(got, agree)  # type: ignore[arg-type]
            del output.pending[planned.item]


def _sample_sampling(stage: StageSpec, env: StageEnv, n: int) -> list[Any]:
    """The n samples' sampling: the role's, at the stage's temperature, seeds seed + i."""
    assert stage.role is not None
    base = env.sampling[stage.role]
    temperature = float(stage.options["temperature"])
    return [replace(base, temperature=temperature, seed=base.seed + i) for i in range(n)]


def merged(samples: list[ItemResult], agree: int) -> ItemResult:
    """The item's outcome from its samples: the features at least ``agree`` of them state.

    It failed when any sample failed. Later stages read the merged features re-formatted
    (whatever the handoff: a merge has no raw answer); when no sample parsed, the first
    sample's answer as written, as a single extraction that did not parse."""
    failed = [i for i, r in enumerate(samples) if not r.call.ok]
    parse_ok = any(r.parse_ok for r in samples)
    features, _ = merge_by_agreement([r.features for r in samples], agree)
    text = format_features(features) if parse_ok else samples[0].call.answer
    error = None
    if failed:
        text = ""
        error = f"{len(failed)} of {len(samples)} extraction samples failed (samples {failed})"
    call = StageCall([], ChatResult(text=text, error=error))
    return ItemResult(call, parse_ok and not failed, features, steps=tuple(samples))


class ValidateDifferences(_FeatureStage):
    """One call per item with differences: the comparison plus the candidates (the earlier
    answer, parsed or raw per ``handoff``); skipped where the earlier call failed. With
    ``rounds`` > 1, each further round validates the previous round's output (an item whose
    round failed gets no further round)."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        if stage.writes not in sample.values:  # the first round reads the stage's input
            items.start(stage, sample)
            return self._round(stage, sample, env, items.source(stage, sample), first=True)
        output: ItemOutputs = sample.values[stage.writes]
        if output.rounds >= stage.options["rounds"]:
            return []
        output.rounds += 1  # a further round reads the previous round's output
        return self._round(stage, sample, env, output, first=False)

    def _round(
        self,
        stage: StageSpec,
        sample: SampleState,
        env: StageEnv,
        source: ItemOutputs,
        first: bool,
    ) -> list[Planned]:
        planned = []
        for i, (comparison, result) in enumerate(
            zip(sample.context.comparisons, source.results, strict=True)
        ):
            if result is None:
                continue
            if not result.call.ok:
                if first:
                    planned.append(Planned(i, skip=f"the {source.stage} call of this item failed"))
                continue
            messages = env.render(
                stage.role,
                stage.template,
                candidates=result.differences_text(stage.options["handoff"]),
                **items.comparison_vars(comparison, env.items),
            )
            planned.append(Planned(i, messages))
        return planned

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:
        output: ItemOutputs = sample.values[stage.writes]
        previous = output.results[planned.item]
        if stage.options["rounds"] == 1 or previous is None:
            super().store(stage, sample, planned, call, env)
            if stage.options["rounds"] > 1:
                first = output.results[planned.item]
                assert first is not None
                output.results[planned.item] = replace(first, steps=(first,))
            return
        parsed = parse_features(call.answer)
        step = ItemResult(call, parsed.ok, parsed.features)
        output.results[planned.item] = replace(step, steps=(*previous.steps, step))
