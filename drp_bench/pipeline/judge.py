"""The LLM judge: each generated review scored against the real one on DPL's 0-10 rubric.

Off by default (it costs one call per sample): ``metrics.judge=true`` turns it on. The judge is
its own role (``judge``, ``${generator}`` by default; ``+model@judge=NAME`` or ``judge=...``
gives it another model), an analysis role like the UVQ normaliser: a top-level ``temperature``
does not apply to it. Its calls go through the run's backend pool, so through the call cache.

It is a stage kind, a scorer (``judge`` in drp_bench.methods.contracts, run by
drp_bench.pipeline.kinds.judge): ``metrics.judge=true`` appends its stage after the method's,
and the runner and the planner run it as any stage. Every sample with a prediction (status
``complete`` or ``context_incomplete``) is judged once (template ``judge.j2``: item title and
description, the review's rating and title, the real and the generated review). The call is
recorded under the row's ``stages.judge`` with the parsed ``score``; metrics.json's ``judge``
(the kind's summary) holds the mean score / 10 over the parsed answers, its 95% percentile
bootstrap CI, and the parsed / unparsed / failed counts. An unparseable answer is counted,
never scored as 0.

Score rule (:func:`parse_score`), strict on purpose:

1. reasoning is dropped: the text after the last ``</think>``; an unclosed ``<think>`` and all
   after it is dropped too;
2. markdown emphasis (``*``, ``_``, backticks) and mentions of the scale (``/10``, ``/ 10``,
   ``out of 10``, ``(0-10)``, ``0 to 10``) are removed;
3. the numbers left (digits, optionally with a decimal part) must all be the same value, and
   that value an integer from 0 to 10 (``8.0`` is 8); otherwise the answer is unparsed: no
   number (``ten``, ``""``), several different numbers (ambiguous), a fraction (``7.5``: the
   rubric asks an integer; rounding would invent a score) or out of range (``11``, ``-1``).
"""

from __future__ import annotations

import re
from typing import Any

RECORD = "judge"  # its key in a row's stages (the judge kind's contract record)
#: Samples with these statuses have a prediction and are judged.
JUDGED_STATUSES = frozenset({"complete", "context_incomplete"})
#: Bootstrap of the judge's CI (as the report's CIs: 1000 resamples, seed 0, 95%).
N_RESAMPLES = 1000
CI_SEED = 0

_THINK_END = re.compile(r"</think\s*>", re.IGNORECASE)
_THINK_START = re.compile(r"<think\s*>", re.IGNORECASE)
_SCALE = re.compile(
    r"/\s*10\b|\bout\s+of\s+10\b|\(?\s*\b0\s*(?:-|–|to)\s*10\b\s*\)?", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def strip_reasoning(text: str) -> str:
    """The answer without a reasoning model's ``<think>...</think>`` part."""
    parts = _THINK_END.split(text)
    answer = parts[-1]
    start = _THINK_START.search(answer)
    return answer[: start.start()] if start else answer


def parse_score(text: str | None) -> int | None:
    """The 0-10 score of a judge's answer, or None when the answer is unparseable (the rule
    is in this module's docstring)."""
    if not text:
        return None
    answer = strip_reasoning(text)
    answer = re.sub(r"[*_`]", " ", answer)
    answer = _SCALE.sub(" ", answer)
    values = {float(n) for n in _NUMBER.findall(answer)}
    if len(values) != 1:
        return None
    (value,) = values
    if not value.is_integer() or not 0 <= value <= 10:
        return None
    return int(value)


def judge_summary(records: list[dict[str, Any]], model: str) -> dict[str, Any] | None:
    """metrics.json's ``judge``: mean score / 10 over parsed answers with its bootstrap CI,
    parsed / unparsed / failed counts; None when no record was judged."""
    entries = [r["stages"][RECORD] for r in records if RECORD in r["stages"]]
    if not entries:
        return None
    ok = [e for e in entries if e.get("error") is None]
    scores = [e["score"] / 10 for e in ok if e.get("score") is not None]
    mean = low = high = None
    if scores:
        from drp_bench.metrics.bootstrap import bootstrap_ci_mean

        mean, low, high = bootstrap_ci_mean(scores, N_RESAMPLES, CI_SEED)
    return {
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "parsed": len(scores),
        "unparsed": len(ok) - len(scores),
        "failed": len(entries) - len(ok),
        "n": len(entries),
        "model": model,
    }
