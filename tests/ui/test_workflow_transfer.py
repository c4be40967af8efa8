"""File → Export workflow / Import workflow / Add the reference workflow, through the main window's actions: the
file round trip adds the steps (new ids) and the step list shows them; a file with problems lists them and adds
nothing."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from wfdesk.db.models import LLMAction, WorkflowStepEntity

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def counts(ws) -> tuple[int, int]:
    with ws.db.session() as s:
        return s.query(WorkflowStepEntity).count(), s.query(LLMAction).count()


@pytest.fixture
def choose_file(monkeypatch):
    """Answer the next file dialogs with a given path."""

    def answer(path) -> None:
        reply = staticmethod(lambda *a, **k: (str(path), "wfdesk workflow (*.json)"))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", reply)
        monkeypatch.setattr(QFileDialog, "getOpenFileName", reply)

    return answer


def menu_action(window, menu_title: str, text: str):
    return next(a for m in window.menuBar().actions() if m.text() == menu_title
                for a in m.menu().actions() if a.text() == text)


def test_export_then_import_round_trip(qtbot, main_window, tmp_path, choose_file):
    target = tmp_path / "highlands.json"
    choose_file(target)
    with qtbot.waitSignal(main_window.transfer.exported, timeout=WAIT):
        menu_action(main_window, "&File", "Export &workflow…").trigger()
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["format"] == "wfdesk-workflow" and doc["name"] == "highlands" and "posts" not in doc
    assert [s["name"] for s in doc["workflow_steps"]] == ["polish_sections", "section_illustrations", "process_data"]
    assert [a["id"] for a in doc["llm_actions"]] == [5]
    assert "Exported 3 steps and 1 LLM action" in main_window.statusBar().currentMessage()

    with qtbot.waitSignal(main_window.transfer.imported, timeout=WAIT) as imported:
        menu_action(main_window, "&File", "Import wor&kflow…").trigger()
    new_ids = imported.args[0]
    assert len(new_ids) == 3 and counts(main_window.ws) == (6, 2)
    box = main_window.transfer.message_box
    assert box.isVisible() and box.icon() == QMessageBox.Icon.Information
    assert box.text().startswith("Added 3 steps and 1 LLM action from highlands.json")
    # The step list reloads and selects the first new step.
    qtbot.waitUntil(lambda: main_window.steps.item_for(new_ids[-1]) is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: main_window.steps.current_step()[0] == new_ids[0], timeout=WAIT)
    with main_window.ws.db.session() as s:
        polish = s.get(WorkflowStepEntity, new_ids[0])
        assert polish.config["script_config"]["action_id"] not in (None, 5)  # follows the new LLM action
    box.close()


def test_an_invalid_workflow_file_lists_its_problems_and_adds_nothing(qtbot, main_window, tmp_path, choose_file):
    from wfdesk.db.workflows import templates

    doc = json.loads(json.dumps(templates()["reference"]))
    doc["workflow_steps"][0]["config"]["script_config"]["action_id"] = 99
    doc["workflow_steps"][1]["config"]["script_config"]["parameters"]["n"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    choose_file(bad)
    with qtbot.waitSignal(main_window.transfer.failed, timeout=WAIT) as failed:
        main_window.transfer.import_file()
    text = failed.args[0]
    assert text.startswith("Nothing was added: bad.json has") and "action_id" in text
    box = main_window.transfer.message_box
    assert box.isVisible() and box.icon() == QMessageBox.Icon.Warning and "action_id" in box.text()
    assert counts(main_window.ws) == (3, 1)

    bad.write_text("{not json", encoding="utf-8")
    with qtbot.waitSignal(main_window.transfer.failed, timeout=WAIT) as failed:
        main_window.transfer.import_file()
    assert "not a JSON file (line 1" in failed.args[0]
    assert counts(main_window.ws) == (3, 1)
    main_window.transfer.message_box.close()


def test_add_the_reference_workflow(qtbot, main_window):
    with qtbot.waitSignal(main_window.transfer.imported, timeout=WAIT) as imported:
        menu_action(main_window, "&File", "Add the &reference workflow").trigger()
    assert len(imported.args[0]) == 3 and counts(main_window.ws) == (6, 2)
    assert "“Reference: polish, illustrate, process”" in main_window.transfer.message_box.text()
    qtbot.waitUntil(lambda: main_window.steps.item_for(imported.args[0][2]) is not None, timeout=WAIT)
    main_window.transfer.message_box.close()
