"""Settings → Custom scripts: the one address custom_script steps post to."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLineEdit, QVBoxLayout, QWidget

from wfdesk.settings import Settings, environment, file_settings, save_settings
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.settings.page import Problem, SettingsPage, check_base_url


def save_custom_script_base_url(settings: Settings, url: str) -> None:
    """Store the custom-script base URL in the settings file and in `settings` (in place: open panels see it)."""
    url = url.strip().rstrip("/")
    problem = check_base_url(url)
    if problem:
        raise ValueError(f"The base URL {problem}")
    file = file_settings()
    file.custom_script_base_url = url
    save_settings(file)
    settings.custom_script_base_url = url


class CustomScriptsPage(SettingsPage):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.custom_url = QLineEdit(settings.custom_script_base_url or "")
        self.custom_url.setObjectName("custom_script_base_url")
        self.custom_url.setPlaceholderText("http://localhost:8000")
        self.custom_problem = ProblemLabel()
        cell = QVBoxLayout()
        cell.addWidget(self.custom_url)
        cell.addWidget(hint_label("custom_script steps POST to a path under this address, e.g. "
                                  "/api/custom/process-data. Steps never name a host of their own."))
        cell.addWidget(self.custom_problem)
        form.addRow("Base URL:", cell)
        self.from_environment = bool(environment().custom_script_base_url)
        if self.from_environment:
            self.custom_url.setEnabled(False)
            form.addRow("", hint_label("Set by WFDESK_CUSTOM_SCRIPT_BASE_URL in the environment."))

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.custom_problem]

    def problems(self) -> list[Problem]:
        url = self.custom_url.text().strip()
        problem = check_base_url(url) if url else None
        return [(self.custom_problem, problem)] if problem else []

    def apply_to(self, new: Settings) -> None:
        if not environment().custom_script_base_url:
            new.custom_script_base_url = self.custom_url.text().strip().rstrip("/") or None
