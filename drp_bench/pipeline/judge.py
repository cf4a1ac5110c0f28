"""The LLM judge: each generated review scored against the real one on DPL's 0-10 rubric.

Off by default (it costs one call per sample): ``metrics.judge=true`` turns it on. The judge is
its own role (``judge``, ``${generator}`` by default, which is refused unless
``metrics.judge_self=true``; ``+model@judge=NAME`` or ``judge=...`` gives it another model), an
analysis role like the UVQ normaliser: a top-level ``temperature`` does not apply to it. Its
calls go through the run's backend pool, so through the call cache.

It is a stage kind, a scorer (``judge`` in drp_bench.methods.contracts, run by
drp_bench.pipeline.kinds.judge): ``metrics.judge=true`` appends its stage after the method's,
and the runner and the planner run it as any stage. Every sample with a prediction (status
``complete`` or ``context_incomplete``) is judged once (template ``judge.j2``: item title and
description, the review's rating and title, the real and the generated review). The call is
recorded under the row's ``stages.judge`` with the parsed ``score``; metrics.json's ``judge``
(the kind's summary) holds the mean score / 10 over the parsed answers with its 95% percentile
bootstrap CI, the same with every unparsed answer scored 0 (``mean_unparsed_zero``: DPL's
``eval-GPT.py`` does so, SnowCharmQ/DPL @ 7c71663 line 50), and the parsed / unparsed /
failed counts. Failed calls are in neither mean (a re-run retries them).

The rubric (``judge.system.j2``) is DPL's (``eval-72B.py`` lines 70-80, ``eval-GPT.py`` lines
93-103) in this project's words; DPL's judges and their sampling are the presets
``+judge_preset=dpl_72b`` and ``+judge_preset=dpl_gpt`` (docs/fidelity.md). A judge whose model
is the generator's is refused at config time unless ``metrics.judge_self=true``
(:func:`drp_bench.config.run_config.check_judge_is_not_generator`).

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
    parsed / unparsed / failed counts, then the mean and CI with unparsed answers scored 0
    (DPL's way); None when no record was judged. Failed calls are in neither mean."""
    entries = [r["stages"][RECORD] for r in records if RECORD in r["stages"]]
    if not entries:
        return None
    ok = [e for e in entries if e.get("error") is None]
    scores = [e["score"] / 10 for e in ok if e.get("score") is not None]
    mean, low, high = _mean_ci(scores)
    zero_mean, zero_low, zero_high = _mean_ci(scores + [0.0] * (len(ok) - len(scores)))
    return {
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "parsed": len(scores),
        "unparsed": len(ok) - len(scores),
        "failed": len(entries) - len(ok),
        "n": len(entries),
        "model": model,
        "mean_unparsed_zero": zero_mean,
        "ci_low_unparsed_zero": zero_low,
        "ci_high_unparsed_zero": zero_high,
    }


def _mean_ci(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """The mean and its bootstrap CI; (None, None, None) without values."""
    if not values:
        return None, None, None
    from drp_bench.metrics.bootstrap import bootstrap_ci_mean

    return bootstrap_ci_mean(values, N_RESAMPLES, CI_SEED)
