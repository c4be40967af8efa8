"""What a script type's panel may override: the hooks StepPanel calls, with what they do when not overridden.

StepPanel inherits these, so a panel (built in or a plugin's) overrides them by name on its StepPanel subclass.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QWidget


class PanelHooks:
    # Which LLM settings make sense for this type ("model", "temperature"); empty hides the group.
    llm_fields: tuple[str, ...] = ("model", "temperature")

    def build_results(self) -> QWidget:
        """The right-hand results area."""
        return QWidget()

    def data_loaded(self, data: dict[str, Any]) -> None:
        """New panel data (step, sections) is on screen."""

    def section_shown(self, section_id: int | None) -> None:
        """The picker's current section changed: show its results."""

    def live_text(self, section_id: int | None, text: str) -> None:
        """The answer of the section on screen so far, while a run streams it (at most ~10 times a second)."""

    def section_finished(self, entry: dict[str, Any]) -> None:
        """The section on screen finished in the attached run (entry: its status, and output when it has one); its
        results are reloaded just after."""

    def reload_detail(self) -> None:
        """Reload the results of the current section (called coalesced after sections finish)."""

    def extra_context(self) -> dict[str, Any]:
        """More run context (e.g. the generic panel's parameters)."""
        return {}

    def run_problem(self) -> str | None:
        """Why the options as typed cannot run (shown instead of starting), or None."""
        return None

    def llm_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """What the model / temperature fields show as the step's own values."""
        params = (data["step"]["config"].get("script_config") or {}).get("parameters") or {}
        action = data["step"].get("action") or {}
        temp = params.get("temperature", action.get("temperature"))
        return {"model": params.get("model") or action.get("model") or "",
                "temperature": float(temp) if isinstance(temp, int | float) else 0.7}

    def options_note(self) -> str:
        """Subclasses' part of the options summary (e.g. changed parameters)."""
        return ""

    def add_options(self, form: QFormLayout, data: dict[str, Any]) -> None:
        """More rows for the options box (the generic panel's parameters)."""

    def running_changed(self, running: bool) -> None:
        """A run for this step and post started or ended (subclasses enable their own actions)."""
