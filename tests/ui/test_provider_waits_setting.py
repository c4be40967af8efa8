"""Settings → Providers: the longest wait a provider may ask for and the answer deadline are set in the dialog, typed
by the editor, saved with the profile and used by the next run (they were only in settings.json)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.ui.editor_input import (
    WAIT,
    activate,
    answer_modal,
    choose_menu,
    click,
    click_button,
    click_item,
    focused,
    press,
    type_text,
)
from tests.ui.input_helpers import bring_into_view, field
from wfdesk.providers.openai_compat import profile_for
from wfdesk.settings import load_settings


def retype(qtbot, widget, text: str) -> None:
    bring_into_view(widget)
    click(qtbot, widget)
    assert focused() is widget or widget.isAncestorOf(focused())
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def test_the_longest_wait_and_the_answer_deadline_are_set_in_the_dialog(qtbot, main_window):
    failures: list[BaseException] = []

    def fill_in(dialog) -> None:
        try:
            activate(qtbot, dialog)
            bar = dialog.tabs.tabBar()
            titles = [bar.tabText(i).replace("&", "") for i in range(bar.count())]
            click(qtbot, bar, bar.tabRect(titles.index("Providers")).center())
            (item,) = dialog.providers_page.profile_list.findItems("default", Qt.MatchFlag.MatchExactly)
            click_item(qtbot, dialog.providers_page.profile_list, item)
            page = dialog.tabs.currentWidget()
            wait, deadline = field(page, "Longest wait"), field(page, "Answer deadline")
            assert wait.value() == 120.0
            assert deadline.value() == 900.0  # the profile's values are shown
            retype(qtbot, wait, "300")
            retype(qtbot, deadline, "45")
            click_button(qtbot, dialog, "Save")
        except BaseException as exc:  # noqa: BLE001 - re-raised outside the dialog's event loop
            failures.append(exc)
            if QApplication.activeModalWidget() is dialog:
                qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    activate(qtbot, main_window)
    answer_modal(qtbot, fill_in)
    choose_menu(qtbot, main_window, "File", "Settings…")
    if failures:
        raise failures[0]
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)
    profile = profile_for(main_window.ws, "default")  # what the next run uses
    assert (profile.max_wait, profile.request_deadline) == (300.0, 45.0)
    saved = load_settings().providers["default"]  # and in the settings file, for the next start
    assert (saved.max_wait, saved.request_deadline) == (300.0, 45.0)
