"""Bootstrap confidence intervals and the paired bootstrap test, on real review pairs."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu

from drp_bench.metrics import bootstrap, nltk_data, text
from tests.test_metrics import MORE_PAIRS
from tests.test_metrics import PAIRS as METRIC_PAIRS

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
