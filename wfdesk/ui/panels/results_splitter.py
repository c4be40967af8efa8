"""Where a step panel's results area sits: beside the sections on a wide panel, below them on a narrow one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

WIDE_LAYOUT_PX = 960  # from this panel width the sections sit beside the results, below it above them


class ResultsSplitter(QSplitter):
    def __init__(self, sections: QWidget, results: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setObjectName("stepPanelSplitter")
        self.addWidget(sections)
        self.addWidget(results)
        self.setChildrenCollapsible(False)

    def fit_width(self, panel_width: int, force: bool = False) -> None:
        """Turn to suit the panel's width; the sections get 40% beside the results, at most 220 px above them."""
        wide = panel_width >= WIDE_LAYOUT_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation == self.orientation() and not force:
            return
        self.setOrientation(orientation)
        total = max(self.width() if wide else self.height(), 400)
        first = int(total * 0.4) if wide else min(220, int(total * 0.3))
        self.setSizes([first, total - first])
