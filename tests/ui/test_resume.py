"""Resume and provider-offline in the step panel: a run killed with SIGKILL in another process is offered for
resume and finishes without sending a finished section again; a provider on a closed port is reported plainly,
warned about before the next run, and the failed sections run again once it answers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import ROOT
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy import select

from ui.editor_input import (
    activate,
    answer_modal,
    choose_menu,
    click,
    click_button,
    focused,
    open_step,
    press,
    toggle_section,
    type_text,
)
from ui.input_helpers import field
from wfdesk.db import content
from wfdesk.db.models import RunUnit
from wfdesk.runs import ledger
from wfdesk.services import editing
from wfdesk.settings import ProviderProfile, Settings
from wfdesk.ui.panels.run_notice import describe_latest_run
from wfdesk.workspace import open_workspace, set_current

TIMEOUT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
STEP = "polish_sections"  # the demo's step 1 (llm_action)
OTHER_STEP = "process_data"  # the demo's step 3 (custom_script): another panel


def start_window(qtbot, ws, sections: int = 3):
    """The main window on ws, started as the main_window fixture starts it (the demo post chosen, its sections
    loaded). Close it with close_started()."""
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(ws)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == sections, timeout=TIMEOUT)
    return window


def close_started(window) -> None:
    if not window._closing_done:  # as the main_window fixture closes it: before its workspace is closed
        window.close()


def open_panel(qtbot, window):
    """Click the LLM step in the main window's workflow list (the demo post is chosen); returns its panel."""
    return open_step(qtbot, window, STEP)


def add_sections(ws, n: int) -> list[int]:
    ids = [editing.add_section(ws, 53, f"Part {i}") for i in range(n)]
    with ws.db.session() as s:
        for sid in ids:
            content.write_text(s, 53, sid, "draft", f"draft of section {sid}", source="editor")
    return ids


def succeeded(ws) -> set[int]:
    with ws.db.session() as s:
        return set(s.scalars(select(RunUnit.section_id).where(RunUnit.status == "success")))


def sent_per_section(loopback) -> Counter:
    counts: Counter = Counter()
    for r in loopback.requests:
        match = re.search(r"draft of section (\d+)", json.dumps(r.json or {}))
        if match:
            counts[int(match.group(1))] += 1
    return counts


def kill_run_after(ws, loopback, ids: list[int], finished: int) -> None:
    """`wfdesk run-step` in a subprocess, slowed down by the provider, killed with SIGKILL mid-run."""
    loopback.latency = 0.4
    env = {**os.environ, "WFDESK_DATABASE_URL": ws.db.url, "WFDESK_DATA_DIR": str(ws.data_dir),
           "OPENAI_BASE_URL": loopback.base_url}
    proc = subprocess.Popen([sys.executable, "-m", "wfdesk", "run-step", "--step", "1", "--post", "53",
                             "--sections", ",".join(map(str, ids)), "--llm-settings", '{"concurrency": 2}'],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(succeeded(ws)) < finished:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    loopback.latency = 0


TITLES = {711: "Arriving in Inverness", 712: "Glen Affric", 713: "Isle of Skye"}


def tick_only(qtbot, panel, section_ids) -> None:
    click(qtbot, panel.picker.none_button)
    for sid in section_ids:
        toggle_section(qtbot, panel.picker, TITLES[sid])


@pytest.fixture
def started(qtbot, gui_ws):
    """Windows started by a test, closed before the workspace is."""
    windows = []

    def start(sections: int = 3):
        windows.append(start_window(qtbot, gui_ws, sections))
        return windows[-1]

    yield start
    for window in windows:
        close_started(window)


def test_resume_after_the_app_was_killed(qtbot, gui_ws, loopback, started):
    ids = add_sections(gui_ws, 8)
    kill_run_after(gui_ws, loopback, ids, finished=2)
    done = succeeded(gui_ws)
    sent_before = sent_per_section(loopback)
    assert 2 <= len(done) < 8
    interrupted = ledger.mark_interrupted(gui_ws)  # what the app does at start
    assert len(interrupted) == 1

    window = started(3 + 8)  # the app starts again after the kill (with the demo's sections and these)
    runs = window.runs
    panel = open_panel(qtbot, window)
    left = 8 - len(done)
    assert panel.notice.isVisible()
    assert panel.notice.kind() == "warning"
    assert panel.notice.message_label.text() == (
        f"The last run was interrupted (the app closed during it): {len(done)} of 8 sections are done.")
    assert panel.notice.action_button.text() == f"Resume the {left} remaining"

    with qtbot.waitSignal(runs.run_started, timeout=TIMEOUT) as started:
        click(qtbot, panel.notice.action_button)
    assert started.args[0] == interrupted[0]
    assert {u["section_id"] for u in started.args[1]["units"]} == set(ids) - done
    assert not panel.notice.isVisible()
    assert panel.is_running()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.data["latest_run"]["status"] == "succeeded",
                    timeout=TIMEOUT)
    assert not panel.notice.isVisible()
    assert panel.status_text() == "Finished: 8 done."

    sent_after = sent_per_section(loopback)
    for sid in done:
        assert sent_after[sid] == sent_before[sid] == 1, f"section {sid} was sent again"
    assert all(sent_after[sid] >= 1 for sid in ids)
    assert ledger.run_detail(gui_ws, interrupted[0])["status"] == "succeeded"
    with gui_ws.db.session() as s:
        assert all(len(content.versions_of(s, 53, sid, "polished")) == 1 for sid in ids)


