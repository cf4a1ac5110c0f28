"""BLEU / METEOR / ROUGE pinned to values derived by hand (or documented by HF evaluate).

The four review pairs are real Amazon 2014 Digital Music reviews (two reviewers of the same item:
B000001DVP, B0000013GH, B000000ORB, B000000ZGO), copied verbatim from
reviews_Digital_Music_5.jsonl.gz (Amazon review data, McAuley et al. 2014 edition, 5-core subset,
distributed for research use). Every expected value below comes from counting tokens by hand
(the counts are in the comments), not from the code under test.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from drp_bench.metrics import nltk_data, text
from tests.conftest import REPO

MUSIC_SAMPLE = REPO / "drp_bench" / "sample_data" / "music_sample"

# (prediction, reference)
PAIRS = [
    (
        "This is my first John Elton album and it was a good one.",
        "If you like Elton John and want just the best of his earlier stuff, then this is the "
        "album to get.",
    ),
    (
        "This is a very good cd with some of Toni Braxton's greatest hits.  Was well worth the "
        "purchase. Good cd",
        "This is my favorite romance CD. I'm not into Toni's other CD's that much, but this one "
        "is hot.",
    ),
    (
        "This is another CD I nearly wore out. This is good stuff. Henley got the lyrics going. "
        "And great music.",
        "The title song is a classic.  The overall feel of the album is what you would expect "
        "from any of the Eagles.",
    ),
    (
        "This cd is a mellow as it gets!",
        "Isaac Hayes soul music.  Interesting as to what he does with some main line songs.",
    ),
]
PREDS = [p for p, _ in PAIRS]
REFS = [r for _, r in PAIRS]

# More real pairs (two reviewers of the same item, asin in the comment), for bulk checks.
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


def meteor_formula(matches: int, hyp_len: int, ref_len: int, chunks: int) -> float:
    """Banerjee & Lavie's METEOR with alpha=0.9, beta=3, gamma=0.5 from hand counts."""
    if matches == 0:
        return 0.0
    p, r = matches / hyp_len, matches / ref_len
    fmean = p * r / (0.9 * p + 0.1 * r)
    return (1 - 0.5 * (chunks / matches) ** 3) * fmean


# --- METEOR: per pair (matches, hypothesis tokens, reference tokens, chunks) -------------------
# word_tokenize splits punctuation and clitics ("CD.", "Toni's" -> "Toni", "'s"); matching is
# lower-cased: exact, then Porter stem, then WordNet synonyms.
# 1: hyp 14 tokens, ref 23. Exact: this, is, john, elton, album, and, "." (7) + WordNet
#    good~just (synset "good, just, upright") = 8. Sorted by hypothesis position no two matches
#    are adjacent in both sentences except this-is -> 7 chunks.
# 2: hyp 23, ref 25. Exact: this, is, cd, toni, 's, ".", ".", cd = 8; no stem/synonym match;
#    every match is its own chunk -> 8 chunks.
# 3: hyp 24, ref 24. Exact: is, is, the, ".", "." = 5; 5 chunks.
# 4: hyp 9, ref 17. Exact: as = 1; 1 chunk.
METEOR_COUNTS = [(8, 14, 23, 7), (8, 23, 25, 8), (5, 24, 24, 5), (1, 9, 17, 1)]

# --- ROUGE (rouge-score tokenizer: lower-case, non-alphanumerics split, "Toni's" -> toni s) ---
# 1: pred 13 tokens, ref 21. Unigram overlap: this, is, john, elton, album, and = 6.
#    LCS: "this is ... album" = 3.
# 2: pred 21, ref 22. Overlap: this, is, cd x2, toni, s = 6. LCS: this is cd toni s cd = 6.
# 3: pred 20, ref 22. Overlap: is x2, the = 3. LCS: is is the = 3.
# 4: pred 8, ref 15. Overlap: as = 1. LCS = 1.
# F1 = 2 * overlap / (len_pred + len_ref)
ROUGE1 = [2 * 6 / 34, 2 * 6 / 43, 2 * 3 / 42, 2 * 1 / 23]
ROUGEL = [2 * 3 / 34, 2 * 6 / 43, 2 * 3 / 42, 2 * 1 / 23]

# --- BLEU (13a tokens, case-sensitive) ----------------------------------------------------------
# hyp lengths 14+22+24+9 = 69, ref lengths 23+22+24+17 = 86 -> BP = exp(1 - 86/69).
# 1-grams matched: 6 (is John Elton album and .) + 4 (This is . .) + 5 (is is the . .) + 1 (as)
#   = 16 of 69. 2-grams: only "This is" in pair 2 = 1 of 13+21+23+8 = 65.
# 3-grams 0 of 61, 4-grams 0 of 57: sacrebleu's 'exp' smoothing gives 100/(2*61), 100/(4*57).
BLEU_REAL = (
    math.exp(1 - 86 / 69)
    * ((100 * 16 / 69) * (100 * 1 / 65) * (100 / (2 * 61)) * (100 / (4 * 57))) ** 0.25
)


