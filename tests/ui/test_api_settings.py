"""Settings → Other apps: an editor allows other apps to run steps; HTTP requests then run in the window's own run
process, sharing its provider gates with the runs the editor starts by clicking Run."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QLineEdit, QSpinBox, QTabWidget

from tests.ui.editor_input import (
    WAIT,
    activate,
    answer_modal,
    click,
    click_button,
    click_check_box,
    open_step,
    press,
    type_text,
)

ENV_TOKEN = "gui-token-" + "g" * 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_other_apps(qtbot, dialog):
    tabs = dialog.findChild(QTabWidget)
    bar = tabs.tabBar()
    index = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Other apps")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: tabs.currentIndex() == index, timeout=WAIT)
    return tabs.currentWidget()


def open_settings(qtbot, window, act) -> None:
    """Ctrl+, in the main window; act(dialog) once it is open."""
    activate(qtbot, window)
    answer_modal(qtbot, act)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)


def allow_other_apps(qtbot, window, port: int, allow: bool = True) -> None:
    """Ctrl+, → Other apps → tick "Allow other apps to run steps", type the port, Save."""
    def act(dialog):
        page = open_other_apps(qtbot, dialog)
        box = next(b for b in page.findChildren(QCheckBox) if b.text() == "Allow other apps to run steps")
        if box.isChecked() != allow:
            click_check_box(qtbot, box)
        spin = next(s for s in page.findChildren(QSpinBox) if s.accessibleName() == "Port")
        click(qtbot, spin)
        qtbot.waitUntil(spin.hasFocus, timeout=WAIT)
        press(qtbot, "Ctrl+A")
        type_text(qtbot, str(port))
        click_button(qtbot, dialog, "Save")

    open_settings(qtbot, window, act)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)


def wait_serving(qtbot, url: str, token: str) -> None:
    def answers() -> bool:
        try:
            return requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {token}"},
                                timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    qtbot.waitUntil(answers, timeout=WAIT)


@pytest.fixture
def empty_gui_ws(db_url, tmp_path, settings):
    """The GUI fixtures' workspace, on SQLite and on PostgreSQL."""
    from wfdesk.workspace import open_workspace, set_current

    ws = open_workspace(database_url=db_url, data_dir=tmp_path / "data", settings=settings)
    set_current(ws)
    yield ws
    set_current(None)
    ws.close()


@pytest.fixture
def env_token(monkeypatch):
    from wfdesk.api.token import forget_cached_token

    monkeypatch.setenv("WFDESK_API_TOKEN", ENV_TOKEN)
    forget_cached_token()
    yield ENV_TOKEN
    forget_cached_token()


def test_http_runs_share_the_provider_cap_with_a_run_started_by_clicking_run(qtbot, gui_ws, main_window, loopback,
                                                                              env_token):
    gui_ws.settings.providers["default"].concurrency = 2
    active, peak, lock = [0], [0], threading.Lock()

    def reply(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.4)
        with lock:
            active[0] -= 1
        return "ok"

    loopback.chat_reply = reply
    port = free_port()
    allow_other_apps(qtbot, main_window, port)
    url = f"http://127.0.0.1:{port}"
    wait_serving(qtbot, url, env_token)
    assert main_window.ws.settings.api_enabled
    assert main_window.ws.settings.api_port == port

    panel = open_step(qtbot, main_window, "polish_sections")
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: loopback.count("/v1/chat/completions") >= 1, timeout=WAIT)
    answers = []
    body = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712, 713],
                                                     "parameters": {"concurrency": 8}}}

    def send():
        answers.append(requests.post(url + "/api/workflow/execute-step", json=body, timeout=120,
                                     headers={"Authorization": f"Bearer {env_token}"}))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    qtbot.waitUntil(lambda: panel.status_text().startswith("Finished: 3 done"), timeout=60_000)
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=60_000)
    assert [a.status_code for a in answers] == [200, 200]
    assert all(a.json()["success"] for a in answers)
    assert loopback.count("/v1/chat/completions") == 9
    assert peak[0] <= 2  # the window's run and the two HTTP runs never had more in flight than the cap
    # All three ran in the one run process of the app (each run's owner names the process that executed it).
    from wfdesk.runs import ledger
    from wfdesk.runs.ledger import parse_owner

    with gui_ws.db.session() as s:
        from wfdesk.db.models import Run

        pids = {parse_owner(r.owner)[1] for r in s.query(Run).all()}
    from wfdesk.runs import child_client

    assert pids == {child_client._process.proc.pid}
    assert len(ledger.list_runs(gui_ws)) == 3


