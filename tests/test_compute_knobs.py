"""Compute knobs: extraction samples merged by agreement, validation rounds (docs/methods.md).

At 1 sample and 1 round the pinned tests (test_method_prompts_pinned, test_judge_pinned,
test_prompt_fingerprint) hold unchanged; here: the merge rule, what every call of a run with
3 samples and 2 rounds reads (on a scripted backend), its records, and the planner's counts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.config.run_config import RunConfig
from drp_bench.data.types import Feature
from drp_bench.pipeline.agreement import feature_key, majority, merge_by_agreement, same_feature
from drp_bench.pipeline.parsing import format_features, parse_features
from drp_bench.plan.engine import plan_job
from drp_bench.run import folder as run_folder
from drp_bench.run.prompts_fingerprint import prompts_fingerprint
from tests.test_plan import SMALL, _by_stage, _resolved


def _f(name: str, difference: str = "more") -> Feature:
    return Feature(name=name, definition=f"how {name.lower()}", difference=difference)


TONE, TONE2, SLANG, HUMOR = _f("Tone"), _f("the tone!", "warmer"), _f("Use of Slang"), _f("Humor")


def test_feature_keys_drop_case_punctuation_and_stop_words() -> None:
    assert feature_key(_f("The Use of SLANG, mostly")) == {"use", "slang", "mostly"}
    assert same_feature(TONE, TONE2)  # {tone} = {tone}
    assert same_feature(_f("Sentence Length"), _f("Length of sentences")) is False  # 1/3
    assert same_feature(_f("Level of Detail"), _f("Detail level")) is True
    assert same_feature(_f("the"), _f("The")) and not same_feature(_f("the"), _f("a"))


def test_a_feature_is_kept_when_at_least_agree_samples_state_it() -> None:
    samples = [[TONE, SLANG], [TONE2, HUMOR], [SLANG, TONE]]
    kept, support = merge_by_agreement(samples, 2)
    assert kept == (TONE, SLANG) and support == [3, 2]  # first sample's wording, its order
    assert merge_by_agreement(samples, 3) == ((TONE,), [3])
    assert merge_by_agreement(samples, 1)[0] == (TONE, SLANG, HUMOR)
    # one feature per sample at most: a sample stating Tone twice supports it once
    assert merge_by_agreement([[TONE, TONE2], [HUMOR]], 2) == ((), [])
    assert majority(1) == 1 and majority(3) == 2 and majority(4) == 3
    with pytest.raises(ValueError, match=r"agree must be 1\.\.3"):
        merge_by_agreement(samples, 4)


class Scripted:
    """One role's stand-in: records each request (messages and sampling); the extractor's
    features depend on the sample's seed, the validator marks every candidate as checked."""

    def __init__(self, role: str, log: list[dict[str, Any]]):
        self.role = role
        self.log = log
        self.identity = {"backend": "scripted-knobs", "role": role}

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            user = request.messages[-1]["content"]
            self.log.append({"role": self.role, "user": user, "sampling": request.sampling})
            result = ChatResult(text=self.answer(user, request.sampling.seed), prompt_tokens=10)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def answer(self, user: str, seed: int) -> str:
        if self.role == "extractor":
            by_seed = {42: [TONE, SLANG], 43: [TONE2, HUMOR], 44: [SLANG, TONE]}
            return format_features(by_seed[seed])
        if self.role == "validator":
            found = parse_features(user).features
            return format_features(
                [Feature(f.name, f.definition, f.difference + " (checked)") for f in found]
            )
        if self.role == "summarizer":
            return "[Summary]: short words"
        return "[Review]: Fine."

    def close(self) -> None:
        pass


KNOBS = ["extract_samples=3", "extract_agree=2", "validate_rounds=2"]
ROLES = ("extractor", "validator", "normalizer", "summarizer", "generator", "judge")


def _run(tmp_path: Path, knobs: list[str]) -> tuple[list[dict[str, Any]], Path]:
    log: list[dict[str, Any]] = []
    overrides = ["method=drp", *SMALL, "dataset.limit=1", *knobs]
    overrides.append(f"cache.path={tmp_path / 'calls.sqlite'}")
    backends = {role: Scripted(role, log) for role in ROLES}
    evaluate(overrides, out_dir=tmp_path / "run", backends=backends)
    return log, tmp_path / "run"


