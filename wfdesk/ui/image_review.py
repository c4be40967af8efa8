"""Image review widgets: a gallery of candidate thumbnails (here) and a large preview that fits the area and zooms
(image_preview).

The gallery is a QListView over a small model: it holds one dict per candidate, no widget and no image per item.
Only the cells on screen (and a screenful ahead) ask the ThumbnailLoader for their thumbnails, which are decoded
scaled on workers, cached on disk, and kept in a bounded LRU of small pixmaps -- so 500 candidates cost what one
screen costs.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QHideEvent,
    QIcon,
    QMouseEvent,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QWidget,
)
from typing_extensions import override

from wfdesk.ui.candidate_thumbnails import (
    ACCEPTED_COLOR,
    CELL,
    ICON_SIZE,
    PAD,
    SHA_ROLE,
    STATUS_TEXT,
    VERSION_ID,
    VERSION_ROLE,
    CandidateModel,
    ThumbnailDelegate,
    placeholder,
    star_rect,
    version_caption,
    version_tooltip,
)
from wfdesk.ui.image_preview import ImagePreview
from wfdesk.ui.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from wfdesk.ui.review_tools import ReviewTools

# Names other modules import from here.
__all__ = ["ACCEPTED_COLOR", "CELL", "ICON_SIZE", "PAD", "SHA_ROLE", "STATUS_TEXT", "VERSION_ID", "VERSION_ROLE",
           "CandidateModel", "GalleryItem", "ImagePreview", "ThumbnailDelegate", "ThumbnailStrip", "placeholder",
           "version_caption", "version_tooltip"]


class GalleryItem:
    """One cell, read the way a QListWidgetItem is read (text, data, icon)."""

    def __init__(self, strip: ThumbnailStrip, row: int) -> None:
        self._strip, self._row = strip, row

    def data(self, role: int) -> Any:
        return self._strip.model().data(self._strip.model().index(self._row, 0), role)

    def text(self) -> str:
        return self.data(Qt.ItemDataRole.DisplayRole) or ""

    def icon(self) -> QIcon:
        pix = self.data(Qt.ItemDataRole.DecorationRole)
        return QIcon(pix if pix is not None else placeholder(ICON_SIZE))


class ThumbnailStrip(QListView):
    """Every image version of a field, newest first, as a grid of thumbnails that wraps to the width it is given.
    Rejected ones are dimmed but stay selectable. Thumbnails load lazily: only what is on screen, then ahead."""

    version_selected = Signal(object)  # version dict, or None
    compare_requested = Signal(object, object)  # (held, clicked) version dicts: a Ctrl+click
    star_clicked = Signal(object)  # the version dict whose star was clicked

    def __init__(self, data_dir, parent: QWidget | None = None, *, parallelism: int | None = None) -> None:
        super().__init__(parent)
        self.loader = ThumbnailLoader(data_dir, self, display=ICON_SIZE, parallelism=parallelism)
        self._model = CandidateModel(self.loader, self)
        self.setModel(self._model)
        self._delegate = ThumbnailDelegate(self._model, self)
        self.setItemDelegate(self._delegate)
        self.tools: ReviewTools | None = None  # attached when first shown inside a panel
        self.setViewMode(QListView.ViewMode.ListMode)  # the list layout with wrapping: a grid without a BSP tree
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(CELL)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(CELL.height() // 3)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setMinimumWidth(CELL.width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth() + 4)
        self._versions: dict[int, dict[str, Any]] = {}  # by id, for callers that look a version up
        self._request = QTimer(self, singleShot=True, interval=0)  # coalesces scroll and resize bursts
        self._request.timeout.connect(self.request_visible)
        self.verticalScrollBar().valueChanged.connect(self._schedule)
        self.selectionModel().currentChanged.connect(lambda *_: self.version_selected.emit(self.selected()))

    @override
    def model(self) -> CandidateModel:
        return self._model  # the one model it is given

    # --- content ----------------------------------------------------------------------------------------------
    def set_versions(self, versions: list[dict[str, Any]], select: int | None = None) -> None:
        """Show these versions; keeps the scroll position, selects `select`, else the current (accepted) one,
        else the newest. Emits version_selected once."""
        scroll = self.verticalScrollBar().value() if select is not None else 0
        self._versions = {v["id"]: v for v in versions}
        self._model.set_versions(versions)
        row = self._model.row_of(select) if select is not None else None
        if row is None:
            row = next((i for i, v in enumerate(versions) if v.get("current")), None)
        if row is None and versions:
            row = 0
        selection = self.selectionModel()
        selection.blockSignals(True)
        if row is not None:
            index = self._model.index(row, 0)
            selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect)
            self.executeDelayedItemsLayout()
            self.verticalScrollBar().setValue(scroll)
            self.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        selection.blockSignals(False)
        self.request_visible()  # now, not after the next paint: the first screen waits on these decodes
        self.version_selected.emit(self.selected())

    def count(self) -> int:
        return self._model.rowCount()

    def item(self, row: int) -> GalleryItem:
        return GalleryItem(self, row)

    def selected(self) -> dict[str, Any] | None:
        index = self.currentIndex()
        return self._model.version(index.row()) if index.isValid() else None

    def select_version(self, version_id: int) -> None:
        row = self._model.row_of(version_id)
        if row is not None:
            self.setCurrentIndex(self._model.index(row, 0))

    def set_starred(self, version_id: int, starred: bool) -> None:
        self._model.set_starred(version_id, starred)
        if version_id in self._versions:
            self._versions[version_id] = {**self._versions[version_id], "starred": starred}

    def set_pinned(self, version_id: int | None) -> None:
        """Mark the image held on the compare view's left (a dashed frame), or none."""
        self._delegate.pinned_id = version_id
        self.viewport().update()

    @override
    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A click on a cell's star stars it (the selection stays); Ctrl+click compares the clicked image with the
        selected one and selects it."""
        index = self.indexAt(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and index.isValid():
            version = self._model.version(index.row())
            if star_rect(self.visualRect(index)).contains(event.position().toPoint()):
                self.star_clicked.emit(version)
                event.accept()
                return
            held = self.selected()
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier and held is not None \
                    and held["id"] != version["id"]:
                self.setCurrentIndex(index)
                self.setFocus(Qt.FocusReason.MouseFocusReason)
                self.compare_requested.emit(held, version)
                event.accept()
                return
        super().mousePressEvent(event)

    # --- what to load -----------------------------------------------------------------------------------------
    def visible_rows(self) -> range:
        """The rows whose cells are in the viewport (found by bisection: rows flow top to bottom)."""
        n = self._model.rowCount()
        if not n or not self.isVisible():
            return range(0)
        height = self.viewport().height()
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if self.visualRect(self._model.index(mid, 0)).bottom() < 0:
                lo = mid + 1
            else:
                hi = mid
        last = lo
        while last + 1 < n and self.visualRect(self._model.index(last + 1, 0)).top() < height:
            last += 1
        return range(lo, last + 1) if lo < n else range(0)

    def request_visible(self) -> None:
        """Ask for the thumbnails on screen, then a screenful below and a line above; forget the rest."""
        rows = self.visible_rows()
        n = self._model.rowCount()
        per_line = max(1, self.viewport().width() // CELL.width())
        ahead = range(rows.stop, min(n, rows.stop + len(rows)))
        behind = range(max(0, rows.start - per_line), rows.start)
        wanted = []
        for row in chain(rows, ahead, reversed(behind)):
            sha, path = self._model.sha(row), self._model.path(row)
            if sha and path:
                wanted.append((sha, path))
        self.loader.want(wanted)

    def _schedule(self) -> None:
        if not self._request.isActive():
            self._request.start()

    @override
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._schedule()

    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.tools is None:
            from wfdesk.ui.review_tools import attach  # it imports the preview and the services

            self.tools = attach(self)
        self.loader.set_display(round(ICON_SIZE * self.devicePixelRatioF()))
        self._schedule()

    @override
    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.loader.want([])  # nothing on screen: stop decoding
