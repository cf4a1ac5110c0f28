"""Per-sample context: retrieved past reviews and the items to compare on, with representatives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from drp_bench.data.types import Dataset, Review, Sample
from drp_bench.methods.spec import PEER_CANDIDATE_RULES
from drp_bench.pipeline.representatives import Embedder, kmeans_threads, select_representatives
from drp_bench.pipeline.retrieval import (
    ReviewerIndex,
    bm25_top,
    difference_items,
    latest_reviews,
)


@dataclass(frozen=True)
class ComparisonItem:
    """A profile item the user shares with others: the user's review and the representatives'."""

    review: Review
    representatives: tuple[Review, ...]
    representative_users: tuple[str, ...]


@dataclass(frozen=True)
class Neighbour:
    """Another user of the pool similar to the sample's user (P-DB): the cosine similarity of
    their mean review embeddings, and their reviews BM25-ranked against the target (the target
    item's review left out)."""

    user_id: str
    similarity: float
    reviews: tuple[Review, ...]


@dataclass(frozen=True)
class PeerChoice:
    """The ``peer`` context: another real user's review of the sample's target item, the one
    nearest (cosine of embeddings) to the mean of the user's profile reviews; ties by user id.
    ``candidates``: the reviews the rule let it choose from; ``review`` None: none (the sample
    is excluded)."""

    review: Review | None
    user_id: str | None
    similarity: float | None
    candidates: int
    rule: str = "before_target"  # which reviews were candidates (PEER_CANDIDATE_RULES)


@dataclass(frozen=True)
class SampleContext:
    sample: Sample
    past_reviews: tuple[Review, ...]
    comparisons: tuple[ComparisonItem, ...]
    neighbours: tuple[Neighbour, ...] = ()
    peer: PeerChoice | None = None

    def named(self) -> dict[str, Any]:
        """The contexts under the names stages read them by (methods.contracts.CONTEXTS)."""
        return {
            "past_reviews": self.past_reviews,
            "comparisons": self.comparisons,
            "profile": self.sample.profile,
            "neighbours": self.neighbours,
            "peer": self.peer,
        }


def build_contexts(
    dataset: Dataset,
    past_reviews: bool,
    differences: bool,
    num_retrieved: int,
    num_users: int,
    seed: int,
    embedder: Embedder | None,
    pool: Sequence[Sample] | None = None,
    neighbours: int = 0,
    peer: bool = False,
    peer_rule: str = "before_target",
    recent_reviews: int | None = None,
) -> list[SampleContext]:
    """Context of every sample; ``pool`` (default: the dataset's own samples) gives other users.

    ``neighbours`` > 0 builds the neighbours context: that many most similar other users of
    the pool (:func:`similar_users`), each with their ``num_retrieved`` best reviews.
    ``peer`` builds the peer context, its candidates chosen by ``peer_rule``
    (:data:`drp_bench.methods.spec.PEER_CANDIDATE_RULES`). ``recent_reviews`` (LLM-TRSR) makes
    the past reviews the user's that many latest ones (:func:`latest_reviews`), not BM25's."""
    index = ReviewerIndex(pool if pool is not None else dataset.samples)
    users = (
        UserVectors(pool if pool is not None else dataset.samples, embedder) if neighbours else None
    )
    if differences and embedder is None:
        raise ValueError("difference-aware methods need an embedder")
    chosen = [
        difference_items(sample, index, dataset.items, num_users, num_retrieved)
        if differences
        else []
        for sample in dataset.samples
    ]
    if differences:
        preload = getattr(embedder, "preload", None)  # a test's stand-in may only ``encode``
        if preload is not None:  # one read of the persistent cache for every compared text
            preload(
                [
                    t
                    for s, c in zip(dataset.samples, chosen, strict=True)
                    for t in _texts(s, c, index)
                ]
            )
    # pass 1: every embedding call in the same order and batches as ever (a text's vector
    # depends to the last bit on the batch it is embedded in, and K-means on that), BM25,
    # neighbours, peers
    parts = []
    for sample, reviews in zip(dataset.samples, chosen, strict=True):
        for review in reviews:
            embedder.encode(_texts(sample, [review], index))  # type: ignore[union-attr]
        past = _past_reviews(sample, dataset, num_retrieved, recent_reviews) if past_reviews else ()
        near: tuple[Neighbour, ...] = ()
        if users is not None:
            near = tuple(
                Neighbour(
                    user_id,
                    similarity,
                    tuple(
                        bm25_top(
                            [r for r in users.profiles[user_id] if r.asin != sample.target.asin],
                            sample.target,
                            dataset.items,
                            num_retrieved,
                        )
                    ),
                )
                for user_id, similarity in users.most_similar(sample, neighbours)
            )
        chosen_peer = peer_choice(sample, index, embedder, peer_rule) if peer else None
        parts.append((past, near, chosen_peer))
    # pass 2: the representatives' K-means fits (vectors from memory), one OpenMP thread
    with kmeans_threads():
        comparisons = [
            tuple(
                _compare(sample.user_id, review, index, num_users, seed, embedder)  # type: ignore[arg-type]
                for review in reviews
            )
            for sample, reviews in zip(dataset.samples, chosen, strict=True)
        ]
    return [
        SampleContext(sample, past, compared, near, chosen_peer)
        for sample, compared, (past, near, chosen_peer) in zip(
            dataset.samples, comparisons, parts, strict=True
        )
    ]


def _texts(sample: Sample, reviews: Sequence[Review], index: ReviewerIndex) -> list[str]:
    """What :func:`_compare` embeds for each of ``reviews``: its text, then the other
    reviewers' texts by user id."""
    return [
        text
        for review in reviews
        for text in (
            review.text,
            *(r.text for _, r in sorted(index.others(review.asin, sample.user_id).items())),
        )
    ]


def _past_reviews(
    sample: Sample, dataset: Dataset, num_retrieved: int, recent_reviews: int | None
) -> tuple[Review, ...]:
    """The past_reviews context: BM25's top ``num_retrieved``, or the ``recent_reviews`` latest."""
    if recent_reviews is not None:
        return tuple(latest_reviews(sample.profile, sample.target, recent_reviews))
    return tuple(bm25_top(sample.profile, sample.target, dataset.items, num_retrieved))


def peer_choice(
    sample: Sample,
    index: ReviewerIndex,
    embedder: Embedder | None,
    rule: str = "before_target",
) -> PeerChoice:
    """The ``peer`` context of a sample: among the pool's other reviewers of its target item
    (their profile reviews, as for representatives) that ``rule`` admits
    (:func:`peer_candidates`), the review nearest to the user's history (:func:`similar_users`
    on the mean embedding of the profile reviews; ties by user id)."""
    others = peer_candidates(sample, index, rule)
    if not others:
        return PeerChoice(None, None, None, 0, rule)
    if embedder is None:
        raise ValueError("the peer context needs an embedder")
    users = sorted(others)
    vectors = embedder.encode([others[u].text for u in users]).astype(np.float64)
    if not sample.profile:  # no history to compare with: the first by user id
        return PeerChoice(others[users[0]], users[0], None, len(users), rule)
    history = embedder.encode([r.text for r in sample.profile]).astype(np.float64).mean(axis=0)
    (user_id, similarity), *_ = similar_users(history, dict(zip(users, vectors, strict=True)), 1)
    return PeerChoice(others[user_id], user_id, round(similarity, 6), len(users), rule)


def peer_candidates(sample: Sample, index: ReviewerIndex, rule: str) -> dict[str, Review]:
    """The other users' reviews of the sample's target item that ``rule`` admits, by user:
    ``before_target``, those whose timestamp is strictly smaller than the target review's
    (the same unit: one dataset's reviews share it); ``any``, all of them."""
    if rule not in PEER_CANDIDATE_RULES:
        raise ValueError(f"peer_candidates: expected one of {PEER_CANDIDATE_RULES}, found {rule!r}")
    others = index.others(sample.target.asin, sample.user_id)
    if rule == "any":
        return others
    return {u: r for u, r in others.items() if r.timestamp < sample.target.timestamp}


class UserVectors:
    """One vector per user: the mean of the embeddings of the texts of the user's profile
    reviews (the pool's users: the first sample of each; the persistent embedding cache
    keeps every text's vector)."""

    def __init__(self, pool: Sequence[Sample], embedder: Embedder | None):
        if embedder is None:
            raise ValueError("the neighbours context needs an embedder")
        self.embedder = embedder
        self.profiles: dict[str, tuple[Review, ...]] = {}
        for sample in pool:
            if sample.profile:
                self.profiles.setdefault(sample.user_id, sample.profile)
        texts = [r.text for profile in self.profiles.values() for r in profile]
        embedder.encode(texts)  # one batch for the whole pool (then from memory)
        self._vectors: dict[str, np.ndarray] = {}

    def vector(self, reviews: Sequence[Review]) -> np.ndarray:
        return self.embedder.encode([r.text for r in reviews]).astype(np.float64).mean(axis=0)

    def user(self, user_id: str) -> np.ndarray:
        if user_id not in self._vectors:
            self._vectors[user_id] = self.vector(self.profiles[user_id])
        return self._vectors[user_id]

    def most_similar(self, sample: Sample, k: int) -> list[tuple[str, float]]:
        """The ``k`` other users with the highest cosine similarity to the sample's user (its
        own profile's vector), best first; ties by user id."""
        if not sample.profile:
            return []
        return similar_users(
            self.vector(sample.profile),
            {u: self.user(u) for u in self.profiles if u != sample.user_id},
            k,
        )


def similar_users(
    target: np.ndarray, others: dict[str, np.ndarray], k: int
) -> list[tuple[str, float]]:
    """The ``k`` users of ``others`` most cosine-similar to ``target``, best first (ties by
    user id), with their similarity."""

    def cosine(v: np.ndarray) -> float:
        norm = float(np.linalg.norm(target) * np.linalg.norm(v))
        return float(np.dot(target, v) / norm) if norm else 0.0

    scored = sorted(((-cosine(v), u) for u, v in others.items()))
    return [(u, -score) for score, u in scored[:k]]


def _compare(
    user_id: str,
    review: Review,
    index: ReviewerIndex,
    num_users: int,
    seed: int,
    embedder: Embedder,
) -> ComparisonItem:
    others = sorted(index.others(review.asin, user_id).items())
    users = [u for u, _ in others]
    texts = [r.text for _, r in others]
    vectors = embedder.encode([review.text, *texts])
    # a test's stand-in embedder may have no precision: the reference's float32 arithmetic
    precision = getattr(embedder, "precision", "float32")
    picked = select_representatives(vectors[0], vectors[1:], num_users, seed, precision)
    return ComparisonItem(
        review=review,
        representatives=tuple(others[i][1] for i in picked),
        representative_users=tuple(users[i] for i in picked),
    )