def test_the_open_app_answers_the_references_request_until_unticked(qtbot, main_window, loopback, env_token):
    from api_support import REFERENCE_REQUEST, REFERENCE_RESPONSE, same_shape

    port = free_port()
    allow_other_apps(qtbot, main_window, port)
    url = f"http://127.0.0.1:{port}"
    wait_serving(qtbot, url, env_token)
    answer = requests.post(url + "/api/workflow/execute-step", json=REFERENCE_REQUEST, timeout=120,
                           headers={"Authorization": f"Bearer {env_token}"})
    assert answer.status_code == 200
    assert same_shape(REFERENCE_RESPONSE, answer.json()) == []
    assert answer.json()["success"] is True
    assert loopback.count("/v1/images/generations") == 3
    assert requests.post(url + "/api/workflow/execute-step", json=REFERENCE_REQUEST, timeout=30).status_code == 401
    allow_other_apps(qtbot, main_window, port, allow=False)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/workflow/steps", timeout=5)


@pytest.fixture
def file_keyring(monkeypatch, tmp_path):
    import keyring
    from file_keyring import FileKeyring

    from wfdesk.api.token import forget_cached_token

    monkeypatch.delenv("WFDESK_API_TOKEN", raising=False)
    monkeypatch.setenv("WFDESK_TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.FileKeyring")
    tests_dir = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", tests_dir)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    forget_cached_token()
    yield keyring
    forget_cached_token()
    keyring.set_keyring(previous)


def test_the_token_is_masked_shown_copied_and_regenerated(qtbot, main_window, loopback, file_keyring):
    port = free_port()
    allow_other_apps(qtbot, main_window, port)  # the first time makes the token, in the keyring
    made = file_keyring.get_password("wfdesk-api", "token")
    assert made
    assert len(made) >= 32
    url = f"http://127.0.0.1:{port}"
    wait_serving(qtbot, url, made)
    seen = {}

    def act(dialog):
        page = open_other_apps(qtbot, dialog)
        field = page.findChild(QLineEdit, "api_token")
        seen["masked"] = field.echoMode() == QLineEdit.EchoMode.Password and field.displayText() != made
        click_button(qtbot, page, "Show")
        seen["shown"] = field.echoMode() == QLineEdit.EchoMode.Normal and field.displayText() == made
        click_button(qtbot, page, "Copy")
        seen["copied"] = QApplication.clipboard().text()
        click_button(qtbot, page, "Regenerate")
        seen["new"] = field.text()
        click_button(qtbot, dialog, "Save")

    open_settings(qtbot, main_window, act)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)
    assert seen["masked"]
    assert seen["shown"]
    assert seen["copied"] == made
    assert seen["new"] != made
    assert seen["new"] == file_keyring.get_password("wfdesk-api", "token")
    old = requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {made}"}, timeout=10)
    new = requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {seen['new']}"}, timeout=10)
    assert (old.status_code, new.status_code) == (401, 200)


