"""The script registry, with the reference document's API.

`SCRIPT_REGISTRY` maps a script type to its handler. A handler is any `handler(step_config, post_id, context)
-> dict`; the built-in ones are `SectionHandler`s, which the engine runs one section at a time (progress, cancel,
resume). `SCRIPT_TYPES` keeps what the GUI needs beside the handler: the parameters schema and an optional panel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from wfdesk.scripts.config import Parameters

Handler = Callable[[dict[str, Any], int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ScriptTypeInfo:
    name: str
    handler: Handler
    parameters_model: type[BaseModel] = Parameters
    panel: str | None = None  # "module:Class" of a Qt panel widget, resolved by wfdesk.ui only
    source: str = "built-in"
    description: str = ""


SCRIPT_REGISTRY: dict[str, Handler] = {}
SCRIPT_TYPES: dict[str, ScriptTypeInfo] = {}
_lock = threading.Lock()


def register_script_type(script_type: str, handler: Handler, *, parameters_model: type[BaseModel] | None = None,
                         panel: str | None = None, source: str = "runtime", replace: bool = False,
                         description: str = "") -> None:
    """Register a new script type handler. A name already taken is refused unless replace=True."""
    if not isinstance(script_type, str) or not script_type.strip():
        raise ValueError("A script type needs a non-empty name")
    if not callable(handler):
        raise TypeError(f"Handler for script type {script_type!r} is not callable")
    model = parameters_model or getattr(handler, "parameters_model", None) or Parameters
    with _lock:
        if script_type in SCRIPT_REGISTRY and not replace:
            owner = SCRIPT_TYPES[script_type].source if script_type in SCRIPT_TYPES else "unknown"
            raise ValueError(f"Script type {script_type!r} is already registered (by {owner})")
        SCRIPT_REGISTRY[script_type] = handler
        SCRIPT_TYPES[script_type] = ScriptTypeInfo(script_type, handler, model, panel, source, description)


def unregister_script_type(script_type: str) -> None:
    with _lock:
        SCRIPT_REGISTRY.pop(script_type, None)
        SCRIPT_TYPES.pop(script_type, None)


def get_handler(script_type: str) -> Handler:
    handler = SCRIPT_REGISTRY.get(script_type)
    if handler is None:
        raise ValueError(f"Unknown script type: {script_type}")
    return handler


def type_info(script_type: str) -> ScriptTypeInfo:
    get_handler(script_type)
    return SCRIPT_TYPES.get(script_type) or ScriptTypeInfo(script_type, SCRIPT_REGISTRY[script_type])


def get_step_config(step_id: int) -> dict[str, Any]:
    from wfdesk.runs.planning import load_step
    from wfdesk.workspace import current

    with current().db.session() as s:
        return dict(load_step(s, step_id).config or {})


def execute_step_script(step_id: int, post_id: int, context: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Central script execution based on step configuration (see the reference document).

    The effective config is the step's, overlaid by the post's override, overlaid by the run context. Keyword
    options (observer, cancel, on_run_id) reach the engine; the return value has the reference's response shape
    plus `run_id`.
    """
    from wfdesk.runs.engine import RunOptions, execute_step
    from wfdesk.workspace import current

    return execute_step(current(), step_id, post_id, context, RunOptions(**options))


BUILTIN_TYPES = ("llm_action", "custom_script", "image_generation", "wordpress_publish")


def _load_script_types() -> None:
    """Built-ins and plugins through the one entry-point path; built-ins directly when wfdesk runs uninstalled."""
    from wfdesk.scripts.plugins import load_plugins

    load_plugins()
    missing = [name for name in BUILTIN_TYPES if name not in SCRIPT_REGISTRY]
    if missing:
        from wfdesk.scripts import custom_scripts, image_generation, llm_actions, wordpress_publish

        for plugin in (llm_actions.PLUGIN, custom_scripts.PLUGIN, image_generation.PLUGIN, wordpress_publish.PLUGIN):
            if plugin.name in missing:
                register_script_type(plugin.name, plugin.handler, parameters_model=plugin.parameters_model,
                                     panel=plugin.panel, source="built-in", description=plugin.description)


_load_script_types()
