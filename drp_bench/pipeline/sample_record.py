"""A sample's predictions.jsonl record from its stages' outputs: status, failures, prediction."""

from __future__ import annotations

from typing import Any

from drp_bench.methods.spec import MethodSpec
from drp_bench.pipeline.context import SampleContext
from drp_bench.pipeline.kinds import kinds
from drp_bench.pipeline.state import CallOutput, SampleState


def sample_record(method: MethodSpec, sample: SampleState) -> dict[str, Any]:
    """The record: ids, reference, prediction, status, failed stages and every stage's calls
    (the method's own stages: the runner adds the scorers' entries once they ran)."""
    stages: dict[str, Any] = {}
    failed: list[str] = []
    for stage in method.own_stages:
        entry = kinds()[stage.kind].record(stage, sample)
        if entry is not None:
            stages[stage.record] = entry
        output = sample.values.get(stage.writes)
        if output is not None and not all(call.ok for call in output.calls()):
            failed.append(stage.record)
    final = method.output
    review: CallOutput = sample.values[final.writes]
    context = {s.record for s in method.feeding(final)}
    ctx = sample.context
    call = review.call  # None: a kind without a model call wrote the review (peer)
    generated = call.ok if call is not None else True
    status = sample_status(generated, context.intersection(failed))
    if getattr(review, "excluded", None):  # no prediction by design: not scored, not a failure
        status = "excluded"
    return {
        "sample_id": ctx.sample.sample_id,
        "user_id": ctx.sample.user_id,
        "target_asin": ctx.sample.target.asin,
        "reference": ctx.sample.target.text,
        "prediction": review.text,
        "past_reviews": [r.asin for r in ctx.past_reviews],
        "status": status,
        "failed_stages": failed,
        "stages": stages,
        "error": call.result.error if call is not None else None,
        "context": context_record(ctx) | stage_context(method, sample),
    }


def stage_context(method: MethodSpec, sample: SampleState) -> dict[str, Any]:
    """What the method's stages retrieved for the generation beyond the contexts (P-DB's
    persona entries and collaborators: an output with ``context()``); none for the others."""
    found: dict[str, Any] = {}
    for stage in method.own_stages:
        context = getattr(sample.values.get(stage.writes), "context", None)
        if callable(context):
            found |= context()
    return found


def context_record(ctx: SampleContext) -> dict[str, Any]:
    """The ids of what the sample's contexts hold (run_folder.SampleContextRecord): what the
    prompts show, in their order; a context the method does not build is empty."""
    peer = ctx.peer
    return {
        "past_reviews": [r.asin for r in ctx.past_reviews],
        "comparisons": [
            {"asin": c.review.asin, "representatives": list(c.representative_users)}
            for c in ctx.comparisons
        ],
        "neighbours": [
            {"user_id": n.user_id, "reviews": [r.asin for r in n.reviews]} for n in ctx.neighbours
        ],
        "peer": None
        if peer is None
        else {"user_id": peer.user_id, "asin": peer.review.asin if peer.review else None},
    }


def sample_status(generated: bool, failed_context_stages: set[str]) -> str:
    """``complete``; ``context_incomplete`` (a call whose output the generation reads failed,
    so the prediction is not the method's); ``failed`` (no prediction). (``excluded``, no
    prediction by design, is set by :func:`sample_record` from the review's output.)"""
    if not generated:
        return "failed"
    return "context_incomplete" if failed_context_stages else "complete"
