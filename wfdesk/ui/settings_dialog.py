"""Settings: the database, the provider profiles (keys only in the OS keyring), the custom-script base URL, the
image backend (OpenAI-compatible or AUTOMATIC1111), and the price table and budgets of the cost ledger.

Save writes the settings file (never a key) and updates ws.settings in place; `database_changed` tells the window
to reopen the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMenu,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from wfdesk.db.engine import sqlite_url_for
from wfdesk.providers.connection_test import check_a1111, check_comfyui, check_database, check_provider
from wfdesk.settings import (
    PRESET_PROFILES,
    ProviderProfile,
    Settings,
    default_data_dir,
    keyring_available,
    load_settings,
    save_settings,
    set_api_key,
    settings_path,
)
from wfdesk.ui import wheel_guard
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label, if_alive
from wfdesk.ui.costs_dialog import PriceTable
from wfdesk.ui.screen_fit import FitsScreen
from wfdesk.ui.worker import BackgroundOp

NO_KEYRING = ("No system keyring found: set the OPENAI_API_KEY environment variable (or the profile's variable) "
              "instead")
KIND_NAMES = {"openai": "OpenAI", "ollama": "Ollama", "lmstudio": "LM Studio",
              "compatible": "OpenAI-compatible server"}
PRESETS = [("openai", "OpenAI"), ("ollama", "Ollama (local)"), ("lmstudio", "LM Studio (local)"),
           ("compatible", "Other OpenAI-compatible server (vLLM, LocalAI, …)")]
NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _file_settings() -> Settings:
    """The settings file as saved, without the WFDESK_* environment overrides (which must not be persisted)."""
    path = settings_path()
    try:
        return Settings.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else Settings()
    except (OSError, ValueError):
        return Settings()


def _bounds(field: str) -> tuple[float, float]:
    """A ProviderProfile field's bounds from its schema, so the spin boxes never accept what the model refuses."""
    prop = ProviderProfile.model_json_schema()["properties"][field]
    lo = prop.get("minimum", prop.get("exclusiveMinimum", 0))
    if "exclusiveMinimum" in prop:
        lo += 0.1
    return lo, prop.get("maximum", 10_000)


def _result(label: QLabel, ok: bool, message: str) -> None:
    label.setText(("✔ " if ok else "✘ ") + message)
    label.setStyleSheet(f"color: {'#1e8449' if ok else '#c0392b'};")
    label.show()


def check_base_url(url: str) -> str | None:
    """Why a typed base URL cannot be used, or None."""
    return None if url.startswith(("http://", "https://")) else "must start with http:// or https://"


def save_custom_script_base_url(settings: Settings, url: str) -> None:
    """Store the custom-script base URL in the settings file and in `settings` (in place: open panels see it)."""
    url = url.strip().rstrip("/")
    problem = check_base_url(url)
    if problem:
        raise ValueError(f"The base URL {problem}")
    file = _file_settings()
    file.custom_script_base_url = url
    save_settings(file)
    settings.custom_script_base_url = url


