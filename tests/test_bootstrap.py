"""Bootstrap confidence intervals and the paired bootstrap test, on real review pairs."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu

from drp_bench.metrics import bootstrap, nltk_data, text
from tests.test_metrics import PAIRS as METRIC_PAIRS

# Real Amazon 2014 Digital Music reviews: two reviewers of the same item (asin in the comment).
MORE_PAIRS = [
    (  # B00000053B
        "i cant get enough of this CD. all the songs are STR8. this CD is a musy buy.",
        "i like these cd that  he  has in amazon  we really like his singingand you can to like "
        "him",
    ),
    (  # B00000053Q
        "ONE DAY HAS ALWAYS BEEN A FAVORITE OF MINE FROM UGK. I HAD TO REPLACE THIS CD IN MY "
        "COLLECTION.",
        "great cd my favorite from ugk. rip pimp c this cd looks better then the original i used "
        "to own.",
    ),
    (  # B000001DUP
        "James Brown is the man!! and this is his best single disc collection. Simply "
        "amazing..buy this album NOW!!",
        "This should have had Livin' in America!!! That song would make it complete!!!!!!",
    ),
    (  # B000001EG6
        "Love the album.  Love the mix.  I just wish there were more multi-channel SACDs on the "
        "market.",
        "Empty Sky was is first, but this is what set his career off and running.  Some good tunes "
        "on this one.",
    ),
    (  # B000001EGI
        "This is a great live recording that you don't often hear about.  Recorded when he only "
        "had one album out.",
        "This early EJ is like magic.  You can see the start of the growth of a very gifted "
        "musician!!",
    ),
    (  # B000001A6X
        "Songs in the Key of Life is wonderful, perhaps the best 5 albums ever.  Stevie Wonder is "
        "a genius.",
        "A very summery record in my opinion.  I don't like to play this out of the summer months",
    ),
    (  # B000001A5X
        "Yes, it really is that good... just check out the other reviews here",
        "One of the most influential records on my life.  One that stays in the mind and "
        "consciousness for years",
    ),
    (  # B00000163G
        "Its always great to throw on some 2Pac no matter what kind of mood your in. Its great to "
        "have it on vinyl.",
        "first and best double disc album(everybody just HAS to do one now) from the greatest "
        "rapper of all time.",
    ),
]
PAIRS = METRIC_PAIRS + MORE_PAIRS
PREDS = [p for p, _ in PAIRS]
REFS = [r for _, r in PAIRS]
N = 1000


@pytest.fixture(scope="module")
def values() -> dict[str, np.ndarray]:
    nltk_data.verify_nltk_data()
    return {m: bootstrap.sample_values(PREDS, REFS, m) for m in bootstrap.METRICS}


@pytest.mark.parametrize("metric", bootstrap.METRICS)
def test_ci_contains_the_corpus_point_estimate(values, metric) -> None:
    point, low, high = bootstrap.bootstrap_ci_values(values[metric], metric, N, seed=0)
    corpus = {
        "bleu": text.bleu(PREDS, REFS),
        "meteor": text.meteor(PREDS, REFS),
        "rouge1": text.rouge(PREDS, REFS)["rouge1_mean"],
        "rougeL": text.rouge(PREDS, REFS)["rougeL_mean"],
    }[metric]
    assert point == pytest.approx(corpus, abs=1e-9)
    assert low < point < high


def test_ci_from_texts_equals_ci_from_precomputed_values(values) -> None:
    per_sample = text.per_sample_scores(PREDS, REFS)
    meteor_values = [s["meteor"] for s in per_sample]
    assert bootstrap.bootstrap_ci(PREDS, REFS, "meteor") == bootstrap.bootstrap_ci_values(
        meteor_values, "meteor"
    )
    assert bootstrap.bootstrap_ci(PREDS, REFS, "bleu") == bootstrap.bootstrap_ci_values(
        values["bleu"], "bleu"
    )


@pytest.mark.parametrize("metric", ["bleu", "rouge1"])
def test_ci_is_deterministic_for_a_seed(values, metric) -> None:
    first = bootstrap.bootstrap_ci_values(values[metric], metric, N, seed=7)
    assert bootstrap.bootstrap_ci_values(values[metric], metric, N, seed=7) == first
    assert bootstrap.bootstrap_ci_values(values[metric], metric, N, seed=8) != first


@pytest.mark.parametrize("metric", bootstrap.METRICS)
def test_ci_narrows_with_more_samples(values, metric) -> None:
    # 16 copies of the 12 pairs: ~4x narrower interval (1/sqrt(16)), relative to the point.
    # (BLEU's point moves too: no 3-/4-gram matches here, and sacrebleu's 'exp' smoothing of a
    # zero count divides by the n-gram total, which grows with the corpus.)
    small = bootstrap.bootstrap_ci_values(values[metric], metric, N, seed=0)
    tiled = np.concatenate([values[metric]] * 16)
    large = bootstrap.bootstrap_ci_values(tiled, metric, N, seed=0)
    if metric != "bleu":
        assert large[0] == pytest.approx(small[0], abs=1e-9)
    assert (large[2] - large[1]) / large[0] < 0.4 * (small[2] - small[1]) / small[0]


def test_bleu_resamples_equal_corpus_bleu_of_the_resampled_texts(values) -> None:
    weights = bootstrap.resample_weights(len(PAIRS), 5, seed=3)
    dist = bootstrap.bootstrap_distribution(values["bleu"], "bleu", 5, seed=3)
    for row, resampled in zip(weights, dist, strict=True):
        idx = [i for i, count in enumerate(row) for _ in range(count)]
        hyps, refs = [PREDS[i] for i in idx], [REFS[i] for i in idx]
        assert resampled == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)


@pytest.mark.parametrize("metric", bootstrap.METRICS)
def test_paired_pvalue_is_one_for_identical_systems(values, metric) -> None:
    p = bootstrap.paired_bootstrap_pvalue_values(values[metric], values[metric], metric, N)
    assert p == 1.0


@pytest.mark.parametrize("metric", ["bleu", "rouge1", "rougeL"])
def test_paired_pvalue_is_minimal_for_clearly_different_systems(metric) -> None:
    # system A copies the references, system B is the other reviewer's text
    p = bootstrap.paired_bootstrap_pvalue(REFS, PREDS, REFS, metric, n_resamples=N, seed=0)
    assert p == pytest.approx(1 / (N + 1))


def test_paired_pvalue_is_large_for_systems_differing_in_one_sample(values) -> None:
    other = list(PREDS)
    other[0] = "This is my first John Elton album and it was the best one."  # ROUGE-1 6 -> 8
    p = bootstrap.paired_bootstrap_pvalue(PREDS, other, REFS, "rouge1", n_resamples=N, seed=0)
    assert p > 0.2


def test_bad_arguments_are_rejected(values) -> None:
    with pytest.raises(ValueError, match="metric: expected one of"):
        bootstrap.bootstrap_ci(PREDS, REFS, "bertscore")
    with pytest.raises(ValueError, match=r"bleu values: expected shape \(n, 10\)"):
        bootstrap.bootstrap_ci_values(values["rouge1"], "bleu")
    with pytest.raises(ValueError, match="same samples"):
        bootstrap.paired_bootstrap_pvalue_values(values["rouge1"], values["rouge1"][:5], "rouge1")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap.bootstrap_ci_values(values["rouge1"], "rouge1", confidence=95)
