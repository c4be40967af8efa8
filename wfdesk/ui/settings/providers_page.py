"""Settings → Providers: the OpenAI-compatible provider profiles (their keys only in the OS keyring) and the
default one. The page edits a working copy of the profiles; nothing is kept until the dialog saves."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services import connections
from wfdesk.settings import PRESET_PROFILES, ProviderProfile, Settings, keyring_available, set_api_key
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.settings.page import Problem, SettingsPage, run_connection_test, show_result
from wfdesk.ui.settings.profile_form import ProfileForm

NO_KEYRING = ("No system keyring found: set the OPENAI_API_KEY environment variable (or the profile's variable) "
              "instead")
PRESETS = [("openai", "OpenAI"), ("ollama", "Ollama (local)"), ("lmstudio", "LM Studio (local)"),
           ("compatible", "Other OpenAI-compatible server (vLLM, LocalAI, …)")]
NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class ProvidersPage(SettingsPage):
    checked = Signal(bool, str)  # the Test connection verdict

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keyring = keyring_available()
        self._profiles: dict[str, dict[str, Any]] = {n: p.model_dump() for n, p in settings.providers.items()}
        self._saved_names = set(self._profiles)
        self._keys: dict[str, str] = {}  # typed, not yet stored in the keyring
        self._current: str | None = None
        self._filling = False
        row = QHBoxLayout(self)
        row.addWidget(self._build_list(settings))
        self.profile_box = QGroupBox("Profile")
        self.form = ProfileForm(self.profile_box)
        self.form.p_name.editingFinished.connect(self._rename_current)
        self.form.p_key.textEdited.connect(self._key_typed)
        self.form.edited.connect(self._profile_edited)
        test = QPushButton("Test connection")
        test.setObjectName("test_provider")
        test.clicked.connect(self.test_connection)
        self.provider_result = QLabel()
        self.provider_result.setObjectName("provider_result")
        self.provider_result.setWordWrap(True)
        self.p_problem = ProblemLabel()
        self.form.add_test_row(test, self.provider_result, self.p_problem)
        row.addWidget(self.profile_box, 1)

    def _build_list(self, settings: Settings) -> QWidget:
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
            menu.addAction(title, partial(self.add_profile, kind))
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
        return left_box

    def select_first(self) -> None:
        if self.profile_list.count():
            self.profile_list.setCurrentRow(0)

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
        self._filling = True
        try:
            self.form.fill(name, self._profiles[name], saved=name in self._saved_names)
            self.form.p_key.setText(self._keys.get(name, ""))
            self.provider_result.clear()
            self.p_problem.set_problem(None)
        finally:
            self._filling = False
        self.form.show_key_state(self.keyring, NO_KEYRING)

    def _profile_edited(self) -> None:
        if not self._filling:
            self._commit_profile()
            self.form.show_key_state(self.keyring, NO_KEYRING)

    def _key_typed(self, text: str) -> None:
        if self._current is not None:
            if text:
                self._keys[self._current] = text
            else:
                self._keys.pop(self._current, None)

    def _commit_profile(self) -> None:
        """Copy the form's values into the working copy of the current profile."""
        name = self._current
        if name is None or name not in self._profiles or self._filling:
            return
        self._profiles[name].update(self.form.values())

    def _rename_current(self) -> None:
        old, new = self._current, self.form.p_name.text().strip()
        if old is None or new == old or old in self._saved_names:
            return
        if not new or not set(new) <= NAME_OK or new in self._profiles:
            self.p_problem.set_problem(f"{new!r} cannot be used: a profile name is unique and uses letters, "
                                       "digits, - _ .")
            self.form.p_name.setText(old)
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

    def current_profile(self, name: str) -> ProviderProfile:
        """The profile shown, as typed so far (name: the current one). Raises ValidationError when it is invalid."""
        self._commit_profile()
        return ProviderProfile.model_validate(self._profiles[name])

    def test_connection(self) -> None:
        if self._current is None:
            return
        try:
            profile = self.current_profile(self._current)
        except ValidationError as exc:
            show_result(self.provider_result, False, str(exc))
            return
        key = self._keys.get(self._current)
        run_connection_test(self, self.provider_result, f"Connecting to {profile.base_url or 'the OpenAI API'}…",
                            lambda: connections.check_provider(profile, key), self.checked)

    # -- the page protocol ----------------------------------------------------------------------------------

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.p_problem]

    def problems(self) -> list[Problem]:
        self._commit_profile()
        return [(self.p_problem, f"profile {name}: the base URL must start with http(s)://")
                for name, p in self._profiles.items()
                if p.get("base_url") and not str(p["base_url"]).startswith(("http://", "https://"))]

    def apply_to(self, new: Settings) -> None:
        """Raises ValidationError for a profile the model refuses."""
        profiles = {n: ProviderProfile.model_validate({**p, "name": n}) for n, p in self._profiles.items()}
        new.providers = profiles
        new.default_provider = self.default_combo.currentText() or next(iter(profiles))

    def store_keys(self) -> None:
        """The keys typed for the saved profiles, into the OS keyring (the settings file never sees them).
        Raises whatever the keyring backend raises."""
        for name, key in self._keys.items():
            if name in self._profiles and key:
                set_api_key(name, key)

    def keys_stored(self) -> None:
        self._keys.clear()
