"""The rule every GUI test keeps: it acts through input (clicks, keys, wheel), never through a method.

A test that calls `panel.run()` or `action.trigger()` stays green when the button or menu item is wired to the wrong
slot; that is how the Run button shipped broken. This check reads the GUI test modules (not the input helpers, which
are where real input events are made) and names every call that performs an editor's action another way."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent
HELPERS = {"editor_input.py", "input_helpers.py", "gui_input.py", "conftest.py"}

# Methods that perform what an editor does with the mouse or keyboard.
ACTIONS = {
    "show_step": "click the post and the step (choose_post / open_step)",
    "trigger": "open the menu and click the item (choose_menu)",
    "setFocus": "click into the widget",
    "setPlainText": "click into the editor and type (keyClicks)",
    "insertPlainText": "type (keyClicks)",
    "select_cell": "click the cell (click_cell)",
    "scrollTo": "turn the wheel (wheel_into_view)",
    "scrollToItem": "turn the wheel (wheel_into_view)",
    "setCurrentRow": "click the row",
    "setCurrentItem": "click the row",
    "setCurrentIndex": "click (pick from the drop-down, click the tab)",
    "setCurrentText": "pick from the drop-down",
    "setCurrentCell": "click the cell",
    "selectRow": "click the row",
    "setChecked": "click the check box",
    "toggle": "click it",
    "click": "qtbot.mouseClick on it (click)",
    "animateClick": "qtbot.mouseClick on it (click)",
    "accept": "click the dialog's button or press Return",
    "reject": "click Cancel or press Esc",
    "done": "click the dialog's button",
}
# Receivers whose names say they are not widgets (clipboard and drag data are prepared, not acted on).
PREPARED = ("clipboard", "mime", "QSettings", "settings")


def _receiver(node: ast.Attribute) -> str:
    return ast.unparse(node.value)


def violations(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, receiver = node.func.attr, _receiver(node.func)
        if name in ACTIONS and name != "done":
            found.append((node.lineno, f"{receiver}.{name}(): {ACTIONS[name]}"))
        elif name == "done" and not node.args and "dialog" in receiver.lower():
            found.append((node.lineno, f"{receiver}.done(): {ACTIONS['done']}"))
        elif name == "close" and any(w in receiver.lower() for w in ("dialog", "box", "menu", "popup")):
            found.append((node.lineno, f"{receiver}.close(): click its Close/Cancel button or press Esc"))
        elif name == "run" and "panel" in receiver.lower():
            found.append((node.lineno, f"{receiver}.run(): click Run or press Ctrl+Enter"))
        elif name == "emit" and "sig" not in receiver:
            found.append((node.lineno, f"{receiver}.emit(): do what makes the app emit it"))
        elif name in ("setText", "setValue") and not any(p in receiver for p in PREPARED):
            found.append((node.lineno, f"{receiver}.{name}(): type into it / turn the wheel or drag"))
        elif name.startswith("_") and not name.startswith("__") and receiver not in ("self", "cls", "super()"):
            found.append((node.lineno, f"{receiver}.{name}(): a private method of the app"))
    return found


def test_gui_tests_act_through_input_only():
    report = []
    for path in sorted(HERE.glob("test_*.py")):
        if path.name in HELPERS or path.name == Path(__file__).name:
            continue
        report += [f"{path.name}:{line}: {what}" for line, what in violations(path.read_text())]
    assert not report, "GUI tests that act through a method instead of input:\n" + "\n".join(report)


def test_the_check_catches_what_it_is_for():
    """The check itself: each way the Run button's bug hid from the old tests is caught."""
    caught = violations("panel.run()\nwindow.menu_action('Step', 'Run').trigger()\npanel.show_step(1, 53)\n"
                        "dialog.reject()\nview.scrollTo(index)\nwindow._switch_to(post)\nbar.setValue(10)\n")
    assert [line for line, _ in caught] == [1, 2, 3, 4, 5, 6, 7]
    assert violations("QGuiApplication.clipboard().setText('x')\nqtbot.mouseClick(button, left)\n") == []
