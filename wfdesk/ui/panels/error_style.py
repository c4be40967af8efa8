"""How a panel shows an error: the red that reads on light and dark palettes, and a section's last failure."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

from wfdesk.states import UnitState
from wfdesk.ui.panels.run_notice import plain_error


def is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def error_color(widget: QWidget) -> str:
    return "#ff8a80" if is_dark(widget) else "#c62828"


def error_html(widget: QWidget, text: str) -> str:
    """Text in the error colour, escaped: messages quote editors' text and server answers."""
    return f"<span style='color:{error_color(widget)}'>{html.escape(text)}</span>"


def show_last_failure(note: QLabel, last: dict[str, Any]) -> None:
    """The note under a section's results: why its last run failed, or nothing."""
    if last.get("status") == UnitState.ERROR:
        note.setText(f"<span style='color:{error_color(note)}'>Last run failed: "
                     f"{html.escape(plain_error(last.get('error') or ''))}</span>")
        note.show()
    else:
        note.hide()
