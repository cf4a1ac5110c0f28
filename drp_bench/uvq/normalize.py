"""Parse the normaliser's JSON answer into validated atomic units. Never raises.

The normaliser (prompt ``prompts/normalize.j2``) must answer
``{"units": [{"text", "category", "valid", "key", "source_feature"}, ...]}``. The parser finds
that object even inside code fences or after reasoning text, tries a few cheap repairs (trailing
commas, Python literals, output cut off mid-list) and checks every unit against the taxonomy.
A unit failing a check is kept but marked invalid, with a ``reason`` of the form
``"<code>: <detail>"``; the codes are listed in ``PARSER_REASONS`` (the parser rejected it) and
``MODEL_INVALID`` (the normaliser itself said ``valid: false``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from drp_bench.uvq.taxonomy import (
    CATEGORIES,
    all_keys,
    canonical_category,
    category_slug,
    is_key,
    parse_key,
)

# Reason codes set by the parser; a unit carrying one was rejected although it may have been
# marked valid by the normaliser.
UNKNOWN_CATEGORY = "unknown-category"
UNKNOWN_KEY = "unknown-key"
MISSING_KEY = "missing-key"
CATEGORY_MISMATCH = "category-mismatch"
MALFORMED_UNIT = "malformed-unit"
PARSER_REASONS = frozenset(
    {UNKNOWN_CATEGORY, UNKNOWN_KEY, MISSING_KEY, CATEGORY_MISMATCH, MALFORMED_UNIT}
)
# The normaliser marked the unit invalid (its own reason, when given, follows the colon).
MODEL_INVALID = "normaliser"

_DIRECTION_ALIASES = {"fewer": "less", "greater": "higher"}
_MAX_JSON_CHARS = 200_000


@dataclass(frozen=True)
class Unit:
    """One atomic difference. ``valid`` is the final verdict (normaliser and parser checks).

    ``category`` and ``key`` are canonical when recognised, else the normaliser's raw strings
    (kept for diagnostics); a valid unit always has a taxonomy key of its own category.
    """

    text: str
    category: str | None
    valid: bool
    key: str | None
    reason: str | None = None
    source_feature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unit:
        return cls(
            text=str(data.get("text") or ""),
            category=data.get("category"),
            valid=bool(data.get("valid", False)),
            key=data.get("key"),
            reason=data.get("reason"),
            source_feature=data.get("source_feature"),
        )


@dataclass(frozen=True)
class NormalizeResult:
    """Units of one item. ``ok`` is False when no ``{"units": [...]}`` could be read."""

    units: tuple[Unit, ...]
    ok: bool
    error: str | None = None
    repairs: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": [u.to_dict() for u in self.units],
            "ok": self.ok,
            "error": self.error,
            "repairs": list(self.repairs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizeResult:
        return cls(
            units=tuple(Unit.from_dict(u) for u in data.get("units") or ()),
            ok=bool(data.get("ok", False)),
            error=data.get("error"),
            repairs=tuple(data.get("repairs") or ()),
        )


def reason_code(reason: str | None) -> str | None:
    """``"unknown-key: 'x'"`` -> ``"unknown-key"``."""
    if reason is None:
        return None
    return reason.split(":", 1)[0].strip()


def canonical_key(raw: str) -> str | None:
    """Map a key as a model wrote it onto the taxonomy, or None.

    Repairs case, surrounding quotes/backticks, spaces or underscores inside names
    (``Writing/Sentence Complexity/Higher``), ``fewer`` for ``less``, and a tone polarity
    without its ``/more`` (``emotion/tone/positive``). Nothing else is guessed.
    """
    text = raw.strip().strip("`'\"").strip().lower()
    parts = [re.sub(r"[\s_]+", "-", p.strip()) for p in text.split("/")]
    if parts:
        parts[-1] = _DIRECTION_ALIASES.get(parts[-1], parts[-1])
    key = "/".join(parts)
    if is_key(key):
        return key
    if parts[-1] in ("positive", "negative") and is_key(f"{key}/more"):
        return f"{key}/more"
    return None


def prompt_variables(
    item_title: str | None, features: Iterable[Any], raw_differences: str = ""
) -> dict[str, Any]:
    """Variables for ``normalize.j2``: features need ``.name``, ``.definition``, ``.difference``;
    ``raw_differences`` is an answer that did not parse into features, sent as it is."""
    return {
        "item_title": item_title or "",
        "features": list(features),
        "raw_differences": raw_differences,
        "taxonomy_keys": list(all_keys()),
    }


def parse_units(output: str) -> NormalizeResult:
    """Read the normaliser's answer; malformed output gives ``ok=False`` and no units."""
    if not isinstance(output, str):
        return NormalizeResult((), False, f"expected the output as str, found {type(output)}")
    try:
        return _parse(output)
    except Exception as exc:  # the contract is to never raise on model output
        return NormalizeResult((), False, f"unreadable normaliser output: {exc!r}")


def _parse(output: str) -> NormalizeResult:
    obj, repairs, error = _find_json(output)
    if obj is None:
        return NormalizeResult((), False, error, repairs)
    raw_units = obj.get("units") if isinstance(obj, dict) else obj
    if not isinstance(raw_units, list):
        found = type(raw_units).__name__ if raw_units is not None else "no 'units' field"
        return NormalizeResult((), False, f"'units' must be a list, found {found}", repairs)
    units = tuple(_read_unit(i, raw) for i, raw in enumerate(raw_units))
    return NormalizeResult(units, True, None, repairs)


