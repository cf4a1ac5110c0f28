"""The controlled taxonomy of UVQ keys: categories -> attributes -> directions.

A key is ``category/attribute/direction`` in lowercase, e.g. ``writing/sentence-complexity/higher``.
Every attribute is one axis with exactly two opposite directions:

- ``higher`` / ``lower`` for degrees of a quality (complexity, formality, density ...);
- ``more`` / ``less`` for how often a device is used (paragraphs, rhetorical questions ...);
- ``positive/more`` / ``negative/more`` for the bipolar emotional tone (the polarity level of
  DRP's ``emotion/tone/positive/more``), so that a more positive and a more negative tone are
  recognised as opposite directions of one attribute.

docs/uvq.md documents the table; keep the two in step (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

CATEGORIES: tuple[str, ...] = ("Writing", "Emotion", "Semantics", "Structure", "Pragmatics")

DEGREE = ("higher", "lower")
AMOUNT = ("more", "less")
POLARITY = ("positive/more", "negative/more")

_OPPOSITE = {
    "higher": "lower",
    "lower": "higher",
    "more": "less",
    "less": "more",
    "positive/more": "negative/more",
    "negative/more": "positive/more",
}


@dataclass(frozen=True)
class Attribute:
    """One stylistic axis of a category and its two opposite directions."""

    name: str
    directions: tuple[str, str]
    description: str


TAXONOMY: dict[str, tuple[Attribute, ...]] = {
    "Writing": (
        Attribute(
            "vocabulary-sophistication", DEGREE, "rich, rare or elevated words vs plain ones"
        ),
        Attribute("sentence-complexity", DEGREE, "subordinate clauses, compound sentences"),
        Attribute("sentence-length", DEGREE, "average length of sentences"),
        Attribute("formality", DEGREE, "formal register vs casual, conversational, slangy"),
        Attribute("figurative-language", AMOUNT, "metaphors, similes, imagery"),
        Attribute("jargon", AMOUNT, "technical or domain terms (genre, production, literary)"),
        Attribute("descriptive-language", AMOUNT, "adjectives, adverbs, vivid description"),
        Attribute(
            "punctuation-expressiveness", AMOUNT, "exclamation marks, ellipses, capitals, emoticons"
        ),
    ),
    "Emotion": (
        Attribute("tone", POLARITY, "overall sentiment of the wording, positive or negative"),
        Attribute("intensity", DEGREE, "strength of emotion; lower = calm, neutral, detached"),
        Attribute("enthusiasm", DEGREE, "excitement, passion, eagerness"),
        Attribute("sarcasm", AMOUNT, "sarcasm, irony, mockery"),
        Attribute("nostalgia", AMOUNT, "wistful reminiscence, sentimentality"),
        Attribute("feelings-expression", AMOUNT, "naming the writer's own emotional reactions"),
        Attribute("ambivalence", AMOUNT, "mixed or conflicting feelings expressed together"),
    ),
    "Semantics": (
        Attribute("info-density", DEGREE, "amount of information per sentence"),
        Attribute(
            "detail-specificity", DEGREE, "concrete names, numbers, examples vs generalities"
        ),
        Attribute(
            "background-context", AMOUNT, "background on the creator, genre, history, edition"
        ),
        Attribute("comparisons-to-other-works", AMOUNT, "references to other works or artists"),
        Attribute("coherence", DEGREE, "logical flow and connectedness of ideas"),
        Attribute("analytical-depth", DEGREE, "reasoning, interpretation, causes, themes"),
        Attribute("content-summary", AMOUNT, "retelling the plot, tracklist or contents"),
        Attribute("balanced-assessment", AMOUNT, "weighing strengths against weaknesses"),
    ),
    "Structure": (
        Attribute("length", DEGREE, "overall length of the review"),
        Attribute("paragraphs", AMOUNT, "number of paragraphs or sections"),
        Attribute("lists", AMOUNT, "bulleted or numbered lists, headings"),
        Attribute("organization", DEGREE, "clear logical ordering vs loose, stream of thought"),
        Attribute("transitions", AMOUNT, "explicit connectives between parts"),
        Attribute("intro-conclusion", AMOUNT, "an opening overview or closing verdict"),
        Attribute("itemized-breakdown", AMOUNT, "going through parts one by one (track, chapter)"),
    ),
    "Pragmatics": (
        Attribute("rhetorical-questions", AMOUNT, "questions asked for effect"),
        Attribute("reader-address", AMOUNT, "speaking to the reader directly ('you')"),
        Attribute("recommendations", AMOUNT, "advice to buy, skip, or who would enjoy it"),
        Attribute("humor", AMOUNT, "jokes, wit, playfulness"),
        Attribute("personal-anecdotes", AMOUNT, "stories from the writer's own life"),
        Attribute("hedging", AMOUNT, "qualifiers such as 'I think', 'maybe', 'somewhat'"),
        Attribute("quotations", AMOUNT, "quoting lyrics, passages or other people"),
        Attribute("imperatives", AMOUNT, "commands such as 'listen to this'"),
        Attribute("disclosure", AMOUNT, "stating free copies, credentials, fandom, bias"),
    ),
}


class TaxonomyError(ValueError):
    """A key that is not in the controlled taxonomy."""


def category_slug(category: str) -> str:
    """``Writing`` -> ``writing`` (the key prefix)."""
    return category.lower()


def canonical_category(name: str) -> str | None:
    """Case-insensitive category lookup: ``" emotion "`` -> ``Emotion``; unknown -> None."""
    return _CATEGORY_BY_SLUG.get(name.strip().lower())


_CATEGORY_BY_SLUG = {category_slug(c): c for c in CATEGORIES}


@cache
def all_keys() -> tuple[str, ...]:
    """Every key of the taxonomy, in table order (category, attribute, direction)."""
    return tuple(
        f"{category_slug(cat)}/{attr.name}/{direction}"
        for cat in CATEGORIES
        for attr in TAXONOMY[cat]
        for direction in attr.directions
    )


@cache
def _key_set() -> frozenset[str]:
    return frozenset(all_keys())


def is_key(key: str) -> bool:
    """Whether ``key`` is exactly a taxonomy key."""
    return key in _key_set()


def parse_key(key: str) -> tuple[str, str, str]:
    """``emotion/tone/positive/more`` -> ``("Emotion", "tone", "positive/more")``.

    The category is returned capitalised as in ``CATEGORIES``. Raises ``TaxonomyError`` for
    anything not exactly in the taxonomy (no normalisation here; see ``normalize.canonical_key``).
    """
    if not isinstance(key, str) or not is_key(key):
        raise TaxonomyError(
            f"unknown UVQ key {key!r}: expected 'category/attribute/direction' from the "
            f"taxonomy (drp_bench/uvq/taxonomy.py), e.g. {all_keys()[0]!r}"
        )
    slug, attribute, direction = key.split("/", 2)
    return _CATEGORY_BY_SLUG[slug], attribute, direction


def attribute_of(key: str) -> str:
    """The axis a key belongs to: ``writing/formality/higher`` -> ``writing/formality``."""
    category, attribute, _ = parse_key(key)
    return f"{category_slug(category)}/{attribute}"


def opposite(direction: str) -> str:
    """``higher`` <-> ``lower``, ``more`` <-> ``less``, ``positive/more`` <-> ``negative/more``."""
    try:
        return _OPPOSITE[direction]
    except KeyError:
        raise TaxonomyError(
            f"unknown direction {direction!r}: expected one of {sorted(_OPPOSITE)}"
        ) from None
