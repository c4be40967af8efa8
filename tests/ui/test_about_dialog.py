"""Help → About: the version and paths, and *Copy diagnostics* puts a bug report on the clipboard without a secret —
not the API key in the keyring or the environment, not a password or token in a URL of the settings or of the open
database (on PostgreSQL the workspace is opened with a password in its URL: the test server trusts any)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from sqlalchemy.engine import make_url

from tests.ui.conftest import close_window
from tests.ui.editor_input import WAIT, choose_menu, click_button
from wfdesk.diagnostics import app_version
from wfdesk.services import editing
from wfdesk.settings import ProviderProfile, log_dir, set_api_key
from wfdesk.ui.about_dialog import COPIED, AboutDialog
from wfdesk.workspace import open_workspace, set_current

KEYRING_KEY = "sk-keyring-8c1e5d0f9a7b"
ENV_KEY = "sk-environment-3f6a2e1d"
DB_PASSWORD = "db-pass-71b4c9"
URL_PASSWORD = "url-pass-0d2e6f"
URL_TOKEN = "tok-5a9c3b7e"
SECRETS = (KEYRING_KEY, ENV_KEY, DB_PASSWORD, URL_PASSWORD, URL_TOKEN)


@pytest.fixture
def keyring_with_key(monkeypatch, tmp_path):
    import keyring
    from file_keyring import FileKeyring

    monkeypatch.setenv("WFDESK_TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    set_api_key("default", KEYRING_KEY)
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def secret_window(qtbot, db_url, tmp_path, settings, keyring_with_key, monkeypatch):
    """The main window on the demo, on a database whose URL carries a password (PostgreSQL), with secrets in the
    keyring, the environment and the settings' URLs."""
    from wfdesk.ui.main_window import MainWindow

    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(password=DB_PASSWORD)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    settings.providers["team"] = ProviderProfile(name="team",
                                                 base_url=f"https://editor:{URL_PASSWORD}@llm.example/v1")
    settings.custom_script_base_url = f"https://scripts.example/hook?token={URL_TOKEN}"
    settings.database_url = url.render_as_string(hide_password=False)
    ws = open_workspace(database_url=settings.database_url, data_dir=tmp_path / "data", settings=settings)
    set_current(ws)
    editing.load_demo(ws)
    window = MainWindow(ws)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.post_id == 53, timeout=WAIT)
    yield window
    close_window(window)
    set_current(None)
    ws.close()


def test_about_shows_version_and_paths_and_copies_diagnostics_without_secrets(qtbot, secret_window, tmp_path):
    window = secret_window
    ws = window.ws
    QGuiApplication.clipboard().setText("")

    choose_menu(qtbot, window, "Help", "About wfdesk…")
    qtbot.waitUntil(lambda: window.findChild(AboutDialog) is not None and window.findChild(AboutDialog).isVisible(),
                    timeout=WAIT)
    dialog = window.findChild(AboutDialog)
    shown = "\n".join(label.text() for label in dialog.findChildren(QLabel))
    assert app_version() in shown
    assert app_version() != "unknown (not installed)"
    assert str(ws.data_dir) in shown
    assert str(tmp_path / "config") in shown
    assert str(log_dir()) in shown
    assert DB_PASSWORD not in shown

    click_button(qtbot, dialog, "Copy diagnostics")
    qtbot.waitUntil(lambda: bool(QGuiApplication.clipboard().text()), timeout=WAIT)
    report = QGuiApplication.clipboard().text()
    assert f"wfdesk: {app_version()}" in report
    assert f"Qt: {qVersion()}" in report
    assert "PySide6: " in report
    assert "Python: " in report
    kind = "PostgreSQL (psycopg" if ws.db.dialect == "postgresql" else "SQLite"
    assert f"Database: {kind}" in report
    assert f"Data path: {ws.data_dir}" in report
    assert f"Settings path: {tmp_path / 'config'}" in report
    assert "Plugins:" in report
    for secret in SECRETS:
        assert secret not in report, f"the diagnostics hold a secret: {secret}"
    assert "llm.example" not in report
    assert "scripts.example" not in report  # no URL at all
    assert dialog.copied.text() == COPIED

    click_button(qtbot, dialog, "Close")
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)


def test_the_window_has_the_app_icon_and_desktop_file_name(qtbot):
    from PySide6.QtWidgets import QApplication, QMainWindow

    from wfdesk.desktop_entry import APP_ID, ICON_SIZES
    from wfdesk.ui.app import identify

    app = QApplication.instance()
    identify(app)
    assert QGuiApplication.desktopFileName() == APP_ID
    window = QMainWindow()
    qtbot.addWidget(window)
    sizes = {s.width() for s in window.windowIcon().availableSizes()}
    assert sizes == set(ICON_SIZES)
    assert not window.windowIcon().pixmap(48, 48).isNull()
