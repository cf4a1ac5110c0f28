import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from drp_bench.config.run_config import BUNDLED_EMBEDDER, EmbedderSpec
from drp_bench.pipeline.representatives import (
    Embedder,
    resolve_embedder_path,
    select_representatives,
)
from drp_bench.storage.embedding_cache import (
    EmbeddingCache,
    embedding_cache_path,
    embedding_key,
    folder_fingerprint,
)
from tests.conftest import require


def test_representatives_come_from_clusters_without_the_target():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    target = centres[0] + 0.01
    others = np.vstack([c + rng.normal(0, 0.1, size=(4, 2)) for c in centres])
    picked = select_representatives(target, others, num_users=3, seed=42)
    assert len(picked) == 3
    chosen_centres = {
        tuple(centres[np.argmin(np.linalg.norm(centres - others[i], axis=1))]) for i in picked
    }
    assert chosen_centres == {(10.0, 0.0), (0.0, 10.0), (10.0, 10.0)}


def test_representative_is_the_member_closest_to_its_cluster_centre():
    target = np.array([0.0, 0.0])
    others = np.array([[10.0, 0.0], [10.0, 0.1], [10.0, 0.2], [0.1, 0.0]])
    picked = select_representatives(target, others, num_users=1, seed=42)
    assert picked == [1]


def test_selection_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    others = rng.normal(size=(30, 8))
    target = rng.normal(size=8)
    assert select_representatives(target, others, 4, seed=42) == select_representatives(
        target, others, 4, seed=42
    )


def test_too_few_other_reviews_is_an_error():
    with pytest.raises(ValueError, match="at least 4"):
        select_representatives(np.zeros(2), np.ones((2, 2)), num_users=4)


# ---------------------------------------------------------------- embeddings and their cache

REVIEWS = [
    "Smooth and warm saxophone, a late-night record I keep coming back to.",
    "Too loud for me; the drums drown every melody.",
    "Gentle acoustic stories about rural life, beautifully sung.",
    "Smooth and warm saxophone, a late-night record I keep coming back to.",  # repeated
]


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    require("sentence_transformers", "sentence-transformers")
    return Path(resolve_embedder_path(BUNDLED_EMBEDDER))


def test_a_second_embedder_on_the_same_cache_embeds_nothing(minilm_folder, tmp_path) -> None:
    cache = tmp_path / "embeddings.sqlite"
    first = Embedder(EmbedderSpec(), cache_path=cache)
    vectors = first.encode(REVIEWS)
    first.close()
    assert first.texts_encoded == 3  # distinct texts, each once
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    second = Embedder(EmbedderSpec(), cache_path=cache)
    again = second.encode(REVIEWS)
    second.close()
    assert second.texts_encoded == 0 and second._model is None  # not even loaded
    assert np.array_equal(again, vectors)


def test_vectors_are_stored_as_float32_bytes(minilm_folder, tmp_path) -> None:
    cache = tmp_path / "embeddings.sqlite"
    embedder = Embedder(EmbedderSpec(), cache_path=cache)
    vector = embedder.encode(REVIEWS[:1])[0]
    embedder.close()
    with sqlite3.connect(cache) as conn:
        ((key, dim, blob),) = conn.execute("SELECT key, dim, vector FROM embeddings").fetchall()
    assert key == embedding_key(embedder.identity, REVIEWS[0]) and dim == 384
    assert blob == vector.astype("<f4").tobytes()


def _copy_with_prompt(src: Path, dst: Path) -> Path:
    """A copy of a model folder whose sentence-transformers config adds a "query" prompt."""
    shutil.copytree(src, dst)
    config = dst / "config_sentence_transformers.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "prompts": {"query": "query: "}}))
    return dst


def test_another_model_identity_misses(minilm_folder, tmp_path) -> None:
    cache = tmp_path / "embeddings.sqlite"
    base = Embedder(EmbedderSpec(), cache_path=cache)
    vectors = base.encode(REVIEWS)
    copy = str(_copy_with_prompt(minilm_folder, tmp_path / "model"))
    # the same weights under another name, with one config file changed: another fingerprint
    changed = Embedder(EmbedderSpec(model=copy), cache_path=cache)
    assert changed.identity["fingerprint"] != base.identity["fingerprint"]
    assert np.allclose(changed.encode(REVIEWS), vectors, atol=1e-5)  # no prompt used
    assert changed.texts_encoded == 3
    # a prompt is part of the identity (and changes the vectors)
    query = Embedder(EmbedderSpec(model=copy, prompt_name="query"), cache_path=cache)
    assert query.identity["prompt_name"] == "query"
    assert not np.allclose(query.encode(REVIEWS), vectors, atol=1e-3)
    assert query.texts_encoded == 3
    for e in (base, changed, query):
        e.close()


