"""Every method configuration sends the same prompts and writes the same records as when these
golden files were made (tests/data/pinned_prompts/, from the flag-based runner before methods
became stage sequences).

Each configuration runs on the first 3 samples of the bundled sample with a deterministic
stand-in for every role's model: its answers are derived from a hash of the prompt, in the
formats the parsers expect (features, validated subsets, UVQ JSON, ``[Summary]:``,
``[Review]:``, sometimes malformed or with a preamble), so later stages get realistic input. A
hash-based stand-in embedder replaces the embedding model (the representatives differ from a
real run's; the test is about what the pipeline does with them). Pinned per configuration:
every call's batch, role, stage and exact chat messages in the order sent, the
predictions.jsonl records and metrics.json's content without the scores.

Re-create the golden files (only when a change of prompts or records is intended):

    .venv/bin/python -m tests.test_method_prompts_pinned --update
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.backends.base import ChatResult
from drp_bench.config.run_config import RunConfig
from drp_bench.data.types import Dataset, Feature
from drp_bench.pipeline.context import SampleContext, build_contexts
from drp_bench.pipeline.parsing import format_features, parse_features
from drp_bench.pipeline.runner import Pipeline
from drp_bench.resources import config_dir
from drp_bench.run.inputs import load_run_dataset, make_renderer
from drp_bench.run.metrics_file import summarize_run
from drp_bench.uvq.taxonomy import all_keys, parse_key

GOLDEN = Path(__file__).resolve().parent / "data" / "pinned_prompts"
MESSAGES_FILE = GOLDEN / "messages.json"
SAMPLES = 3
PAPER_CPU = ("+experiment=paper_table", "dataset=music_sample")
DPL_PAPER_CPU = ("+experiment=dpl_paper", "dataset=music_sample")

#: Prompts show review texts and item descriptions cut short (the golden files stay small),
#: except in the configurations marked ``full_text``; the cut is the renderer's own option.
SHORT_TEXTS = ("prompts.max_review_chars=80", "prompts.max_description_chars=40")


@dataclass(frozen=True)
class Pinned:
    """One configuration a user can run, and whether some of its calls fail."""

    overrides: tuple[str, ...]
    failures: bool = False
    full_text: bool = False

    def all_overrides(self) -> list[str]:
        return [*self.overrides, *(() if self.full_text else SHORT_TEXTS)]


CONFIGS: dict[str, Pinned] = {
    "nonp": Pinned(("method=nonp",)),
    "rag": Pinned(("method=rag",)),
    "rag-full-text": Pinned(("method=rag",), full_text=True),
    "dpl": Pinned(("method=dpl",)),
    "dpl-uvq": Pinned(("method=dpl", "uvq=true")),
    "dpl-auto": Pinned(("method=dpl", "method.dimensions=auto")),
    "drp": Pinned(("method=drp",)),
    "drp-fixed": Pinned(("method=drp", "method.dimensions=fixed")),
    "drp-no-validation": Pinned(("method=drp", "method.validate=false")),
    "drp-fixed-no-validation": Pinned(
        ("method=drp", "method.dimensions=fixed", "method.validate=false")
    ),
    "drp-summary-extracted": Pinned(("method=drp", "method.summary_reads=extracted")),
    "drp-no-validation-summary-extracted": Pinned(
        ("method=drp", "method.validate=false", "method.summary_reads=extracted")
    ),
    "drp-raw-handoff": Pinned(("method=drp", "method.handoff=raw")),
    "drp-uvq": Pinned(("method=drp", "uvq=true")),
    "drp-uvq-raw-handoff": Pinned(("method=drp", "uvq=true", "method.handoff=raw")),
    "drp-uvq-no-validation": Pinned(("method=drp", "uvq=true", "method.validate=false")),
    "drp-users2-retrieved3": Pinned(("method=drp", "num_users=2", "num_retrieved=3")),
    "drp-system-prompt": Pinned(("method=drp", "prompts.system=You write reviews.")),
    "rag-reference-prefix": Pinned(("method=rag", "answer_prefix=reference")),
    "demo": Pinned(("+experiment=demo",), full_text=True),
    "paper-table": Pinned(PAPER_CPU),
    "paper-table-fixed": Pinned((*PAPER_CPU, "method.dimensions=fixed")),
    "paper-table-r1-extractor": Pinned((*PAPER_CPU, "model@extractor=r1-distill-qwen-7b")),
    "paper-table-instructions-in-user": Pinned((*PAPER_CPU, "prompts.instructions_in=user")),
    "dpl-paper": Pinned(DPL_PAPER_CPU),
    "rag-failures": Pinned(("method=rag",), failures=True),
    "intsum": Pinned(("method=intsum",)),
    "intsum-failures": Pinned(("method=intsum",), failures=True),
    "llm-trsr": Pinned(("method=llm-trsr",)),
    "llm-trsr-hierarchical": Pinned(("method=llm-trsr", "method.summarization=hierarchical")),
    "llm-trsr-failures": Pinned(("method=llm-trsr",), failures=True),
    "llm-trsr-hierarchical-failures": Pinned(
        ("method=llm-trsr", "method.summarization=hierarchical"), failures=True
    ),
    "cicl": Pinned(("method=cicl",)),
    "cicl-failures": Pinned(("method=cicl",), failures=True),
    "cicl-two-call": Pinned(("method=cicl-two-call",)),
    "cicl-two-call-failures": Pinned(("method=cicl-two-call",), failures=True),
    "p-db": Pinned(("method=p-db",)),
    "p-db-failures": Pinned(("method=p-db",), failures=True),
    "drp-failures": Pinned(("method=drp", "uvq=true"), failures=True),
    "drp-summary-extracted-failures": Pinned(
        ("method=drp", "method.summary_reads=extracted"), failures=True
    ),
    "dpl-paper-failures": Pinned(DPL_PAPER_CPU, failures=True),
}

FEATURE_NAMES = (
    "Writing Style",
    "Emotional Style",
    "Semantic Style",
    "Sentence Length",
    "Use of Slang",
    "Level of Detail",
    "Humor",
    "Formality",
)
DEGREES = ("more", "less", "much more", "slightly less", "noticeably more")


def _digest(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


class CallLog:
    """Every call the stand-in models received, in order, with the batch it came in."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.batches = 0