def test_a_cancelled_run_offers_the_rest_and_dismiss_hides_it(qtbot, gui_ws, main_window, loopback):
    runs = main_window.runs
    loopback.latency = 0.5
    panel = open_panel(qtbot, main_window)
    with qtbot.waitSignal(runs.run_started, timeout=TIMEOUT):
        click(qtbot, panel.run_button)
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.notice.isVisible(), timeout=TIMEOUT)
    loopback.latency = 0
    latest = panel.data["latest_run"]
    assert latest["status"] == "cancelled"
    assert latest["unfinished"] >= 1
    assert panel.notice.message_label.text().startswith("The last run was cancelled:")
    assert panel.notice.action_button.text() == f"Run the {latest['unfinished']} remaining"
    click(qtbot, panel.notice.dismiss_button)
    assert not panel.notice.isVisible()
    # Another step, then this one again: the panel reloads the step's data (its latest run included).
    open_step(qtbot, main_window, OTHER_STEP, ready=False)
    assert main_window.current_panel() is not panel
    with qtbot.waitSignal(panel.loaded, timeout=TIMEOUT):
        assert open_step(qtbot, main_window, STEP) is panel
    assert panel.data["latest_run"]["run_id"] == latest["run_id"]
    assert not panel.notice.isVisible()  # dismissed for this run, also after a reload


def test_notice_wording():
    base = {"run_id": 4, "total": 8, "done": 5, "failed": 0, "cancelled": 0, "unfinished": 3,
            "unfinished_section_ids": [1, 2, 3], "first_error": None, "offline": None, "resumable": True}
    assert describe_latest_run({**base, "status": "succeeded", "resumable": False}) is None
    partial = describe_latest_run({**base, "status": "partial", "failed": 3, "first_error": "boom"})
    assert partial.message == "The last run finished with errors: 5 of 8 sections are done, 3 failed."
    assert partial.note == "First error: boom"
    assert partial.action == "Run the 3 sections again"
    one = describe_latest_run({**base, "status": "interrupted", "total": 2, "done": 1, "unfinished": 1})
    assert one.message.endswith("1 of 2 sections is done.")
    assert one.action == "Resume the 1 remaining"


# --- the provider is offline --------------------------------------------------------------------------------------

@pytest.fixture
def dead_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there now: connections are refused


@pytest.fixture
def offline_ws(tmp_path, loopback, dead_url):
    profile = ProviderProfile(name="default", base_url=dead_url, max_retries=0, connect_timeout=2)
    ws = open_workspace(database_url=f"sqlite:///{tmp_path / 'offline.db'}", data_dir=tmp_path / "data",
                        settings=Settings(custom_script_base_url=loopback.root_url, providers={"default": profile}))
    set_current(ws)
    editing.load_demo(ws)
    yield ws
    set_current(None)
    ws.close()


@pytest.fixture
def offline_window(qtbot, offline_ws):
    """The main window on the offline workspace, as the main_window fixture makes it (demo post chosen). Its status
    bar checks the provider as the window shows."""
    window = start_window(qtbot, offline_ws)
    yield window
    close_started(window)


def wait_until_seen_offline(qtbot, window) -> None:
    """The status bar's first check (made as the window shows) has found the provider offline."""
    qtbot.waitUntil(lambda: window.status.provider.label.text().startswith("Provider: offline"), timeout=TIMEOUT)


