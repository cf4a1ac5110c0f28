"""BLEU, METEOR and ROUGE exactly as HF ``evaluate``'s metric scripts compute them, offline.

Settings copied from huggingface/evaluate ``metrics/{sacrebleu,meteor,rouge}``:

- BLEU: ``sacrebleu.corpus_bleu`` with defaults (13a tokenizer, ``exp`` smoothing, case-sensitive),
  one reference stream; 0-100.
- METEOR: per pair ``single_meteor_score(word_tokenize(ref), word_tokenize(pred), alpha=0.9,
  beta=3, gamma=0.5)``, then ``np.mean``; needs WordNet and punkt_tab
  (``python -m drp_bench.metrics.nltk_data``).
- ROUGE: ``RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=False)`` (evaluate's
  default types, in its order), ``score(ref, pred)`` per pair, all four added to ONE rouge-score
  ``BootstrapAggregator``, ``.mid.fmeasure``. The aggregator resamples each type in turn from
  numpy's global RNG, so a type's draws depend on the types aggregated before it: aggregating
  only rouge1 and rougeL gives the same rouge1 but a different rougeL draw than evaluate's.
  evaluate leaves the RNG unseeded, so its value moves in the 4th decimal; here it is seeded (and
  the caller's RNG state restored), and the plain means are reported too. Like evaluate, texts
  are not sentence-split: rougeLsum treats each ``"\n"``-separated line as a sentence.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from rouge_score import rouge_scorer, scoring
from sacrebleu.metrics import BLEU

from drp_bench.metrics.nltk_data import verify_nltk_data
from drp_bench.metrics.table import ROUGE_SEED, plugin_metrics

#: evaluate's default ROUGE types, in its order (the order of the aggregator's random draws).
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
METEOR_PARAMS = {"alpha": 0.9, "beta": 3, "gamma": 0.5}
PER_SAMPLE_METRICS = ("meteor", *ROUGE_TYPES)


class PairScores(NamedTuple):
    """Per-pair values: METEOR and the full rouge-score ``Score`` per ROUGE type."""

    meteor: float
    rouge: dict[str, scoring.Score]


def check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    """Raise ValueError/TypeError unless both are equally long, non-empty sequences of str."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("predictions and references must be sequences of str, not a single str")
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions and references differ in length: {len(predictions)} predictions, "
            f"{len(references)} references (expected one reference per prediction)"
        )
    if len(predictions) == 0:
        raise ValueError("predictions and references are empty: nothing to score")
    for name, seq in (("predictions", predictions), ("references", references)):
        for i, text in enumerate(seq):
            if not isinstance(text, str):
                raise TypeError(f"{name}[{i}]: expected str, found {type(text).__name__}")


#: Pairs per batch of BLEU sentence statistics: sacrebleu keeps the n-gram counts of every
#: reference of a batch (about 150 KB for a 1,600-character review) until the batch is done.
BLEU_BATCH = 1000


def bleu_sentence_stats(predictions: Sequence[str], references: Sequence[str]) -> list[list[int]]:
    """Per-pair BLEU sufficient statistics (sacrebleu's), computed in batches of
    :data:`BLEU_BATCH` pairs; each pair's are independent of the others'."""
    check_pairs(predictions, references)
    metric = BLEU()  # the settings of sacrebleu.corpus_bleu's defaults
    stats: list[list[int]] = []
    for i in range(0, len(predictions), BLEU_BATCH):
        hyps, refs = list(predictions[i : i + BLEU_BATCH]), list(references[i : i + BLEU_BATCH])
        stats.extend(metric._extract_corpus_statistics(hyps, [refs]))
    return stats


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults, one reference per prediction), 0-100: exactly
    ``sacrebleu.corpus_bleu`` (the sum of the pairs' integer statistics), in bounded memory."""
    stats = bleu_sentence_stats(predictions, references)
    totals = [sum(column) for column in zip(*stats, strict=True)]
    return float(BLEU()._compute_score_from_stats(totals).score)


@lru_cache(maxsize=4)
def _rouge_scorer(types: tuple[str, ...] = ROUGE_TYPES) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(types), use_stemmer=False)