def test_a_run_started_by_clicking_run_can_be_cancelled_over_http(qtbot, gui_ws, main_window, loopback, env_token):
    gui_ws.settings.providers["default"].concurrency = 1
    loopback.latency = 1.5  # one section at a time, 1.5 s each
    port = free_port()
    allow_other_apps(qtbot, main_window, port)
    url = f"http://127.0.0.1:{port}"
    wait_serving(qtbot, url, env_token)
    panel = open_step(qtbot, main_window, "polish_sections")
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: loopback.count("/v1/chat/completions") >= 1, timeout=WAIT)
    headers = {"Authorization": f"Bearer {env_token}"}
    runs = requests.get(url + "/api/workflow/runs", headers=headers, timeout=30).json()
    assert [r["status"] for r in runs] == ["running"]
    cancel = requests.post(url + f"/api/workflow/runs/{runs[0]['id']}/cancel", headers=headers, timeout=30)
    assert cancel.status_code == 202, cancel.text
    qtbot.waitUntil(lambda: panel.status_text().startswith("Cancelled"), timeout=WAIT)
    assert loopback.count("/v1/chat/completions") == 1  # the sections waiting were never sent
    detail = requests.get(url + f"/api/workflow/runs/{runs[0]['id']}", headers=headers, timeout=30).json()
    assert detail["status"] == "cancelled"


def test_web_pages_typed_in_settings_may_call_it_from_a_browser(qtbot, main_window, loopback, env_token):
    port = free_port()
    seen = {}

    def act(dialog):
        page = open_other_apps(qtbot, dialog)
        box = next(b for b in page.findChildren(QCheckBox) if b.text() == "Allow other apps to run steps")
        click_check_box(qtbot, box)
        spin = next(s for s in page.findChildren(QSpinBox) if s.accessibleName() == "Port")
        click(qtbot, spin)
        qtbot.waitUntil(spin.hasFocus, timeout=WAIT)
        press(qtbot, "Ctrl+A")
        type_text(qtbot, str(port))
        origins = page.findChild(QLineEdit, "api_cors_origins")
        click(qtbot, origins)
        qtbot.waitUntil(origins.hasFocus, timeout=WAIT)
        type_text(qtbot, "cms.example.com/wp-admin")
        click_button(qtbot, dialog, "Save")
        seen["refused"] = page.origins_problem.text()
        seen["still_open"] = dialog.isVisible()
        click(qtbot, origins)
        press(qtbot, "Ctrl+A")
        type_text(qtbot, "https://cms.example.com")
        click_button(qtbot, dialog, "Save")

    open_settings(qtbot, main_window, act)
    assert seen["still_open"]
    assert "such as https://cms.example.com" in seen["refused"]
    assert main_window.ws.settings.api_cors_origins == ["https://cms.example.com"]
    url = f"http://127.0.0.1:{port}"
    wait_serving(qtbot, url, env_token)
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = requests.options(url + "/api/workflow/execute-step", timeout=30,
                               headers={"Origin": "https://cms.example.com", **asks})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://cms.example.com"
    other = requests.options(url + "/api/workflow/execute-step", timeout=30,
                             headers={"Origin": "https://elsewhere.example", **asks})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_a_token_variable_no_client_could_send_is_explained(qtbot, main_window, monkeypatch):
    """A WFDESK_API_TOKEN with an accented letter never matches a request: the page says so instead of showing it,
    and allowing other apps says why it cannot serve."""
    from PySide6.QtWidgets import QLabel, QPushButton

    monkeypatch.setenv("WFDESK_API_TOKEN", "jeton-secret-é" + "x" * 30)
    seen = {}

    def act(dialog):
        page = open_other_apps(qtbot, dialog)
        seen["words"] = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
        seen["show"] = next(b for b in page.findChildren(QPushButton) if b.text() == "Show").isEnabled()
        seen["token"] = " ".join(edit.text() for edit in page.findChildren(QLineEdit))
        box = next(b for b in page.findChildren(QCheckBox) if b.text() == "Allow other apps to run steps")
        click_check_box(qtbot, box)
        click_button(qtbot, dialog, "Save")

    open_settings(qtbot, main_window, act)
    assert "ASCII" in seen["words"]
    assert "WFDESK_API_TOKEN" in seen["words"]
    assert not seen["show"]
    assert "jeton" not in seen["token"]
    qtbot.waitUntil(lambda: "Other apps cannot run steps" in main_window.statusBar().currentMessage(), timeout=WAIT)
    assert "ASCII" in main_window.statusBar().currentMessage()
