"""Per-sample context: retrieved past reviews and the items to compare on, with representatives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drp_bench.pipeline.representatives import Embedder, select_representatives
from drp_bench.pipeline.retrieval import ReviewerIndex, bm25_top, difference_items
from drp_bench.records import Dataset, Review, Sample


@dataclass(frozen=True)
class ComparisonItem:
    """A profile item the user shares with others: the user's review and the representatives'."""

    review: Review
    representatives: tuple[Review, ...]
    representative_users: tuple[str, ...]


@dataclass(frozen=True)
class SampleContext:
    sample: Sample
    past_reviews: tuple[Review, ...]
    comparisons: tuple[ComparisonItem, ...]

    def named(self) -> dict[str, Any]:
        """The contexts under the names stages read them by (methods.contracts.CONTEXTS)."""
        return {
            "past_reviews": self.past_reviews,
            "comparisons": self.comparisons,
            "profile": self.sample.profile,
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
) -> list[SampleContext]:
    """Context of every sample; ``pool`` (default: the dataset's own samples) gives other users."""
    index = ReviewerIndex(pool if pool is not None else dataset.samples)
    contexts = []
    for sample in dataset.samples:
        past = (
            tuple(bm25_top(sample.profile, sample.target, dataset.items, num_retrieved))
            if past_reviews
            else ()
        )
        comparisons: tuple[ComparisonItem, ...] = ()
        if differences:
            if embedder is None:
                raise ValueError("difference-aware methods need an embedder")
            chosen = difference_items(sample, index, dataset.items, num_users, num_retrieved)
            comparisons = tuple(
                _compare(sample.user_id, review, index, num_users, seed, embedder)
                for review in chosen
            )
        contexts.append(SampleContext(sample, past, comparisons))
    return contexts


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
    picked = select_representatives(vectors[0], vectors[1:], num_users, seed)
    return ComparisonItem(
        review=review,
        representatives=tuple(others[i][1] for i in picked),
        representative_users=tuple(users[i] for i in picked),
    )