class HashedModel:
    """A deterministic stand-in for one role's model: the answer is a function of the prompt."""

    def __init__(self, role: str, log: CallLog, failures: bool):
        self.role = role
        self.log = log
        self.failures = failures
        self.identity = {"backend": "pinned-hash", "role": role}

    def chat(self, requests, on_result=None):
        batch = self.log.batches
        self.log.batches += 1
        results = []
        for i, request in enumerate(requests):
            messages = [dict(m) for m in request.messages]
            self.log.calls.append({"batch": batch, "role": self.role, "messages": messages})
            result = self.answer(messages)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def answer(self, messages: list[dict[str, str]]) -> ChatResult:
        h = int(_digest(messages)[:15], 16)
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        if self.failures and (h >> 20) % 5 == 0:
            return ChatResult(text="", error="ScriptedError: failed on purpose", latency_s=0.0)
        user = messages[-1]["content"]
        text = ANSWERS[self.role](h, user)
        thinks = self.role == "extractor" and h % 9 == 0
        reasoning = "Let me compare the reviews." if thinks else None
        return ChatResult(
            text=text,
            reasoning=reasoning,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(text) // 4 + (6 if reasoning else 0),
            finish_reason="stop",
        )

    def close(self) -> None:
        pass


def _features(h: int, count: int) -> list[Feature]:
    out = []
    for i in range(count):
        name = FEATURE_NAMES[(h >> (4 * i)) % len(FEATURE_NAMES)]
        degree = DEGREES[(h >> (3 * i + 1)) % len(DEGREES)]
        out.append(
            Feature(
                name=name,
                definition=f"how a reviewer handles {name.lower()}.",
                difference=f"the user shows {degree} {name.lower()} than the others ({h % 997}).",
            )
        )
    return out


def _extraction(h: int, _user: str) -> str:
    if h % 7 == 0:
        return f"The user writes more casually than the others, with shorter sentences ({h % 89})."
    text = format_features(_features(h, 1 + h % 3))
    return ("Here are the differences I found:\n" + text) if h % 5 == 1 else text


