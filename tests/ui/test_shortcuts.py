"""Keyboard shortcuts of the main window, tried the way an editor uses them.

No two enabled shortcuts that apply in the same place share a key (Qt calls that ambiguous and fires neither);
every shortcut the app lists under Help → Keyboard shortcuts fires when pressed where it applies; Ctrl+Enter runs
the chosen step and Esc cancels its run wherever the focus is after clicking Run.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QApplication, QDialog, QLabel, QTableWidget, QWidget
from typing_extensions import override

from ui.editor_input import (
    WAIT,
    activate,
    choose_menu,
    click,
    click_button,
    click_cell,
    click_row,
    focused,
    plain,
    press,
    wheel_into_view,
)
from wfdesk.ui.shortcuts_dialog import collect_shortcuts

STEPS = ("polish_sections", "section_illustrations", "process_data")  # one step of each built-in type


class ShortcutSpy(QObject):
    """Catches the shortcut events Qt sends to actions and shortcuts (and swallows them, so pressing Quit does not
    quit): which object a key reached, and whether Qt found it ambiguous."""

    def __init__(self, objects: list[QObject]) -> None:
        super().__init__()
        self.seen: list[tuple[QObject, bool]] = []
        self.objects = objects
        for obj in objects:
            obj.installEventFilter(self)

    @override
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Shortcut:
            self.seen.append((obj, event.isAmbiguous()))
            return True
        return False

    def remove(self) -> None:
        for obj in self.objects:
            obj.removeEventFilter(self)


def with_all_panels(qtbot, window) -> None:
    """Click each kind of step once, so every step panel exists (panels are made on first use)."""
    activate(qtbot, window)
    qtbot.waitUntil(lambda: window.steps.item_for(3) is not None, timeout=WAIT)
    for name in STEPS:
        click_row(qtbot, window.steps, name)
        qtbot.waitUntil(lambda n=name: window.current_panel() is not None
                        and window.current_panel().title_label.text() == n, timeout=WAIT)
    click_row(qtbot, window.steps, STEPS[0])


def bindings(window) -> list[tuple[QObject, QKeySequence, Qt.ShortcutContext, list[QWidget]]]:
    """Every enabled key binding in the window: (owner, keys, context, the widgets it is attached to)."""
    out = []
    for shortcut in window.findChildren(QShortcut):
        if shortcut.isEnabled() and not shortcut.key().isEmpty():
            out.append((shortcut, shortcut.key(), shortcut.context(), [shortcut.parent()]))
    for action in window.findChildren(QAction):
        if not action.isEnabled():
            continue
        widgets = [w for w in action.associatedObjects() if isinstance(w, QWidget)]
        for keys in action.shortcuts():
            out.append((action, keys, action.shortcutContext(), widgets))
    return out


def _overlap(a_ctx, a_widgets, b_ctx, b_widgets) -> bool:
    window_wide = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)
    if a_ctx in window_wide or b_ctx in window_wide:
        return True

    def covers(ctx, owner: QWidget, target: QWidget) -> bool:
        if ctx == Qt.ShortcutContext.WidgetShortcut:
            return owner is target
        return owner is target or owner.isAncestorOf(target)

    return any(covers(a_ctx, a, b) or covers(b_ctx, b, a) for a in a_widgets for b in b_widgets)


def test_no_two_enabled_shortcuts_share_a_key_where_both_apply(qtbot, main_window):
    with_all_panels(qtbot, main_window)
    found = bindings(main_window)
    assert any(keys == QKeySequence("Ctrl+Return") for _, keys, _, _ in found)
    clashes = []
    for i, (a, a_keys, a_ctx, a_widgets) in enumerate(found):
        for b, b_keys, b_ctx, b_widgets in found[i + 1:]:
            if a is not b and a_keys == b_keys and _overlap(a_ctx, a_widgets, b_ctx, b_widgets):
                clashes.append(f"{a_keys.toString()}: {a!r} / {b!r}")
    assert not clashes, "ambiguous shortcuts: " + "; ".join(clashes)


def click_into(qtbot, target: QWidget) -> None:
    """Give a widget the keyboard focus the way an editor does: click it (a list on its first row)."""
    assert not isinstance(target, QAbstractButton), f"clicking {target!r} would press it"
    if isinstance(target, QAbstractItemView):
        model = target.model()
        # A table's first row, in its last column (the sections table keeps its title column in a frozen view on
        # top of column 0-1, which would take the click).
        cell = model.index(0, model.columnCount() - 1) if model is not None and model.rowCount() else None
        rect = wheel_into_view(target, lambda: target.visualRect(cell)) if cell is not None and cell.isValid() \
            else target.viewport().rect()
        click(qtbot, target.viewport(), rect.center())
    else:
        click(qtbot, target)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is target, timeout=WAIT)


def focus_for(window, entry) -> QWidget:
    """Where an editor would be when using this shortcut: the list of posts for window-wide ones, the widget the
    action belongs to otherwise."""
    if entry.widget is None:
        return window.posts.tree
    target = entry.widget
    if not target.focusPolicy() & Qt.FocusPolicy.TabFocus:
        candidates = [w for w in target.findChildren(QTableWidget) if w.isVisible()] or \
                     [w for w in target.findChildren(QWidget) if w.isVisible() and w.isEnabled()
                      and w.focusPolicy() & Qt.FocusPolicy.TabFocus]
        target = candidates[0]
    return target


def test_every_listed_shortcut_fires_where_it_applies(qtbot, main_window):
    with_all_panels(qtbot, main_window)
    entries = [e for e in collect_shortcuts(main_window) if e.action is not None and e.action.isEnabled()]
    assert {"Run step", "New post…", "Settings…", "Quit"} <= {e.text for e in entries}
    spy = ShortcutSpy([o for o, *_ in bindings(main_window)])
    try:
        for entry in entries:
            target = focus_for(main_window, entry)
            if not target.isVisible():
                continue  # e.g. a panel not on screen now
            click_into(qtbot, target)
            for keys in entry.action.shortcuts():
                spy.seen.clear()
                press(qtbot, keys)
                assert spy.seen == [(entry.action, False)], (
                    f"{keys.toString()} ({entry.text}) pressed in {type(target).__name__}: {spy.seen}")
    finally:
        spy.remove()


def test_ctrl_enter_runs_and_esc_cancels_wherever_the_focus_went(qtbot, main_window, loopback):
    loopback.latency = 1.5  # every answer takes a while: the run is still going when Esc is pressed
    activate(qtbot, main_window)
    qtbot.waitUntil(lambda: main_window.steps.item_for(1) is not None, timeout=WAIT)
    click_row(qtbot, main_window.steps, "polish_sections")
    panel = main_window.current_panel()
    qtbot.waitUntil(lambda: panel.data is not None and panel.run_button.isEnabled(), timeout=WAIT)

    # Ctrl+Enter in the list of steps runs the step on the ticked sections.
    click_row(qtbot, main_window.steps, "polish_sections")
    assert focused() is main_window.steps
    with qtbot.waitSignal(main_window.runs.run_started, timeout=WAIT):
        press(qtbot, "Ctrl+Return")
    qtbot.waitUntil(lambda: main_window.cancel_action.isEnabled(), timeout=WAIT)
    # Esc cancels it.
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        press(qtbot, "Esc")
    assert finished.args[1]["status"] == "cancelled"
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)

    # Click Run: the button goes grey while the run goes, the focus moves on, and Esc still cancels.
    with qtbot.waitSignal(main_window.runs.run_started, timeout=WAIT):
        click(qtbot, panel.run_button)
    assert not panel.run_button.isEnabled()
    where = focused()
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        press(qtbot, "Esc")
    assert finished.args[1]["status"] == "cancelled", f"Esc pressed in {type(where).__name__}"
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)
    assert "Cancelled" in panel.status_text()

    # Typing in the post search box while it runs: Esc there cancels too.
    with qtbot.waitSignal(main_window.runs.run_started, timeout=WAIT):
        click(qtbot, panel.run_button)
    click(qtbot, main_window.posts.search)
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        press(qtbot, "Esc")
    assert finished.args[1]["status"] == "cancelled"
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)

    # Keypad Enter with Ctrl runs too, from the post list.
    loopback.latency = 0
    click_into(qtbot, main_window.posts.tree)
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        qtbot.keyClick(focused(), Qt.Key.Key_Enter,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier)
    assert finished.args[1]["status"] == "succeeded"


def test_esc_while_nothing_runs_still_leaves_an_edit(qtbot, main_window):
    """Esc is the window's only while a run goes: otherwise it belongs to the widget (closing a cell editor)."""
    activate(qtbot, main_window)
    assert not main_window.cancel_action.isEnabled()
    table = main_window.sections.table
    click_cell(qtbot, main_window.sections, 711, "draft")
    assert focused() is table
    press(qtbot, "F2")
    editor = focused()
    assert editor is not table
    press(qtbot, "Esc")

    def back_in_the_table() -> bool:
        now = QApplication.focusWidget()
        return now is not editor and (now is table or table.isAncestorOf(now))

    qtbot.waitUntil(back_in_the_table, timeout=WAIT)
    assert not editor.isVisible()


@pytest.mark.parametrize("how", ["menu", "F1"])
def test_help_lists_every_shortcut_from_the_actions(qtbot, main_window, how):
    with_all_panels(qtbot, main_window)
    entries = collect_shortcuts(main_window)
    if how == "menu":
        choose_menu(qtbot, main_window, "Help", "Keyboard shortcuts")
    else:
        press(qtbot, "F1")
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QDialog), timeout=WAIT)
    dialog = QApplication.activeModalWidget()
    try:
        text = "\n".join(label.text() for label in dialog.findChildren(QLabel)) + "\n" + \
            "\n".join(dialog.table.item(r, c).text() for r in range(dialog.table.rowCount())
                      for c in range(dialog.table.columnCount()))
        for action in main_window.findChildren(QAction):
            if action.shortcuts() and action.text():
                assert plain(action.text()).rstrip("…") in text, action.text()
                for keys in action.shortcuts():
                    assert keys.toString(QKeySequence.SequenceFormat.NativeText) in text
        assert "Ctrl+Return" in text
        assert "Esc" in text
        assert len(entries) >= 10
    finally:
        click_button(qtbot, dialog, "Close")
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)