class _CachedStemmer:
    """NLTK's default ``PorterStemmer()`` with a cache: the same stems, computed once per word."""

    def __init__(self) -> None:
        from nltk.stem.porter import PorterStemmer

        self._stem = lru_cache(maxsize=1 << 17)(PorterStemmer().stem)

    def stem(self, word: str) -> str:
        return self._stem(word)


class _CachedWordNet:
    """WordNet (``wordnet_reader``: ``nltk.corpus.wordnet``'s synsets, loaded faster) with
    cached ``synsets`` (all METEOR calls): the same synsets."""

    def __init__(self) -> None:
        from drp_bench.metrics.wordnet_reader import english_wordnet

        self._synsets = lru_cache(maxsize=1 << 17)(english_wordnet().synsets)

    def synsets(self, word: str) -> list:
        return self._synsets(word)


@lru_cache(maxsize=1)
def _meteor_resources() -> tuple[_CachedStemmer, _CachedWordNet]:
    return _CachedStemmer(), _CachedWordNet()


def _meteor_pair(prediction: str, reference: str) -> float:
    """evaluate's per-pair METEOR; stemmer and WordNet lookups are cached (identical values)."""
    from nltk import word_tokenize
    from nltk.translate.meteor_score import single_meteor_score

    stemmer, wordnet = _meteor_resources()
    score = single_meteor_score(
        word_tokenize(reference),
        word_tokenize(prediction),
        stemmer=stemmer,
        wordnet=wordnet,
        **METEOR_PARAMS,
    )
    return float(score)


def _score_pair(prediction: str, reference: str) -> PairScores:
    rouge = _rouge_scorer().score(reference, prediction)
    return PairScores(_meteor_pair(prediction, reference), {k: rouge[k] for k in ROUGE_TYPES})


def _score_chunk(pairs: list[tuple[str, str]]) -> list[PairScores]:
    return [_score_pair(p, r) for p, r in pairs]


# Open files a loaded WordNetCorpusReader keeps (it seeks + reads them for every synset lookup).
_WORDNET_FILE_ATTRS = ("_data_file_map", "_key_count_file", "_key_synset_file")