def _validation(h: int, user: str) -> str:
    candidates = [
        f for f in parse_features(user).features if f.name != "Feature Name" and "<" not in f.name
    ]
    candidates = [f for f in candidates if "<" not in f.difference]
    if not candidates:
        return format_features(_features(h, 1))
    kept = [f for j, f in enumerate(candidates) if (h >> j) & 1]
    if not kept:
        if h % 3 == 0:
            return "None of the candidate features is valid."
        kept = candidates[:1]
    text = format_features(kept)
    return ("Valid features:\n" + text) if h % 4 == 0 else text


def _normalization(h: int, user: str) -> str:
    if h % 11 == 0:
        return "Sorry, I cannot produce JSON for this."
    keys = all_keys()
    names = [f.name for f in parse_features(user).features] or ["raw"]
    units = []
    for i in range(1 + h % 3):
        key = keys[(h >> (5 * i)) % len(keys)]
        units.append(
            {
                "text": f"unit {i} of {h % 101}",
                "category": parse_key(key)[0],
                "valid": ((h >> i) & 3) != 0,
                "key": key,
                "source_feature": names[i % len(names)],
            }
        )
    return json.dumps({"units": units})


def _labelled(label: str, body: str, h: int) -> str:
    return (
        f"[{label}]: {body}",
        f"Sure, here it is.\n[{label}]: {body}",
        f"[{label.lower()}] : {body}",
        body,
    )[h % 4]


def _summary(h: int, user: str) -> str:
    if "\nThe review's rating is " in user:  # a review asked of the summarizer (CICL's negatives)
        return _review(h, user)
    label = next((x for x in ("Persona", "Analysis") if f"[{x}]:" in user), "Summary")
    return _labelled(label, f"A {DEGREES[h % 5]} detailed writer ({h % 1009}).", h >> 3)


def _review(h: int, user: str) -> str:
    body = f"Good album, {DEGREES[h % 5]} than expected ({h % 1013})."
    review = _labelled("Review", body, h >> 3)
    if "[Analysis]: <" in user:  # CICL's one call: the analysis first, then the review
        return f"[Analysis]: The user writes {DEGREES[h % 5]} tersely ({h % 211}).\n{review}"
    return review


ANSWERS = {
    "extractor": _extraction,
    "validator": _validation,
    "normalizer": _normalization,
    "summarizer": _summary,
    "generator": _review,
}


class HashedEmbedder:
    """Review vectors from a hash of the text (stands in for the embedding model)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) for t in texts]
        return np.asarray(rows, dtype=np.float32) / 255.0


def compose_config(overrides: tuple[str, ...]) -> RunConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, f"dataset.limit={SAMPLES}"])
    return RunConfig.from_config(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


@cache
def full_dataset() -> Dataset:
    return load_run_dataset({"path": "bundled:music_sample", "name": "music_sample"})


@cache
def contexts_for(
    past_reviews: bool,
    differences: bool,
    num_retrieved: int,
    num_users: int,
    seed: int,
    neighbours: int = 0,
    recent_reviews: int | None = None,
) -> tuple[SampleContext, ...]:
    full = full_dataset()
    dataset = replace(full, samples=full.samples[:SAMPLES])
    return tuple(
        build_contexts(
            dataset,
            past_reviews,
            differences,
            num_retrieved,
            num_users,
            seed,
            HashedEmbedder(),  # type: ignore[arg-type]
            pool=full.samples,
            neighbours=neighbours,
            recent_reviews=recent_reviews,
        )
    )


def run_config(name: str) -> dict[str, Any]:
    """The pinned view of one configuration's run: calls, records, metrics without scores."""
    pinned = CONFIGS[name]
    overrides = pinned.all_overrides()
    cfg = compose_config(tuple(overrides))
    full = full_dataset()
    dataset = replace(full, samples=full.samples[:SAMPLES])
    contexts = contexts_for(
        cfg.method.past_reviews,
        cfg.method.differences,
        cfg.num_retrieved,
        cfg.num_users,
        cfg.seed,
        cfg.method.neighbours if "neighbours" in cfg.method.contexts else 0,
        cfg.method.recent_reviews,
    )
    renderer = make_renderer(cfg)
    log = CallLog()
    backends = {role: HashedModel(role, log, pinned.failures) for role in cfg.roles}
    records = Pipeline(cfg, backends, renderer, embedder=HashedEmbedder()).run(
        dataset, list(contexts)
    )
    records = json.loads(json.dumps(records))
    stage_of = _stages_by_messages(records)
    metrics = summarize_run(cfg, dataset, records)
    metrics.pop("metrics")  # the scores: another module's business
    return {
        "overrides": overrides,
        "failures": pinned.failures,
        "calls": [
            {
                "batch": c["batch"],
                "role": c["role"],
                "stage": stage_of[_digest(c["messages"])],
                "messages": c["messages"],
            }
            for c in log.calls
        ],
        "records": records,
        "metrics": json.loads(json.dumps(metrics)),
    }


