"""Real run folders for the human-study tests: DRP and RAG on the bundled sample, every role
answered by a scripted backend (so a test knows what each run extracted, kept and wrote).

``make_runs(root)`` writes the runs of :data:`RUNS` under ``root`` (one shared call cache) and
returns their folders by name; tests/test_annotate_build.py and
tests/test_annotate_study_e2e.py build their studies from them.
"""

from __future__ import annotations

import json
from pathlib import Path

from drp_bench import evaluate
from drp_bench.backends.base import ChatResult
from drp_bench.data.types import Feature
from drp_bench.pipeline.parsing import format_features, parse_features

ROLES = ("extractor", "validator", "normalizer", "summarizer", "generator", "judge")
SMALL = ["dataset.limit=4", "num_retrieved=2", "num_users=2", "prompts.max_review_chars=300"]
EXTRACTED = [
    Feature("Tone", "how warm the words are", "warmer"),
    Feature("Slang", "informal words", "more slang"),
    Feature("Detail", "how much detail", "more detail"),
]
#: what the scripted validator keeps (it answers the names in capitals: compared loosely)
KEPT = {"Tone", "Detail"}
NORMALIZED = json.dumps(
    {"units": [{"text": "warmer words", "category": "Emotion", "valid": True,
                "key": "emotion/warmth/higher", "source_feature": "tone"}]}
)  # fmt: skip
METHODS = ("drp", "rag")
MODELS = ("SmolLM2-135M-Instruct", "Qwen2.5-1.5B-Instruct")


class Scripted:
    """Every role of one run: extracts EXTRACTED, keeps KEPT, writes a review naming
    ``word`` (so a test can tell which run wrote a text)."""

    def __init__(self, word: str):
        self.word = word
        self.identity = {"backend": "scripted-annotate", "word": word}

    def answer(self, prompt: str) -> str:
        if "[Candidate features]" in prompt:
            found = parse_features(prompt.split("[Candidate features]")[-1]).features
            return format_features(
                [Feature(f.name.upper(), f.definition, f.difference) for f in found
                 if f.name in KEPT]
            )  # fmt: skip
        if "Compare the target user's review" in prompt:
            return format_features(EXTRACTED)
        if "[Keys]" in prompt:
            return NORMALIZED
        if "[Summary]:" in prompt:
            return "[Summary]: terse"
        return f"[Review]: A {self.word} review of this record."

    def chat(self, requests, on_result=None):
        results = []
        for i, request in enumerate(requests):
            text = self.answer("\n\n".join(m["content"] for m in request.messages))
            result = ChatResult(text=text, prompt_tokens=10, completion_tokens=4)
            if on_result:
                on_result(i, result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


RUNS = {
    # name: (overrides, generator word)
    "drp-smol-uvq": (["method=drp", "uvq=true"], "amber"),
    "drp-qwen": (["method=drp", "model@extractor=qwen2.5-1.5b-instruct"], "cobalt"),
    "drp-qwen-novalidate": (
        ["method=drp", "model@extractor=qwen2.5-1.5b-instruct", "method.validate=false"],
        "denim",
    ),
    "rag": (["method=rag"], "crimson"),
}


def make_runs(root: Path) -> dict[str, Path]:
    """Every run of :data:`RUNS` as a finished run folder ``root/NAME``, by name."""
    out = {}
    for name, (overrides, word) in RUNS.items():
        cache = f"cache.path={root / 'calls.sqlite'}"
        backends = {role: Scripted(word) for role in ROLES}
        evaluate([*overrides, *SMALL, cache], out_dir=root / name, backends=backends)
        out[name] = root / name
    return out
