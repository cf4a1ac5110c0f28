"""BM25 retrieval over a user's profile and the index of other reviewers per item."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from rank_bm25 import BM25Okapi

from drp_bench.data.types import Item, Review, Sample


def _document(review: Review, items: dict[str, Item]) -> list[str]:
    item = items.get(review.asin)
    description = item.description if item else ""
    return f"{review.title} {description}".split()


def _query(target: Review, items: dict[str, Item]) -> list[str]:
    return _document(target, items)


def bm25_top(
    candidates: Sequence[Review], target: Review, items: dict[str, Item], k: int
) -> list[Review]:
    """The ``k`` candidates most relevant to the target (BM25, whitespace tokens).

    Document = review title + item description; query = target review title + target item
    description, as in the DPL/DRP code; ties ordered as there (:func:`reference_order`).
    """
    if not candidates or k <= 0:
        return []
    corpus = [_document(r, items) or [""] for r in candidates]
    scores = BM25Okapi(corpus).get_scores(_query(target, items))
    return [candidates[i] for i in reference_order(scores)[:k]]


def latest_reviews(profile: Sequence[Review], target: Review, n: int) -> list[Review]:
    """The ``n`` latest profile reviews not dated after the target, by timestamp (ties: later
    in the profile), oldest first: LLM-TRSR's recent items (``method.recent_reviews``)."""
    earlier = [r for r in profile if r.timestamp <= target.timestamp]
    return sorted(earlier, key=lambda r: r.timestamp)[-n:]  # stable: profile order on ties


def reference_order(scores: Sequence[float] | np.ndarray) -> list[int]:
    """Indices best first, by the very call of the DPL/DRP code (rank_bm25 ``get_top_n``:
    ``np.argsort(scores)[::-1]``).

    Equal scores come out in reverse index order when numpy sorts them stably (all scores equal:
    the last candidates, i.e. the newest profile reviews, first). numpy's default ``argsort``
    is not a stable sort, though: with ties among unequal scores their order is whatever
    numpy's quicksort (version and CPU dependent, e.g. its AVX-512 kernels) gives, so only the
    same call reproduces the reference's order.
    """
    return [int(i) for i in np.argsort(np.asarray(scores))[::-1]]


class ReviewerIndex:
    """item -> {user_id: that user's review of it}, over the profiles of a split's samples."""

    def __init__(self, samples: Sequence[Sample]):
        self._by_item: dict[str, dict[str, Review]] = defaultdict(dict)
        for sample in samples:
            for review in sample.profile:
                self._by_item[review.asin].setdefault(sample.user_id, review)

    def others(self, asin: str, user_id: str) -> dict[str, Review]:
        """Reviews of ``asin`` by users other than ``user_id``, keyed by user."""
        return {u: r for u, r in self._by_item.get(asin, {}).items() if u != user_id}


def difference_items(
    sample: Sample,
    index: ReviewerIndex,
    items: dict[str, Item],
    num_users: int,
    num_retrieved: int,
) -> list[Review]:
    """Profile reviews whose item at least ``num_users`` other users reviewed, BM25 top-k."""
    eligible = [r for r in sample.profile if len(index.others(r.asin, sample.user_id)) >= num_users]
    return bm25_top(eligible, sample.target, items, num_retrieved)
