"""The main window's content page: posts on the left, the post's steps over its sections in the middle, the step
panel on the right, with the splitters' sizes kept between sessions.

Made after the window's first paint (MainWindow.build_content): it imports the lists, the sections view and Qt's
enums, which the "Opening the database…" shell does without.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from wfdesk.ui.post_list import PostListWidget
from wfdesk.ui.sections_view import SectionsView
from wfdesk.ui.shortcuts_dialog import AREA_PROPERTY
from wfdesk.ui.step_list import StepListWidget


class MainContent(QSplitter):
    """The three areas side by side; the step panels (wfdesk.ui.panel_stack) go in `panel_area` once the workspace
    is attached."""

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setObjectName("main_splitter")
        self.posts = PostListWidget(None)
        self.steps = StepListWidget(None)
        self.sections = SectionsView(None, undo_stack)

        steps_box = QWidget()
        steps_layout = QVBoxLayout(steps_box)
        steps_layout.setContentsMargins(0, 0, 0, 0)
        self.steps_heading = _heading("Workflow")
        steps_layout.addWidget(self.steps_heading)
        steps_layout.addWidget(self.steps)
        self.middle = QSplitter(Qt.Orientation.Vertical)
        self.middle.setObjectName("middle_splitter")
        self.middle.addWidget(steps_box)
        self.middle.addWidget(self.sections)
        self.middle.setSizes([230, 570])
        self.addWidget(self.posts)
        self.addWidget(self.middle)
        # A panel wider than its share scrolls instead of pushing the window past a 1280-pixel screen.
        self.panel_area = QScrollArea()
        self.panel_area.setWidgetResizable(True)
        self.panel_area.setFrameShape(QFrame.Shape.NoFrame)
        self.addWidget(self.panel_area)
        self.setSizes([230, 480, 570])
        self.setStretchFactor(1, 1)
        self.setStretchFactor(2, 1)
        self.setChildrenCollapsible(False)
        for widget, area in ((self.posts, "Posts"), (self.steps, "Workflow steps"), (self.sections, "Sections")):
            widget.setProperty(AREA_PROPERTY, area)  # how Help → Keyboard shortcuts names it
        self.restore_splitters()

    def _splitters(self) -> list[QSplitter]:
        return [self, self.middle, self.sections.splitter]

    def restore_splitters(self) -> None:
        settings = QSettings()
        for splitter in self._splitters():
            state = settings.value(f"main/{splitter.objectName()}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)

    def save_splitters(self) -> None:
        settings = QSettings()
        for splitter in self._splitters():
            settings.setValue(f"main/{splitter.objectName()}", splitter.saveState())


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label
