"""The ``peer`` reference: another real user's review of the same item, no model call."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drp_bench.methods.spec import StageSpec
from drp_bench.pipeline.context import PeerChoice
from drp_bench.pipeline.kinds.base import Planned, StageEnv
from drp_bench.pipeline.stages import StageCall
from drp_bench.pipeline.state import SampleState

NO_PEER = "no other user of the pool reviewed the target item"
#: Why a sample has no peer, by the candidates' rule (method.peer_candidates).
NO_PEER_BY_RULE = {
    "before_target": f"{NO_PEER} before the target review",
    "any": NO_PEER,
}


@dataclass
class PeerOutput:
    """The review a kind without a model call wrote: no call; ``excluded`` says why there is
    no review (the sample is then ``excluded``: left out of the scores, not a failure)."""

    stage: str
    text: str
    choice: PeerChoice
    excluded: str | None = None
    call: None = None

    def calls(self) -> Iterator[StageCall]:
        return iter(())


class PeerReview:
    """The prediction is the peer context's review (the other reviewer of the item nearest to
    the user's history); with none, the sample is excluded. ``plan`` stores it: no calls."""

    def plan(self, stage: StageSpec, sample: SampleState, env: StageEnv) -> list[Planned]:
        choice: PeerChoice = sample.read(stage.inputs["peer"])
        review = choice.review
        sample.values[stage.writes] = PeerOutput(
            stage.record,
            review.text if review is not None else "",
            choice,
            excluded=None if review is not None else NO_PEER_BY_RULE[choice.rule],
        )
        return []

    def store(
        self,
        stage: StageSpec,
        sample: SampleState,
        planned: Planned,
        call: StageCall,
        env: StageEnv,
    ) -> None:  # pragma: no cover - it plans no call
        raise AssertionError("the peer kind makes no calls")

    def record(self, stage: StageSpec, sample: SampleState) -> dict[str, Any]:
        output: PeerOutput = sample.values[stage.writes]
        return {
            "peer_user_id": output.choice.user_id,
            "similarity": output.choice.similarity,
            "candidates": output.choice.candidates,
            "excluded": output.excluded,
        }