def test_samples_and_rounds_what_each_call_reads_and_what_is_recorded(tmp_path: Path) -> None:
    log, run_dir = _run(tmp_path, KNOBS)
    extract = [c for c in log if c["role"] == "extractor"]
    validate = [c for c in log if c["role"] == "validator"]
    items = len(extract) // 3
    assert items >= 1 and len(extract) == 3 * items and len(validate) == 2 * items
    # the n samples of an item: the same prompt, temperature 0.7, seeds 42, 43, 44
    for i in range(items):
        group = extract[3 * i : 3 * i + 3]
        assert len({c["user"] for c in group}) == 1
        assert [c["sampling"].seed for c in group] == [42, 43, 44]
        assert {c["sampling"].temperature for c in group} == {0.7}
    # round 1 reads the merge (Tone and Slang: 2 of 3 samples; Humor: 1), round 2 round 1's
    first, second = validate[:items], validate[items:]
    for call in first:
        assert [f.name for f in parse_features(call["user"]).features] == ["Tone", "Use of Slang"]
        assert format_features([TONE, SLANG]) in call["user"]
        assert call["sampling"].temperature == 0.0 and call["sampling"].seed == 42
    for call in second:
        assert [f.difference for f in parse_features(call["user"]).features] == [
            "more (checked)",
            "more (checked)",
        ]
    # the summary reads the last round's output
    (summary,) = [c for c in log if c["role"] == "summarizer"]
    assert "more (checked) (checked)" in summary["user"]

    (row,) = run_folder.read_predictions(run_dir / run_folder.PREDICTIONS)
    assert row.schema_version == "5"
    entry = row.stages.extract[0]
    assert isinstance(entry, run_folder.MultiCallItemRecord)
    assert [f.name for f in entry.features] == ["Tone", "Use of Slang"] and entry.error is None
    assert [(c.seed, c.temperature) for c in entry.calls] == [(42, 0.7), (43, 0.7), (44, 0.7)]
    assert [f.name for f in entry.calls[1].features] == ["the tone!", "Humor"]
    rounds = row.stages.validate_[0]
    assert isinstance(rounds, run_folder.MultiCallItemRecord)
    assert [c.seed for c in rounds.calls] == [None, None]
    assert rounds.features[0].difference == "more (checked) (checked)"
    assert len(row.stages.calls()) == 5 * items + 2

    metrics = json.loads((run_dir / run_folder.METRICS).read_text())
    assert metrics["schema_version"] == "5"
    knobs = {k: metrics["run"][k] for k in run_folder.KNOB_DEFAULTS}
    assert knobs == {
        "extract_samples": 3,
        "extract_agree": 2,
        "extract_temperature": 0.7,
        "validate_rounds": 2,
    }
    assert metrics["compute"]["extract"]["calls"] == 3 * items
    assert metrics["compute"]["validate"]["calls"] == 2 * items
    assert metrics["calls"]["total"] == 5 * items + 2
    assert metrics["extracted_features"]["items"] == items
    assert metrics["extracted_features"]["per_item_mean"] == 2.0
    assert metrics["features"]["items"] == items and metrics["features"]["parsed"] == items
    assert run_folder.read_metrics(run_dir / run_folder.METRICS).run.validate_rounds == 2


def test_one_sample_one_round_writes_version_4_without_knobs(tmp_path: Path) -> None:
    log, run_dir = _run(tmp_path, [])
    assert {c["sampling"].temperature for c in log} == {0.0}
    metrics = json.loads((run_dir / run_folder.METRICS).read_text())
    assert metrics["schema_version"] == "4"
    assert not set(run_folder.KNOB_DEFAULTS) & set(metrics["run"])
    rows = (run_dir / run_folder.PREDICTIONS).read_text().splitlines()
    assert all(json.loads(r)["schema_version"] == "4" for r in rows)
    assert "calls" not in json.loads(rows[0])["stages"]["extract"][0]


def test_the_knobs_leave_the_prompts_fingerprint_as_it_is() -> None:
    def fingerprint(overrides: list[str]) -> str:
        cfg = RunConfig.from_config(_resolved(["method=drp", *overrides]))
        return prompts_fingerprint(cfg)

    assert fingerprint(KNOBS) == fingerprint([])
    assert fingerprint(["method.handoff=raw"]) != fingerprint([])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["extract_samples=2", "extract_agree=3"], "extract_agree=3 > extract_samples=2"),
        (["extract_samples=0"], "extract_samples: expected an integer >= 1, found 0"),
        (["extract_temperature=0"], "extract_temperature: expected a number > 0"),
        (["validate_rounds=0"], "validate_rounds: expected an integer >= 1, found 0"),
        (
            ["extract_samples=3", "method.stages.0.options.samples=1"],
            "extract_samples=3, but method 'drp' (method/drp.yaml) stages[0] "
            "(extract_differences) has options.samples=1",
        ),
    ],
)
def test_wrong_knobs_are_named(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RunConfig.from_config(_resolved(["method=drp", *overrides]))


def test_the_knobs_sweep_as_ordinary_config_values() -> None:
    cfg = RunConfig.from_config(_resolved(["method=drp", "extract_samples=5", "validate_rounds=3"]))
    extract, validate = cfg.method.stages[:2]
    assert extract.options == {"samples": 5, "agree": None, "temperature": 0.7}
    assert validate.options == {"handoff": "parsed", "rounds": 3}
    dpl = RunConfig.from_config(_resolved(["method=dpl", "extract_samples=2"]))
    assert dpl.method.stages[0].options["samples"] == 2


def test_plan_counts_n_extraction_and_r_validation_calls(tmp_path: Path) -> None:
    base = ["method=drp", *SMALL, f"cache.path={tmp_path / 'calls.sqlite'}"]
    one = _by_stage(plan_job(base, _resolved(base)))
    more = _by_stage(plan_job([*base, *KNOBS], _resolved([*base, *KNOBS])))
    assert more["extract"].calls == 3 * one["extract"].calls > 0
    assert more["validate"].calls == 2 * one["validate"].calls > 0
    assert more["generate"].calls == one["generate"].calls
    assert more["extract"].prompt_tokens == 3 * one["extract"].prompt_tokens


def test_an_entry_names_the_knobs_only_away_from_their_defaults() -> None:
    from drp_bench.leaderboard.submit import _hyperparameters

    base = {"num_users": 4, "extract_samples": 1, "extract_agree": None,
            "extract_temperature": 0.7, "validate_rounds": 1}  # fmt: skip
    assert not {"extract_samples", "validate_rounds", "extract_temperature"} & set(
        _hyperparameters(base)
    )
    knobs = _hyperparameters({**base, "extract_samples": 3, "validate_rounds": 2})
    assert knobs["extract_samples"] == 3 and knobs["validate_rounds"] == 2
    assert knobs["extract_agree"] is None and knobs["extract_temperature"] == 0.7
