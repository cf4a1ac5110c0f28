"""Prompt templates: Jinja2 files, package defaults overridable from a user folder; the
templates of plugin kinds (docs/extending.md) come after the package's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from drp_bench import plugins

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


def _plugin_template_dirs() -> list[Path]:
    """The template folders of installed kind plugins (none: the kinds are not loaded)."""
    if not any(True for _ in plugins.names(plugins.KINDS_GROUP)):
        return []
    from drp_bench.pipeline.kinds import plugin_template_dirs

    return plugin_template_dirs()


def renderer_for(prompts: Mapping[str, Any]) -> PromptRenderer:
    """The renderer a run's ``prompts`` settings give (templates are not checked here)."""
    return PromptRenderer(
        extra_dirs=[d for d in [prompts.get("dir")] if d],
        max_review_chars=prompts.get("max_review_chars"),
        max_description_chars=prompts.get("max_description_chars"),
        instructions_in=prompts.get("instructions_in", "system"),
        system_prompt=prompts.get("system"),
    )


Message = dict[str, str]
#: Where a stage's instruction goes when its template has a ``NAME.system.j2`` part.
INSTRUCTION_PLACES = ("system", "user")


class PromptRenderer:
    """Renders named templates; templates in ``extra_dirs`` shadow the package's, which come
    before the plugin kinds' template folders.

    A stage's prompt is ``NAME.j2`` (the user turn), optionally with ``NAME.system.j2`` (its
    instruction, sent as the system message, as the papers' code does). With
    ``instructions_in="user"`` the instruction opens the user turn instead. ``system_prompt``
    (``prompts.system``) opens the system part: before the template's instruction, or alone for
    a template without one (none by default).
    """

    def __init__(
        self,
        extra_dirs: Sequence[str | Path] = (),
        max_review_chars: int | None = None,
        max_description_chars: int | None = None,
        instructions_in: str = "system",
        system_prompt: str | None = None,
    ):
        if instructions_in not in INSTRUCTION_PLACES:
            raise ValueError(
                f"prompts.instructions_in: expected one of {INSTRUCTION_PLACES}, "
                f"found {instructions_in!r}"
            )
        self.instructions_in = instructions_in
        self.system_prompt = system_prompt
        search = [str(Path(d)) for d in [*extra_dirs, PACKAGE_TEMPLATES, *_plugin_template_dirs()]]
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

    def messages(
        self, template: str, instructions_in: str | None = None, **variables: Any
    ) -> list[Message]:
        """The chat messages of one call: system (if any), then the user turn.

        ``instructions_in`` overrides the renderer's setting for this call (a model's own)."""
        where = instructions_in or self.instructions_in
        if where not in INSTRUCTION_PLACES:
            raise ValueError(
                f"instructions_in: expected one of {INSTRUCTION_PLACES}, found {where!r}"
            )
        user = self.render(template, **variables)
        base = template.removesuffix(".j2")
        instruction = (
            self.render(f"{base}.system", **variables)
            if self.has_template(f"{base}.system")
            else None
        )
        # prompts.system opens the system part: before the template's instruction, if any
        system = "\n\n".join(p for p in (self.system_prompt, instruction) if p)
        if system and where == "user":
            return [{"role": "user", "content": f"{system}\n\n{user}"}]
        return ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}
        ]

    def has_template(self, template: str) -> bool:
        name = template if template.endswith(".j2") else f"{template}.j2"
        try:
            self._env.get_template(name)
        except jinja2.TemplateNotFound:
            return False
        return True

    def sources(self, templates: Sequence[str]) -> dict[str, str]:
        """Template file name -> its text, for ``templates``, their ``.system`` parts and every
        template they import, include or extend (as this renderer finds them: ``prompts.dir``
        first)."""
        todo = [t if t.endswith(".j2") else f"{t}.j2" for t in templates]
        todo += [f"{t.removesuffix('.j2')}.system.j2" for t in todo]
        found: dict[str, str] = {}
        while todo:
            name = todo.pop()
            if name in found or not self.has_template(name):
                continue
            source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
            found[name] = source
            todo.extend(
                t for t in jinja2.meta.find_referenced_templates(self._env.parse(source)) if t
            )
        return dict(sorted(found.items()))

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
