"""Script types from installed packages: the `wfdesk.script_types` entry-point group.

The built-in types are declared in wfdesk's own pyproject.toml and load through this same path. A plugin that fails
to import, or that takes a name already registered, is skipped and listed in PLUGIN_ERRORS (the GUI shows them under
Help → Plugins); the app still starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from wfdesk.scripts.base import ScriptTypePlugin, SectionHandler

ENTRY_POINT_GROUP = "wfdesk.script_types"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginProblem:
    entry_point: str
    source: str
    error: str


PLUGIN_ERRORS: list[PluginProblem] = []


def _as_plugin(name: str, obj: object) -> ScriptTypePlugin:
    if isinstance(obj, ScriptTypePlugin):
        return obj
    if isinstance(obj, SectionHandler):
        return ScriptTypePlugin(obj.script_type, obj, obj.parameters_model)
    if callable(obj):
        return ScriptTypePlugin(name, obj)
    raise TypeError(f"entry point {name!r} must name a ScriptTypePlugin or a handler, not {type(obj).__name__}")


def _source(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def load_plugins(eps: Iterable[EntryPoint] | None = None) -> list[str]:
    """Register every declared script type; returns the names registered. Never raises."""
    from wfdesk.scripts.registry import register_script_type

    loaded = []
    for ep in eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP):
        source = _source(ep)
        try:
            plugin = _as_plugin(ep.name, ep.load())
            if plugin.name != ep.name:
                raise ValueError(f"declares {plugin.name!r} under the entry-point name {ep.name!r}")
            register_script_type(plugin.name, plugin.handler, parameters_model=plugin.parameters_model,
                                 panel=plugin.panel, source=source, description=plugin.description)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the app
            message = f"{type(exc).__name__}: {exc}"
            log.warning("Script type plugin %s (%s) skipped: %s", ep.name, source, message)
            PLUGIN_ERRORS.append(PluginProblem(f"{ep.name} = {ep.value}", source, message))
            continue
        loaded.append(plugin.name)
    return loaded
