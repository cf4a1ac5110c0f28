"""What makes a verified entry *suspect*: its numbers are right, but not to be ranked until
reproduced.

Two rules (docs/leaderboard.md, "Trust levels"):

- **copied references**: a prediction copies its reference when the two texts, as lower-cased
  word tokens, have a ``difflib`` similarity ratio of at least :data:`COPY_SIMILARITY`; an
  entry is suspect when more than :data:`COPY_SHARE` of its samples, and more than one, do.
  Real reviews are far from that: on the bundled music sample no two of its 666 distinct
  reviews reach 0.54, the other users' reviews of a test item reach at most 0.24 against its
  reference, and the seeded entries' predictions at most 0.17.
- **implausible scores**: a metric above :data:`SCORE_CEILINGS`, at least twice the best
  honest score known for review generation (the DRP paper's best on Books: BLEU 6.95,
  METEOR 0.255, ROUGE-1 0.342, ROUGE-L 0.182; with hindsight, the other user's review of the
  item that best matches the reference scores BLEU 3.89, METEOR 0.201, ROUGE-1 0.312,
  ROUGE-L 0.153 on the bundled sample). A copy of the references scores BLEU 100.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from drp_bench.leaderboard.entry import PREDICTIONS
from drp_bench.leaderboard.view import BOARD_METRICS

#: Word-level similarity at which a prediction counts as a copy of its reference.
COPY_SIMILARITY = 0.9
#: Share of samples (and more than one sample) that copy their reference for a suspect entry.
COPY_SHARE = 0.05
#: Highest plausible corpus score per metric for review generation (BLEU is 0-100).
SCORE_CEILINGS: dict[str, float] = {"bleu": 25.0, "meteor": 0.5, "rouge1": 0.6, "rougeL": 0.4}
SHOWN = 3  # sample ids named in a flag

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def copy_similarity(prediction: str, reference: str) -> float:
    """``difflib`` ratio of the two texts' lower-cased word tokens (1.0: the same words)."""
    pred, ref = words(prediction), words(reference)
    if not pred and not ref:
        return 1.0
    return difflib.SequenceMatcher(None, pred, ref, autojunk=False).ratio()


def is_copy(prediction: str, reference: str) -> bool:
    """Similarity at least :data:`COPY_SIMILARITY`; ``difflib``'s cheap upper bounds first."""
    pred, ref = words(prediction), words(reference)
    if not pred and not ref:
        return True
    matcher = difflib.SequenceMatcher(None, pred, ref, autojunk=False)
    return (
        matcher.real_quick_ratio() >= COPY_SIMILARITY
        and matcher.quick_ratio() >= COPY_SIMILARITY
        and matcher.ratio() >= COPY_SIMILARITY
    )


def copied_samples(
    sample_ids: Sequence[str], predictions: Mapping[str, str], references: Mapping[str, str]
) -> list[str]:
    """The samples whose prediction copies its reference, in the split's order."""
    return [sid for sid in sample_ids if is_copy(predictions[sid], references[sid])]


def copy_flag(copied: Sequence[str], num_samples: int) -> str | None:
    """The flag when too many predictions copy their references (else None)."""
    if len(copied) <= max(1, COPY_SHARE * num_samples):
        return None
    shown = ", ".join(copied[:SHOWN]) + (" ..." if len(copied) > SHOWN else "")
    return (
        f"{PREDICTIONS}: {len(copied)} of {num_samples} predictions copy their reference "
        f"(word similarity >= {COPY_SIMILARITY}; suspect above {COPY_SHARE:.0%} of samples "
        f"and 1 sample): {shown}"
    )


def ceiling_flags(values: Mapping[str, float]) -> list[str]:
    """One flag per metric above its plausible ceiling."""
    return [
        f"metrics.{metric}.value: {values[metric]:.4g} is above the plausible ceiling "
        f"{SCORE_CEILINGS[metric]:g} for review generation ({BOARD_METRICS[metric]})"
        for metric in SCORE_CEILINGS
        if metric in values and values[metric] > SCORE_CEILINGS[metric]
    ]


def suspect_flags(
    sample_ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, str],
    values: Mapping[str, float],
) -> list[str]:
    """Every reason to hold a verified entry back from the ranking (none: it is ranked)."""
    copied = copy_flag(copied_samples(sample_ids, predictions, references), len(sample_ids))
    return ([copied] if copied else []) + ceiling_flags(values)