class SettingsDialog(FitsScreen, QDialog):
    preferred_size = (900, 660)
    settings_saved = Signal()  # ws.settings changed in place: whatever shows them refreshes
    database_checked = Signal(bool, str)
    provider_checked = Signal(bool, str)
    a1111_checked = Signal(bool, str)
    comfyui_checked = Signal(bool, str)

    def __init__(self, ws, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        wheel_guard.install()
        self.ws = ws  # None when the database could not be opened: the settings are still editable
        self.database_changed = False
        self.keyring = keyring_available()
        original = ws.settings if ws is not None else load_settings()
        self.settings = original
        self._old_database_url = original.database_url
        self._profiles: dict[str, dict[str, Any]] = {n: p.model_dump() for n, p in original.providers.items()}
        self._saved_names = set(self._profiles)
        self._keys: dict[str, str] = {}  # typed, not yet stored in the keyring
        self._current: str | None = None
        self._filling = False
        self.setWindowTitle("Settings")

        self.message = QLabel()
        self.message.setObjectName("message_area")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel { border: 1px solid #c0392b; border-left: 5px solid #c0392b; "
                                   "border-radius: 3px; padding: 6px; }")
        self.message.hide()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_database(original), "Database")
        self.tabs.addTab(self._build_providers(original), "Providers")
        self.tabs.addTab(self._build_custom(original), "Custom scripts")
        self.tabs.addTab(self._build_images(original), "Images")
        self.tabs.addTab(self._build_costs(original), "Costs && budgets")
        from wfdesk.ui.settings_api_page import ApiSettingsPage

        self.api_page = ApiSettingsPage(original)
        self.tabs.addTab(self.api_page, "Other apps")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        for button in buttons.buttons():
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
        if self.profile_list.count():
            self.profile_list.setCurrentRow(0)

    # -- database -------------------------------------------------------------------------------------------

    def _build_database(self, settings: Settings) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        now = self.ws.db.display_url() if self.ws is not None else "(none: it could not be opened)"
        col.addWidget(QLabel(f"Open now: <b>{now}</b>"))
        self.sqlite_radio = QRadioButton("SQLite file on this computer (one editor, works offline)")
        self.pg_radio = QRadioButton("PostgreSQL server (a team shares one database)")
        group = QButtonGroup(self)
        group.addButton(self.sqlite_radio)
        group.addButton(self.pg_radio)
        self.sqlite_path = QLineEdit()
        self.sqlite_path.setObjectName("sqlite_path")
        default_file = Path(settings.data_dir or default_data_dir()) / "wfdesk.db"
        self.default_file = default_file
        self.sqlite_path.setPlaceholderText(f"default: {default_file}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        sqlite_row = QHBoxLayout()
        sqlite_row.setContentsMargins(24, 0, 0, 0)
        sqlite_row.addWidget(self.sqlite_path, 1)
        sqlite_row.addWidget(browse)
        self.pg_url = QLineEdit()
        self.pg_url.setObjectName("pg_url")
        self.pg_url.setPlaceholderText("postgresql://user@host:5432/wfdesk")
        self.pg_url.textEdited.connect(self._check_password_in_url)
        pg_col = QVBoxLayout()
        pg_col.setContentsMargins(24, 0, 0, 0)
        pg_col.addWidget(self.pg_url)
        pg_col.addWidget(hint_label("Keep the password out of the URL: use ~/.pgpass or the PGPASSWORD environment "
                                    "variable (the URL is stored in the settings file in plain text)."))
        self.pg_warning = ProblemLabel()
        pg_col.addWidget(self.pg_warning)
        url = settings.database_url
        if url and make_url(url).get_backend_name() != "sqlite":
            self.pg_radio.setChecked(True)
            self.pg_url.setText(url)
        else:
            self.sqlite_radio.setChecked(True)
            self.sqlite_path.setText(make_url(url).database or "" if url else "")
        for radio in (self.sqlite_radio, self.pg_radio):
            radio.toggled.connect(self._db_mode_changed)
        test = QPushButton("Test connection")
        test.setObjectName("test_database")
        test.clicked.connect(self.test_database_connection)
        self.db_result = QLabel()
        self.db_result.setObjectName("database_result")
        self.db_result.setWordWrap(True)
        self.db_problem = ProblemLabel()
        test_row = QHBoxLayout()
        test_row.addWidget(test)
        test_row.addWidget(self.db_result, 1)
        col.addSpacing(8)
        col.addWidget(self.sqlite_radio)
        col.addLayout(sqlite_row)
        col.addSpacing(8)
        col.addWidget(self.pg_radio)
        col.addLayout(pg_col)
        col.addWidget(self.db_problem)
        col.addLayout(test_row)
        col.addWidget(hint_label("After a change of database, wfdesk reopens on the new one. Nothing is copied "
                                 "between databases: use File → Export / Import for that."))
        if os.environ.get("WFDESK_DATABASE_URL"):
            col.addWidget(hint_label("WFDESK_DATABASE_URL is set in the environment: it wins over this setting."))
        col.addStretch(1)
        self._db_mode_changed()
        return page

    def _db_mode_changed(self, *_args: object) -> None:
        sqlite = self.sqlite_radio.isChecked()
        self.sqlite_path.setEnabled(sqlite)
        self.pg_url.setEnabled(not sqlite)
        self.db_result.clear()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "SQLite database file", self.sqlite_path.text()
                                              or str(default_data_dir()), "SQLite database (*.db *.sqlite);;All (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.sqlite_path.setText(path)

    def _check_password_in_url(self, text: str) -> None:
        try:
            has_password = bool(make_url(text.strip()).password) if text.strip() else False
        except Exception:  # noqa: BLE001 - a half-typed URL
            has_password = False
        self.pg_warning.set_problem("this URL contains a password, which would be saved in plain text"
                                    if has_password else None)

    def database_url(self) -> str | None:
        """The URL the form describes; None = the default SQLite file."""
        if self.sqlite_radio.isChecked():
            path = self.sqlite_path.text().strip()
            return sqlite_url_for(str(Path(path).expanduser())) if path else None
        return self.pg_url.text().strip() or None

    def test_database_connection(self) -> None:
        url = self.database_url()
        if url is None and not self.default_file.exists():
            # wfdesk creates its data folder and default file on start, so their absence is fine.
            _result(self.db_result, True, f"The default database {self.default_file} will be created when wfdesk "
                                          "opens it")
            self.database_checked.emit(True, self.db_result.text())
            return
        url = url or sqlite_url_for(str(self.default_file))
        self.db_result.setText("Connecting…")
        self.db_result.setStyleSheet("")

        def done(result: tuple[bool, str]) -> None:
            _result(self.db_result, *result)
            self.database_checked.emit(*result)

        BackgroundOp(lambda: check_database(url)).success(if_alive(self, done)).failure(
            if_alive(self, lambda exc: done((False, str(exc))))).run_in_background()

    # -- providers ------------------------------------------------------------------------------------------

    def _build_providers(self, settings: Settings) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)

        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Profiles</b>"))
        self.profile_list = QListWidget()
        self.profile_list.setObjectName("profiles")
        self.profile_list.addItems(list(self._profiles))
        self.profile_list.currentTextChanged.connect(self._profile_selected)
        left.addWidget(self.profile_list, 1)
        self.add_button = QToolButton()
        self.add_button.setText("Add ▾")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        for kind, title in PRESETS:
            menu.addAction(title, lambda k=kind: self.add_profile(k))
        self.add_button.setMenu(menu)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_profile)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(remove)
        left.addLayout(buttons)
        left.addWidget(QLabel("Default provider:"))
        self.default_combo = QComboBox()
        self.default_combo.setObjectName("default_provider")
        self._refresh_default_combo(settings.default_provider)
        left.addWidget(self.default_combo)
        left.addWidget(hint_label("Used by steps that do not name a provider."))
        left_box = QWidget()
        left_box.setLayout(left)
        left_box.setMaximumWidth(260)
        row.addWidget(left_box)

        self.profile_box = QGroupBox("Profile")
        form = QFormLayout(self.profile_box)
        self.p_name = QLineEdit()
        self.p_name.setObjectName("profile_name")
        self.p_name.editingFinished.connect(self._rename_current)
        self.p_kind = QLabel()
        self.p_base_url = QLineEdit()
        self.p_base_url.setObjectName("base_url")
        self.p_base_url.setPlaceholderText("empty: OPENAI_BASE_URL or the OpenAI API")
        self.p_key = QLineEdit()
        self.p_key.setObjectName("api_key")
        self.p_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.p_key.textEdited.connect(self._key_typed)
        self.key_message = QLabel()
        self.key_message.setObjectName("key_message")
        self.key_message.setWordWrap(True)
        self.p_key_env = QLineEdit()
        self.p_key_env.setObjectName("api_key_env")
        self.p_connect = self._double(*_bounds("connect_timeout"), "s")
        self.p_read = self._double(*_bounds("read_timeout"), "s")
        self.p_concurrency = QSpinBox()
        self.p_concurrency.setRange(*map(int, _bounds("concurrency")))
        self.p_retries = QSpinBox()
        self.p_retries.setRange(*map(int, _bounds("max_retries")))
        self.p_max_wait = self._double(*_bounds("max_wait"), "s")
        self.p_max_wait.setToolTip("A provider that asks to wait longer than this before trying again (Retry-After) "
                                   "fails the section instead of being asked again too early.")
        self.p_deadline = self._double(*_bounds("request_deadline"), "s")
        self.p_deadline.setToolTip("One request, its whole answer included, is stopped after this long, however "
                                   "slowly the server keeps sending.")
        self.p_problem = ProblemLabel()
        for widget in (self.p_base_url, self.p_key_env):
            widget.textEdited.connect(self._profile_edited)
        for spin in (self.p_connect, self.p_read, self.p_concurrency, self.p_retries, self.p_max_wait,
                     self.p_deadline):
            spin.valueChanged.connect(self._profile_edited)
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
        test = QPushButton("Test connection")
        test.setObjectName("test_provider")
        test.clicked.connect(self.test_provider_connection)
        self.provider_result = QLabel()
        self.provider_result.setObjectName("provider_result")
        self.provider_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(test)
        test_row.addWidget(self.provider_result, 1)
        form.addRow("", test_row)
        form.addRow("", self.p_problem)
        row.addWidget(self.profile_box, 1)
        return page

    @staticmethod
    def _double(lo: float, hi: float, suffix: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(1)
        spin.setSuffix(f" {suffix}")
        return spin

    def _refresh_default_combo(self, selected: str | None = None) -> None:
        selected = selected or self.default_combo.currentText()
        self.default_combo.clear()
        self.default_combo.addItems(list(self._profiles))
        if selected in self._profiles:
            self.default_combo.setCurrentText(selected)

    def _profile_selected(self, name: str) -> None:
        self._commit_profile()
        self._current = name if name in self._profiles else None
        self.profile_box.setEnabled(self._current is not None)
        if self._current is None:
            return
        p = self._profiles[name]
        self._filling = True
        try:
            self.p_name.setText(name)
            self.p_name.setReadOnly(name in self._saved_names)
            self.p_name.setToolTip("Saved profiles keep their name (their API key is stored under it)"
                                   if name in self._saved_names else "")
            self.p_kind.setText(KIND_NAMES.get(p["kind"], p["kind"]))
            self.p_base_url.setText(p.get("base_url") or "")
            self.p_key_env.setText(p.get("api_key_env") or "OPENAI_API_KEY")
            self.p_connect.setValue(p["connect_timeout"])
            self.p_read.setValue(p["read_timeout"])
            self.p_concurrency.setValue(p["concurrency"])
            self.p_retries.setValue(p["max_retries"])
            self.p_max_wait.setValue(p["max_wait"])
            self.p_deadline.setValue(p["request_deadline"])
            self.p_key.setText(self._keys.get(name, ""))
            self.provider_result.clear()
            self.p_problem.set_problem(None)
        finally:
            self._filling = False
        self._show_key_state()

    def _show_key_state(self) -> None:
        env = self.p_key_env.text().strip() or "OPENAI_API_KEY"
        env_note = f" {env} is set in the environment." if os.environ.get(env) else ""
        if not self.keyring:
            self.p_key.setEnabled(False)
            self.p_key.setPlaceholderText("no system keyring")
            self.key_message.setText(NO_KEYRING + (f" (this profile reads {env})." if env != "OPENAI_API_KEY"
                                                   else ".") + env_note)
            self.key_message.setStyleSheet("color: #b9770e;")
        else:
            self.p_key.setEnabled(True)
            self.p_key.setPlaceholderText("leave empty to keep the stored key")
            self.key_message.setText("Stored in the system keyring, never in the settings file. Local servers "
                                     "need none." + env_note)
            self.key_message.setStyleSheet("")

    def _profile_edited(self, *_args: object) -> None:
        if not self._filling:
            self._commit_profile()
            self._show_key_state()

    def _key_typed(self, text: str) -> None:
        if self._current is not None:
            if text:
                self._keys[self._current] = text
            else:
                self._keys.pop(self._current, None)

    def _commit_profile(self) -> None:
        """Copy the editor's values into the working copy of the current profile."""
        name = self._current
        if name is None or name not in self._profiles or self._filling:
            return
        self._profiles[name].update(base_url=self.p_base_url.text().strip() or None,
                                    api_key_env=self.p_key_env.text().strip() or "OPENAI_API_KEY",
                                    connect_timeout=self.p_connect.value(), read_timeout=self.p_read.value(),
                                    concurrency=self.p_concurrency.value(), max_retries=self.p_retries.value(),
                                    max_wait=self.p_max_wait.value(), request_deadline=self.p_deadline.value())

    def _rename_current(self) -> None:
        old, new = self._current, self.p_name.text().strip()
        if old is None or new == old or old in self._saved_names:
            return
        if not new or not set(new) <= NAME_OK or new in self._profiles:
            self.p_problem.set_problem(f"{new!r} cannot be used: a profile name is unique and uses letters, "
                                       "digits, - _ .")
            self.p_name.setText(old)
            return
        self.p_problem.set_problem(None)
        self._commit_profile()
        self._profiles = {(new if k == old else k): v for k, v in self._profiles.items()}
        self._profiles[new]["name"] = new
        if old in self._keys:
            self._keys[new] = self._keys.pop(old)
        self._current = new
        item = self.profile_list.currentItem()
        self._filling = True
        item.setText(new)
        self._filling = False
        self._refresh_default_combo(new if self.default_combo.currentText() == old else None)

    def add_profile(self, kind: str) -> str:
        base = kind if kind != "compatible" else "custom"
        name, n = base, 2
        while name in self._profiles:
            name, n = f"{base}-{n}", n + 1
        preset = PRESET_PROFILES.get(kind) or ProviderProfile(kind="compatible", base_url="http://localhost:8000/v1")
        self._profiles[name] = {**preset.model_dump(), "name": name}
        self.profile_list.addItem(name)
        self._refresh_default_combo()
        self.profile_list.setCurrentRow(self.profile_list.count() - 1)
        return name

    def remove_profile(self) -> None:
        row = self.profile_list.currentRow()
        if row < 0 or self._current is None:
            return
        if len(self._profiles) == 1:
            self.p_problem.set_problem("keep at least one profile")
            return
        name = self._current
        self._current = None
        del self._profiles[name]
        self._keys.pop(name, None)
        self.profile_list.takeItem(row)
        self._refresh_default_combo()

    def current_profile(self) -> ProviderProfile:
        self._commit_profile()
        return ProviderProfile.model_validate(self._profiles[self._current])

    def test_provider_connection(self) -> None:
        if self._current is None:
            return
        try:
            profile = self.current_profile()
        except ValidationError as exc:
            _result(self.provider_result, False, str(exc))
            return
        key = self._keys.get(self._current)
        self.provider_result.setText(f"Connecting to {profile.base_url or 'the OpenAI API'}…")
        self.provider_result.setStyleSheet("")

        def done(result: tuple[bool, str]) -> None:
            _result(self.provider_result, *result)
            self.provider_checked.emit(*result)

        BackgroundOp(lambda: check_provider(profile, key)).success(if_alive(self, done)).failure(
            if_alive(self, lambda exc: done((False, str(exc))))).run_in_background()

    # -- custom scripts -------------------------------------------------------------------------------------

    def _build_custom(self, settings: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
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
        if os.environ.get("WFDESK_CUSTOM_SCRIPT_BASE_URL"):
            self.custom_url.setEnabled(False)
            form.addRow("", hint_label("Set by WFDESK_CUSTOM_SCRIPT_BASE_URL in the environment."))
        return page

    # -- images ---------------------------------------------------------------------------------------------

    def _build_images(self, settings: Settings) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addWidget(QLabel("<b>Image backend</b> — where image_generation steps make their images"))
        self.openai_images_radio = QRadioButton("OpenAI-compatible image API (DALL·E, gpt-image-1, or a server "
                                                "that speaks it), through the step's provider profile")
        self.a1111_radio = QRadioButton("AUTOMATIC1111 / Stable Diffusion web UI on this computer or your "
                                        "network (free, works offline)")
        self.comfyui_radio = QRadioButton("ComfyUI on this computer or your network, with its plain txt2img "
                                          "workflow or a step's own (free, works offline)")
        group = QButtonGroup(self)
        group.addButton(self.openai_images_radio)
        group.addButton(self.a1111_radio)
        group.addButton(self.comfyui_radio)
        {"a1111": self.a1111_radio, "comfyui": self.comfyui_radio}.get(
            settings.image_backend, self.openai_images_radio).setChecked(True)
        col.addWidget(self.openai_images_radio)
        col.addWidget(self.a1111_radio)
        col.addWidget(self.comfyui_radio)
        col.addWidget(hint_label("A step can choose its own backend (its “backend” parameter); this is the "
                                 "choice for steps that don't."))
        col.addSpacing(12)
        form = QFormLayout()
        self.a1111_url = QLineEdit(settings.a1111_base_url)
        self.a1111_url.setObjectName("a1111_base_url")
        self.a1111_url.setPlaceholderText("http://127.0.0.1:7860")
        self.a1111_problem = ProblemLabel()
        cell = QVBoxLayout()
        cell.addWidget(self.a1111_url)
        cell.addWidget(hint_label("Start the web UI with --api. wfdesk sends POST /sdapi/v1/txt2img, and "
                                  "/sdapi/v1/interrupt when you cancel a run."))
        cell.addWidget(self.a1111_problem)
        form.addRow("AUTOMATIC1111 address:", cell)
        test = QPushButton("Test connection")
        test.setObjectName("test_a1111")
        test.clicked.connect(self.test_a1111_connection)
        self.a1111_result = QLabel()
        self.a1111_result.setObjectName("a1111_result")
        self.a1111_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(test)
        test_row.addWidget(self.a1111_result, 1)
        form.addRow("", test_row)
        if os.environ.get("WFDESK_A1111_BASE_URL"):
            self.a1111_url.setEnabled(False)
            form.addRow("", hint_label("Set by WFDESK_A1111_BASE_URL in the environment."))
        self.comfyui_url, self.comfyui_problem, self.comfyui_result = self._server_row(
            form, "ComfyUI address:", settings.comfyui_base_url, "comfyui", "http://127.0.0.1:8188",
            "wfdesk posts the workflow to /prompt, follows /history and fetches the images with /view; cancel "
            "sends /interrupt.", check_comfyui, self.comfyui_checked, "WFDESK_COMFYUI_BASE_URL")
        col.addLayout(form)
        col.addStretch(1)
        return page

    def _server_row(self, form: QFormLayout, label: str, value: str, name: str, placeholder: str, hint: str,
                    check, signal, env: str) -> tuple[QLineEdit, ProblemLabel, QLabel]:
        """An image server's address, its problem label and its Test connection button with the verdict."""
        edit = QLineEdit(value)
        edit.setObjectName(f"{name}_base_url")
        edit.setPlaceholderText(placeholder)
        problem = ProblemLabel()
        cell = QVBoxLayout()
        cell.addWidget(edit)
        cell.addWidget(hint_label(hint))
        cell.addWidget(problem)
        form.addRow(label, cell)
        test = QPushButton("Test connection")
        test.setObjectName(f"test_{name}")
        result = QLabel()
        result.setObjectName(f"{name}_result")
        result.setWordWrap(True)

        def run_test() -> None:
            url = edit.text().strip() or placeholder
            result.setText(f"Connecting to {url}…")
            result.setStyleSheet("")

            def done(verdict: tuple[bool, str]) -> None:
                _result(result, *verdict)
                signal.emit(*verdict)

            BackgroundOp(lambda: check(url)).success(if_alive(self, done)).failure(
                if_alive(self, lambda exc: done((False, str(exc))))).run_in_background()

        test.clicked.connect(run_test)
        row = QHBoxLayout()
        row.addWidget(test)
        row.addWidget(result, 1)
        form.addRow("", row)
        if os.environ.get(env):
            edit.setEnabled(False)
            form.addRow("", hint_label(f"Set by {env} in the environment."))
        return edit, problem, result

    def test_a1111_connection(self) -> None:
        url = self.a1111_url.text().strip() or self.a1111_url.placeholderText()
        self.a1111_result.setText(f"Connecting to {url}…")
        self.a1111_result.setStyleSheet("")

        def done(result: tuple[bool, str]) -> None:
            _result(self.a1111_result, *result)
            self.a1111_checked.emit(*result)

        BackgroundOp(lambda: check_a1111(url)).success(if_alive(self, done)).failure(
            if_alive(self, lambda exc: done((False, str(exc))))).run_in_background()

    # -- costs and budgets ----------------------------------------------------------------------------------

    def _build_costs(self, settings: Settings) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addWidget(QLabel("<b>Prices</b> in US dollars, used to estimate what a run costs"))
        self.price_table = PriceTable(settings.prices)
        col.addWidget(self.price_table, 1)
        add = QPushButton("Add model")
        add.setObjectName("add_price")
        add.clicked.connect(lambda: self.price_table.add_row())
        remove = QPushButton("Remove / reset")
        remove.setObjectName("remove_price")
        remove.setToolTip("Removes a price you added; a price-list model goes back to the list's prices")
        remove.clicked.connect(self.price_table.remove_current)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addWidget(hint_label("Prices come from the genai-prices list (any model it knows, not only these "
                                     "rows); change a figure to use your own. A model no list has (a local "
                                     "one, say) shows as “no price known”."), 1)
        col.addLayout(buttons)
        self.price_problem = ProblemLabel()
        col.addWidget(self.price_problem)
        col.addSpacing(8)
        col.addWidget(QLabel("<b>Budgets</b> — a run whose estimate would go over one is refused before "
                             "anything is sent"))
        form = QFormLayout()
        self.post_budget_check, self.post_budget = self._budget_row(form, "Limit each post to",
                                                                    settings.budget_per_post,
                                                                    "all runs on one post, together")
        self.month_budget_check, self.month_budget = self._budget_row(form, "Limit each month to",
                                                                      settings.budget_per_month,
                                                                      "all runs of all posts in a calendar month "
                                                                      "(UTC)")
        self.unpriced_combo = QComboBox()
        self.unpriced_combo.setObjectName("unpriced_models")
        self.unpriced_combo.addItem("Run it and warn (counted as $0)", "warn")
        self.unpriced_combo.addItem("Refuse the run", "refuse")
        self.unpriced_combo.setCurrentIndex(self.unpriced_combo.findData(settings.unpriced_models))
        form.addRow("A model with no known price:", self.unpriced_combo)
        col.addLayout(form)
        col.addWidget(hint_label("View → Costs shows what has been spent."))
        return page

    @staticmethod
    def _budget_row(form: QFormLayout, text: str, value: float | None,
                    hint: str) -> tuple[QCheckBox, QDoubleSpinBox]:
        check = QCheckBox(text)
        spin = QDoubleSpinBox()
        spin.setRange(0, 1_000_000)
        spin.setDecimals(2)
        spin.setSingleStep(1)
        spin.setPrefix("$ ")
        spin.setValue(value if value is not None else 10.0)
        check.setChecked(value is not None)
        spin.setEnabled(value is not None)
        check.toggled.connect(spin.setEnabled)
        row = QHBoxLayout()
        row.addWidget(spin)
        row.addWidget(hint_label(hint), 1)
        form.addRow(check, row)
        return check, spin

    # -- saving ---------------------------------------------------------------------------------------------

    def _problems(self) -> list[tuple[int, QLabel, str]]:
        problems = []
        custom = self.custom_url.text().strip()
        if custom and check_base_url(custom):
            problems.append((2, self.custom_problem, check_base_url(custom)))
        a1111 = self.a1111_url.text().strip()
        if a1111 and not a1111.startswith(("http://", "https://")):
            problems.append((3, self.a1111_problem, "must start with http:// or https://"))
        comfy = self.comfyui_url.text().strip()
        if comfy and not comfy.startswith(("http://", "https://")):
            problems.append((3, self.comfyui_problem, "must start with http:// or https://"))
        try:
            self.price_table.user_prices()
        except ValueError as exc:
            problems.append((4, self.price_problem, str(exc)))
        if self.pg_radio.isChecked():
            url = self.pg_url.text().strip()
            try:
                ok = bool(url) and make_url(url).get_backend_name() == "postgresql"
            except Exception:  # noqa: BLE001
                ok = False
            if not ok:
                problems.append((0, self.db_problem, "enter a PostgreSQL URL such as "
                                                     "postgresql://user@host:5432/wfdesk"))
        if self.api_page.problem():
            problems.append((self.tabs.indexOf(self.api_page), self.api_page.origins_problem, self.api_page.problem()))
        for name, p in self._profiles.items():
            url = p.get("base_url")
            if url and not url.startswith(("http://", "https://")):
                problems.append((1, self.p_problem, f"profile {name}: the base URL must start with http(s)://"))
        return problems

    def save(self) -> None:
        self._commit_profile()
        for label in (self.custom_problem, self.db_problem, self.p_problem, self.a1111_problem, self.price_problem,
                      self.comfyui_problem, self.api_page.origins_problem):
            label.set_problem(None)
        self.message.hide()
        problems = self._problems()
        if problems:
            for _tab, label, text in problems:
                label.set_problem(text)
            self.tabs.setCurrentIndex(problems[0][0])
            self._show_message("Not saved: fix the fields marked in red.")
            return
        try:
            profiles = {n: ProviderProfile.model_validate({**p, "name": n}) for n, p in self._profiles.items()}
            new = self.settings.model_copy(deep=True)
            new.providers = profiles
            new.default_provider = self.default_combo.currentText() or next(iter(profiles))
            new.database_url = self.database_url()
            if not os.environ.get("WFDESK_CUSTOM_SCRIPT_BASE_URL"):
                new.custom_script_base_url = self.custom_url.text().strip().rstrip("/") or None
            new.image_backend = ("a1111" if self.a1111_radio.isChecked() else
                                 "comfyui" if self.comfyui_radio.isChecked() else "openai")
            if not os.environ.get("WFDESK_COMFYUI_BASE_URL"):
                new.comfyui_base_url = self.comfyui_url.text().strip().rstrip("/") or Settings().comfyui_base_url
            if not os.environ.get("WFDESK_A1111_BASE_URL"):
                new.a1111_base_url = self.a1111_url.text().strip().rstrip("/") or Settings().a1111_base_url
            new.prices = self.price_table.user_prices()
            new.budget_per_post = self.post_budget.value() if self.post_budget_check.isChecked() else None
            new.budget_per_month = self.month_budget.value() if self.month_budget_check.isChecked() else None
            new.unpriced_models = self.unpriced_combo.currentData()
            self.api_page.apply_to(new)
            new = Settings.model_validate(new.model_dump())
        except ValidationError as exc:
            self._show_message(f"Not saved: {exc}")
            return
        try:
            for name, key in self._keys.items():
                if name in profiles and key:
                    set_api_key(name, key)  # the OS keyring; the settings file never sees it
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own types
            self._show_message(f"Not saved: the system keyring refused the API key ({exc})")
            return
        try:
            save_settings(self._without_env_overrides(new))
        except OSError as exc:
            self._show_message(f"Not saved: cannot write {settings_path()} ({exc})")
            return
        self.database_changed = new.database_url != self._old_database_url
        for field in Settings.model_fields:
            setattr(self.settings, field, getattr(new, field))  # in place: whoever holds ws.settings sees it
        self._keys.clear()
        self.settings_saved.emit()
        self.accept()

    @staticmethod
    def _without_env_overrides(new: Settings) -> Settings:
        """Values that came from WFDESK_* variables stay out of the file: the file keeps its own."""
        saved = new.model_copy(deep=True)
        file = _file_settings()
        if os.environ.get("WFDESK_DATABASE_URL") and saved.database_url == os.environ["WFDESK_DATABASE_URL"]:
            saved.database_url = file.database_url
        if os.environ.get("WFDESK_DATA_DIR"):
            saved.data_dir = file.data_dir
        if os.environ.get("WFDESK_CUSTOM_SCRIPT_BASE_URL"):
            saved.custom_script_base_url = file.custom_script_base_url
        if os.environ.get("WFDESK_A1111_BASE_URL"):
            saved.a1111_base_url = file.a1111_base_url
        if os.environ.get("WFDESK_COMFYUI_BASE_URL"):
            saved.comfyui_base_url = file.comfyui_base_url
        return saved

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()


__all__ = ["NO_KEYRING", "SettingsDialog"]
