"""The README's "A short guide for editors", end to end, as a new editor does it: one window at 1280×720 on the
loopback provider, acting only with the mouse and the keyboard.

Each guide step is one function below, called in order by the test; a step that needs a dialog of its own (the
step config editor, Settings) slots in the same way: a function that opens it from its menu, clicks and types.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QDialog, QLineEdit, QMessageBox, QTabWidget

from tests.ui.input_helpers import field as form_field
from tests.ui.input_helpers import wheel
from ui.editor_input import (
    WAIT,
    activate,
    answer_modal,
    choose_menu,
    click,
    click_button,
    click_row,
    press,
)
from ui.widget_reading import cell_text, section_state, step_state
from wfdesk.db import content
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.services import config_store

POST = "A week in the Scottish Highlands"


def one_section_at_a_time(ws, step_id: int) -> None:
    """The workflow as a cautious team sets it up: the step sends one section at a time (so a cancel finds
    sections still waiting)."""
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        config = json.loads(json.dumps(step.config))
        config["script_config"].setdefault("parameters", {})["concurrency"] = 1
        step.config = config


@pytest.fixture
def window(qtbot, gui_ws):
    from wfdesk.ui.main_window import MainWindow

    one_section_at_a_time(gui_ws, 1)
    win = MainWindow(gui_ws)
    # A failed test may leave a run going: close then without asking about it.
    qtbot.addWidget(win, before_close_func=lambda w: setattr(w, "_asked_already", True))
    win.resize(1280, 720)
    win.show()
    activate(qtbot, win)
    return win


def field(ws, section_id: int, name: str) -> str | None:
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


def panel_of(qtbot, window, step_name: str):
    qtbot.waitUntil(lambda: window.current_panel() is not None
                    and window.current_panel().title_label.text() == step_name
                    and window.current_panel().data is not None, timeout=WAIT)
    return window.current_panel()


# --- the guide, step by step ------------------------------------------------------------------------------------

def choose_the_post(qtbot, window) -> None:
    qtbot.waitUntil(lambda: bool(window.posts.tree.findItems(POST, Qt.MatchFlag.MatchExactly)), timeout=WAIT)
    click_row(qtbot, window.posts.tree, POST)
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
    assert POST in window.content.steps_heading.text()


def choose_the_step(qtbot, window, name: str, *, ready: bool = True):
    qtbot.waitUntil(lambda: bool(window.steps.findItems(name, Qt.MatchFlag.MatchRecursive)), timeout=WAIT)
    click_row(qtbot, window.steps, name)
    panel = panel_of(qtbot, window, name)
    if ready:
        qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT)
    return panel


def run_and_watch(qtbot, window, panel) -> dict:
    """Click Run; the bar counts the sections up until the run is done."""
    seen: list[int] = []
    panel.progress.valueChanged.connect(seen.append)
    with qtbot.waitSignal(window.runs.run_finished, timeout=WAIT) as finished:
        click(qtbot, panel.run_button)
        assert panel.progress.isVisible()
        assert panel.cancel_button.isEnabled()
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT)
    panel.progress.valueChanged.disconnect(seen.append)
    assert seen
    assert seen[-1] == panel.progress.maximum()
    return finished.args[1]


def run_again_and_cancel_with_esc(qtbot, window, panel, loopback) -> int:
    """A slow provider (each answer takes seconds); Esc once the first section is done stops the run: the sections
    still waiting are skipped, an answer still on its way is thrown away. Returns how many sections were done."""
    loopback.chat_reply = lambda request: "Polished again."
    loopback.latency = 2.0
    with qtbot.waitSignal(window.runs.run_finished, timeout=3 * WAIT) as finished:
        click(qtbot, panel.run_button)
        qtbot.waitUntil(lambda: section_state(panel.picker, 711) == "done", timeout=WAIT)
        press(qtbot, "Esc")  # wherever the focus went when Run went grey
        assert panel.status_text().startswith("Cancelling")
    loopback.latency = 0
    assert finished.args[1]["status"] == "cancelled"
    done = sum(1 for r in finished.args[1]["results"] if r["status"] == "success")
    assert 1 <= done < 3
    qtbot.waitUntil(lambda: panel.notice.isVisible(), timeout=WAIT)
    assert panel.notice.message_label.text() == (
        f"The last run was cancelled: {done} of 3 sections {'is' if done == 1 else 'are'} done.")
    assert panel.progress.text() == f"{done} / 3 sections"  # what was done, not a full bar
    assert section_state(panel.picker, 713) == "cancelled"
    return done


def resume(qtbot, window, panel, loopback, left: int) -> None:
    """The banner's button runs only the sections the cancelled run left."""
    sent = loopback.count("/v1/chat")
    with qtbot.waitSignal(window.runs.run_finished, timeout=WAIT) as finished:
        click_button(qtbot, panel, f"Run the {left} remaining")
    assert finished.args[1]["status"] == "succeeded"
    assert loopback.count("/v1/chat") == sent + left
    qtbot.waitUntil(lambda: not panel.notice.isVisible() and panel.run_button.isEnabled(), timeout=WAIT)


