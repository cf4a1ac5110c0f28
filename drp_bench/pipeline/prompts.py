"""Prompt templates: Jinja2 files, package defaults overridable from a user folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

PACKAGE_TEMPLATES = Path(__file__).resolve().parents[1] / "prompts"


def _truncate_chars(text: str | None, limit: int | None) -> str:
    """Cut ``text`` to ``limit`` characters at a word boundary (no limit when None/0)."""
    text = text or ""
    if not limit or len(text) <= limit:
        return text
    cut = text[:limit]
    if not text[limit].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + " ..."


class PromptRenderer:
    """Renders named templates; templates in ``extra_dirs`` shadow the package's."""

    def __init__(
        self,
        extra_dirs: Sequence[str | Path] = (),
        max_review_chars: int | None = None,
        max_description_chars: int | None = None,
    ):
        search = [str(Path(d)) for d in extra_dirs] + [str(PACKAGE_TEMPLATES)]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._env.filters["truncate_chars"] = _truncate_chars
        self._limits = {
            "max_review_chars": max_review_chars,
            "max_description_chars": max_description_chars,
        }

    def render(self, template: str, **variables: Any) -> str:
        name = template if template.endswith(".j2") else f"{template}.j2"
        try:
            tmpl = self._env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise FileNotFoundError(
                f"prompt template {name!r} not found in {self._env.loader.searchpath}"  # type: ignore[union-attr]
            ) from exc
        text = tmpl.render(**self._limits, **variables)
        return _squeeze_blank_lines(text).strip()


def _squeeze_blank_lines(text: str) -> str:
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    return "\n".join(out)
