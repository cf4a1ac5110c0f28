import numpy as np

from drp_bench.pipeline.retrieval import ReviewerIndex, bm25_top, difference_items, reference_order

from .conftest import REPO, review


def test_bm25_ranks_the_profile_review_closest_to_the_target_first(tiny_dataset):
    sample = tiny_dataset.samples[0]
    top = bm25_top(sample.profile, sample.target, tiny_dataset.items, k=2)
    assert next(r.asin for r in top) == "A"  # jazz/saxophone matches the jazz target
    assert len(top) == 2


def test_bm25_keeps_at_most_k_and_handles_empty_input(tiny_dataset):
    sample = tiny_dataset.samples[0]
    assert len(bm25_top(sample.profile, sample.target, tiny_dataset.items, k=10)) == 3
    assert bm25_top([], sample.target, tiny_dataset.items, k=3) == []


def test_reviewer_index_excludes_the_user_themself(tiny_dataset):
    index = ReviewerIndex(tiny_dataset.samples)
    assert set(index.others("A", "u1")) == {"u2", "u3"}
    assert index.others("C", "u1") == {}
    assert index.others("unknown", "u1") == {}


def test_difference_items_need_enough_other_reviewers(tiny_dataset):
    index = ReviewerIndex(tiny_dataset.samples)
    sample = tiny_dataset.samples[0]
    two = difference_items(sample, index, tiny_dataset.items, num_users=2, num_retrieved=8)
    assert sorted(r.asin for r in two) == ["A", "B"]
    three = difference_items(sample, index, tiny_dataset.items, num_users=3, num_retrieved=8)
    assert three == []
    capped = difference_items(sample, index, tiny_dataset.items, num_users=2, num_retrieved=1)
    # Two documents: a term in one of them has BM25Okapi idf log(1.5 / 1.5) = 0, so both score 0
    # and the reference's reversed argsort puts the later profile review first.
    assert [r.asin for r in capped] == ["B"]


def test_review_title_counts_in_the_bm25_document(tiny_dataset):
    target = review("X", "saxophone", "")
    profile = [review("Q", "drums", "x"), review("R", "saxophone", "y"), review("S", "piano", "z")]
    top = bm25_top(profile, target, {}, k=1)
    assert top[0].asin == "R"


# ---------------------------------------------------------------- ties, as the reference orders


def _reference_top(candidates, target, items, k):
    """What DPL/DRP's ``get_selected_profile`` returns: rank_bm25's own ``get_top_n``."""
    from rank_bm25 import BM25Okapi

    corpus = [f"{r.title} {items[r.asin].description if r.asin in items else ''}".split()
              for r in candidates]  # fmt: skip
    query = f"{target.title} {items[target.asin].description if target.asin in items else ''}"
    return BM25Okapi(corpus).get_top_n(query.split(), list(candidates), n=k)


def test_reference_order_is_the_reversed_argsort():
    scores = [0.5, 2.0, 0.5, 1.0, 0.5]
    assert reference_order(scores) == [int(i) for i in np.argsort(scores)[::-1]]
    assert reference_order(scores)[:2] == [1, 3]
    assert sorted(reference_order(scores)[2:]) == [0, 2, 4]


def test_all_tied_scores_come_out_newest_first():
    # No candidate shares a token with the query: every BM25 score is 0. The reference's
    # reversed argsort then returns the candidates in reverse profile order (the newest
    # reviews, profiles being oldest first); a stable sort would have kept the oldest.
    profile = [review(a, "drums", "x", ts=i) for i, a in enumerate("PQRSTU")]
    target = review("X", "saxophone", "")
    top = bm25_top(profile, target, {}, k=3)
    assert [r.asin for r in top] == ["U", "T", "S"]
    assert top == _reference_top(profile, target, {}, 3)


def test_ties_among_unequal_scores_follow_the_reference_call():
    # Two groups of tied documents around one match, 40 candidates (numpy's default argsort is
    # not stable: only the same call gives the same order of ties).
    titles = ["drums", "saxophone solo", "drums piano", "saxophone"] * 10
    profile = [review(f"I{i:02d}", t, "x", ts=i) for i, t in enumerate(titles)]
    target = review("X", "saxophone", "")
    for k in (1, 5, 8, 40):
        assert bm25_top(profile, target, {}, k=k) == _reference_top(profile, target, {}, k)


def test_bm25_top_equals_the_reference_on_every_bundled_sample():
    from drp_bench.data import load_dataset

    dataset = load_dataset(REPO / "drp_bench" / "sample_data" / "music_sample", None)
    for s in dataset.samples:
        expected = _reference_top(s.profile, s.target, dataset.items, 8)
        assert bm25_top(s.profile, s.target, dataset.items, k=8) == expected, s.sample_id
