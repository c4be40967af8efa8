"""Help → Plugins: every registered script type, where it comes from and whether it has its own panel, and every
plugin that was skipped with the reason (wfdesk.scripts.plugins.PLUGIN_ERRORS).

Plugins load lazily, each within a time limit; if they have not been loaded yet the dialog loads them on a worker
and fills in when they are, so a plugin whose import hangs never freezes the window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.scripts import plugins, registry
from wfdesk.scripts.plugins import ENTRY_POINT_GROUP, PLUGIN_ERRORS
from wfdesk.scripts.registry import BUILTIN_TYPES, ScriptTypeInfo
from wfdesk.ui.config_editor.parameters_form import hint_label, if_alive
from wfdesk.ui.worker import BackgroundOp

ERROR_COLOR = "#c0392b"
COLUMNS = ["Script type", "Description", "From", "Panel"]


def source_text(info: ScriptTypeInfo) -> str:
    return f"{info.source} (built-in)" if info.name in BUILTIN_TYPES else info.source


def panel_text(info: ScriptTypeInfo) -> str:
    """Its own panel (wfdesk's desktop panels or the plugin's), else the generic one built from its schema."""
    try:
        from wfdesk.ui import panels

        own = info.name in panels.PANEL_MAP
    except ImportError:  # the panels could not load; the dialog still lists the types
        own = False
    if own:
        return "its own panel"
    if info.panel:
        return f"its own panel ({info.panel.partition(':')[2] or info.panel})"
    return "generic panel (form from its parameters)"


class PluginsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(1000, 460)
        intro = QLabel(f"Script types come from installed packages that declare them under the entry-point "
                       f"group <code>{ENTRY_POINT_GROUP}</code> — wfdesk's own types register the same way.")
        intro.setWordWrap(True)

        self.tree = QTreeWidget()
        self.tree.setObjectName("script_types")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.problems = QLabel()
        self.problems.setObjectName("plugin_problems")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if plugins.installed_plugins_loaded():
            self._fill()
        else:
            self.problems.setText("Loading the installed plugins…")
            (BackgroundOp(registry.ensure_plugins_loaded).success(if_alive(self, lambda _: self._fill()))
             .failure(if_alive(self, lambda exc: self.problems.setText(f"The plugins could not be listed: {exc}")))
             .run_in_background())

        more = hint_label("To add a script type of your own, see “Adding a script type” in wfdesk's README: a "
                          "handler, a parameters schema (which makes its form) and optionally a panel, declared "
                          "in your package's pyproject.toml. The example is examples/wfdesk-video-generation.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.problems)
        layout.addWidget(more)
        layout.addWidget(buttons)

    def _fill(self) -> None:
        self.tree.clear()
        types = registry.SCRIPT_TYPES
        for name in sorted(types, key=lambda n: (n not in BUILTIN_TYPES, n)):
            info = types[name]
            item = QTreeWidgetItem([name, info.description or "", source_text(info), panel_text(info)])
            item.setToolTip(1, info.description or "")
            self.tree.addTopLevelItem(item)
        self._show_problems()

    def _show_problems(self) -> None:
        """Skipped plugins: a red row each (what, why) and one line saying the rest works."""
        red = QBrush(QColor(ERROR_COLOR))
        for p in list(PLUGIN_ERRORS):
            name = p.entry_point.partition(" = ")[0] or p.entry_point
            item = QTreeWidgetItem([name, f"skipped: {p.error}", p.source, "—"])
            for col in range(len(COLUMNS)):
                item.setForeground(col, red)
            item.setToolTip(0, p.entry_point)
            item.setToolTip(1, p.error)
            self.tree.addTopLevelItem(item)
        if not PLUGIN_ERRORS:
            self.problems.setText("All installed plugins loaded.")
            return
        n = len(PLUGIN_ERRORS)
        self.problems.setText(f"<span style='color:{ERROR_COLOR}'>{n} plugin{'s' if n != 1 else ''} could not "
                              f"be loaded and {'were' if n != 1 else 'was'} skipped (in red above); everything "
                              "else works. Reinstall or update the package named under “From”.</span>")

__all__ = ["PluginsDialog"]
