"""Help → Keyboard shortcuts: every key of the app, read from the window's actions so the list cannot drift.

Menu actions apply everywhere in the window; actions added to a widget (the sections list, a step panel) apply
while the focus is inside it. Step panels not opened yet are not built: their class's SHORTCUTS list stands in.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

WINDOW_WIDE = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)
AREA_PROPERTY = "shortcut_area"  # a widget's name in the list ("Sections", …), set where the widget is made
PANEL_KINDS = {"llm_action": "text (LLM)", "image_generation": "images", "custom_script": "custom script"}


@dataclass
class ShortcutEntry:
    keys: list[str]  # as shown to the editor, e.g. ["Ctrl+Return", "Ctrl+Enter"]
    text: str  # what it does
    area: str  # where it works
    action: QAction | QShortcut | None = None  # None: declared by a panel class not built yet
    widget: QWidget | None = None  # the widget it belongs to; None: the whole window


def _plain(text: str) -> str:
    return text.split("\t")[0].replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def _native(keys: list[QKeySequence]) -> list[str]:
    return [k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys if not k.isEmpty()]


def area_of(widget: QWidget | None) -> str:
    """Where a widget's shortcuts work, in the words of the window: its own area name or its panel's."""
    from wfdesk.ui.panels.base import StepPanel

    while widget is not None:
        if isinstance(widget, StepPanel):
            return f"Step panel ({PANEL_KINDS.get(widget.script_type, widget.script_type or 'plugin')})"
        name = widget.property(AREA_PROPERTY)
        if name:
            return str(name)
        widget = widget.parentWidget()
    return "Main window"


def _menu_of(action: QAction) -> str | None:
    for obj in action.associatedObjects():
        if isinstance(obj, QMenu):
            return _plain(obj.title())
    return None


def panel_extras() -> dict[str, list[tuple[str, str]]]:
    """Keys a panel gets from parts it is built with (the image review's compare and star tools), by script type."""
    from wfdesk.ui.review_tools import MOUSE_HINTS, REVIEW_TOOL_KEYS

    return {"image_generation": [(shown, text) for _key, shown, text, _method in REVIEW_TOOL_KEYS] + MOUSE_HINTS}


def collect_shortcuts(window: QWidget) -> list[ShortcutEntry]:
    """Every shortcut of the window, menus first (in menu order), then each area's own."""
    from wfdesk.ui.panels import PANEL_MAP

    menus: list[ShortcutEntry] = []
    local: list[ShortcutEntry] = []
    for action in window.findChildren(QAction):
        keys = _native(action.shortcuts())
        if not keys or not action.text():
            continue
        if action.shortcutContext() in WINDOW_WIDE:
            menu = _menu_of(action)
            menus.append(ShortcutEntry(keys, _plain(action.text()), f"{menu} menu" if menu else "Main window",
                                       action))
        else:
            owner = next((w for w in action.associatedObjects() if isinstance(w, QWidget)
                          and not isinstance(w, QMenu)), None)
            local.append(ShortcutEntry(keys, _plain(action.text()), area_of(owner), action, owner))
    for shortcut in window.findChildren(QShortcut):
        keys = _native([shortcut.key()])
        if keys and shortcut.whatsThis():
            parent = shortcut.parent()
            owner = parent if isinstance(parent, QWidget) else None
            wide = shortcut.context() in WINDOW_WIDE
            local.append(ShortcutEntry(keys, shortcut.whatsThis(), "Main window" if wide else area_of(owner),
                                       shortcut, None if wide else owner))
    for script_type, cls in PANEL_MAP.items():
        area = f"Step panel ({PANEL_KINDS.get(script_type, script_type)})"
        # A built panel's QActions are listed above; its plain QShortcuts (the image review's keys) are not.
        listed = {key for e in local if e.area == area for key in e.keys}
        declared = list(cls.SHORTCUTS) + panel_extras().get(script_type, [])
        local.extend(ShortcutEntry([keys], text, area) for keys, text in declared if keys not in listed)
    order = {"File menu": 0, "Edit menu": 1, "View menu": 2, "Step menu": 3, "Help menu": 4}
    menus.sort(key=lambda e: order.get(e.area, 9))  # stable: menu order inside each menu
    local.sort(key=lambda e: e.area)
    return menus + local


class ShortcutsDialog(QDialog):
    def __init__(self, entries: list[ShortcutEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        intro = QLabel("Menu keys work anywhere in the window; the others while you work in that area "
                       "(click into it first).")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(entries), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "What it does", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        for row, entry in enumerate(entries):
            for col, text in enumerate((" or ".join(entry.keys), entry.text, entry.area)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(640, 520)
