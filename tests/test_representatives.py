import numpy as np
import pytest

from drp_bench.pipeline.representatives import select_representatives


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
