"""Parse stage outputs: difference features, ``[Summary]:`` and ``[Review]:`` answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from drp_bench.config.run_config import PREFIX_MODES
from drp_bench.data.types import Feature

_FEATURE_START = re.compile(r"-{2,}\s*\[\s*([^\]\n]+?)\s*\]", re.MULTILINE)
_DEFINITION = re.compile(r"\**\s*Definition\s*\**\s*[:：]\s*", re.IGNORECASE)
_DIFFERENCE = re.compile(r"\**\s*Difference\s+Description\s*\**\s*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedFeatures:
    features: tuple[Feature, ...]

    @property
    def ok(self) -> bool:
        return bool(self.features)


def parse_features(text: str) -> ParsedFeatures:
    """Features written as ``--- [Name] Definition: ... Difference Description: ... ---``.

    Tolerates line breaks, markdown bold and a missing closing ``---``. A block without a
    difference description is skipped; output with no parseable block gives no features
    (the caller keeps the raw text and counts it as malformed).
    """
    starts = list(_FEATURE_START.finditer(text))
    features: list[Feature] = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[match.end() : end]
        diff = _DIFFERENCE.search(body)
        if not diff:
            continue
        definition_match = _DEFINITION.search(body, 0, diff.start())
        definition = body[definition_match.end() : diff.start()] if definition_match else ""
        difference = body[diff.end() :]
        features.append(
            Feature(
                name=_clean(match.group(1)),
                definition=_clean(definition),
                difference=_clean(difference),
            )
        )
    return ParsedFeatures(tuple(f for f in features if f.difference))


def format_features(features: tuple[Feature, ...] | list[Feature]) -> str:
    """Features back in the prompt format (for the validator and summarizer)."""
    return "\n".join(
        f"--- [{f.name}] Definition: {f.definition} Difference Description: {f.difference} ---"
        for f in features
    )


def _clean(text: str) -> str:
    text = re.sub(r"-{3,}\s*$", "", text.strip())
    return " ".join(text.replace("**", "").split())


#: How an answer's ``[label]:`` prefix is removed (see :func:`strip_answer_prefix`).
PrefixMode = Literal["lenient", "reference"]
assert get_args(PrefixMode) == PREFIX_MODES  # one list, in the config layer


def strip_answer_prefix(text: str, label: str, mode: PrefixMode = "lenient") -> str:
    """The answer in ``text`` without its ``[label]:`` prefix.

    ``lenient`` (default): the text after the first ``[label]`` (case-insensitive, spaces
    inside the brackets, optional colon) anywhere in the text, else the whole text; stripped.
    ``reference``: exactly DPL/DRP's ``postprocess_output``: only a literal ``[label]:`` at the
    very start is removed (the rest stripped); any other text is returned unchanged.
    """
    if mode == "reference":
        return _strip_reference_prefix(text, label)
    if mode != "lenient":
        raise ValueError(f"mode: expected one of {', '.join(PREFIX_MODES)}, found {mode!r}")
    match = re.search(rf"\[\s*{re.escape(label)}\s*\]\s*[:：]?\s*", text, re.IGNORECASE)
    answer = text[match.end() :] if match else text
    return answer.strip()


def _strip_reference_prefix(text: str, label: str) -> str:
    """DRP ``utils/utils.py`` ``postprocess_output`` (commit 54c0adc, lines 81-85; DPL 7c71663,
    lines 74-78) for ``[Review]:``, and the same test DRP applies to ``[Summary]:``
    (``utils/preprocess.py`` lines 118-120) on the stripped summary."""
    prefix = f"[{label}]:"
    return text[len(prefix) :].strip() if text.startswith(prefix) else text


def _label_pattern(label: str, mode: PrefixMode) -> re.Pattern[str]:
    """``[label]:`` as written (``reference``), or leniently (case, spaces, optional colon)."""
    if mode == "reference":
        return re.compile(re.escape(f"[{label}]:"))
    return re.compile(rf"\[\s*{re.escape(label)}\s*\]\s*[:：]?", re.IGNORECASE)


def _unwrap(text: str) -> str:
    """A labelled part without the markdown bold around its label and the spaces around it."""
    return text.strip().strip("*").strip()


def split_analysis_review(text: str, mode: PrefixMode = "lenient") -> tuple[str, str]:
    """``(analysis, review)`` of an answer asked for as ``[Analysis]: ...`` then
    ``[Review]: ...`` in one reply (CICL's one call).

    The review is the text after the last ``[Review]`` label, up to an ``[Analysis]`` label
    written after it (a model that put the analysis last); the analysis is the text after the
    first ``[Analysis]`` label, up to that last ``[Review]`` label when it comes later. Nothing
    before the last ``[Review]`` label is ever part of the review. Without a ``[Review]``
    label: with an ``[Analysis]`` label the answer is all analysis and the review is empty;
    with neither label the whole answer is the review (the model skipped the analysis).
    ``mode`` as in :func:`strip_answer_prefix`: ``reference`` matches only the labels written
    exactly (``[Review]:``).
    """
    if mode not in PREFIX_MODES:
        raise ValueError(f"mode: expected one of {', '.join(PREFIX_MODES)}, found {mode!r}")
    review_label = _label_pattern("Review", mode)
    analysis_label = _label_pattern("Analysis", mode)
    reviews = list(review_label.finditer(text))
    last = reviews[-1] if reviews else None
    first_analysis = analysis_label.search(text)
    analysis = ""
    if first_analysis is not None:
        later = last is not None and last.start() > first_analysis.start()
        analysis = _unwrap(text[first_analysis.end() : last.start() if later else len(text)])
    if last is None:
        return analysis, ("" if first_analysis else text.strip())
    after = analysis_label.search(text, last.end())
    review = _unwrap(text[last.end() : after.start() if after else len(text)])
    return analysis, review