def retype(qtbot, widget: QWidget, text: str) -> None:
    """Click into a field, select what it holds (Ctrl+A) and type the new text over it."""
    click(qtbot, widget)
    assert focused() is widget, f"the click left the focus on {focused()!r}"
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def set_provider_address(qtbot, window, address: str) -> None:
    """File → Settings…, Providers tab, the "default" profile: type the new Base URL over the old one; Save."""
    failures: list[BaseException] = []

    def fill_in(dialog) -> None:
        try:
            activate(qtbot, dialog)  # the keyboard only reaches the active window
            bar = dialog.tabs.tabBar()
            titles = [bar.tabText(i) for i in range(bar.count())]
            click(qtbot, bar, bar.tabRect(titles.index("Providers")).center())
            qtbot.waitUntil(lambda: dialog.tabs.currentIndex() == titles.index("Providers"), timeout=TIMEOUT)
            profiles = dialog.providers_page.profile_list
            (item,) = profiles.findItems("default", Qt.MatchFlag.MatchExactly)
            click(qtbot, profiles.viewport(), profiles.visualItemRect(item).center())
            assert profiles.currentItem() is item
            retype(qtbot, field(dialog.tabs.currentWidget(), "Base URL"), address)
            click_button(qtbot, dialog, "Save")
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the dialog's event loop
            failures.append(exc)
            if QApplication.activeModalWidget() is dialog:
                qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # leave it as the editor would: Esc

    answer_modal(qtbot, fill_in)
    choose_menu(qtbot, window, "File", "Settings…")  # returns once the dialog is closed
    if failures:
        raise failures[0]


def test_provider_offline_is_said_plainly_and_failed_sections_run_again(qtbot, offline_ws, offline_window, loopback,
                                                                        dead_url):
    window = offline_window
    offline_runs = window.runs
    panel = open_panel(qtbot, window)
    wait_until_seen_offline(qtbot, window)
    click(qtbot, panel.run_button)  # the window's check has seen it offline: Run warns first, it does not refuse
    assert offline_runs.active_count() == 0
    assert panel.notice.kind() == "warning"
    assert panel.notice.message_label.text() == f"The provider at {dead_url} looks offline."
    assert panel.notice.action_button.text() == "Run anyway"
    with qtbot.waitSignal(offline_runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.notice.action_button)
    assert finished.args[1]["status"] == "failed"
    qtbot.waitUntil(lambda: panel.notice.isVisible(), timeout=TIMEOUT)
    assert panel.notice.kind() == "error"
    assert panel.notice.message_label.text() == (
        f"The provider at {dead_url} is offline: nothing was generated for 3 sections.")
    assert panel.notice.note_label.text().startswith("Try again later")
    assert panel.notice.action_button.text() == "Run again (3 sections)"

    # Still offline (the check and now the run have seen it): the next Run warns first (it does not refuse).
    tick_only(qtbot, panel, [711])
    click(qtbot, panel.run_button)
    assert offline_runs.active_count() == 0
    assert panel.notice.kind() == "warning"
    assert panel.notice.message_label.text() == f"The provider at {dead_url} looks offline."
    assert panel.notice.action_button.text() == "Run anyway"
    click(qtbot, panel.notice.dismiss_button)  # "Not now": back to what the last run left
    assert panel.notice.kind() == "error"
    assert offline_runs.active_count() == 0

    # The provider answers again (here: the editor fixed its address in the settings); "Run again" sends only the
    # failed ones.
    set_provider_address(qtbot, window, loopback.base_url)
    assert offline_ws.settings.provider("default").base_url == loopback.base_url
    activate(qtbot, window)
    qtbot.waitUntil(lambda: panel.notice.isVisible() and panel.notice.action_button.isEnabled(), timeout=TIMEOUT)
    assert panel.notice.action_button.text() == "Run again (3 sections)"
    with qtbot.waitSignal(offline_runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.notice.action_button)
    assert finished.args[1]["status"] == "succeeded"
    assert finished.args[1]["run_id"] == finished.args[0]
    qtbot.waitUntil(lambda: panel.data["latest_run"]["status"] == "succeeded", timeout=TIMEOUT)
    assert not panel.notice.isVisible()
    assert loopback.count("/v1/chat/completions") == 3


def test_status_bar_offline_warns_before_run_and_run_anyway_starts(qtbot, offline_ws, offline_window, dead_url):
    window = offline_window
    offline_runs = window.runs
    bar = window.status
    assert bar.providers is offline_runs.providers  # the window shares them
    panel = open_panel(qtbot, window)
    qtbot.waitUntil(lambda: bar.provider.label.text().startswith("Provider: offline"), timeout=TIMEOUT)
    assert bar.providers.offline_reason().startswith(f"cannot reach {dead_url}")  # what the panel asks

    tick_only(qtbot, panel, [711])
    click(qtbot, panel.run_button)
    assert panel.notice.kind() == "warning"
    assert offline_runs.active_count() == 0
    assert f"Last seen: cannot reach {dead_url}" in panel.notice.note_label.text()
    with qtbot.waitSignal(offline_runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.notice.action_button)  # "Run anyway"
    assert finished.args[1]["status"] == "failed"
    assert finished.args[1]["results"][0]["error"].startswith(f"cannot reach {dead_url}")
    qtbot.waitUntil(lambda: panel.notice.kind() == "error", timeout=TIMEOUT)
    assert "is offline: nothing was generated for 1 section." in panel.notice.message_label.text()