def shows_images_of(qtbot, panel, title: str) -> None:
    """The results area has switched to this section: its heading names it, its one candidate is selected."""
    qtbot.waitUntil(lambda: f"<b>{title}</b>" in panel.heading.text() and panel.strip.count() == 1
                    and (panel.strip.selected() or {}).get("status") == "candidate"
                    and panel.accept_button.isEnabled(), timeout=WAIT)


def review_images(qtbot, window, panel, ws) -> None:
    """Accept the first section's candidate, reject the second's, take the reject back."""
    qtbot.waitUntil(lambda: step_state(window.steps, 2) == "awaiting review (3 images)", timeout=WAIT)
    click_row(qtbot, panel.picker.tree, "Arriving in Inverness")
    shows_images_of(qtbot, panel, "Arriving in Inverness")
    click(qtbot, panel.accept_button)
    qtbot.waitUntil(lambda: field(ws, 711, "generated_image_url") is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: step_state(window.steps, 2) == "awaiting review (2 images)", timeout=WAIT)

    click_row(qtbot, panel.picker.tree, "Glen Affric")
    shows_images_of(qtbot, panel, "Glen Affric")
    click(qtbot, panel.reject_button)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "rejected", timeout=WAIT)
    qtbot.waitUntil(lambda: step_state(window.steps, 2) == "awaiting review (1 image)", timeout=WAIT)

    undo_the_reject(qtbot, panel)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "candidate", timeout=WAIT)
    qtbot.waitUntil(lambda: step_state(window.steps, 2) == "awaiting review (2 images)", timeout=WAIT)


def undo_the_reject(qtbot, panel) -> None:
    """A rejected image's one way back: the button that now reads Restore (the window's Ctrl+Z undoes section
    edits)."""
    click_button(qtbot, panel, "Restore")


def open_costs(qtbot, window) -> None:
    choose_menu(qtbot, window, "View", "Costs…")
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QDialog), timeout=WAIT)
    dialog = QApplication.activeModalWidget()
    qtbot.waitUntil(lambda: dialog.table.rowCount() >= 3, timeout=WAIT)
    rows = {cell_text(dialog.table, r, 0) for r in range(dialog.table.rowCount())}
    assert {"polish_sections", "section_illustrations", "Total"} <= rows
    click_button(qtbot, dialog, "Close")
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)


def give_up(qtbot, dialog) -> None:
    """Leave a dialog without saving, as the editor does: Esc closes a drop-down still open, Cancel closes the
    dialog, and a question about unsaved changes is answered Discard."""
    popup = QApplication.activePopupWidget()
    if popup is not None:
        qtbot.keyClick(popup, Qt.Key.Key_Escape)

    def discard() -> None:
        question = QApplication.activeModalWidget()
        if isinstance(question, QMessageBox) and question is not dialog:
            click_button(qtbot, question, "Discard")
        elif dialog.isVisible():
            QTimer.singleShot(30, discard)

    QTimer.singleShot(0, discard)
    click_button(qtbot, dialog, "Cancel")


def in_modal(qtbot, open_it, act) -> None:
    """Open a modal dialog with open_it() (a key or a menu click) and act(dialog) in it. A failure inside closes the
    dialog (so nothing hangs) and fails the test here."""
    failures: list[BaseException] = []

    def guarded(dialog) -> None:
        try:
            act(dialog)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the dialog's event loop
            failures.append(exc)
            give_up(qtbot, dialog)

    answer_modal(qtbot, guarded)
    open_it()
    if failures:
        raise failures[0]


