"""A seeded random generator of the strings a GBNF grammar admits (the subset of GBNF the
project's grammars use: literals, character classes, rule references, groups, ``|``, ``*``,
``+``, ``?`` and ``{m,n}``), read from the grammar's own text, so a test can check every string
a grammar generates without a model. Character classes draw from :data:`ALPHABET`: ASCII and
the characters that trip parsers (Unicode spaces, full-width colon, dashes, emoji)."""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from typing import Any

ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)]
    + ["\t", "\n", "\r", "\x0b", "\x85", "\xa0", "\u2003", "\u2028", "\u3000", "\uff1a"]
    + ["é", "ü", "—", "–", "’", "“", "中", "😀", "\u200b"]
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]"}


@dataclass
class Grammar:
    rules: dict[str, Any]
    captured: dict[str, list[str]] = field(default_factory=dict)


def _char(text: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character of a literal or class at ``i``."""
    if text[i] != "\\":
        return text[i], i + 1
    kind = text[i + 1]
    if kind in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[kind]
        return chr(int(text[i + 2 : i + 2 + width], 16)), i + 2 + width
    return _ESCAPES[kind], i + 2


def _parse_class(text: str, i: int) -> tuple[Any, int]:
    i += 1  # "["
    negated = text[i] == "^"
    i += negated
    ranges: list[tuple[str, str]] = []
    while text[i] != "]":
        lo, i = _char(text, i)
        hi = lo
        if text[i] == "-" and text[i + 1] != "]":
            hi, i = _char(text, i + 1)
        ranges.append((lo, hi))
    return ("class", negated, ranges), i + 1


def _parse_alternatives(text: str, i: int) -> tuple[Any, int]:
    options, sequence = [], []
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "|":
            options.append(sequence)
            sequence, i = [], i + 1
        elif c == ")":
            break
        elif c in "*+?{":
            low, high, i = _parse_repeat(text, i)
            sequence[-1] = ("repeat", sequence[-1], low, high)
        elif c == '"':
            i += 1
            chars = []
            while text[i] != '"':
                ch, i = _char(text, i)
                chars.append(ch)
            sequence.append(("literal", "".join(chars)))
            i += 1
        elif c == "[":
            node, i = _parse_class(text, i)
            sequence.append(node)
        elif c == "(":
            node, i = _parse_alternatives(text, i + 1)
            sequence.append(node)
            i += 1  # ")"
        else:
            name = re.match(r"[A-Za-z0-9_-]+", text[i:])
            assert name, f"cannot read GBNF at {text[i : i + 20]!r}"
            sequence.append(("rule", name.group()))
            i += len(name.group())
    options.append(sequence)
    return ("alt", options), i


def _parse_repeat(text: str, i: int) -> tuple[int, int | None, int]:
    if text[i] in "*+?":
        return {"*": (0, None), "+": (1, None), "?": (0, 1)}[text[i]] + (i + 1,)
    match = re.match(r"\{(\d+),(\d*)\}", text[i:])
    assert match, text[i : i + 10]
    high = int(match.group(2)) if match.group(2) else None
    return int(match.group(1)), high, i + len(match.group())


def parse_gbnf(text: str) -> Grammar:
    """The rules of a GBNF text (one ``name ::= ...`` per line)."""
    rules = {}
    for line in text.splitlines():
        if line.strip():
            name, body = line.split("::=", 1)
            rules[name.strip()], _ = _parse_alternatives(body, 0)
    return Grammar(rules)


@functools.cache
def _members(negated: bool, ranges: tuple[tuple[str, str], ...]) -> list[str]:
    """The characters of :data:`ALPHABET` a class matches."""
    return [c for c in ALPHABET if any(lo <= c <= hi for lo, hi in ranges) != negated]


def generate(grammar: Grammar, rng: random.Random, capture: tuple[str, ...] = ()) -> str:
    """One random string of the grammar; the text each rule of ``capture`` produced is
    appended to ``grammar.captured[rule]``."""
    grammar.captured = {name: [] for name in capture}
    return _gen(grammar, ("rule", "root"), rng, capture)


def _gen(grammar: Grammar, node: Any, rng: random.Random, capture: tuple[str, ...]) -> str:
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "class":
        return rng.choice(_members(node[1], tuple(node[2])))
    if kind == "rule":
        out = _gen(grammar, grammar.rules[node[1]], rng, capture)
        if node[1] in capture:
            grammar.captured[node[1]].append(out)
        return out
    if kind == "alt":
        sequence = rng.choice(node[1])
        return "".join(_gen(grammar, item, rng, capture) for item in sequence)
    _, inner, low, high = node
    # short, long and in-between repetitions alike: the bounds are what a test must reach
    count = rng.choice([low, high if high is not None else low + 8, rng.randint(low, high or 8)])
    return "".join(_gen(grammar, inner, rng, capture) for _ in range(count))
