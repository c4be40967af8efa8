"""Both File menu imports refuse a file nested 100,000 levels deep with a message in words (they raised
RecursionError, shown as "unexpected error"), and change nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from ui.editor_input import WAIT, activate, choose_menu
from wfdesk.services import queries


@pytest.fixture
def deep_file(tmp_path, monkeypatch):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    return path


def test_import_everything_refuses_a_deeply_nested_file(qtbot, main_window, deep_file, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _p, _title, text, *a: shown.append(text)))
    activate(qtbot, main_window)
    choose_menu(qtbot, main_window, "File", "Import everything…")
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT)
    assert "nested too deeply" in shown[0]
    assert "Recursion" not in shown[0]
    assert len(queries.list_posts(main_window.ws)) == 1


def test_import_workflow_refuses_a_deeply_nested_file(qtbot, main_window, deep_file):
    activate(qtbot, main_window)
    choose_menu(qtbot, main_window, "File", "Import workflow…")
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=WAIT)
    box = QApplication.activeModalWidget()  # the message on top of the window, as the editor sees it
    text = box.text() + box.detailedText()
    assert "nested too deeply" in text
    assert "Recursion" not in text
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)  # the editor reads, then OK
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=WAIT)