@pytest.fixture(scope="module", autouse=True)
def _nltk_data() -> None:
    nltk_data.verify_nltk_data()  # fails with the install command if the data is missing


def test_bleu_on_real_pairs_matches_hand_counted_statistics() -> None:
    assert text.bleu(PREDS, REFS) == pytest.approx(BLEU_REAL, abs=1e-9)
    assert round(text.bleu(PREDS, REFS), 4) == 1.4792


def test_bleu_uses_one_reference_stream() -> None:
    # evaluate's sacrebleu example 2 with only the first reference of each prediction:
    # 1-grams 6/10, 2-grams 4/8, 3-grams 2/6, 4-grams 1/4, sys_len 10 >= ref_len 7 (BP 1).
    preds = ["hello there general kenobi", "on our way to ankh morpork"]
    refs = ["hello there general kenobi", "goodbye ankh morpork"]
    expected = 100 * (6 / 10 * 4 / 8 * 2 / 6 * 1 / 4) ** 0.25
    assert text.bleu(preds, refs) == pytest.approx(expected, abs=1e-9)


def test_rouge_per_pair_f_measures_match_hand_counts() -> None:
    scores = text.per_sample_scores(PREDS, REFS)
    assert [s["rouge1"] for s in scores] == pytest.approx(ROUGE1, abs=1e-12)
    assert [s["rougeL"] for s in scores] == pytest.approx(ROUGEL, abs=1e-12)


def test_rouge_reports_plain_means_and_a_seeded_bootstrap_mid() -> None:
    before = np.random.get_state()[1].copy()
    result = text.rouge(PREDS, REFS, seed=42)
    assert np.array_equal(np.random.get_state()[1], before), "global RNG state not restored"
    assert result["rouge1_mean"] == pytest.approx(np.mean(ROUGE1), abs=1e-12)
    assert result["rougeL_mean"] == pytest.approx(np.mean(ROUGEL), abs=1e-12)
    # mid is the median of 1000 bootstrap means: inside the range of the per-pair values
    assert min(ROUGE1) < result["rouge1"] < max(ROUGE1)
    assert min(ROUGEL) < result["rougeL"] < max(ROUGEL)
    assert text.rouge(PREDS, REFS, seed=42) == result


def test_rouge_identical_texts_score_one() -> None:
    # evaluate's rouge documentation example
    result = text.rouge(["hello there", "general kenobi"], ["hello there", "general kenobi"])
    assert result == {k: 1.0 for t in text.ROUGE_TYPES for k in (t, f"{t}_mean")}


def _sample_pairs(max_words: int = 200) -> tuple[list[str], list[str]]:
    """Real pairs from the bundled sample: each user's latest past review as the prediction, the
    user's target review as the reference; the 17 of 57 pairs whose texts have at most
    ``max_words`` words (rouge-score's LCS is quadratic: the longest reviews take seconds)."""
    from drp_bench.data.loader import iter_samples

    pairs = [(s.profile[-1].text, s.target.text) for s in iter_samples(MUSIC_SAMPLE, "test")]
    kept = [(p, r) for p, r in pairs if max(len(p.split()), len(r.split())) <= max_words]
    return [p for p, _ in kept], [r for _, r in kept]


def _evaluate_rouge(
    predictions: list[str], references: list[str], rouge_types: list[str], seed: int
) -> dict[str, float]:
    """HF evaluate's ``Rouge._compute`` step by step (huggingface/evaluate
    metrics/rouge/rouge.py, commit a7dd338; single references, aggregator on, no stemmer, no
    tokenizer), with numpy's global RNG seeded just before ``aggregate()``."""
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=False, tokenizer=None)
    aggregator = scoring.BootstrapAggregator()
    for ref, pred in zip(references, predictions, strict=True):
        aggregator.add_scores(scorer.score(ref, pred))
    np.random.seed(seed)
    result = aggregator.aggregate()
    return {key: float(result[key].mid.fmeasure) for key in result}


EVALUATE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]  # evaluate's default rouge_types


def test_rouge_equals_evaluate_on_real_sample_pairs() -> None:
    preds, refs = _sample_pairs()
    assert len(preds) == 17
    state = np.random.get_state()
    expected = _evaluate_rouge(preds, refs, EVALUATE_TYPES, seed=42)
    np.random.set_state(state)
    result = text.rouge(preds, refs, seed=42)
    assert list(expected) == list(text.ROUGE_TYPES)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-6), key
    scored = text.score_all(preds, refs, seed=42)
    assert {k: scored[k] for k in expected} == {k: result[k] for k in expected}


