"""File → Export workflow / Import workflow / Add the reference workflow, through the main window's actions: the
file round trip adds the steps (new ids) and the step list shows them; a file with problems lists them and adds
nothing."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox, QPushButton

from tests.ui.editor_input import (
    activate,
    answer_modal,
    button,
    choose_menu,
    click,
    click_button,
    press,
    type_text,
)
from wfdesk.db.models import LLMAction, WorkflowStepEntity

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def counts(ws) -> tuple[int, int]:
    with ws.db.session() as s:
        return s.query(WorkflowStepEntity).count(), s.query(LLMAction).count()


def default_button(dialog) -> QPushButton:
    found = [b for b in dialog.findChildren(QPushButton) if b.isVisible() and b.isDefault()]
    assert found, "the file dialog has no default button"
    return found[0]


def close_popup(qtbot) -> None:
    """Esc closes the file name's completion list, as it does for the editor (the dialog stays open)."""
    popup = QApplication.activePopupWidget()
    if popup is not None:
        qtbot.keyClick(popup, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None, timeout=WAIT)


def choose_file(qtbot, window, menu_title: str, item: str, path) -> None:
    """Choose a menu item that asks for a file and answer Qt's file dialog as an editor does: type the path into the
    file name field and click Save or Open. A failure in the dialog cancels it (nothing hangs) and fails here."""
    failures: list[BaseException] = []

    def answer(dialog) -> None:
        try:
            assert isinstance(dialog, QFileDialog), f"{dialog!r} opened instead of a file dialog"
            activate(qtbot, dialog)  # the offscreen platform does not give a new dialog the keyboard by itself
            name = dialog.findChild(QLineEdit, "fileNameEdit")
            assert name is not None
            click(qtbot, name)
            press(qtbot, "Ctrl+A")
            type_text(qtbot, str(path))
            assert name.text() == str(path)
            close_popup(qtbot)
            click(qtbot, default_button(dialog))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the dialog's event loop
            failures.append(exc)
            close_popup(qtbot)
            click_button(qtbot, dialog, "Cancel")

    answer_modal(qtbot, answer)
    choose_menu(qtbot, window, menu_title, item)
    if failures:
        raise failures[0]


def shown_message(qtbot, window) -> QMessageBox:
    """The result the window shows, as the editor sees it: the message on top of the window, waiting for OK."""
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=WAIT)
    box = QApplication.activeModalWidget()
    assert box.parent() is window
    return box


def dismiss(qtbot, box: QMessageBox) -> None:
    """Click the message's OK, as the editor does before going on."""
    click(qtbot, button(box, "OK"))
    qtbot.waitUntil(lambda: not box.isVisible() and QApplication.activeModalWidget() is None, timeout=WAIT)


def test_export_then_import_round_trip(qtbot, main_window, tmp_path):
    target = tmp_path / "highlands.json"
    with qtbot.waitSignal(main_window.transfer.exported, timeout=WAIT):
        choose_file(qtbot, main_window, "File", "Export workflow…", target)
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["format"] == "wfdesk-workflow"
    assert doc["name"] == "highlands"
    assert "posts" not in doc
    assert [s["name"] for s in doc["workflow_steps"]] == ["polish_sections", "section_illustrations", "process_data"]
    assert [a["id"] for a in doc["llm_actions"]] == [5]
    assert "Exported 3 steps and 1 LLM action" in main_window.statusBar().currentMessage()

    with qtbot.waitSignal(main_window.transfer.imported, timeout=WAIT) as imported:
        choose_file(qtbot, main_window, "File", "Import workflow…", target)
    new_ids = imported.args[0]
    assert len(new_ids) == 3
    assert counts(main_window.ws) == (6, 2)
    box = shown_message(qtbot, main_window)
    assert box.isVisible()
    assert box.icon() == QMessageBox.Icon.Information
    assert box.text().startswith("Added 3 steps and 1 LLM action from highlands.json")
    # The step list reloads and selects the first new step.
    qtbot.waitUntil(lambda: main_window.steps.item_for(new_ids[-1]) is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: main_window.steps.current_step()[0] == new_ids[0], timeout=WAIT)
    with main_window.ws.db.session() as s:
        polish = s.get(WorkflowStepEntity, new_ids[0])
        assert polish.config["script_config"]["action_id"] not in (None, 5)  # follows the new LLM action
    dismiss(qtbot, box)


def test_an_invalid_workflow_file_lists_its_problems_and_adds_nothing(qtbot, main_window, tmp_path):
    from wfdesk.services.workflows import templates

    doc = json.loads(json.dumps(templates()["reference"]))
    doc["workflow_steps"][0]["config"]["script_config"]["action_id"] = 99
    doc["workflow_steps"][1]["config"]["script_config"]["parameters"]["n"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with qtbot.waitSignal(main_window.transfer.failed, timeout=WAIT) as failed:
        choose_file(qtbot, main_window, "File", "Import workflow…", bad)
    text = failed.args[0]
    assert text.startswith("Nothing was added: bad.json has")
    assert "action_id" in text
    box = shown_message(qtbot, main_window)
    assert box.isVisible()
    assert box.icon() == QMessageBox.Icon.Warning
    assert "action_id" in box.text()
    assert counts(main_window.ws) == (3, 1)
    dismiss(qtbot, box)  # the message holds the window until it is answered

    bad.write_text("{not json", encoding="utf-8")
    with qtbot.waitSignal(main_window.transfer.failed, timeout=WAIT) as failed:
        choose_file(qtbot, main_window, "File", "Import workflow…", bad)
    assert "not a JSON file (line 1" in failed.args[0]
    assert counts(main_window.ws) == (3, 1)
    box = shown_message(qtbot, main_window)
    assert "not a JSON file (line 1" in box.text()
    dismiss(qtbot, box)


def test_add_the_reference_workflow(qtbot, main_window):
    with qtbot.waitSignal(main_window.transfer.imported, timeout=WAIT) as imported:
        choose_menu(qtbot, main_window, "File", "Add the reference workflow")
    assert len(imported.args[0]) == 3
    assert counts(main_window.ws) == (6, 2)
    box = shown_message(qtbot, main_window)
    assert "“Reference: polish, illustrate, process”" in box.text()
    qtbot.waitUntil(lambda: main_window.steps.item_for(imported.args[0][2]) is not None, timeout=WAIT)
    dismiss(qtbot, box)
