"""The script registry, with the reference document's API.

`SCRIPT_REGISTRY` maps a script type to its handler. A handler is any `handler(step_config, post_id, context)
-> dict`; the built-in ones are `SectionHandler`s, which the engine runs one section at a time (progress, cancel,
resume). `SCRIPT_TYPES` keeps what the GUI needs beside the handler: the parameters schema and an optional panel.

The built-in types register first, when this module is imported, and their names are reserved: nothing else may
take or replace them. Plugins load lazily, the first time anything looks past the built-ins (reading
SCRIPT_REGISTRY / SCRIPT_TYPES, or asking for a type that is not built in), each within a time limit
(wfdesk.scripts.plugins), so a run of a built-in type never waits for a plugin and a hanging one cannot stop the app.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from wfdesk.scripts.config import Parameters
from wfdesk.scripts.step_runner import step_runner

Handler = Callable[[dict[str, Any], int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ScriptTypeInfo:
    name: str
    handler: Handler
    parameters_model: type[BaseModel] = Parameters
    panel: str | None = None  # "module:Class" of a Qt panel widget, resolved by wfdesk.ui only
    source: str = "built-in"
    description: str = ""


BUILTIN_TYPES = ("llm_action", "custom_script", "image_generation", "wordpress_publish")
# The built-ins' entry points in wfdesk's own pyproject.toml: only these may register a built-in name.
BUILTIN_ENTRY_POINTS = {"llm_action": "wfdesk.scripts.llm_actions:PLUGIN",
                        "custom_script": "wfdesk.scripts.custom_scripts:PLUGIN",
                        "image_generation": "wfdesk.scripts.image_generation:PLUGIN",
                        "wordpress_publish": "wfdesk.scripts.wordpress_publish:PLUGIN"}
_REGISTRY: dict[str, Handler] = {}
_TYPES: dict[str, ScriptTypeInfo] = {}
_lock = threading.Lock()
_builtins_done = False


class ReservedNameError(ValueError):
    """A plugin or a caller tried to take a built-in type's name."""


def __getattr__(name: str) -> Any:
    # PEP 562: SCRIPT_REGISTRY and SCRIPT_TYPES are the live dicts, with the plugins loaded on first access.
    if name == "SCRIPT_REGISTRY":
        ensure_plugins_loaded()
        return _REGISTRY
    if name == "SCRIPT_TYPES":
        ensure_plugins_loaded()
        return _TYPES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ensure_plugins_loaded() -> None:
    """Load the installed plugins once (each within its time limit); later calls return at once."""
    from wfdesk.scripts.plugins import load_installed_plugins

    load_installed_plugins()


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")  # a run records it in a 100-character column


def name_problem(script_type: str) -> str | None:
    """Why a new type may not have this name: it passes for a built-in ("LLM_Action", "llm-action"), or it is not a
    plain ASCII name (whitespace, control characters and look-alike letters hide what a step really runs)."""
    if not _PLAIN_NAME.fullmatch(script_type):
        return f"{script_type[:120]!r} is not a plain name (at most 100 letters, digits, '_', '-' and '.')"
    builtin = next((b for b in BUILTIN_TYPES if re.sub(r"[-.]", "_", script_type.lower()) == b), None)
    if builtin is not None and script_type != builtin:
        return f"{script_type!r} passes for {builtin!r}, the name of a built-in step type"
    return None


def register_script_type(script_type: str, handler: Handler, *, parameters_model: type[BaseModel] | None = None,
                         panel: str | None = None, source: str = "runtime", replace: bool = False,
                         description: str = "") -> None:
    """Register a new script type handler. A name already taken is refused unless replace=True; a built-in type's
    name is refused always (ReservedNameError)."""
    if not isinstance(script_type, str) or not script_type.strip():
        raise ValueError("A script type needs a non-empty name")
    if not callable(handler):
        raise TypeError(f"Handler for script type {script_type!r} is not callable")
    model = parameters_model or getattr(handler, "parameters_model", None) or Parameters
    with _lock:
        who = "a registration at run time" if source == "runtime" else source
        if script_type in BUILTIN_TYPES and _builtins_done:
            raise ReservedNameError(f"{script_type!r} is the name of a built-in step type and cannot be taken by {who}")
        problem = name_problem(script_type)
        if problem is not None:
            raise ReservedNameError(f"{problem}: it cannot be taken by {who}")
        if script_type in _REGISTRY and not replace:
            owner = _TYPES[script_type].source if script_type in _TYPES else "unknown"
            raise ValueError(f"Script type {script_type!r} is already registered (by {owner})")
        _REGISTRY[script_type] = handler
        _TYPES[script_type] = ScriptTypeInfo(script_type, handler, model, panel, source, description)


def unregister_script_type(script_type: str) -> None:
    if script_type in BUILTIN_TYPES:
        raise ReservedNameError(f"{script_type!r} is a built-in step type and cannot be removed")
    with _lock:
        _REGISTRY.pop(script_type, None)
        _TYPES.pop(script_type, None)


def get_handler(script_type: str) -> Handler:
    handler = _REGISTRY.get(script_type)
    if handler is None:
        ensure_plugins_loaded()  # only a type that is not built in waits for the plugins
        handler = _REGISTRY.get(script_type)
    if handler is None:
        from wfdesk.scripts.plugins import problem_of

        problem = problem_of(script_type)
        why = f" (the plugin {problem.source} that declares it was not loaded: {problem.error})" if problem else ""
        raise ValueError(f"Unknown script type: {script_type}{why}")
    return handler


def type_info(script_type: str) -> ScriptTypeInfo:
    handler = get_handler(script_type)
    return _TYPES.get(script_type) or ScriptTypeInfo(script_type, handler)


def get_step_config(step_id: int) -> dict[str, Any]:
    from wfdesk.db.models import WorkflowStepEntity
    from wfdesk.errors import NotFoundError
    from wfdesk.workspace import current

    with current().db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        if step is None:
            raise NotFoundError(f"Step {step_id} does not exist")
        return dict(step.config or {})


def execute_step_script(step_id: int, post_id: int, context: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Central script execution based on step configuration (see the reference document).

    The effective config is the step's, overlaid by the post's override, overlaid by the run context. Keyword
    options (observer, cancel, on_run_id) reach the engine; the return value has the reference's response shape
    plus `run_id`. The engine is the one bound in wfdesk.scripts.step_runner (wfdesk.runs.engine binds itself);
    the workspace is the process's current one, as the reference's signature names none.
    """
    from wfdesk.workspace import current

    return step_runner().execute_step(current(), step_id, post_id, context, **options)


def _register_builtins() -> None:
    """The built-ins, first: through their own entry points (as a plugin would), or directly when wfdesk runs
    uninstalled. A plugin's entry point with a built-in name never gets here (plugins.py refuses it)."""
    global _builtins_done
    from wfdesk.scripts.plugins import builtin_entry_points, register_plugin

    for ep in builtin_entry_points():
        register_plugin(ep, ep.load())
    missing = [name for name in BUILTIN_TYPES if name not in _REGISTRY]
    if missing:
        from wfdesk.scripts import custom_scripts, image_generation, llm_actions, wordpress_publish

        for plugin in (llm_actions.PLUGIN, custom_scripts.PLUGIN, image_generation.PLUGIN, wordpress_publish.PLUGIN):
            if plugin.name in missing:
                register_script_type(plugin.name, plugin.handler, parameters_model=plugin.parameters_model,
                                     panel=plugin.panel, source="built-in", description=plugin.description)
    _builtins_done = True


_register_builtins()