def test_two_type_aggregation_draws_a_different_rouge_l() -> None:
    # BootstrapAggregator resamples each type in turn (1000 np.random.choice calls per type)
    # from numpy's global RNG, in the order the types were added. rouge1 comes first either
    # way, so it gets the same draws; rougeL comes second of two or third of four, after
    # another 1000 draws, so its "mid" differs: aggregating only rouge1 and rougeL would not
    # reproduce evaluate's ROUGE-L.
    preds, refs = _sample_pairs()
    state = np.random.get_state()
    two = _evaluate_rouge(preds, refs, ["rouge1", "rougeL"], seed=42)
    four = _evaluate_rouge(preds, refs, EVALUATE_TYPES, seed=42)
    np.random.set_state(state)
    assert two["rouge1"] == four["rouge1"]
    assert abs(two["rougeL"] - four["rougeL"]) > 1e-6
    assert text.rouge(preds, refs, seed=42)["rougeL"] == pytest.approx(four["rougeL"], abs=1e-6)


def test_rouge_lsum_splits_sentences_on_newlines_only() -> None:
    # evaluate passes texts unchanged; rouge-score's rougeLsum takes each "\n"-separated line
    # as a sentence (summary-level LCS). Swapped lines: rougeL's LCS is 2 of 4 tokens, while
    # every line of the reference is matched in full by a line of the prediction.
    scores = text.per_sample_scores(["a b\nc d"], ["c d\na b"])[0]
    assert scores["rougeL"] == pytest.approx(0.5) and scores["rougeLsum"] == pytest.approx(1.0)
    same_line = text.per_sample_scores(["a b c d"], ["c d a b"])[0]
    assert same_line["rougeLsum"] == same_line["rougeL"] == pytest.approx(0.5)


def test_meteor_documentation_example() -> None:
    pred = "It is a guide to action which ensures that the military always obeys the commands of the party"  # noqa: E501
    ref = "It is a guide to action that ensures that the military will forever heed Party commands"
    assert round(text.meteor([pred], [ref]), 4) == 0.6944


def test_meteor_cat_on_the_mat_matches_hand_count() -> None:
    # ref 6 tokens, hyp 7; matches the cat on the mat (5); chunks "the cat" + "on the mat" (2)
    score = text.meteor(["the cat is sitting on the mat"], ["the cat sat on the mat"])
    assert score == pytest.approx(meteor_formula(5, 7, 6, 2), abs=1e-12)
    assert round(score, 4) == 0.7934


def test_meteor_matches_wordnet_synonyms() -> None:
    score = text.meteor(["the auto is red"], ["the car is red"])
    with_wordnet = meteor_formula(4, 4, 4, 1)  # car~auto matched: one chunk of four
    without_wordnet = meteor_formula(3, 4, 4, 2)  # "the" + "is red"
    assert round(with_wordnet, 4) == 0.9922 and round(without_wordnet, 4) == 0.6389
    assert score == pytest.approx(with_wordnet, abs=1e-12)


def test_meteor_on_real_pairs_matches_hand_counts() -> None:
    expected = [meteor_formula(*c) for c in METEOR_COUNTS]
    scores = text.per_sample_scores(PREDS, REFS)
    assert [s["meteor"] for s in scores] == pytest.approx(expected, abs=1e-12)
    assert text.meteor(PREDS, REFS) == pytest.approx(np.mean(expected), abs=1e-12)


def test_meteor_equals_plain_nltk_call_as_evaluate_makes_it() -> None:
    # text.py caches stems and WordNet lookups; the values must be nltk's, bit for bit
    from nltk import word_tokenize
    from nltk.translate.meteor_score import single_meteor_score

    plain = [
        single_meteor_score(word_tokenize(r), word_tokenize(p), alpha=0.9, beta=3, gamma=0.5)
        for p, r in PAIRS
    ]
    assert [s["meteor"] for s in text.per_sample_scores(PREDS, REFS)] == plain