def _loaded_wordnet():  # -> WordNetCorpusReader | None
    from drp_bench.metrics.wordnet_reader import loaded_english_wordnet

    return loaded_english_wordnet()


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` when it is available and safe, so workers inherit the loaded WordNet and punkt
    model; otherwise ``spawn`` (each worker loads them itself).

    Safe means: only the main Python thread runs, and the WordNet reader's open files are where
    :func:`_worker_init` expects them (a forked child shares each open file's offset with its
    parent and siblings, so concurrent seek+read through inherited handles returns wrong synsets).
    """
    wordnet = _loaded_wordnet()
    handles_known = wordnet is None or all(hasattr(wordnet, a) for a in _WORDNET_FILE_ATTRS)
    fork_ok = "fork" in multiprocessing.get_all_start_methods()
    if fork_ok and handles_known and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _worker_init() -> None:
    """Drop WordNet file handles inherited through fork: each worker then opens its own."""
    wordnet = _loaded_wordnet()
    if wordnet is not None:
        wordnet._data_file_map = {}
        wordnet._key_count_file = None
        wordnet._key_synset_file = None


def _pair_scores(
    predictions: Sequence[str], references: Sequence[str], workers: int = 1
) -> list[PairScores]:
    """Per-pair METEOR and ROUGE, in input order; ``workers > 1`` uses a process pool."""
    if workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, found {workers}")
    verify_nltk_data()
    pairs = list(zip(predictions, references, strict=True))
    if workers == 1 or len(pairs) < 2:
        return _score_chunk(pairs)
    # Several chunks per worker balance uneven text lengths; order is kept by map().
    size = max(1, -(-len(pairs) // (workers * 4)))
    chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=_mp_context(), initializer=_worker_init
    ) as pool:
        return [s for chunk in pool.map(_score_chunk, chunks) for s in chunk]


def meteor(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean sentence METEOR (NLTK, alpha 0.9, beta 3, gamma 0.5) on ``word_tokenize``d text."""
    check_pairs(predictions, references)
    verify_nltk_data()
    return float(
        np.mean([_meteor_pair(p, r) for p, r in zip(predictions, references, strict=True)])
    )


def _aggregate_rouge(
    rouge_scores: Sequence[dict[str, scoring.Score]], seed: int
) -> dict[str, float]:
    """One BootstrapAggregator over every type, as evaluate's: mid F-measure per type (numpy's
    global RNG seeded, then restored) + plain means (``<type>_mean``)."""
    aggregator = scoring.BootstrapAggregator()
    for s in rouge_scores:
        aggregator.add_scores(s)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        aggregated = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    out = {k: float(aggregated[k].mid.fmeasure) for k in ROUGE_TYPES}
    for k in ROUGE_TYPES:
        out[f"{k}_mean"] = float(np.mean([s[k].fmeasure for s in rouge_scores]))
    return out


def rouge(
    predictions: Sequence[str], references: Sequence[str], seed: int = 42
) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F-measure: bootstrap ``mid`` (keys rouge1, rouge2, rougeL, rougeLsum)
    and plain means (rouge1_mean, ...)."""
    check_pairs(predictions, references)
    scorer = _rouge_scorer()
    return _aggregate_rouge(
        [scorer.score(r, p) for p, r in zip(predictions, references, strict=True)], seed
    )


def _sample_scores(pair: PairScores) -> dict[str, float]:
    """One pair's per-sample scores, keys in :data:`PER_SAMPLE_METRICS` order."""
    return {"meteor": pair.meteor, **{k: float(pair.rouge[k].fmeasure) for k in ROUGE_TYPES}}


def per_sample_scores(
    predictions: Sequence[str], references: Sequence[str], workers: int = 1
) -> list[dict[str, float]]:
    """Per pair: ``{"meteor", "rouge1", "rouge2", "rougeL", "rougeLsum"}`` (ROUGE as
    F-measure), then the installed plugins' per-sample metrics (docs/extending.md). BLEU is
    not among them: sacrebleu's BLEU is a corpus statistic (see :func:`bleu_sentence_stats` for
    its per-pair sufficient statistics)."""
    check_pairs(predictions, references)
    return _rows(_pair_scores(predictions, references, workers), predictions, references)


def _rows(
    pair_scores: Sequence[PairScores], predictions: Sequence[str], references: Sequence[str]
) -> list[dict[str, float]]:
    """Each pair's built-in per-sample scores, then the plugins' per-sample metrics."""
    extra = [m for m in plugin_metrics() if m.per_sample is not None]
    return [
        {**_sample_scores(s), **{m.key: float(m.per_sample(p, r)) for m in extra}}  # type: ignore[misc]
        for s, p, r in zip(pair_scores, predictions, references, strict=True)
    ]


def score_samples(
    predictions: Sequence[str],
    references: Sequence[str],
    seed: int = ROUGE_SEED,
    workers: int = 1,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """``(score_all's corpus metrics, per_sample_scores' rows)`` from one scoring pass: the
    corpus METEOR and ROUGE ``_mean`` values are the means of exactly these per-sample
    values (what a run writes to predictions.jsonl and metrics.json)."""
    check_pairs(predictions, references)
    pair_scores = _pair_scores(predictions, references, workers)
    corpus = {
        "bleu": bleu(predictions, references),
        "meteor": float(np.mean([s.meteor for s in pair_scores])),  # == mean of rows' meteor
        **_aggregate_rouge([s.rouge for s in pair_scores], seed),
        **plugin_scores(predictions, references),
        "n": len(pair_scores),
    }
    return corpus, _rows(pair_scores, predictions, references)


def plugin_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """The installed plugins' metrics over the pairs: a ``corpus`` function's value, else the
    mean of the ``per_sample`` values (none installed: empty)."""
    out: dict[str, float] = {}
    for m in plugin_metrics():
        if m.corpus is not None:
            out[m.key] = float(m.corpus(predictions, references))
        else:
            pairs = zip(predictions, references, strict=True)
            out[m.key] = float(np.mean([m.per_sample(p, r) for p, r in pairs]))  # type: ignore[misc]
    return out


def score_all(
    predictions: Sequence[str],
    references: Sequence[str],
    seed: int = ROUGE_SEED,
    workers: int = 1,
) -> dict[str, float]:
    """All corpus metrics: bleu, meteor, each ROUGE type's mid and ``_mean``, the installed
    plugins' metrics (:func:`plugin_scores`), n.

    ``workers > 1`` scores the pairs (METEOR, ROUGE) in a process pool; results are identical."""
    return score_samples(predictions, references, seed, workers)[0]