def edit_the_step_config(qtbot, window, ws) -> None:
    """Step → Edit step config… (Ctrl+E) on the image step: the wheel over the form only scrolls; a wrong size is
    refused in plain words next to the field and nothing is saved; the right one is saved."""
    before = config_store.load_step(ws, 2)

    def act(dialog) -> None:
        qtbot.waitUntil(lambda: dialog.is_loaded and dialog.params_form.isVisible(), timeout=WAIT)
        backend = form_field(dialog, "Backend", QComboBox)
        shown = backend.currentText()
        wheel(backend.childAt(backend.rect().center()) or backend, -120)  # scrolling past it changes nothing
        assert backend.currentText() == shown
        size = form_field(dialog, "Size")
        click(qtbot, size)
        press(qtbot, "Ctrl+A")
        qtbot.keyClicks(size, "big")
        click_button(qtbot, dialog, "Save")
        message = dialog.params_form.problem_labels["size"]
        qtbot.waitUntil(message.isVisible, timeout=WAIT)
        assert "must be like 1024x1024 or auto" in message.text()
        assert "pattern" not in message.text()
        assert dialog.isVisible()
        assert config_store.load_step(ws, 2) == before  # nothing invalid saved
        click(qtbot, size)  # the focus went to Save
        press(qtbot, "Ctrl+A")
        qtbot.keyClicks(size, "1536x1024")
        click_button(qtbot, dialog, "Save")

    in_modal(qtbot, lambda: press(qtbot, "Ctrl+E"), act)
    saved = config_store.load_step(ws, 2)
    assert saved.config["script_config"]["parameters"]["size"] == "1536x1024"


def set_the_custom_script_address_and_run(qtbot, window, base_url: str) -> None:
    """The third step needs the custom-script base URL: its panel says so; set it in Settings (Ctrl+,), and the
    same panel runs without choosing the step again."""
    panel = choose_the_step(qtbot, window, "process_data", ready=False)
    qtbot.waitUntil(lambda: panel.config_error_label.isVisible(), timeout=WAIT)
    assert not panel.run_button.isEnabled()
    assert "base URL is not set" in panel.config_error_label.text()

    def act(dialog) -> None:
        tabs = dialog.findChild(QTabWidget)
        bar = tabs.tabBar()
        index = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Custom scripts")
        click(qtbot, bar, bar.tabRect(index).center())
        url = dialog.findChild(QLineEdit, "custom_script_base_url")
        click(qtbot, url)
        qtbot.keyClicks(url, base_url)
        click_button(qtbot, dialog, "Save")

    activate(qtbot, window)  # the window is in front again after the config dialog
    click_row(qtbot, window.steps, "process_data")  # the keyboard focus is in the step list
    in_modal(qtbot, lambda: press(qtbot, "Ctrl+,"), act)
    qtbot.waitUntil(lambda: panel.config_error_label.isHidden(), timeout=WAIT)
    assert run_and_watch(qtbot, window, panel)["status"] == "succeeded"


# --- the journey ------------------------------------------------------------------------------------------------

def test_the_editor_guide_end_to_end(qtbot, window, gui_ws, loopback):
    loopback.chat_reply = lambda request: "Polished."
    choose_the_post(qtbot, window)

    panel = choose_the_step(qtbot, window, "polish_sections")
    assert panel.picker.count_label.text() == "3 of 3 selected"
    assert run_and_watch(qtbot, window, panel)["status"] == "succeeded"
    assert panel.status_text() == "Finished: 3 done."
    qtbot.waitUntil(lambda: step_state(window.steps, 1) == "done", timeout=WAIT)
    assert field(gui_ws, 712, "polished") == "Polished."

    done = run_again_and_cancel_with_esc(qtbot, window, panel, loopback)
    qtbot.waitUntil(lambda: step_state(window.steps, 1) == "cancelled", timeout=WAIT)
    loopback.chat_reply = lambda request: "Polished, resumed."
    resume(qtbot, window, panel, loopback, 3 - done)
    assert field(gui_ws, 711, "polished") == "Polished again."
    assert field(gui_ws, 713, "polished") == "Polished, resumed."
    qtbot.waitUntil(lambda: step_state(window.steps, 1) == "done", timeout=WAIT)

    images = choose_the_step(qtbot, window, "section_illustrations")
    assert run_and_watch(qtbot, window, images)["status"] == "succeeded"
    review_images(qtbot, window, images, gui_ws)

    edit_the_step_config(qtbot, window, gui_ws)

    base_url = gui_ws.settings.custom_script_base_url
    gui_ws.settings.custom_script_base_url = None  # as on a new machine: not set yet
    set_the_custom_script_address_and_run(qtbot, window, base_url)

    open_costs(qtbot, window)
