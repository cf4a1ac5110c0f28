"""The fingerprint of what a method's prompts are made of: ``prompts_sha256``.

It covers the method's resolved stages (kinds, roles, templates, reads, writes and every
option, defaults filled in, but the compute knobs: how many calls a stage makes and how they
sample, e.g. extraction samples and validation rounds, which metrics.json's ``run``
records), the text of every template file its stages render (with their ``.system`` parts and
whatever they import, include or extend; a scorer's, e.g. the judge's when ``metrics.judge``
is on), the prompt settings that shape the text, and where each used
role's model puts a template's instruction. Equal fingerprints: the same data gives the same
prompts. ``submit`` records it in an entry; ``leaderboard build`` and ``reproduce`` compare it
with today's to tell an entry made with other prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drp_bench.config.run_config import RunConfig
    from drp_bench.pipeline.prompts import PromptRenderer

#: The ``prompts`` settings that change what a prompt says (not how calls are ordered).
PROMPT_SETTINGS = ("system", "instructions_in", "max_review_chars", "max_description_chars")


def used_templates(cfg: RunConfig) -> list[str]:
    """The templates the run renders: each stage's (the scorers' too, e.g. the judge's) and
    the option-named ones."""
    names = []
    for stage in cfg.method.stages:
        names.append(stage.template)
        names += [stage.options[k] for k, o in stage.contract.options.items() if o.template]
    return sorted({n for n in names if n})


def _method_part(cfg: RunConfig) -> dict[str, Any]:
    m = cfg.method
    # which past reviews the prompts show, when not BM25's; absent otherwise, so fingerprints
    # made before the setting existed stay the same
    recent = {} if m.recent_reviews is None else {"recent_reviews": m.recent_reviews}
    return {
        **recent,
        "name": m.name,
        "dimensions": m.dimensions,
        "summary_reads": m.summary_reads,
        "handoff": m.handoff,
        "neighbours": m.neighbours,
        "stages": [
            {
                "kind": s.kind,
                "role": s.role,
                "template": s.template,
                "reads": list(s.reads),
                "writes": s.writes,
                "inputs": dict(s.inputs),
                "options": {
                    k: v for k, v in s.options.items() if not s.contract.options[k].compute
                },
            }
            for s in m.own_stages  # a scorer counts by its template and role
        ],
    }


def prompts_fingerprint(cfg: RunConfig, renderer: PromptRenderer | None = None) -> str:
    """``sha256:<hex>`` of the method's stages, its templates' text and the prompt settings
    (``renderer``: the run's, default: the one its prompt settings give)."""
    if renderer is None:
        from drp_bench.pipeline.prompts import renderer_for

        renderer = renderer_for(cfg.prompts)
    roles = sorted({s.role for s in cfg.method.stages if s.role})
    settings: Mapping[str, Any] = cfg.prompts
    body = {
        "method": _method_part(cfg),
        "templates": {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest()
            for name, text in renderer.sources(used_templates(cfg)).items()
        },
        "prompts": {k: settings.get(k) for k in PROMPT_SETTINGS},
        "instructions_in": {r: cfg.roles[r].instructions_in for r in roles if r in cfg.roles},
    }
    if (cfg.prompts.get("mode") or "chat") != "chat":  # chat runs' fingerprints stay as they were
        body["mode"] = cfg.prompts.get("mode")
        body["prompt_format"] = {r: cfg.roles[r].prompt_format for r in roles if r in cfg.roles}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
