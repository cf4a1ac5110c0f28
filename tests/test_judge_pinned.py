"""Runs with and without the LLM judge write the same files as when these golden files were
made (tests/data/judge_pinned/, from the runner before the judge became a stage kind).

Each configuration runs through :func:`drp_bench.evaluate` (the run's whole path: the runner,
the judge, predictions.jsonl and metrics.json) on the first 3 samples of the bundled sample,
every role served by the deterministic stand-in of ``test_method_prompts_pinned`` (the judge
answers a score, a reasoning model's answer, an unparseable one, or fails). Pinned per
configuration: every call's batch, role and exact messages in the order sent, the
predictions.jsonl text and metrics.json's text (key order included), with what varies from
run to run (wall times, latencies, versions, the git commit) replaced by placeholders.

Re-create the golden files (only when a change of prompts or records is intended):

    .venv/bin/python -m tests.test_judge_pinned --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.run import folder as run_folder
from tests.test_method_prompts_pinned import SAMPLES, SHORT_TEXTS, CallLog, HashedModel, _digest

GOLDEN = Path(__file__).resolve().parent / "data" / "judge_pinned"

#: The stand-in serves every role as one model: judging the generator's reviews is allowed.
SELF = "metrics.judge_self=true"
CONFIGS: dict[str, tuple[tuple[str, ...], bool]] = {
    "nonp": (("method=nonp",), False),
    "nonp-judge": (("method=nonp", "metrics.judge=true", SELF), False),
    "rag-judge-failures": (("method=rag", "metrics.judge=true", SELF), True),
    "intsum-judge-failures": (("method=intsum", "metrics.judge=true", SELF), True),
    "peer-judge": (("method=peer", "metrics.judge=true", SELF), False),
    "intsum-judge-own-model": (
        ("method=intsum", "metrics.judge=true", "+model@judge=r1-distill-qwen-7b"),
        False,
    ),
}
#: What differs between two runs of the same configuration.
VOLATILE_METRICS = ("wall_time_s", "context_time_s", "versions", "git_commit")
JUDGE_ANSWERS = ("8", "<think>close, but 2 points missing</think>\n**6**", "ten", "3/10", "7.5")


class PinnedModel(HashedModel):
    """The stand-in of the pinned-prompts test, with answers for the judge role too."""

    def answer(self, messages: list[dict[str, str]]) -> ChatResult:
        if self.role != "judge":
            return super().answer(messages)
        h = int(_digest(messages)[:15], 16)
        if self.failures and (h >> 20) % 3 == 0:
            return ChatResult(text="", error="ScriptedError: failed on purpose", latency_s=0.0)
        text = JUDGE_ANSWERS[h % len(JUDGE_ANSWERS)]
        return ChatResult(text=text, prompt_tokens=len(messages[-1]["content"]) // 4)


def _stable_metrics(text: str) -> str:
    metrics = json.loads(text)
    for key in VOLATILE_METRICS:
        metrics[key] = f"<{key}>"
    for entry in metrics["compute"].values():
        if "wall_s" in entry:
            entry["wall_s"] = "<wall_s>"
        if "latency_s" in entry:
            entry["latency_s"] = "<latency_s>"
    return json.dumps(metrics, indent=1)


def _stable_predictions(text: str) -> list[str]:
    rows = []
    for line in text.splitlines():
        row = json.loads(line)
        for entry in row["stages"].values():
            for call in entry if isinstance(entry, list) else [entry]:
                if isinstance(call, dict) and "latency_s" in call:
                    call["latency_s"] = "<latency_s>"
        rows.append(json.dumps(row))
    return rows


def run_pinned(name: str, tmp: Path) -> dict[str, Any]:
    """One configuration's calls, predictions.jsonl rows and metrics.json text."""
    overrides, failures = CONFIGS[name]
    log = CallLog()
    roles = ("extractor", "validator", "normalizer", "summarizer", "generator", "judge")
    backends = {role: PinnedModel(role, log, failures) for role in roles}
    run_dir = tmp / name
    all_overrides = [
        *overrides, *SHORT_TEXTS, f"dataset.limit={SAMPLES}", f"cache.path={tmp / 'calls.sqlite'}"
    ]  # fmt: skip
    evaluate(all_overrides, out_dir=run_dir, backends=backends)
    (tmp / "calls.sqlite").unlink()  # each configuration calls its stand-ins afresh
    return {
        "calls": [
            {"batch": c["batch"], "role": c["role"], "messages": c["messages"]} for c in log.calls
        ],
        "predictions": _stable_predictions(
            (run_dir / run_folder.PREDICTIONS).read_text(encoding="utf-8")
        ),
        "metrics": _stable_metrics((run_dir / run_folder.METRICS).read_text(encoding="utf-8")),
    }


@pytest.mark.parametrize("name", list(CONFIGS))
def test_runs_with_and_without_the_judge_are_as_pinned(name: str, tmp_path: Path) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    actual = run_pinned(name, tmp_path)
    assert [c["role"] for c in actual["calls"]] == [c["role"] for c in expected["calls"]]
    assert actual["calls"] == expected["calls"]
    assert actual["predictions"] == expected["predictions"]
    assert actual["metrics"] == expected["metrics"]


def test_the_pins_judge_where_asked() -> None:
    """The golden files hold what they claim: judge calls and entries only with the judge."""
    for name, (overrides, _) in CONFIGS.items():
        golden = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
        judged = "metrics.judge=true" in overrides
        assert any(c["role"] == "judge" for c in golden["calls"]) == judged, name
        assert (json.loads(golden["metrics"])["judge"] is not None) == judged, name


def update() -> None:
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            pinned = run_pinned(name, Path(tmp))
            (GOLDEN / f"{name}.json").write_text(
                json.dumps(pinned, indent=1) + "\n", encoding="utf-8"
            )
            print(f"{name}: {len(pinned['calls'])} calls")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.test_judge_pinned --update")
    update()
