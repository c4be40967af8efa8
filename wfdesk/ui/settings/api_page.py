"""Settings → Other apps: let scripts, a CMS or other apps run steps through the HTTP API while the app is open,
on which port, from which web pages (CORS), and the token they need (masked, with Show, Copy and Regenerate)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wfdesk.settings import Settings, cors_origin_problem
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.settings.page import Problem, SettingsPage


class ApiSettingsPage(SettingsPage):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.enabled = QCheckBox("Allow other apps to run steps")
        self.enabled.setChecked(settings.api_enabled)
        form.addRow(self.enabled)
        form.addRow(hint_label("While wfdesk is open, scripts and a CMS on this computer can run steps through its "
                               "HTTP API (POST /api/workflow/execute-step), in the same run process as your own "
                               "runs. Only this computer can reach it, and every request needs the token."))
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.api_port)
        self.port.setAccessibleName("Port")
        self.address = hint_label("")
        port_row = QHBoxLayout()
        port_row.addWidget(self.port)
        port_row.addStretch(1)
        port_cell = QVBoxLayout()
        port_cell.addLayout(port_row)
        port_cell.addWidget(self.address)
        form.addRow("Port:", port_cell)
        self.origins = QLineEdit(", ".join(settings.api_cors_origins))
        self.origins.setObjectName("api_cors_origins")
        self.origins.setPlaceholderText("https://cms.example.com")
        self.origins_problem = ProblemLabel()
        origins_cell = QVBoxLayout()
        origins_cell.addWidget(self.origins)
        origins_cell.addWidget(hint_label("Web pages allowed to call the API from a browser (CORS), separated by "
                                          "commas. Leave empty for scripts and server-side plugins."))
        origins_cell.addWidget(self.origins_problem)
        form.addRow("Web pages:", origins_cell)
        form.addRow("Token:", self._token_row())
        self.token_hint = hint_label("")
        form.addRow("", self.token_hint)
        self.port.valueChanged.connect(self._show_address)
        self._show_address()
        self._show_token()

    def _token_row(self) -> QHBoxLayout:
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setObjectName("api_token")
        self.show_button = QPushButton("Show")
        self.copy_button = QPushButton("Copy")
        self.regenerate_button = QPushButton("Regenerate")
        self.show_button.clicked.connect(self._toggle_shown)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.token.text()))
        self.regenerate_button.clicked.connect(self._regenerate)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        for b in (self.show_button, self.copy_button, self.regenerate_button):
            b.setAutoDefault(False)
            row.addWidget(b)
        return row

    def _show_address(self) -> None:
        self.address.setText(f"Other apps call http://127.0.0.1:{self.port.value()}/api/workflow/execute-step")

    def _show_token(self) -> None:
        from wfdesk.api.token import TOKEN_ENV, TokenUnavailableError, env_token, existing_token
        from wfdesk.settings import keyring_available

        try:
            token = existing_token()
            from_env = env_token() is not None
        except TokenUnavailableError as exc:  # a WFDESK_API_TOKEN that no client could send
            for button in (self.show_button, self.copy_button, self.regenerate_button):
                button.setEnabled(False)
            self.token_hint.setText(str(exc))
            return
        self.token.setText(token.value if token else "")
        self.token.setPlaceholderText("" if token else "made when you allow other apps and save")
        self.show_button.setEnabled(token is not None)
        self.copy_button.setEnabled(token is not None)
        self.regenerate_button.setEnabled(not from_env and keyring_available())
        if from_env:
            self.token_hint.setText(f"Set by {TOKEN_ENV} in the environment.")
        elif not keyring_available():
            self.token_hint.setText(f"No system keyring is available to keep a token: set {TOKEN_ENV} in the "
                                    "environment before starting wfdesk.")
        else:
            self.token_hint.setText("Kept in the system keyring. Requests send it as Authorization: Bearer <token>. "
                                    "Regenerate makes the old one stop working at once.")

    def _toggle_shown(self) -> None:
        shown = self.token.echoMode() == QLineEdit.EchoMode.Normal
        self.token.setEchoMode(QLineEdit.EchoMode.Password if shown else QLineEdit.EchoMode.Normal)
        self.show_button.setText("Show" if shown else "Hide")

    def _regenerate(self) -> None:
        from wfdesk.api.token import TokenUnavailableError, regenerate_token

        try:
            regenerate_token()
        except TokenUnavailableError as exc:
            self.token_hint.setText(str(exc))
            return
        self._show_token()

    def origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.origins.text().split(",") if o.strip()]

    def problem(self) -> str | None:
        return cors_origin_problem(self.origin_list())

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.origins_problem]

    def problems(self) -> list[Problem]:
        problem = self.problem()
        return [(self.origins_problem, problem)] if problem else []

    def apply_to(self, settings: Settings) -> None:
        settings.api_enabled = self.enabled.isChecked()
        settings.api_port = self.port.value()
        settings.api_cors_origins = self.origin_list()
