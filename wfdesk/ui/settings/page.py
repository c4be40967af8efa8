"""What a Settings tab is to the dialog: its problems, in words under the fields at fault, and how it writes its
fields into the settings being saved. Also the "Test connection" verdict the pages share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from wfdesk.settings import Settings
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, if_alive
from wfdesk.ui.worker import BackgroundOp

# A problem: the label under the field at fault and what is wrong, in words.
Problem = tuple[ProblemLabel, str]


class SettingsPage(QWidget):
    """One tab of the Settings dialog."""

    def problem_labels(self) -> list[ProblemLabel]:
        """Every problem label of the page (cleared before each save)."""
        return []

    def problems(self) -> list[Problem]:
        """What stops a save, under the fields at fault; empty when the page may be saved."""
        return []

    def apply_to(self, new: Settings) -> None:
        """Write the page's fields into `new` (validated by the dialog afterwards, all pages together)."""
        raise NotImplementedError


def show_result(label: QLabel, ok: bool, message: str) -> None:
    label.setText(("✔ " if ok else "✘ ") + message)
    label.setStyleSheet(f"color: {'#1e8449' if ok else '#c0392b'};")
    label.show()


def run_connection_test(owner: QWidget, label: QLabel, busy: str, check: Callable[[], tuple[bool, str]],
                       verdict: Any) -> None:
    """Run `check` off the GUI thread; its verdict goes to `label` and to the signal `verdict` (ok, message)."""
    label.setText(busy)
    label.setStyleSheet("")

    def done(result: tuple[bool, str]) -> None:
        show_result(label, *result)
        verdict.emit(*result)

    BackgroundOp(check).success(if_alive(owner, done)).failure(
        if_alive(owner, lambda exc: done((False, str(exc))))).run_in_background()


def check_base_url(url: str) -> str | None:
    """Why a typed base URL cannot be used, or None."""
    return None if url.startswith(("http://", "https://")) else "must start with http:// or https://"