def test_score_all_combines_every_metric() -> None:
    result = text.score_all(PREDS, REFS)
    rouge_keys = {k for t in text.ROUGE_TYPES for k in (t, f"{t}_mean")}
    assert set(result) == {"bleu", "meteor", "n", *rouge_keys}
    assert rouge_keys >= {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert result["n"] == 4
    assert result["bleu"] == pytest.approx(BLEU_REAL, abs=1e-9)
    assert result["meteor"] == pytest.approx(np.mean([meteor_formula(*c) for c in METEOR_COUNTS]))
    assert result["rouge1_mean"] == pytest.approx(np.mean(ROUGE1))
    assert {k: result[k] for k in rouge_keys} == text.rouge(PREDS, REFS, seed=42)


def test_score_samples_is_score_all_and_per_sample_scores_from_one_pass() -> None:
    """What a run writes: the corpus values and the rows' scores, the former the exact means
    of the latter (METEOR, each ROUGE type's ``_mean``); BLEU has no per-sample value."""
    preds, refs = PREDS * 2, REFS[1:] + REFS[:1] + REFS
    corpus, per_sample = text.score_samples(preds, refs, seed=7)
    assert corpus == text.score_all(preds, refs, seed=7)
    assert per_sample == text.per_sample_scores(preds, refs)
    assert all(list(s) == list(text.PER_SAMPLE_METRICS) for s in per_sample)
    assert float(np.mean([s["meteor"] for s in per_sample])) == corpus["meteor"]
    for rouge in text.ROUGE_TYPES:
        assert float(np.mean([s[rouge] for s in per_sample])) == corpus[f"{rouge}_mean"]


def test_score_all_with_two_workers_is_identical() -> None:
    preds, refs = PREDS * 3, REFS[1:] + REFS[:1] + REFS * 2
    assert text.score_all(preds, refs, workers=2) == text.score_all(preds, refs, workers=1)
    assert text.per_sample_scores(preds, refs, workers=2) == text.per_sample_scores(preds, refs)


def test_pool_workers_do_not_share_wordnet_file_offsets() -> None:
    # Forked workers inherit the parent's open WordNet data files, whose offsets are shared
    # between processes: without text._worker_init, concurrent lookups read the wrong lines
    # ("No WordNet synset found ...", then AttributeError) in about 2 of 3 runs of this test.
    texts = [t for pair in PAIRS + MORE_PAIRS for t in pair]
    preds = [a for a in texts for _ in texts]
    refs = [b for _ in texts for b in texts]
    text._meteor_resources.cache_clear()  # make the workers read WordNet themselves
    pooled = text.per_sample_scores(preds, refs, workers=2)
    text._meteor_resources.cache_clear()
    assert pooled == text.per_sample_scores(preds, refs)


def test_empty_prediction_scores_zero() -> None:
    scores = text.per_sample_scores([""], [REFS[0]])
    assert scores == [{"meteor": 0.0, **{t: 0.0 for t in text.ROUGE_TYPES}}]
    assert set(scores[0]) == {"meteor", "rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert text.bleu([""], [REFS[0]]) == 0.0


@pytest.mark.parametrize("fn", [text.bleu, text.meteor, text.rouge, text.score_all])
def test_length_mismatch_and_empty_input_are_rejected(fn) -> None:
    with pytest.raises(ValueError, match="differ in length: 2 predictions, 1 references"):
        fn(PREDS[:2], REFS[:1])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(TypeError, match=r"references\[1\]: expected str, found NoneType"):
        fn(PREDS[:2], [REFS[0], None])


def test_word_tokenize_reproduces_nltk_doctest() -> None:
    from nltk import word_tokenize

    assert word_tokenize(nltk_data.TOKENIZE_TEXT) == nltk_data.TOKENIZE_EXPECTED


def test_punkt_literals_are_parsed_without_executing_code(tmp_path) -> None:
    flag = tmp_path / "executed"
    source = (
        f"X = open({str(flag)!r}, 'w')\n"
        "ABBREV_TYPES = frozenset(('dr', 'mr', '. . '))\n"
        "SENT_STARTERS = frozenset(('however',))\n"
        "COLLOCATIONS = frozenset((('##number##', 'review'),))\n"
        "ORTHO_CONTEXT = {'yes': 34, 'dr': 4}\n"
    )
    values = nltk_data.read_punkt_literals(source)
    assert not flag.exists() and "X" not in values
    files = nltk_data.punkt_tab_files(values)
    assert files == {
        "abbrev_types.txt": ". . \ndr\nmr\n",
        "sent_starters.txt": "however\n",
        "collocations.tab": "##number##\treview\n",
        "ortho_context.tab": "dr\t4\nyes\t34\n",
    }


def test_missing_nltk_data_names_the_install_command(tmp_path) -> None:
    code = (
        f"import nltk; nltk.data.path[:] = [{str(tmp_path)!r}]\n"
        "from drp_bench.metrics.nltk_data import verify_nltk_data\n"
        "verify_nltk_data()\n"
    )
    env = {**os.environ, "NLTK_DATA": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode != 0
    assert "RuntimeError: NLTK data missing: WordNet 3.0" in proc.stderr
    assert "python -m drp_bench.metrics.nltk_data" in proc.stderr
