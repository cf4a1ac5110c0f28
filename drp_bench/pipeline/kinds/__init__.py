"""How each stage kind runs (its contract is in drp_bench.methods.contracts): kind -> code.

:data:`KINDS` holds the built-ins; :func:`kinds` adds the installed plugins' (entry point group
``drp_bench.kinds``, loaded on first use), :func:`plugin_template_dirs` their template folders.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from drp_bench import plugins
from drp_bench.methods.contracts import stage_kinds
from drp_bench.pipeline.kinds.base import Kind, KindPlugin
from drp_bench.pipeline.kinds.contrast import (
    ContrastGenerate,
    ContrastReviews,
    GenerateNegatives,
)
from drp_bench.pipeline.kinds.differences import ExtractDifferences, ValidateDifferences
from drp_bench.pipeline.kinds.generate import GenerateReview
from drp_bench.pipeline.kinds.history import SummarizeHistory
from drp_bench.pipeline.kinds.judge import Judge
from drp_bench.pipeline.kinds.normalize import NormalizeDifferences
from drp_bench.pipeline.kinds.peer import PeerReview
from drp_bench.pipeline.kinds.persona import BuildPersona
from drp_bench.pipeline.kinds.steps import SummarizeBlocks
from drp_bench.pipeline.kinds.summarize import SummarizeDifferences

KINDS: dict[str, Kind] = {
    "extract_differences": ExtractDifferences(),
    "validate_differences": ValidateDifferences(),
    "normalize_differences": NormalizeDifferences(),
    "summarize_differences": SummarizeDifferences(),
    "summarize_history": SummarizeHistory(),
    "generate_review": GenerateReview(),
    "summarize_blocks": SummarizeBlocks(),
    "contrast_reviews": ContrastReviews(),
    "generate_negatives": GenerateNegatives(),
    "contrast_generate": ContrastGenerate(),
    "build_persona": BuildPersona(),
    "peer": PeerReview(),
    "judge": Judge(),
}


#: What every implementation has (the runner calls them; docs/extending.md).
KIND_METHODS = ("plan", "store", "record")


@lru_cache(maxsize=1)
def _plugin_kinds() -> dict[str, KindPlugin]:
    """The plugins' kinds, checked: a KindPlugin each, whose contract is the registered one."""
    stage_kinds()  # names and contracts checked there, built-ins first
    found: dict[str, KindPlugin] = {}
    for plugin in plugins.plugins(plugins.KINDS_GROUP):
        obj = plugin.load()
        if not isinstance(obj, KindPlugin):
            raise plugins.PluginError(
                f"plugin {plugin.where}: expected a drp_bench.pipeline.kinds.base.KindPlugin, "
                f"found {type(obj).__name__}"
            )
        missing = [m for m in KIND_METHODS if not callable(getattr(obj.implementation, m, None))]
        if missing:
            raise plugins.PluginError(
                f"plugin {plugin.where}: its implementation lacks {', '.join(missing)}"
            )
        _check_templates(plugin, obj.templates)
        found[plugin.name] = obj
    return found


def _check_templates(plugin: plugins.Plugin, folder: Path | None) -> None:
    """A plugin's templates are a folder that shadows none of the package's templates."""
    if folder is None:
        return
    from drp_bench.pipeline.prompts import PACKAGE_TEMPLATES

    folder = Path(folder)
    if not folder.is_dir():
        raise plugins.PluginError(f"plugin {plugin.where}: templates folder {folder} not found")
    clashes = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*.j2")
        if (PACKAGE_TEMPLATES / p.relative_to(folder)).exists()
    )
    if clashes:
        raise plugins.PluginError(
            f"plugin {plugin.where}: templates {clashes} would replace the package's; give "
            "them names of their own (a user's prompts.dir may override any template)"
        )


@lru_cache(maxsize=1)
def kinds() -> dict[str, Kind]:
    """Every kind's implementation: the built-ins, then the plugins' (loaded on first use)."""
    return {**KINDS, **{n: p.implementation for n, p in _plugin_kinds().items()}}


def plugin_template_dirs() -> list[Path]:
    """The plugins' template folders, in entry point order."""
    return [Path(p.templates) for p in _plugin_kinds().values() if p.templates is not None]


plugins.on_reset(_plugin_kinds.cache_clear)
plugins.on_reset(kinds.cache_clear)
