"""Extension points: stage kinds, metrics and backends added by other installed packages.

A package adds to drp-bench through Python entry points (``importlib.metadata``) in three
groups (docs/extending.md):

- ``drp_bench.kinds``: name = the stage kind, value = a ``KindPlugin``
  (:mod:`drp_bench.pipeline.kinds.base`): its contract and its implementation together;
- ``drp_bench.metrics``: name = the metric key, value = a ``MetricInfo``
  (:mod:`drp_bench.metrics.table`) that says how the metric is computed;
- ``drp_bench.backends``: name = the backend kind (a model's ``backend.kind``), value =
  ``module:Class``.

Each registry reads its group on first use, once per process (importing drp_bench loads no
plugin), and lists the built-ins first. A plugin may not reuse a built-in's name or another
plugin's: that is an error naming both distributions and entry points, never a silent
replacement. A plugin that fails to import is a one-line error naming its entry point and the
exception. This module only finds and loads entry points; each registry checks what it gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

KINDS_GROUP = "drp_bench.kinds"
METRICS_GROUP = "drp_bench.metrics"
BACKENDS_GROUP = "drp_bench.backends"
GROUPS = (KINDS_GROUP, METRICS_GROUP, BACKENDS_GROUP)


class PluginError(ValueError):
    """A plugin that cannot be used: it fails to import, clashes with a name, or is malformed."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of a group: its name, ``module:attr`` value and distribution."""

    group: str
    name: str
    value: str
    distribution: str

    @property
    def where(self) -> str:
        """How errors name it: ``entry point 'NAME = VALUE' (group G) of distribution D``."""
        return (
            f"entry point '{self.name} = {self.value}' (group {self.group}) of distribution "
            f"{self.distribution}"
        )

    def load(self) -> Any:
        """The object the entry point names; any failure is one :class:`PluginError` line."""
        try:
            return _entry_point(self).load()
        except Exception as exc:
            detail = " ".join(str(exc).split()) or "(no message)"
            raise PluginError(
                f"plugin {self.where} failed to load: {type(exc).__name__}: {detail}"
            ) from exc


def _entry_point(plugin: Plugin) -> EntryPoint:
    return EntryPoint(name=plugin.name, value=plugin.value, group=plugin.group)


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "(unknown distribution)"
    return f"{dist.metadata['Name']} {dist.version}"


@cache
def plugins(group: str) -> tuple[Plugin, ...]:
    """The entry points of ``group`` (metadata only: nothing is imported), sorted by name.

    Read once per process; :func:`reset` forgets them (tests, or after installing a package)."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; groups: {', '.join(GROUPS)}")
    found = {
        (ep.name, ep.value, _distribution(ep)): ep for ep in entry_points(group=group)
    }  # the same distribution seen twice on sys.path counts once
    return tuple(Plugin(group, name, value, dist) for name, value, dist in sorted(found))


def merge(builtins: Mapping[str, Any], group: str, what: str, load: Any = None) -> dict[str, Any]:
    """``builtins`` then every plugin of ``group`` (``what`` names the vocabulary in errors):
    name -> ``load(plugin)`` (default: the loaded object). A plugin whose name is a built-in's
    or another plugin's is an error naming them."""
    merged: dict[str, Any] = dict(builtins)
    seen: dict[str, Plugin] = {}
    for plugin in plugins(group):
        if plugin.name in builtins:
            raise PluginError(
                f"plugin {plugin.where} would replace the built-in {what} {plugin.name!r}; "
                "a plugin must use a name of its own"
            )
        if plugin.name in seen:
            raise PluginError(
                f"plugins {seen[plugin.name].where} and {plugin.where} both define the "
                f"{what} {plugin.name!r}; uninstall one of them"
            )
        seen[plugin.name] = plugin
        merged[plugin.name] = plugin.load() if load is None else load(plugin)
    return merged


def names(group: str) -> Iterable[str]:
    """The plugin names of ``group`` (nothing imported)."""
    return (p.name for p in plugins(group))


def reset() -> None:
    """Forget the entry points read so far, and every registry built from them."""
    plugins.cache_clear()
    for hook in _RESET_HOOKS:
        hook()


_RESET_HOOKS: list[Any] = []


def on_reset(hook: Any) -> Any:
    """Register ``hook`` (e.g. a registry's ``cache_clear``) to run on :func:`reset`."""
    _RESET_HOOKS.append(hook)
    return hook
