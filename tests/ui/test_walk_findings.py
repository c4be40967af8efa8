"""Defects found by walking the README's guide in a real X window (issue 9's walk at 1280×720 and 1440×900).
Each test reproduces what an editor met on screen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication

from wfdesk.ui import screen_fit

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def small_screen(monkeypatch):
    """A 1280×720 laptop screen."""
    area = QRect(0, 0, 1280, 720)
    monkeypatch.setattr(screen_fit, "available_geometry", lambda _widget: area)
    return area


def test_first_start_window_fits_a_1280x720_screen(qtbot, gui_ws, small_screen):
    """Seen: on first start the window opened 1280×800 on a 720-pixel screen, so the step panel's Run button and the
    status bar were below the screen's edge."""
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(gui_ws)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_asked_already", True))
    window.show()
    qtbot.waitUntil(lambda: window.current_panel() is not None, timeout=WAIT)
    assert window.width() + screen_fit.FRAME_WIDTH <= small_screen.width()
    assert window.height() + screen_fit.FRAME_HEIGHT <= small_screen.height()
    run = window.current_panel().run_button
    bottom_right = run.mapTo(window, QPoint(run.width(), run.height()))
    assert window.rect().contains(bottom_right), "the Run button is outside the window"
    status = window.statusBar()
    assert status.isVisible()
    assert status.geometry().bottom() <= window.rect().bottom()


@pytest.fixture
def image_step_dialog(qtbot, gui_ws):
    from wfdesk.ui.config_editor import StepConfigDialog

    dialog = StepConfigDialog(gui_ws, 2)
    qtbot.addWidget(dialog)
    dialog.confirm_discard = lambda: True  # closing at teardown asks nothing
    dialog.show()
    qtbot.waitUntil(lambda: dialog.is_loaded and dialog.params_form.isVisible(), timeout=WAIT)
    return dialog


def test_text_typed_in_other_parameters_shows_unsaved_changes(qtbot, image_step_dialog):
    """Seen: typing {"style": vivid into Other parameters left the dialog's corner blank, while a changed size said
    "Unsaved changes" (the text is kept and Cancel asks, so the corner must say so too)."""
    from tests.ui.input_helpers import field

    extras = field(image_step_dialog, "Other parameters")
    qtbot.mouseClick(extras, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(QApplication.focusWidget(), '{"style": vivid')
    assert image_step_dialog.status.text() == "Unsaved changes"
    extras.selectAll()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backspace)
    assert image_step_dialog.status.text() == ""


def test_comfyui_address_parameter_has_its_proper_name(image_step_dialog):
    """Seen: the image step's form labelled the ComfyUI address "Comfyui Url:"."""
    from tests.ui.input_helpers import field

    assert field(image_step_dialog, "ComfyUI URL").isVisible()


def test_llm_actions_from_the_menu_shows_an_action_when_the_step_is_not_a_text_step(qtbot, main_window):
    """Seen: with the image step chosen, Step → LLM actions… opened on a blank, unsaved "new action" (nothing chosen in
    the list, a red "unknown variable: 'input1'" under the preview), although the list held "Polish section". The
    manager opens on an action of the list, as a list does."""
    from ui.editor_input import answer_modal, choose_menu, click_button, click_row

    click_row(qtbot, main_window.steps, "section_illustrations")
    qtbot.waitUntil(lambda: main_window.current_panel() is not None
                    and main_window.current_panel().title_label.text() == "section_illustrations", timeout=WAIT)
    seen: dict = {}

    def look(dialog) -> None:
        qtbot.waitUntil(lambda: dialog.is_loaded and not dialog.busy, timeout=WAIT)
        qtbot.wait(300)  # a second load (the wrong one) would land here
        current = dialog.action_list.currentItem()
        seen.update(name=dialog.name_edit.text(), chosen=current.text() if current else None,
                    title=dialog.windowTitle())
        click_button(qtbot, dialog, "Close")

    answer_modal(qtbot, look)
    choose_menu(qtbot, main_window, "Step", "LLM actions…")
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT)
    assert seen["chosen"] == "Polish section"
    assert seen["name"] == "Polish section"
    assert "new action" not in seen["title"]


