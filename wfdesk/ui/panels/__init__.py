"""The desktop TEMPLATE_MAP: a panel class per script type, and the factory the main window uses.

A plugin may name its own panel ("module:Class" in its ScriptTypeInfo.panel); any other type registered later
gets the generic panel, whose form comes from the type's parameters schema.
"""

from __future__ import annotations

import importlib
import logging

from PySide6.QtWidgets import QWidget

from wfdesk.scripts import registry
from wfdesk.ui.panels.base import StepPanel
from wfdesk.ui.panels.custom_script import CustomScriptPanel
from wfdesk.ui.panels.generic import GenericPanel
from wfdesk.ui.panels.image_generation import ImageGenerationPanel
from wfdesk.ui.panels.llm_action import LLMActionPanel
from wfdesk.ui.run_controller import RunController
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)

PANEL_MAP: dict[str, type[StepPanel]] = {
    "llm_action": LLMActionPanel,  # also legacy steps without script_config
    "image_generation": ImageGenerationPanel,
    "custom_script": CustomScriptPanel,
}


def resolve_panel(script_type: str) -> tuple[type[StepPanel], str | None]:
    """The panel class for a script type and, when its own panel could not be used, why (the generic panel is
    used then). A plugin's "module:Class" is imported here, on first use, never at start-up."""
    if script_type in PANEL_MAP:
        return PANEL_MAP[script_type], None
    try:
        spec = registry.type_info(script_type).panel
    except ValueError:
        spec = None
    if not spec:
        return GenericPanel, None
    module_name, _, cls_name = spec.partition(":")
    try:
        if not module_name or not cls_name:
            raise ValueError("expected 'module:Class'")
        cls = getattr(importlib.import_module(module_name), cls_name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the app: say why, use the generic panel
        log.warning("cannot load panel %r of script type %r; using the generic panel", spec, script_type,
                    exc_info=True)
        return GenericPanel, f"{spec}: {type(exc).__name__}: {exc}"
    if isinstance(cls, type) and issubclass(cls, StepPanel):
        return cls, None
    log.warning("panel %r of script type %r is not a StepPanel; using the generic panel", spec, script_type)
    return GenericPanel, f"{spec} is not a StepPanel subclass"


def panel_class(script_type: str) -> type[StepPanel]:
    return resolve_panel(script_type)[0]


def create_panel(script_type: str, ws: Workspace, runs: RunController, parent: QWidget | None = None) -> StepPanel:
    cls, error = resolve_panel(script_type)
    if cls is not GenericPanel and error is None:
        try:
            return cls(ws, runs, parent)
        except Exception as exc:  # noqa: BLE001 - a plugin panel that fails to build falls back like one that fails to import
            log.warning("panel %s of script type %r failed to build", cls.__name__, script_type, exc_info=True)
            error = f"{cls.__module__}:{cls.__name__}: {type(exc).__name__}: {exc}"
    panel = GenericPanel(ws, runs, parent)
    if error:
        panel.show_panel_error(
            f"The “{script_type}” type’s own panel could not be loaded, so this is the generic panel. {error}")
    return panel


__all__ = ["PANEL_MAP", "StepPanel", "create_panel", "panel_class", "resolve_panel"]
