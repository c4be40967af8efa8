"""The form of one provider profile on Settings → Providers: its fields, filled from and read into a profile's
values (a dict, the page's working copy)."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from wfdesk.settings import ProviderProfile
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label

KIND_NAMES = {"openai": "OpenAI", "ollama": "Ollama", "lmstudio": "LM Studio",
              "compatible": "OpenAI-compatible server"}


def _bounds(field: str) -> tuple[float, float]:
    """A ProviderProfile field's bounds from its schema, so the spin boxes never accept what the model refuses."""
    prop = ProviderProfile.model_json_schema()["properties"][field]
    lo = prop.get("minimum", prop.get("exclusiveMinimum", 0))
    if "exclusiveMinimum" in prop:
        lo += 0.1
    return lo, prop.get("maximum", 10_000)


def _double(lo: float, hi: float, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(1)
    spin.setSuffix(f" {suffix}")
    return spin


class ProfileForm(QObject):
    """The fields, laid out in `box`. `edited`: a value the editor changed (not the name, not the key)."""

    edited = Signal()

    def __init__(self, box: QGroupBox) -> None:
        super().__init__(box)
        self.form_layout = form = QFormLayout(box)
        self.p_name = QLineEdit()
        self.p_name.setObjectName("profile_name")
        self.p_kind = QLabel()
        self.p_base_url = QLineEdit()
        self.p_base_url.setObjectName("base_url")
        self.p_base_url.setPlaceholderText("empty: OPENAI_BASE_URL or the OpenAI API")
        self.p_key = QLineEdit()
        self.p_key.setObjectName("api_key")
        self.p_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_message = QLabel()
        self.key_message.setObjectName("key_message")
        self.key_message.setWordWrap(True)
        self.p_key_env = QLineEdit()
        self.p_key_env.setObjectName("api_key_env")
        self.p_connect = _double(*_bounds("connect_timeout"), "s")
        self.p_read = _double(*_bounds("read_timeout"), "s")
        self.p_concurrency = QSpinBox()
        self.p_concurrency.setRange(*map(int, _bounds("concurrency")))
        self.p_retries = QSpinBox()
        self.p_retries.setRange(*map(int, _bounds("max_retries")))
        self.p_max_wait = _double(*_bounds("max_wait"), "s")
        self.p_max_wait.setToolTip("A provider that asks to wait longer than this before trying again (Retry-After) "
                                   "fails the section instead of being asked again too early.")
        self.p_deadline = _double(*_bounds("request_deadline"), "s")
        self.p_deadline.setToolTip("One request, its whole answer included, is stopped after this long, however "
                                   "slowly the server keeps sending.")
        for widget in (self.p_base_url, self.p_key_env):
            widget.textEdited.connect(self.edited)
        for spin in (self.p_connect, self.p_read, self.p_concurrency, self.p_retries, self.p_max_wait,
                     self.p_deadline):
            spin.valueChanged.connect(self.edited)
        self._lay_out(form)

    def _lay_out(self, form: QFormLayout) -> None:
        form.addRow("Name:", self.p_name)
        form.addRow("Kind:", self.p_kind)
        form.addRow("Base URL:", self.p_base_url)
        key_cell = QVBoxLayout()
        key_cell.addWidget(self.p_key)
        key_cell.addWidget(self.key_message)
        form.addRow("API key:", key_cell)
        form.addRow("Key variable:", self.p_key_env)
        timeouts = QHBoxLayout()
        timeouts.addWidget(QLabel("connect"))
        timeouts.addWidget(self.p_connect)
        timeouts.addWidget(QLabel("read (answer)"))
        timeouts.addWidget(self.p_read)
        timeouts.addStretch(1)
        form.addRow("Timeouts:", timeouts)
        form.addRow("", hint_label("Local models are slow: give them a long read timeout."))
        numbers = QHBoxLayout()
        numbers.addWidget(self.p_concurrency)
        numbers.addWidget(QLabel("requests at once;   retries:"))
        numbers.addWidget(self.p_retries)
        numbers.addStretch(1)
        form.addRow("Concurrency:", numbers)
        for label, spin in (("Longest wait:", self.p_max_wait), ("Answer deadline:", self.p_deadline)):
            cell = QHBoxLayout()
            cell.addWidget(spin)
            cell.addStretch(1)  # a number's width, as the timeouts above
            form.addRow(label, cell)
        form.addRow("", hint_label("A provider asking to wait longer than the longest wait fails the section; an "
                                   "answer still arriving at the deadline is stopped."))

    def add_test_row(self, test: QPushButton, result: QLabel, problem: ProblemLabel) -> None:
        row = QHBoxLayout()
        row.addWidget(test)
        row.addWidget(result, 1)
        self.form_layout.addRow("", row)
        self.form_layout.addRow("", problem)

    def fill(self, name: str, p: dict[str, Any], *, saved: bool) -> None:
        """Show profile `name` (its values `p`); a saved profile keeps its name (its key is stored under it)."""
        self.p_name.setText(name)
        self.p_name.setReadOnly(saved)
        self.p_name.setToolTip("Saved profiles keep their name (their API key is stored under it)" if saved else "")
        self.p_kind.setText(KIND_NAMES.get(p["kind"], p["kind"]))
        self.p_base_url.setText(p.get("base_url") or "")
        self.p_key_env.setText(p.get("api_key_env") or "OPENAI_API_KEY")
        self.p_connect.setValue(p["connect_timeout"])
        self.p_read.setValue(p["read_timeout"])
        self.p_concurrency.setValue(p["concurrency"])
        self.p_retries.setValue(p["max_retries"])
        self.p_max_wait.setValue(p["max_wait"])
        self.p_deadline.setValue(p["request_deadline"])

    def values(self) -> dict[str, Any]:
        """The profile's values as the form shows them (its name and key aside)."""
        return {"base_url": self.p_base_url.text().strip() or None,
                "api_key_env": self.p_key_env.text().strip() or "OPENAI_API_KEY",
                "connect_timeout": self.p_connect.value(), "read_timeout": self.p_read.value(),
                "concurrency": self.p_concurrency.value(), "max_retries": self.p_retries.value(),
                "max_wait": self.p_max_wait.value(), "request_deadline": self.p_deadline.value()}

    def show_key_state(self, keyring: bool, no_keyring: str) -> None:
        env = self.p_key_env.text().strip() or "OPENAI_API_KEY"
        # The profile's own variable (any name the editor typed): not one of wfdesk's WFDESK_* settings.
        env_note = f" {env} is set in the environment." if os.environ.get(env) else ""
        if not keyring:
            self.p_key.setEnabled(False)
            self.p_key.setPlaceholderText("no system keyring")
            self.key_message.setText(no_keyring + (f" (this profile reads {env})." if env != "OPENAI_API_KEY"
                                                   else ".") + env_note)
            self.key_message.setStyleSheet("color: #b9770e;")
        else:
            self.p_key.setEnabled(True)
            self.p_key.setPlaceholderText("leave empty to keep the stored key")
            self.key_message.setText("Stored in the system keyring, never in the settings file. Local servers "
                                     "need none." + env_note)
            self.key_message.setStyleSheet("")
