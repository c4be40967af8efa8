"""Small editor-facing fixes driven through the main window: the File menu says which import is which, the New
post dialog shows its whole title, import counts read as English."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QInputDialog

from tests.ui.editor_input import activate, answer_modal, click_button, press
from tests.ui.test_workflow_transfer import choose_file
from wfdesk.services.editing import demo_bundle

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def file_menu(window):
    return next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")


def test_the_two_imports_say_what_they_import(main_window):
    actions = {a.text().replace("&", ""): a for a in file_menu(main_window).actions() if a.text()}
    imports = {text: a for text, a in actions.items() if text.startswith("Import")}
    assert len(imports) == 2
    workflow, full = sorted(imports.values(), key=lambda a: "everything" in a.text())
    assert "everything" in full.text()
    assert "workflow" in workflow.text().replace("&", "")
    assert "posts" in full.statusTip()
    assert "no posts" in workflow.statusTip()
    exports = [a for text, a in actions.items() if text.startswith("Export")]
    assert all(a.statusTip() for a in exports)


def test_new_post_dialog_shows_its_whole_title(qtbot, main_window):
    seen = {}

    def answer(dialog):
        try:
            seen["kind"] = type(dialog)
            seen["title"], seen["width"] = dialog.windowTitle(), dialog.width()
            seen["needed"] = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
            qtbot.waitUntil(lambda: dialog.isAncestorOf(QApplication.focusWidget()), timeout=WAIT)
        finally:  # the dialog closes even if reading it failed
            if dialog.isAncestorOf(QApplication.focusWidget()):
                press(qtbot, "Esc")
            else:
                click_button(qtbot, dialog, "Cancel")

    activate(qtbot, main_window)  # shortcuts only reach the active window
    answer_modal(qtbot, answer)
    press(qtbot, "Ctrl+N")
    assert seen["kind"] is QInputDialog or issubclass(seen["kind"], QInputDialog)
    assert seen["title"] == "New post"
    # Room for the title and the title bar's buttons, and for a real title in the field.
    assert seen["width"] >= 400 >= seen["needed"] + 120


def test_import_counts_are_proper_english(qtbot, main_window, tmp_path):
    import json

    bundle = demo_bundle()
    bundle["posts"][0]["id"] = 99
    for section in bundle["posts"][0]["sections"]:
        section["id"] += 1000
    bundle["post_step_overrides"] = []
    path = tmp_path / "one-post.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    choose_file(qtbot, main_window, "File", "Import everything…", path)  # typed into the file dialog
    qtbot.waitUntil(lambda: main_window.statusBar().currentMessage().startswith("Imported "), timeout=WAIT)
    message = main_window.statusBar().currentMessage()
    assert "1 post," in message
    assert "1 posts" not in message
    assert "1 LLM action" in message
    assert "3 sections" in message
    assert "3 steps" in message


@pytest.mark.parametrize(("n", "word", "expected"), [(0, "post", "0 posts"), (1, "post", "1 post"),
                                               (2, "LLM action", "2 LLM actions")])
def test_plural(n, word, expected):
    from wfdesk.ui.workflow_transfer import plural

    assert plural(n, word) == expected
