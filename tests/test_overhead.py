"""What keeps the harness's own time small: a WordNet reader that loads faster and reads the
same synsets, lazy imports (no torch unless a text must be embedded, no model library unless a
call misses the cache) and the model load time kept apart from call latencies."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from nltk import word_tokenize
from nltk.translate.meteor_score import single_meteor_score

from drp_bench.backends import bundled
from drp_bench.backends.base import ChatRequest, ChatResult, ProgressCallback, SamplingParams
from drp_bench.backends.pool import LOAD_S, LazyBackend
from drp_bench.config.models import ModelSpec
from drp_bench.metrics import nltk_data, text, wordnet_reader
from tests.conftest import REPO

HEAVY = ("torch", "sentence_transformers", "transformers", "llama_cpp", "lm_eval", "matplotlib")


@pytest.fixture(scope="module")
def readers():
    """NLTK's own WordNet reader (loaded) and this module's, both on the installed data."""
    from nltk.corpus import wordnet

    nltk_data.verify_nltk_data()
    wordnet.ensure_loaded()
    return wordnet, wordnet_reader.load_english_wordnet()


def test_english_wordnet_loads_the_same_indexes_without_the_multilingual_map(readers) -> None:
    nltk_reader, ours = readers
    assert ours.map30 is None and nltk_reader.map30  # the skipped map (OMW only)
    assert dict(ours._lemma_pos_offset_map) == dict(nltk_reader._lemma_pos_offset_map)
    assert ours._exception_map == nltk_reader._exception_map
    assert ours._lexnames == nltk_reader._lexnames
    assert ours.satellite_offsets == nltk_reader.satellite_offsets


def test_english_wordnet_synsets_are_nltks(readers) -> None:
    nltk_reader, ours = readers
    lemmas = sorted(nltk_reader._lemma_pos_offset_map)
    words = [*random.Random(0).sample(lemmas, 1500), "dogs", "running", "better", "went", "cds"]
    for word in words:
        expected = [(s.name(), s.lemma_names()) for s in nltk_reader.synsets(word)]
        assert [(s.name(), s.lemma_names()) for s in ours.synsets(word)] == expected, word


def test_meteor_with_english_wordnet_equals_nltk_default(readers) -> None:
    nltk_reader, ours = readers
    pairs = [
        ("The album is great, I loved every song.", "A fantastic record; I love all the tracks."),
        ("Boring music, bad production.", "Dull songs and poor sound quality overall."),
        ("This cd was a gift and she enjoyed it", "Bought this CD as a present, she likes it."),
    ]
    for pred, ref in pairs:
        hyp, refs = word_tokenize(pred), word_tokenize(ref)
        expected = single_meteor_score(refs, hyp, wordnet=nltk_reader, **text.METEOR_PARAMS)
        assert single_meteor_score(refs, hyp, wordnet=ours, **text.METEOR_PARAMS) == expected
        assert text._meteor_pair(pred, ref) == expected


def test_sequential_files_are_read_plainly_and_data_files_by_nltk(readers) -> None:
    _, ours = readers
    with ours.open("index.noun") as fh:
        assert type(fh).__module__ == "_io"
    assert type(ours.open("data.noun")).__module__ == "nltk.data"  # byte offsets: NLTK's reader


def _imported_after(code: str) -> list[str]:
    probe = code + f"\nimport sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return eval(proc.stdout.strip().splitlines()[-1])  # a list literal printed by the probe


def test_entry_points_import_no_model_library() -> None:
    code = (
        "import drp_bench, drp_bench.cli, drp_bench.api, drp_bench.run.hydra_app, "
        "drp_bench.run.execute"
    )
    assert _imported_after(code) == []


@pytest.mark.slow
def test_contexts_from_a_warm_embedding_cache_import_no_torch(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        from omegaconf import OmegaConf
        from drp_bench.api import compose_run_config
        from drp_bench.config.run_config import RunConfig
        from drp_bench.run.inputs import build_run_inputs
        cfg = compose_run_config(["method=drp", "dataset.limit=1", "num_retrieved=2",
                                  "cache.path={tmp_path / "calls.sqlite"}"])
        raw = OmegaConf.to_container(cfg, resolve=False)
        raw.pop("hydra")
        resolved = OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
        build_run_inputs(RunConfig.from_config(resolved))
        """
    )
    assert "torch" in _imported_after(code)  # cold: the embedding model is loaded
    assert (tmp_path / "embeddings.sqlite").is_file()
    assert _imported_after(code) == []  # warm: every vector from embeddings.sqlite


class _Echo:
    """A minimal backend (the Backend protocol): answers each request with its last message."""

    def __init__(self) -> None:
        self.identity = {"backend": "echo"}

    def chat(
        self, requests: Sequence[ChatRequest], on_result: ProgressCallback | None = None
    ) -> list[ChatResult]:
        return [ChatResult(text=r.messages[-1]["content"], latency_s=0.0) for r in requests]

    def close(self) -> None:
        pass


def test_model_load_time_is_recorded_and_logged_apart_from_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = yaml.safe_load((REPO / "conf" / "model" / "smollm2-135m.yaml").read_text())
    lazy = LazyBackend(ModelSpec.from_config(entry, "smollm2-135m"), opener=lambda spec: _Echo())
    assert lazy.load_s is None and not lazy.loaded
    request = ChatRequest(messages=({"role": "user", "content": "hi"},), sampling=SamplingParams())
    with caplog.at_level(logging.INFO, logger="drp_bench"):
        assert lazy.chat([request])[0].text == "hi"
        lazy.chat([request])  # loaded once
    loads = [r for r in caplog.records if hasattr(r, LOAD_S)]
    assert len(loads) == 1 and lazy.load_s is not None and lazy.load_s >= 0
    assert getattr(loads[0], LOAD_S) == lazy.load_s
    assert loads[0].getMessage().startswith("loaded SmolLM2-135M-Instruct in ")


def test_gguf_hash_memo_is_json_follows_the_file_and_survives_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bundled, "_memo", {})  # this process's memo: start empty
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF v1")
    memo = tmp_path / "cache" / "drp-bench" / "sha256.json"
    digest = hashlib.sha256(b"GGUF v1").hexdigest()
    assert bundled.file_sha256(model) == digest
    assert list(json.loads(memo.read_text()).values()) == [digest]  # plain JSON
    model.write_bytes(b"GGUF v2!")  # new size and mtime: hashed again
    assert bundled.file_sha256(model) == hashlib.sha256(b"GGUF v2!").hexdigest()
    monkeypatch.setattr(bundled, "_memo", {})
    memo.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="drp_bench"):
        assert bundled.file_sha256(model) == hashlib.sha256(b"GGUF v2!").hexdigest()
    assert f"ignoring the unreadable hash memo {memo}" in caplog.text
    assert len(json.loads(memo.read_text())) == 1  # rewritten, readable again
