"""What the image review adds to the gallery and the preview: comparing two candidates (side by side, or a
before/after slider), and starring a candidate -- by mouse and by key (REVIEW_TOOL_KEYS).

The step panel builds the gallery (ThumbnailStrip) and the preview (ImagePreview); the gallery attaches these tools
when it is first shown, finding the preview, the panel's review area and its workspace among its ancestors, so
the panel needs no change. The keys live on the review area like the panel's own review keys: they act wherever
the focus is in the gallery, the preview or its buttons, and never clash with typing elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QToolButton, QToolTip, QWidget
from typing_extensions import override

from wfdesk.services import review
from wfdesk.ui.candidate_compare import SIDE_BY_SIDE, SLIDER, CompareView
from wfdesk.ui.db_errors import describe_db_error
from wfdesk.ui.image_preview import ImagePreview
from wfdesk.ui.worker import BackgroundOp
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    from wfdesk.ui.image_review import ThumbnailStrip

# (key, how Help shows it, what it does, the method). Plain letters no other key of the review area or the window
# uses (the panel's are arrows, Page Up/Down, A, X, Shift+R; the preview's +, -, 0, 1, F).
REVIEW_TOOL_KEYS: list[tuple[str, str, str, str]] = [
    ("C", "C", "Compare the selected image with the accepted one, side by side (again: close)", "compare_key"),
    ("B", "B", "Before / after slider: the accepted image and the selected one (again: close)", "slider_key"),
    ("S", "S", "Star or unstar the selected image", "star_selected"),
]
MOUSE_HINTS: list[tuple[str, str]] = [
    ("Ctrl+Click", "Compare the clicked image with the selected one"),
    ("Click ☆", "Star or unstar an image (its top left corner)"),
]


def attach(strip: ThumbnailStrip) -> ReviewTools | None:
    """The tools for a gallery, once it sits in a panel next to a preview; None while it does not.

    Implicit: the panel (wfdesk/ui/panels/image_generation.py) that builds the strip, the preview and its
    review_area could make them itself, `ReviewTools(self.strip, self.preview, self.review_area, self.ws)`, and
    the strip's showEvent then no longer look for them."""
    preview: ImagePreview | None = None
    area: QWidget | None = None
    ws: Workspace | None = None
    widget = strip.parentWidget()
    while widget is not None and ws is None:
        if preview is None:
            preview = widget.findChild(ImagePreview)
            area = widget if preview is not None else None
        named = getattr(widget, "review_area", None)
        if isinstance(named, QWidget) and preview is not None and named.isAncestorOf(preview):
            area = named  # the panel's own review area: the same scope as its review keys
        found = getattr(widget, "ws", None)
        ws = found if isinstance(found, Workspace) else None
        widget = widget.parentWidget()
    if preview is None or area is None:
        return None
    return ReviewTools(strip, preview, area, ws)


