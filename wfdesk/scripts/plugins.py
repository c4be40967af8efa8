"""Script types from installed packages: the `wfdesk.script_types` entry-point group.

The built-in types are declared in wfdesk's own pyproject.toml and register first (registry._register_builtins);
their names are reserved, so a plugin declaring `llm_action` is refused with a message naming the plugin. Other
plugins load lazily (registry.ensure_plugins_loaded), each imported on its own thread and waited for at most
LOAD_SECONDS: a plugin whose import hangs is listed as not loaded and the app goes on (if it finishes later, it is
registered then). Every plugin that is skipped is listed in PLUGIN_ERRORS (the GUI shows them under Help → Plugins).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from wfdesk.scripts.base import ScriptTypePlugin, SectionHandler
from wfdesk.settings import PLUGIN_LOAD_SECONDS, environment

ENTRY_POINT_GROUP = "wfdesk.script_types"
LOAD_SECONDS = PLUGIN_LOAD_SECONDS  # per plugin; WFDESK_PLUGIN_LOAD_SECONDS overrides it
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginProblem:
    entry_point: str
    source: str
    error: str


PLUGIN_ERRORS: list[PluginProblem] = []
_errors_lock = threading.Lock()
_installed_lock = threading.Lock()
_installed_loaded = False
_loader = threading.local()  # .active on a plugin's import thread: it must never wait for the plugins itself


def _as_plugin(name: str, obj: object) -> ScriptTypePlugin:
    if isinstance(obj, ScriptTypePlugin):
        return obj
    if isinstance(obj, SectionHandler):
        return ScriptTypePlugin(obj.script_type, obj, obj.parameters_model)
    if callable(obj):
        return ScriptTypePlugin(name, obj)
    raise TypeError(f"its entry point {name!r} names neither a script type plugin nor a handler")


def _source(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def _plugin_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"the plugin {dist.name}" if dist is not None else f"the plugin {ep.value}"


def load_seconds() -> float:
    return environment().plugin_load_seconds


def builtin_entry_points() -> list[EntryPoint]:
    """wfdesk's own entry points for its built-in types (one per name, however many copies are installed)."""
    from wfdesk.scripts.registry import BUILTIN_ENTRY_POINTS

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if BUILTIN_ENTRY_POINTS.get(ep.name) == ep.value:
            found.setdefault(ep.name, ep)
    return list(found.values())


def register_plugin(ep: EntryPoint, obj: object) -> str:
    """Register what an entry point loaded; returns its name. Raises ValueError/TypeError with the reason."""
    from wfdesk.scripts.registry import register_script_type

    plugin = _as_plugin(ep.name, obj)
    if plugin.name != ep.name:
        raise ValueError(f"it declares {plugin.name!r} under the entry-point name {ep.name!r}")
    register_script_type(plugin.name, plugin.handler, parameters_model=plugin.parameters_model,
                         panel=plugin.panel, source=_source(ep), description=plugin.description)
    return plugin.name


def _describe(exc: BaseException) -> str:
    """What went wrong, in words (no exception class names)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"it needs the Python module {exc.name!r}, which is not installed"
    if isinstance(exc, ImportError):
        return f"it could not be imported: {exc}"
    if isinstance(exc, (ValueError, TypeError)):
        return str(exc)
    return f"it failed while loading: {exc or 'no details given'}"


def _record(ep: EntryPoint, message: str) -> None:
    log.warning("Script type plugin %s (%s) skipped: %s", ep.name, _source(ep), message)
    with _errors_lock:
        PLUGIN_ERRORS.append(PluginProblem(f"{ep.name} = {ep.value}", _source(ep), message))


def _forget(ep: EntryPoint) -> None:
    with _errors_lock:
        PLUGIN_ERRORS[:] = [p for p in PLUGIN_ERRORS if p.entry_point != f"{ep.name} = {ep.value}"]


def problem_of(script_type: str) -> PluginProblem | None:
    """Why the plugin declaring this type is not loaded, if one is."""
    with _errors_lock:
        return next((p for p in PLUGIN_ERRORS if p.entry_point.partition(" = ")[0] == script_type), None)


@dataclass
class _Attempt:
    ep: EntryPoint
    obj: object = None
    error: BaseException | None = None
    abandoned: bool = False  # the loader stopped waiting: the import thread finishes the job if it ever returns
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _finish(attempt: _Attempt) -> bool:
    ep = attempt.ep
    if attempt.error is not None:
        _record(ep, _describe(attempt.error))
        return False
    try:
        register_plugin(ep, attempt.obj)
    except (ValueError, TypeError) as exc:
        _record(ep, _describe(exc))
        return False
    return True


def _import(attempt: _Attempt) -> None:
    _loader.active = True
    try:
        attempt.obj = attempt.ep.load()
    except BaseException as exc:  # noqa: BLE001 - a broken plugin (even one calling sys.exit) must not stop the app
        attempt.error = exc
    with attempt.lock:
        attempt.done.set()
        late = attempt.abandoned
    if late:  # it finished after the loader gave up on it: register it now, in place of the "did not finish" note
        _forget(attempt.ep)
        if _finish(attempt):
            log.info("Script type plugin %s finished loading late and is registered", attempt.ep.name)


def _load_one(ep: EntryPoint, seconds: float) -> bool:
    attempt = _Attempt(ep)
    thread = threading.Thread(target=_import, args=(attempt,), name=f"wfdesk-plugin-{ep.name}", daemon=True)
    thread.start()
    attempt.done.wait(seconds)
    with attempt.lock:
        if not attempt.done.is_set():
            attempt.abandoned = True
            _record(ep, f"it did not finish loading within {seconds:g} s and is skipped; if it finishes later it "
                        "is added then")
            return False
    return _finish(attempt)


def load_plugins(eps: Iterable[EntryPoint] | None = None, seconds: float | None = None) -> list[str]:
    """Register the given (default: every installed) plugin's script type; returns the names registered. A plugin
    taking a built-in name, failing to import or not finishing within `seconds` is listed in PLUGIN_ERRORS and
    skipped. Never raises."""
    from wfdesk.scripts.registry import BUILTIN_ENTRY_POINTS, BUILTIN_TYPES, name_problem

    limit = load_seconds() if seconds is None else seconds
    loaded = []
    for ep in eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP):
        if BUILTIN_ENTRY_POINTS.get(ep.name) == ep.value:
            continue  # a built-in, registered already
        if ep.name in BUILTIN_TYPES:
            _record(ep, f"{_plugin_name(ep)} tries to register {ep.name!r}, the name of a built-in step type, "
                        "and is refused: built-in types cannot be replaced")
            continue
        problem = name_problem(ep.name)
        if problem is not None:
            _record(ep, f"{_plugin_name(ep)} is refused: {problem}")
            continue
        if _load_one(ep, limit):
            loaded.append(ep.name)
    return loaded


def installed_plugins_loaded() -> bool:
    return _installed_loaded


def load_installed_plugins() -> None:
    """Once per process, on the first look past the built-ins; other threads asking meanwhile wait for it.
    A plugin's own import thread asking (a plugin importing the registry) is answered at once."""
    global _installed_loaded
    if _installed_loaded or getattr(_loader, "active", False):
        return
    with _installed_lock:
        if _installed_loaded:
            return
        try:
            load_plugins()
        finally:
            _installed_loaded = True
