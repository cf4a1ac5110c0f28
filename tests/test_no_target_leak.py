"""No method shows the model the review it must predict.

Every method of conf/method/ (new ones included: the list is read from the folder) runs as
``drp-bench run`` runs it (``drp_bench.evaluate``: data, pool, contexts, stages, run folder) on
the first samples of the bundled sample, with the deterministic stand-in models of
test_method_prompts_pinned for every role and its hash-based stand-in for the embedding model
(the representatives, neighbours and peers differ from a real run's; what the pipeline does with
them does not). Every prompt sent is checked for the target review's text, and for its title
beyond the one place the task gives it (the generation prompt states the rating and title the
new review must have, as in DPL's and DRP's setup). The prompts must show some past review,
through the same matching, so a leak would be seen. The peer method makes no call: its
prediction, another user's review, must not be the target review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drp_bench import evaluate
from drp_bench.config.compose import compose_run_config
from drp_bench.data.types import Review, Sample
from drp_bench.pipeline import representatives
from drp_bench.resources import config_dir
from tests.test_method_prompts_pinned import ANSWERS, CallLog, HashedEmbedder, HashedModel

METHODS = sorted(p.stem for p in (config_dir() / "method").glob("*.yaml"))
SAMPLES = 2
WINDOW = 60  # characters of a review compared at its start, middle and end
#: A record's entry for the stage that writes the review (every method's, whatever its kind)
GENERATE = "generate"


class StandInEmbedder(HashedEmbedder):
    """The run's embedding model replaced by hashed vectors (same constructor, no model)."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def squeeze(text: str) -> str:
    """Whitespace runs as one space, lower case: the form texts are compared in."""
    return " ".join(text.split()).lower()


def windows(text: str) -> list[str]:
    """The start, middle and end of a text: a prompt holding any of them shows (part of) it."""
    t = squeeze(text)
    if len(t) <= WINDOW:
        return [t]
    mid = len(t) // 2 - WINDOW // 2
    return [t[:WINDOW], t[mid : mid + WINDOW], t[-WINDOW:]]


def shows(prompt: str, review_text: str) -> bool:
    return any(w in prompt for w in windows(review_text))


def run_method(method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A run of ``method`` on the first SAMPLES samples: (records, prompts sent, samples)."""
    monkeypatch.setattr(representatives, "Embedder", StandInEmbedder)
    log = CallLog()
    backends = {role: HashedModel(role, log, failures=False) for role in ANSWERS}
    overrides = [f"method={method}", f"dataset.limit={SAMPLES}", f"cache.path={tmp_path / 'c'}"]
    result = evaluate(overrides, out_dir=tmp_path / "run", backends=backends)
    prompts = [squeeze("\n\n".join(m["content"] for m in c["messages"])) for c in log.calls]
    return result.records, prompts


def samples_of(records: list[dict[str, Any]]) -> list[Sample]:
    from tests.test_method_prompts_pinned import full_dataset

    by_id = {f"{s.user_id}:{s.target.asin}": s for s in full_dataset().samples}
    return [by_id[r["sample_id"]] for r in records]


def record_prompts(record: dict[str, Any]) -> dict[str, list[str]]:
    """Stage name -> the prompts of one sample's calls in that stage."""
    out: dict[str, list[str]] = {}
    for stage, entry in record["stages"].items():
        for call in entry if isinstance(entry, list) else [entry]:
            if call and call.get("messages"):
                text = "\n\n".join(m["content"] for m in call["messages"])
                out.setdefault(stage, []).append(squeeze(text))
    return out


def distinctive_title(target: Review) -> str | None:
    """The target review's title, lower case, when no other text of the dataset holds it (so
    seeing it means seeing the target); None for a title others share (e.g. "Five Stars")."""
    from tests.test_method_prompts_pinned import full_dataset

    data = full_dataset()
    title = squeeze(target.title)
    others = [r for s in data.samples for r in (*s.profile, s.target) if r is not target]
    texts = [f"{r.title} {r.text}" for r in others]
    texts += [f"{i.title} {i.description}" for i in data.items.values()]
    if len(title) < 8 or any(title in squeeze(t) for t in texts):
        return None
    return title


@pytest.mark.parametrize("method", [m for m in METHODS if m != "peer"])
def test_no_prompt_shows_the_target_review(method, tmp_path, monkeypatch):
    records, prompts = run_method(method, tmp_path, monkeypatch)
    assert len(records) == SAMPLES and prompts
    samples = samples_of(records)
    targets = [s.target for s in samples]
    # no call, of any sample, shows an evaluated target review's text
    for prompt in prompts:
        for target in targets:
            assert not shows(prompt, target.text), (method, target.title)
    titled = 0
    for record, sample in zip(records, samples, strict=True):
        assert record["status"] == "complete", record.get("error")
        by_stage = record_prompts(record)
        own = [p for ps in by_stage.values() for p in ps]
        assert GENERATE in by_stage and not any(shows(p, sample.target.text) for p in own)
        title = distinctive_title(sample.target)
        if title is not None:  # only where the task gives it: once, in the generation prompt
            titled += 1
            for stage, stage_prompts in by_stage.items():
                for p in stage_prompts:
                    assert p.count(title) <= (1 if stage == GENERATE else 0), (method, stage)
    assert titled > 0  # the title check ran
    # not vacuous: the same matching finds the user's past reviews where the method reads them
    cfg = compose_run_config([f"method={method}", "dataset=music_sample"])
    reads_reviews = {"past_reviews", "profile", "comparisons"} & {
        name for stage in cfg.method.stages for name in stage["reads"]
    }
    seen = [r for s in samples for r in s.profile if any(shows(p, r.text) for p in prompts)]
    if reads_reviews:
        assert seen, f"{method}: no past review found in its prompts"
    else:  # Non-P: no personal context at all; its prompts still are the samples' own
        assert not seen
        for record, sample in zip(records, samples, strict=True):
            (prompt,) = record_prompts(record)[GENERATE]
            assert squeeze(sample.target.title) in prompt  # the requested title, as given


def test_the_peer_prediction_is_another_users_review_never_the_target(tmp_path, monkeypatch):
    assert "peer" in METHODS
    records, prompts = run_method("peer", tmp_path, monkeypatch)
    assert prompts == []  # no model call
    samples = samples_of(records)
    predicted = 0
    for record, sample in zip(records, samples, strict=True):
        if record["status"] == "excluded":  # no other review of the item before the target
            continue
        predicted += 1
        prediction = squeeze(record["prediction"])
        assert prediction != squeeze(sample.target.text)
        assert not shows(prediction, sample.target.text)
        own = {squeeze(r.text) for r in sample.profile}
        assert prediction not in own  # not the user's own words either
    assert predicted > 0