class ReviewTools(QObject):
    def __init__(self, strip: ThumbnailStrip, preview: ImagePreview, area: QWidget, ws: Workspace | None) -> None:
        super().__init__(strip)
        self.strip, self.preview, self.area, self.ws = strip, preview, area, ws
        self.compare_view = CompareView(strip.loader.data_dir, preview)
        self.compare_view.closed.connect(self._compare_closed)
        self.compare_button = QToolButton(preview)
        self.compare_button.setText("Compare")
        self.compare_button.setToolTip("Compare the selected image with the accepted one (C). Ctrl+click a "
                                       "thumbnail to compare it with the selected one; B for a before/after slider.")
        self.compare_button.clicked.connect(self.compare_with_accepted)
        preview.installEventFilter(self)
        self._place()
        # Help → Keyboard shortcuts lists them from REVIEW_TOOL_KEYS, built or not (shortcuts_dialog).
        self.shortcuts = [self._shortcut(key, getattr(self, method)) for key, _shown, _text, method in REVIEW_TOOL_KEYS]
        strip.compare_requested.connect(self.compare_pair)
        strip.star_clicked.connect(self.toggle_star)
        strip.version_selected.connect(self._selection_moved)
        strip.model().modelReset.connect(self._versions_reloaded)
        strip.model().modelReset.connect(self._place)  # Compare is offered where there are two images
        tip = strip.toolTip()
        if tip:
            strip.setToolTip(f"{tip} · S star · C compare · B before/after · Ctrl+click compare two")

    def _shortcut(self, key: str, slot: Callable[[], None]) -> QShortcut:
        shortcut = QShortcut(QKeySequence(key), self.area)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # see the panel's review keys
        shortcut.activated.connect(slot)
        return shortcut

    # --- comparing --------------------------------------------------------------------------------------------
    def compare_key(self) -> None:
        if self.compare_view.is_comparing() and self.compare_view.mode == SIDE_BY_SIDE:
            self.compare_view.close_compare()
        else:
            self.compare_with_accepted(SIDE_BY_SIDE)

    def slider_key(self) -> None:
        if self.compare_view.is_comparing() and self.compare_view.mode == SLIDER:
            self.compare_view.close_compare()
        else:
            self.compare_with_accepted(SLIDER)

    def compare_with_accepted(self, mode: str = SIDE_BY_SIDE) -> None:
        """The accepted image (before) against the selected one (after); without an accepted image, or with it
        selected, the next older image stands for "before"."""
        selected = self.strip.selected()
        if selected is None:
            return self._say("Select an image to compare first.")
        if self.compare_view.is_comparing():
            return self.compare_view.set_mode(mode)
        versions = [v for v in self.strip.model().versions() if v.get("asset")]
        before = next((v for v in versions if v.get("current") and v["id"] != selected["id"]), None)
        if before is None:
            row = next(i for i, v in enumerate(versions) if v["id"] == selected["id"])
            others = versions[row + 1:] + list(reversed(versions[:row]))  # older first, then newer
            before = others[0] if others else None
        if before is None:
            return self._say("There is no other image of this section to compare with.")
        return self.compare_pair(before, selected, mode)

    def compare_pair(self, left: dict[str, Any], right: dict[str, Any], mode: str = SIDE_BY_SIDE) -> None:
        self.strip.set_pinned(left["id"])
        self.compare_view.compare(left, right, mode)
        self.compare_button.hide()

    def _compare_closed(self) -> None:
        self.strip.set_pinned(None)
        self._place()

    def _selection_moved(self, version: dict[str, Any] | None) -> None:
        if self.compare_view.is_comparing() and version is not None and version.get("asset"):
            self.compare_view.set_right(version)

    def _versions_reloaded(self) -> None:
        """The section's images were read again: the held image gone (another section) ends the comparison; the
        others get their new state (accepted, starred). The right side follows the selection anyway."""
        if self.compare_view.versions is None:
            return
        model = self.strip.model()
        rows = [model.row_of(v["id"]) for v in self.compare_view.versions]
        if rows[0] is None:
            self.compare_view.close_compare()
            return
        for row in rows:
            if row is not None:
                self.compare_view.update_version(model.version(row))

    # --- starring ---------------------------------------------------------------------------------------------
    def star_selected(self) -> None:
        selected = self.strip.selected()
        if selected is not None:
            self.toggle_star(selected)

    def toggle_star(self, version: dict[str, Any]) -> None:
        if self.ws is None:
            return self._say("Stars cannot be saved here.")
        ws, vid, wanted = self.ws, version["id"], not version.get("starred")
        (BackgroundOp(lambda: review.set_starred(ws, vid, wanted))
         .success(lambda stored: self._starred(vid, stored))
         .failure(lambda exc: self._say(f"Not starred: {describe_db_error(exc)}"))
         .run_in_background())
        return None

    def _starred(self, version_id: int, starred: bool) -> None:
        if not shiboken6.isValid(self.strip):
            return
        self.strip.set_starred(version_id, starred)
        row = self.strip.model().row_of(version_id)
        if row is not None:
            self.compare_view.update_version(self.strip.model().version(row))

    # --- place and words ----------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        """A short note at the preview (the review area has no status line of its own)."""
        QToolTip.showText(self.preview.mapToGlobal(QPoint(12, 12)), text, self.preview)

    def _place(self) -> None:
        frame = self.preview.frameWidth()
        self.compare_view.setGeometry(self.preview.rect().adjusted(frame, frame, -frame, -frame))
        self.compare_button.adjustSize()
        self.compare_button.move(self.preview.width() - self.compare_button.width() - frame - 6, frame + 6)
        self.compare_button.setVisible(not self.compare_view.is_comparing() and self.strip.count() >= 2)
        self.compare_button.raise_()

    @override
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.preview and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._place()
        return False