def test_a_step_whose_last_run_was_cancelled_does_not_say_never_run(qtbot, main_window, gui_ws, loopback):
    """Seen: after Esc cancelled a run before any section finished, the app opened the next time with "Not run on this
    post yet" under the banner "The last run was cancelled" (and above three earlier versions)."""
    from ui.editor_input import click, click_row, press
    from wfdesk.ui.main_window import MainWindow

    click_row(qtbot, main_window.steps, "polish_sections")
    qtbot.waitUntil(lambda: main_window.current_panel() is not None
                    and main_window.current_panel().title_label.text() == "polish_sections"
                    and main_window.current_panel().run_button.isEnabled(), timeout=WAIT)
    panel = main_window.current_panel()
    loopback.latency = 5.0
    try:
        with qtbot.waitSignal(main_window.runs.run_finished, timeout=6 * WAIT) as finished:
            click(qtbot, panel.run_button)
            press(qtbot, "Esc")
    finally:
        loopback.latency = 0
    assert finished.args[1]["status"] == "cancelled"
    main_window.close()
    # The next start of the app.
    window = MainWindow(gui_ws)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_asked_already", True))
    window.show()
    qtbot.waitUntil(lambda: window.post_id == 53 and bool(window.steps.findItems(
        "polish_sections", Qt.MatchFlag.MatchRecursive)), timeout=WAIT)
    click_row(qtbot, window.steps, "polish_sections")
    qtbot.waitUntil(lambda: window.current_panel() is not None
                    and window.current_panel().title_label.text() == "polish_sections"
                    and window.current_panel().data is not None, timeout=WAIT)
    status = window.current_panel().status_text()
    assert "Not run" not in status
    assert "3 cancelled" in status


def open_export_dialog(qtbot, window):
    from ui.editor_input import choose_menu

    choose_menu(qtbot, window, "File", "Export post…")
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is not None
                    and QApplication.activeModalWidget().windowTitle() == "Export post", timeout=WAIT)
    return QApplication.activeModalWidget()


def test_export_post_folder_label_has_no_stray_ampersand(qtbot, main_window):
    """Seen: File → Export post… showed its folder field labelled "F&older" (a shortcut letter that did nothing).
    The label now leads to the folder field (Alt+O), so Qt draws it as Folder."""
    from PySide6.QtWidgets import QLabel, QLineEdit

    dialog = open_export_dialog(qtbot, main_window)
    shown = [label.text() for label in dialog.findChildren(QLabel) if label.isVisible()]
    assert "F&older" in shown  # Qt draws it as "Folder" with O underlined once it has a buddy
    folder = next(e for e in dialog.findChildren(QLineEdit) if e.accessibleName() == "Folder")
    label = next(lbl for lbl in dialog.findChildren(QLabel) if lbl.text() == "F&older")
    assert label.buddy() is folder, "the label's shortcut letter leads nowhere, so Qt shows the & itself"
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)


def test_export_post_names_section_fields_by_their_labels(qtbot, main_window):
    """Seen: the Section body drop-down offered "Automatic: the first filled of polished, processed_data, draft" and
    the field keys; the sections table calls the same fields Polished Content, Section Content…"""
    from PySide6.QtWidgets import QComboBox

    dialog = open_export_dialog(qtbot, main_window)
    body = [c for c in dialog.findChildren(QComboBox) if c.isVisible()][1]
    texts = [body.itemText(i) for i in range(body.count())]
    assert "Polished Content" in texts
    assert "Section Content" in texts
    assert not any(key in " ".join(texts) for key in ("polished,", "processed_data", "draft"))
    assert "Polished Content" in texts[0]
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
