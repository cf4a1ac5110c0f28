from drp_bench.pipeline.retrieval import ReviewerIndex, bm25_top, difference_items

from .conftest import review


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
    assert [r.asin for r in capped] == ["A"]


def test_review_title_counts_in_the_bm25_document(tiny_dataset):
    target = review("X", "saxophone", "")
    profile = [review("Q", "drums", "x"), review("R", "saxophone", "y"), review("S", "piano", "z")]
    top = bm25_top(profile, target, {}, k=1)
    assert top[0].asin == "R"