# --- JSON extraction ----------------------------------------------------------------------


def _find_json(text: str) -> tuple[Any, tuple[str, ...], str | None]:
    """The answer object: the last strict-JSON ``{"units": ...}``, else a repaired one.

    A bare top-level list of objects is accepted as the units list when no object is found.
    """
    if not text.strip():
        return None, (), "empty output"
    text = text[:_MAX_JSON_CHARS]
    found = _scan_strict(text)
    if found is not None:
        return found, (), None
    region = _repair_region(text)
    if region is None:
        return None, (), "no JSON object with 'units' found in the output"
    for name, repair in _REPAIRS:
        obj = repair(region)
        if _is_answer(obj):
            return obj, (name,), None
    if isinstance(_try_json(region), dict):
        return None, (), "the JSON object has no 'units' field"
    return None, (), f"malformed JSON near: {region[:80]!r}"


def _is_answer(obj: Any) -> bool:
    if isinstance(obj, dict):
        return "units" in obj
    return isinstance(obj, list) and bool(obj) and all(isinstance(x, dict) for x in obj)


def _scan_strict(text: str) -> Any:
    """Decode JSON at every ``{`` / ``[``; the last object with ``units`` wins."""
    decoder = json.JSONDecoder()
    best_object: Any = None
    best_list: Any = None
    i = 0
    while i < len(text):
        if text[i] not in "{[":
            i += 1
            continue
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        if isinstance(obj, dict) and "units" in obj:
            best_object = obj
        elif _is_answer(obj) and best_list is None:
            best_list = obj
        i = end
    return best_object if best_object is not None else best_list


def _repair_region(text: str) -> str | None:
    """Text from the ``{`` opening the units object (else the first ``{``) to a closing fence."""
    match = re.search(r"""["']units["']\s*:""", text)
    start = text.rfind("{", 0, match.start()) if match else text.find("{")
    if start == -1:
        return None
    region = text[start:]
    fence = region.find("```")
    return region[:fence] if fence != -1 else region


def _without_trailing_commas(text: str) -> str:
    return re.sub(r",\s*([}\]])", r"\1", text)


def _try_json(text: str) -> Any:
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return None


def _repair_commas(region: str) -> Any:
    return _try_json(_without_trailing_commas(region))


def _repair_python(region: str) -> Any:
    """Python-literal dicts (single quotes, True/False/None); untrusted text, literal_eval only."""
    end = region.rfind("}")
    if end == -1:
        return None
    try:
        return ast.literal_eval(region[: end + 1])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _repair_truncated(region: str) -> Any:
    """Output cut off (e.g. max_tokens): keep the complete units, close the open brackets."""
    region = _without_trailing_commas(region)
    stack: list[str] = []
    in_string = escaped = False
    last_cut: tuple[int, list[str]] | None = None
    for i, ch in enumerate(region):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
            if not stack:
                return None  # complete document: nothing truncated, already failed strictly
            if stack[-1] == "]":
                last_cut = (i + 1, list(stack))
    if last_cut is None:
        return None
    cut, open_brackets = last_cut
    return _try_json(region[:cut] + "".join(reversed(open_brackets)))


_REPAIRS = (
    ("trailing-commas", _repair_commas),
    ("python-literal", _repair_python),
    ("truncated", _repair_truncated),
)


# --- unit checks --------------------------------------------------------------------------


def _read_unit(index: int, raw: Any) -> Unit:
    if not isinstance(raw, dict):
        return Unit(
            text=str(raw),
            category=None,
            valid=False,
            key=None,
            reason=f"{MALFORMED_UNIT}: units[{index}] must be an object, found "
            f"{type(raw).__name__}",
        )
    text = _as_text(raw.get("text"))
    source = _as_text(raw.get("source_feature")) or None
    raw_category = _as_text(raw.get("category"))
    raw_key = _as_text(raw.get("key"))
    key = canonical_key(raw_key) if raw_key else None
    category = canonical_category(raw_category) if raw_category else None
    if not raw_category and key:
        category = parse_key(key)[0]  # category omitted: the key says it
    flag = _as_flag(raw.get("valid"))

    def unit(valid: bool, reason: str | None) -> Unit:
        return Unit(
            text=text,
            category=category or raw_category or None,
            valid=valid,
            key=key or raw_key or None,
            reason=reason,
            source_feature=source,
        )

    if flag is None:
        found = repr(raw.get("valid"))
        return unit(
            False, f"{MALFORMED_UNIT}: units[{index}].valid must be true or false, found {found}"
        )
    if not flag:
        model_reason = _as_text(raw.get("reason"))
        return unit(False, f"{MODEL_INVALID}: {model_reason or 'marked invalid'}")
    if category is None:
        return unit(
            False, f"{UNKNOWN_CATEGORY}: {raw_category!r}, expected one of {', '.join(CATEGORIES)}"
        )
    if not raw_key:
        return unit(False, f"{MISSING_KEY}: a valid unit needs a taxonomy key")
    if key is None:
        return unit(False, f"{UNKNOWN_KEY}: {raw_key!r}")
    if not key.startswith(category_slug(category) + "/"):
        return unit(False, f"{CATEGORY_MISMATCH}: key {key!r} is not in category {category}")
    return unit(True, None)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())


def _as_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
