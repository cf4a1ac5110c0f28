"""The study's annotation page: one self-contained ``index.html`` (issue 19).

:func:`render_page` fills ``page/page.html`` with ``page.css``, ``page.js`` and the study as
JSON. As for the leaderboard's page (``drp_bench/leaderboard/build.py``): the CSS and script
are inline, the script may run only because its sha256 is in the page's Content-Security-
Policy, and no request leaves the page, so it works from ``file://`` and from any static host.

Blinding is enforced here, not trusted to the caller: only the fields a task type shows are
copied into the page (a method, model, validator decision or gold answer in a task dict never
reaches the page), and of the manifest only the study's id, title, seed and task types (its
``runs`` name methods and models). Input is plain dicts (the shape of
:mod:`drp_bench.annotate.formats`' ``StudyManifest`` and tasks), so this module imports no
model; a malformed task is a :class:`ValueError` naming the task and field.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from drp_bench.annotate.formats import ANNOTATIONS_SCHEMA, REASON_TEXTS, TASK_TYPE_TEXTS

STORAGE_PREFIX = "drp-bench-study"

#: What the page copies of each part of a task: every other field is left out.
_ITEM = ("asin", "title", "description")
_REVIEW = ("rating", "title", "text")
#: Per task type: field -> (its fields shown, whether it is a list of such objects).
_SHOWN: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {
    "feature_validity": {
        "user_review": (_REVIEW, False),
        "representative_reviews": (("label", *_REVIEW), True),
        "features": (("feature_id", "name", "definition", "difference"), True),
    },
    "preference": {"history": (("item_title", *_REVIEW), True), "reviews": (("A", "B"), False)},
}
_MANIFEST_SHOWN = ("study_id", "title", "seed", "task_types")

# ---------------------------------------------------------------- the embedded study


def _pick(obj: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected an object, found {type(obj).__name__}")
    missing = [name for name in fields if name not in obj]
    if missing:
        raise ValueError(f"{where}: missing field {missing[0]!r}")
    return {name: obj[name] for name in fields}


def _pick_list(obj: Any, fields: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    if not isinstance(obj, Sequence) or isinstance(obj, str):
        raise ValueError(f"{where}: expected a list, found {type(obj).__name__}")
    return [_pick(entry, fields, f"{where}[{i}]") for i, entry in enumerate(obj)]


def shown_task(task: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The fields of ``task`` the page shows (``where`` names it in errors)."""
    base = _pick(task, ("task_id", "type", "item", "repeat_of"), where)
    if base["type"] not in _SHOWN:
        raise ValueError(f"{where}: field 'type': unknown task type {base['type']!r}")
    base["item"] = _pick(base["item"], _ITEM, f"{where}.item")
    for name, (fields, is_list) in _SHOWN[base["type"]].items():
        if name not in task:
            raise ValueError(f"{where}: missing field {name!r}")
        pick = _pick_list if is_list else _pick
        base[name] = pick(task[name], fields, f"{where}.{name}")
    if base["type"] == "feature_validity" and not base["features"]:
        raise ValueError(f"{where}.features: a feature-validity task needs a feature")
    return base


def _check_ids(tasks: list[dict[str, Any]]) -> None:
    """Task ids (and feature ids within a task) unique; a repeat names an original task (no
    repeat itself) of the same type."""
    by_id: dict[str, dict[str, Any]] = {}
    for i, task in enumerate(tasks):
        if task["task_id"] in by_id:
            raise ValueError(f"tasks[{i}]: field 'task_id': duplicate {task['task_id']!r}")
        by_id[task["task_id"]] = task
        feature_ids = [feature["feature_id"] for feature in task.get("features", [])]
        if len(set(feature_ids)) != len(feature_ids):
            raise ValueError(f"tasks[{i}].features: field 'feature_id': duplicate feature id")
    for i, task in enumerate(tasks):
        original = task["repeat_of"]
        if original is None:
            continue
        if original not in by_id or by_id[original]["repeat_of"] is not None:
            raise ValueError(
                f"tasks[{i}]: field 'repeat_of': {original!r} is not an original task of the study"
            )
        if by_id[original]["type"] != task["type"]:
            raise ValueError(f"tasks[{i}]: field 'repeat_of': {original!r} is another task type")


def as_plain(obj: Any) -> Any:
    """A pydantic model (e.g. ``formats.StudyManifest``) as its JSON dict; anything else as is."""
    if not isinstance(obj, Mapping) and hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", by_alias=True)
    return obj


def page_data(manifest: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the page embeds: the blinded study, the reasons and the file formats' names.

    ``manifest`` and ``tasks`` are plain dicts, or the models of ``annotate.formats``.
    """
    study = _pick(as_plain(manifest), _MANIFEST_SHOWN, "manifest")
    if not isinstance(study["seed"], int) or isinstance(study["seed"], bool):
        raise ValueError(f"manifest: field 'seed': expected an integer, found {study['seed']!r}")
    shown = [shown_task(as_plain(task), f"tasks[{i}]") for i, task in enumerate(tasks)]
    if not shown:
        raise ValueError("tasks: a study needs at least one task")
    _check_ids(shown)
    return {
        "study": study,
        "tasks": shown,
        "reasons": [{"id": key, "text": text} for key, text in REASON_TEXTS.items()],
        "type_texts": TASK_TYPE_TEXTS,
        "schema": ANNOTATIONS_SCHEMA,
        "storage_prefix": STORAGE_PREFIX,
    }


#: Characters JSON may leave as they are but a ``<script>`` element must not contain: ``<``,
#: ``>`` (``</script>``, ``<!--``), ``&`` and the JavaScript line terminators.
_SCRIPT_UNSAFE = {char: f"\\u{ord(char):04x}" for char in "<>&\u2028\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">`` (no ``</`` can end
    it: the escapes only occur in JSON strings, where ``JSON.parse`` reads them back)."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:
        raise ValueError(f"the study holds a number JSON cannot represent: {exc}") from exc
    return _SCRIPT_UNSAFE_RE.sub(lambda match: _SCRIPT_UNSAFE[match.group()], text)


# ---------------------------------------------------------------- the page


def _asset(name: str) -> str:
    return (resources.files("drp_bench.annotate") / "page" / name).read_text(encoding="utf-8")


def csp_hash(source: str) -> str:
    """A CSP source for the inline script ``source``: ``'sha256-…'``."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_page(manifest: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> str:
    """The annotation page of a study (``index.html``), as text; deterministic."""
    data = page_data(manifest, tasks)
    script, style = _asset("page.js"), _asset("page.css")
    if "</" in script or "</" in style:
        raise ValueError("page.js / page.css must not contain '</' (it would end their element)")
    values = {
        "TITLE": html.escape(str(data["study"]["title"])),
        "CSS": style,
        "JS": script,
        "SCRIPT_HASH": csp_hash(script),
        "STUDY_JSON": script_json(data),
    }
    # One pass: text filled in is never scanned for placeholders again.
    return re.sub(r"@@([A-Z_]+)@@", lambda match: values[match.group(1)], _asset("page.html"))
