"""Constrained decoding: grammars a role's answer can be held to (``sampling.grammar``).

``features`` is the difference-feature format :func:`drp_bench.pipeline.parsing.parse_features`
reads, as a GBNF grammar (llama.cpp's format; vLLM's xgrammar backend reads the same EBNF):
1 to :data:`MAX_BLOCKS` lines ``--- [Name] Definition: ... Difference Description: ... ---``.
The grammar is narrower than the parser, so every answer it admits parses to exactly the
blocks it holds:

- a field starts with a visible character and holds no newline or other control character;
- no ``[``, ``]`` (only a block's own brackets start a feature), no ``:`` (only the labels end in
  one), no ``*`` (the parser drops markdown bold) and no two dashes in a row (so never ``---``,
  the block end, and never ``--`` before a bracket, a block start);
- each field has a length cap (:data:`FIELD_CHARS`), so a small model cannot loop inside one.

Not in the papers: an opt-in knob for small models that never write the format unaided
(docs/methods.md, "Constrained decoding").
"""

from __future__ import annotations

import re

from drp_bench.config.models import GRAMMARS

__all__ = ["FEATURES_GBNF", "FIELD_CHARS", "GRAMMARS", "MAX_BLOCKS", "admits", "grammar_text"]

#: Most feature blocks an answer may hold.
MAX_BLOCKS = 8
#: Most characters of each field (a dash and the character after it count as one step).
FIELD_CHARS = {"name": 40, "definition": 120, "difference": 200}

# Characters str.split() treats as whitespace beyond ASCII (a field may not start with one: it
# would be stripped, and a field of only these would parse as empty).
_UNICODE_SPACES = r"\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# never in a field: control characters, brackets, colons, asterisks and dashes (dashes come in
# through the "-" rule below, one at a time)
_EXCLUDED = r"\x00-\x1f\x7f\[\]:\uff1a*"
_CHAR = f"[^{_EXCLUDED}-]"  # a dash last in a class is itself
_LEAD = f"[^{_EXCLUDED} {_UNICODE_SPACES}-]"


def _field_rule(name: str, max_chars: int) -> str:
    return f"{name} ::= lead step{{0,{max_chars - 1}}}"


FEATURES_GBNF = "\n".join(
    [
        f'root ::= block ("\\n" block){{0,{MAX_BLOCKS - 1}}}',
        'block ::= "--- [" name "] Definition: " definition " Difference Description: "'
        ' difference " ---"',
        _field_rule("name", FIELD_CHARS["name"]),
        _field_rule("definition", FIELD_CHARS["definition"]),
        _field_rule("difference", FIELD_CHARS["difference"]),
        f"lead ::= {_LEAD}",
        'step ::= char | "-" char',
        f"char ::= {_CHAR}",
        "",
    ]
)

_TEXTS = {"features": FEATURES_GBNF}


def _field_pattern(max_chars: int) -> str:
    return f"{_LEAD}(?:-?{_CHAR}){{0,{max_chars - 1}}}"


def _features_pattern() -> re.Pattern[str]:
    """The ``features`` grammar's language as a Python regular expression (its character
    classes read alike in both): what :func:`admits` checks a server's answer against."""
    name, definition, difference = (_field_pattern(FIELD_CHARS[k]) for k in FIELD_CHARS)
    block = rf"--- \[{name}\] Definition: {definition} Difference Description: {difference} ---"
    return re.compile(rf"{block}(?:\n{block}){{0,{MAX_BLOCKS - 1}}}")


_PATTERNS = {"features": _features_pattern()}


def admits(name: str, text: str) -> bool:
    """Whether the grammar ``name`` admits all of ``text`` (a server that ignored the grammar
    answers with text outside it)."""
    return _PATTERNS[name].fullmatch(text) is not None


def grammar_text(name: str) -> str:
    """The GBNF text of a grammar named by ``sampling.grammar``."""
    try:
        return _TEXTS[name]
    except KeyError:
        raise ValueError(f"unknown grammar {name!r}: expected one of {GRAMMARS}") from None
