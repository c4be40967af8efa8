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


def panel_class(script_type: str) -> type[StepPanel]:
    if script_type in PANEL_MAP:
        return PANEL_MAP[script_type]
    try:
        spec = registry.type_info(script_type).panel
    except ValueError:
        spec = None
    if spec:
        try:
            module_name, _, cls_name = spec.partition(":")
            cls = getattr(importlib.import_module(module_name), cls_name)
            if isinstance(cls, type) and issubclass(cls, StepPanel):
                return cls
            log.warning("panel %r of script type %r is not a StepPanel; using the generic panel", spec, script_type)
        except (ImportError, AttributeError, ValueError):
            log.warning("cannot load panel %r of script type %r; using the generic panel", spec, script_type,
                        exc_info=True)
    return GenericPanel


def create_panel(script_type: str, ws: Workspace, runs: RunController, parent: QWidget | None = None) -> StepPanel:
    return panel_class(script_type)(ws, runs, parent)


__all__ = ["PANEL_MAP", "StepPanel", "create_panel", "panel_class"]