def test_without_a_cache_path_nothing_is_written(minilm_folder, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    embedder = Embedder(EmbedderSpec(), cache_path=None)
    embedder.encode(REVIEWS)
    embedder.encode(REVIEWS)
    assert embedder.texts_encoded == 3 and list(tmp_path.iterdir()) == []


def test_folder_fingerprint_follows_file_changes(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * (9 << 20))  # hashed by size and edges
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "lock").write_text("x")
    first = folder_fingerprint(tmp_path)
    (tmp_path / ".cache" / "lock").write_text("y")  # hidden: ignored
    assert folder_fingerprint(tmp_path) == first
    weights.write_bytes(b"\0" * (9 << 20) + b"\1")
    second = folder_fingerprint(tmp_path)
    assert second != first
    (tmp_path / "config.json").write_text('{"a": 1}')
    assert folder_fingerprint(tmp_path) not in (first, second)


def test_embedding_cache_lives_next_to_the_call_cache(tmp_path) -> None:
    assert embedding_cache_path(tmp_path / "calls.sqlite") == tmp_path / "embeddings.sqlite"
    assert embedding_cache_path(None) is None
    with EmbeddingCache(tmp_path / "e.sqlite") as cache:
        assert cache.put_many([("k", np.array([1.5, -2.0]))]) == 1
        assert cache.put_many([("k", np.array([9.0, 9.0]))]) == 0  # the first stays
        assert cache.get_many(["k", "missing"])["k"].tolist() == [1.5, -2.0]
        assert len(cache) == 1


def _embedder_spec(overrides: list[str]) -> EmbedderSpec:
    from hydra import compose, initialize_config_dir

    from drp_bench.config.run_config import RunConfig
    from drp_bench.resources import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return RunConfig.from_config(OmegaConf.to_container(cfg, resolve=True)).embedder


def test_the_paper_embedder_is_expressible_in_the_config() -> None:
    # DRP 0_prepare_diff_inputs.py: SentenceTransformer("Alibaba-NLP/gte-Qwen2-1.5B-instruct"),
    # encode(texts, batch_size=8) without a prompt: reviews embedded as documents
    paper = ["embedding.model=Alibaba-NLP/gte-Qwen2-1.5B-instruct", "embedding.batch_size=8"]
    spec = _embedder_spec(paper)
    assert spec == EmbedderSpec("Alibaba-NLP/gte-Qwen2-1.5B-instruct", 8, "cpu", None, "float64")
    assert _embedder_spec(["embedding.prompt_name=query"]).prompt_name == "query"


# ---------------------------------------------------------------- CPU-independent arithmetic


def test_float64_precision_breaks_near_ties_by_the_first_member():
    # four members around the centre (10, 0): the first and second are 1 from it but for
    # 5e-13 (the second is nearer); that is a tie, and the first (the others are sorted by
    # user id) wins, as on any machine whatever its rounding
    target = np.array([-50.0, 0.0])
    others = np.array([[9.0, 0.0], [11.0 - 1e-12, 0.0], [10.0, 5.0], [10.0, -5.0]])
    assert select_representatives(target, others, 1, precision="float64") == [0]
    centre = others.mean(axis=0)
    assert np.argmin(np.linalg.norm(others - centre, axis=1)) == 1  # the exact minimum


def test_float64_precision_keeps_real_differences():
    target = np.array([0.0, 0.0])
    others = np.array([[10.0, 1.0], [10.0, 0.5], [10.0, -1.2]])
    # the centre is (10, 0.1): the second member is nearest by far more than the tolerance
    assert select_representatives(target, others, 1, precision="float64") == [1]


def test_unknown_precision_is_an_error_naming_the_setting():
    with pytest.raises(ValueError, match=r"embedding\.precision"):
        EmbedderSpec(precision="bfloat16")


def test_float64_vectors_have_their_own_cache_keys_and_float32_keeps_the_old_ones():
    float32 = Embedder(EmbedderSpec(model=BUNDLED_EMBEDDER, precision="float32")).identity
    float64 = Embedder(EmbedderSpec(model=BUNDLED_EMBEDDER, precision="float64")).identity
    assert "precision" not in float32  # the keys of caches written before the setting
    assert float64 == {**float32, "precision": "float64"}
    assert embedding_key(float32, "a review") != embedding_key(float64, "a review")


def test_float64_embeddings_are_rounded_to_float32_and_close_to_the_float32_model():
    texts = ["A warm, lush record.", "Thin production, but the songs hold up."]
    v32 = Embedder(EmbedderSpec(precision="float32")).encode(texts)
    v64 = Embedder(EmbedderSpec(precision="float64")).encode(texts)
    assert v64.dtype == np.float32
    assert np.abs(v64 - v32).max() < 1e-5  # the same model: only rounding differs