def _entries(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for stage, entry in record["stages"].items():
        out += [(stage, e) for e in (entry if isinstance(entry, list) else [entry])]
    return out


def _stages_by_messages(records: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for record in records:
        for stage, entry in _entries(record):
            if entry["messages"]:
                found.setdefault(_digest(entry["messages"]), set()).add(stage)
    return {key: "/".join(sorted(stages)) for key, stages in found.items()}


# ------------------------------------------------------------------ golden files (deduplicated)


def to_golden(run: dict[str, Any], store: dict[str, Any]) -> dict[str, Any]:
    """Messages moved into the shared ``store`` (by digest): each prompt is kept once."""

    def ref(messages: list[dict[str, str]]) -> str | list:
        if not messages:
            return []
        key = _digest(messages)[:16]
        store[key] = messages
        return key

    records = json.loads(json.dumps(run["records"]))
    for record in records:
        for _stage, entry in _entries(record):
            entry["messages"] = ref(entry["messages"])
    calls = [{**c, "messages": ref(c["messages"])} for c in run["calls"]]
    return {**run, "calls": calls, "records": records}


def from_golden(golden: dict[str, Any], store: dict[str, Any]) -> dict[str, Any]:
    def deref(value: str | list) -> list:
        return store[value] if isinstance(value, str) else value

    records = json.loads(json.dumps(golden["records"]))
    for record in records:
        for _stage, entry in _entries(record):
            entry["messages"] = deref(entry["messages"])
    calls = [{**c, "messages": deref(c["messages"])} for c in golden["calls"]]
    return {**golden, "calls": calls, "records": records}


@cache
def message_store() -> dict[str, Any]:
    return json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))


def golden_run(name: str) -> dict[str, Any]:
    golden = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return from_golden(golden, message_store())


def update() -> None:
    """Write every configuration's golden file and the shared message store."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    store: dict[str, Any] = {}
    for name in CONFIGS:
        golden = to_golden(run_config(name), store)
        (GOLDEN / f"{name}.json").write_text(_one_per_line(golden), encoding="utf-8")
        print(f"{name}: {len(golden['calls'])} calls")
    MESSAGES_FILE.write_text(_one_per_line(dict(sorted(store.items()))), encoding="utf-8")


def _one_per_line(value: dict[str, Any]) -> str:
    """JSON with one line per top-level key, and per entry of a top-level list."""
    lines = []
    for i, (key, item) in enumerate(value.items()):
        comma = "," if i < len(value) - 1 else ""
        if isinstance(item, list) and item:
            entries = ",\n  ".join(json.dumps(e) for e in item)
            lines.append(f" {json.dumps(key)}: [\n  {entries}\n ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(item)}{comma}")
    return "{\n" + "\n".join(lines) + "\n}\n"


# ------------------------------------------------------------------ the test


def _first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Where two JSON values first differ, with a diff of the texts there."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if list(expected) != list(actual):
            return f"{path or '.'}: keys {list(expected)} != {list(actual)}"
        for key in expected:
            found = _first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found = _first_difference(e, a, f"{path}[{i}]")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} entries expected, {len(actual)} found"
        return None
    if expected == actual and type(expected) is type(actual):
        return None
    if isinstance(expected, str) and isinstance(actual, str):
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), "pinned", "now", lineterm="", n=2
        )
        return f"{path}:\n" + "\n".join(list(diff)[:60])
    return f"{path}: pinned {expected!r}, now {actual!r}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_prompts_and_records_are_as_pinned(name: str) -> None:
    expected = golden_run(name)
    actual = run_config(name)
    assert expected["overrides"] == actual["overrides"]
    difference = _first_difference(expected, actual, name)
    assert difference is None, difference


def test_every_golden_file_is_a_pinned_configuration() -> None:
    files = {p.stem for p in GOLDEN.glob("*.json")} - {MESSAGES_FILE.stem}
    assert files == set(CONFIGS)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.test_method_prompts_pinned --update")
    update()
