"""Settings: one page per tab (wfdesk.ui.settings), each checking and applying its own fields — the database, the
provider profiles (keys only in the OS keyring), the custom-script base URL, the image backend, the price table and
budgets of the cost ledger, and the HTTP API for other apps.

Save checks every page, then writes the settings file (never a key) and updates ws.settings in place;
`database_changed` tells the window to reopen the workspace.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from wfdesk.settings import Settings, load_settings, save_settings, settings_path, without_env_overrides
from wfdesk.ui import wheel_guard
from wfdesk.ui.config_editor.parameters_form import hint_label
from wfdesk.ui.screen_fit import FitsScreen
from wfdesk.ui.settings.api_page import ApiSettingsPage
from wfdesk.ui.settings.costs_page import CostsPage
from wfdesk.ui.settings.custom_page import CustomScriptsPage, save_custom_script_base_url
from wfdesk.ui.settings.database_page import DatabasePage
from wfdesk.ui.settings.images_page import ImagesPage
from wfdesk.ui.settings.page import Problem, SettingsPage, check_base_url
from wfdesk.ui.settings.providers_page import NO_KEYRING, ProvidersPage


class SettingsDialog(FitsScreen, QDialog):
    preferred_size = (900, 660)
    settings_saved = Signal()  # ws.settings changed in place: whatever shows them refreshes
    database_checked = Signal(bool, str)
    provider_checked = Signal(bool, str)
    a1111_checked = Signal(bool, str)
    comfyui_checked = Signal(bool, str)

    def __init__(self, ws: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        wheel_guard.install()
        self.ws = ws  # None when the database could not be opened: the settings are still editable
        self.database_changed = False
        original = ws.settings if ws is not None else load_settings()
        self.settings = original
        self._old_database_url = original.database_url
        self.setWindowTitle("Settings")

        self.message = QLabel()
        self.message.setObjectName("message_area")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel { border: 1px solid #c0392b; border-left: 5px solid #c0392b; "
                                   "border-radius: 3px; padding: 6px; }")
        self.message.hide()
        open_now = ws.db.display_url() if ws is not None else "(none: it could not be opened)"
        self.database_page = DatabasePage(original, open_now)
        self.providers_page = ProvidersPage(original)
        self.custom_page = CustomScriptsPage(original)
        self.images_page = ImagesPage(original)
        self.costs_page = CostsPage(original)
        self.api_page = ApiSettingsPage(original)
        self.tabs = QTabWidget()
        for page, title in ((self.database_page, "Database"), (self.providers_page, "Providers"),
                            (self.custom_page, "Custom scripts"), (self.images_page, "Images"),
                            (self.costs_page, "Costs && budgets"), (self.api_page, "Other apps")):
            self.tabs.addTab(page, title)
        self.database_page.checked.connect(self.database_checked)
        self.providers_page.checked.connect(self.provider_checked)
        self.images_page.a1111_checked.connect(self.a1111_checked)
        self.images_page.comfyui_checked.connect(self.comfyui_checked)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        for button in buttons.buttons():
            if isinstance(button, QPushButton):  # a standard button always is one
                button.setAutoDefault(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        footer = QHBoxLayout()
        footer.addWidget(hint_label(f"Saved to {settings_path()} — API keys never go there."), 1)
        footer.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(footer)
        self.providers_page.select_first()

    def pages(self) -> list[SettingsPage]:
        """In the order their problems are looked for: the first page with one is shown."""
        return [self.custom_page, self.images_page, self.costs_page, self.database_page, self.api_page,
                self.providers_page]

    # -- saving ---------------------------------------------------------------------------------------------

    def _problems(self) -> list[tuple[int, Problem]]:
        return [(self.tabs.indexOf(page), problem) for page in self.pages() for problem in page.problems()]

    def save(self) -> None:
        for page in self.pages():
            for label in page.problem_labels():
                label.set_problem(None)
        self.message.hide()
        problems = self._problems()
        if problems:
            for _tab, (label, text) in problems:
                label.set_problem(text)
            self.tabs.setCurrentIndex(problems[0][0])
            self._show_message("Not saved: fix the fields marked in red.")
            return
        try:
            new = self.settings.model_copy(deep=True)
            for page in (self.providers_page, self.database_page, self.custom_page, self.images_page,
                         self.costs_page, self.api_page):
                page.apply_to(new)
            new = Settings.model_validate(new.model_dump())
        except ValidationError as exc:
            self._show_message(f"Not saved: {exc}")
            return
        try:
            self.providers_page.store_keys()  # the OS keyring; the settings file never sees them
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own types
            self._show_message(f"Not saved: the system keyring refused the API key ({exc})")
            return
        try:
            save_settings(without_env_overrides(new))
        except OSError as exc:
            self._show_message(f"Not saved: cannot write {settings_path()} ({exc})")
            return
        self.database_changed = new.database_url != self._old_database_url
        for field in Settings.model_fields:
            setattr(self.settings, field, getattr(new, field))  # in place: whoever holds ws.settings sees it
        self.providers_page.keys_stored()
        self.settings_saved.emit()
        self.accept()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()


__all__ = ["NO_KEYRING", "SettingsDialog", "check_base_url", "save_custom_script_base_url"]
