"""Image review widgets: a gallery of candidate thumbnails and a large preview that fits the area and zooms.

The gallery is a QListView over a small model: it holds one dict per candidate, no widget and no image per item.
Only the cells on screen (and a screenful ahead) ask the ThumbnailLoader for their thumbnails, which are decoded
scaled on workers, cached on disk, and kept in a bounded LRU of small pixmaps -- so 500 candidates cost what one
screen costs.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QHideEvent,
    QIcon,
    QKeyEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from wfdesk.ui.thumbnails import ThumbnailLoader

VERSION_ID = Qt.ItemDataRole.UserRole
SHA_ROLE = Qt.ItemDataRole.UserRole + 1
VERSION_ROLE = Qt.ItemDataRole.UserRole + 2
ICON_SIZE = 96
CELL = QSize(ICON_SIZE + 24, ICON_SIZE + 26)
PAD = 4
STATUS_TEXT = {"accepted": "✓ accepted", "candidate": "new", "rejected": "rejected", "superseded": "earlier"}
ACCEPTED_COLOR = "#43a047"


def placeholder(size: int, text: str = "…") -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor(128, 128, 128, 60))
    p = QPainter(pix)
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix


def version_caption(v: dict[str, Any]) -> str:
    state = "✓ accepted" if v.get("current") else STATUS_TEXT.get(v["status"], v["status"])
    return f"{state} · #{v['run_id']}" if v.get("run_id") else state


def version_tooltip(v: dict[str, Any] | None) -> str:
    if not v:
        return ""
    asset = v.get("asset") or {}
    prompt = (v.get("meta") or {}).get("prompt") or ""
    size = f"{asset.get('width')}×{asset.get('height')}" if asset else ""
    origin = f"run #{v['run_id']}" if v.get("run_id") else ""
    return "\n".join(p for p in (version_caption(v), origin, size, prompt) if p)


class CandidateModel(QAbstractListModel):
    """The image versions of one field, newest first: plain dicts; the pixmaps live in the loader's LRU."""

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._rows: list[dict[str, Any]] = []
        self._rows_of_sha: dict[str, list[int]] = {}
        loader.ready.connect(self._on_ready)

    def set_versions(self, versions: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(versions)
        self._rows_of_sha = {}
        for row in range(len(self._rows)):
            sha = self.sha(row)
            if sha:
                self._rows_of_sha.setdefault(sha, []).append(row)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def version(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def versions(self) -> list[dict[str, Any]]:
        return self._rows

    def sha(self, row: int) -> str | None:
        return (self._rows[row].get("asset") or {}).get("sha256")

    def path(self, row: int) -> str | None:
        return (self._rows[row].get("asset") or {}).get("path")

    def row_of(self, version_id: int) -> int | None:
        return next((i for i, v in enumerate(self._rows) if v["id"] == version_id), None)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        v = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return version_caption(v)
        if role == Qt.ItemDataRole.ToolTipRole:
            error = self.loader.error(self.sha(index.row()) or "")
            return version_tooltip(v) + (f"\n{error}" if error else "")
        if role == Qt.ItemDataRole.DecorationRole:
            sha = self.sha(index.row())
            return self.loader.pixmap(sha) if sha else None
        if role == VERSION_ID:
            return v["id"]
        if role == SHA_ROLE:
            return self.sha(index.row())
        if role == VERSION_ROLE:
            return v
        return None

    def _on_ready(self, sha: str) -> None:
        for row in self._rows_of_sha.get(sha, ()):
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ThumbnailDelegate(QStyledItemDelegate):
    """A cell: the thumbnail (a grey tile while it loads, dimmed when rejected) and its caption; the selection is
    a frame, never a tint, because the colours are what is being judged."""

    def __init__(self, model: CandidateModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._badge_font: QFont | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 - Qt override
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row = index.row()
        v = self.model.version(row)
        sha = self.model.sha(row)
        rect, palette = option.rect, option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if option.state & QStyle.StateFlag.State_Selected:
            color = palette.color(QPalette.ColorRole.Highlight)
            fill = QColor(color)
            fill.setAlpha(50)
            painter.setPen(QPen(color, 2))
            painter.setBrush(fill)
            painter.drawRoundedRect(QRectF(rect).adjusted(2, 2, -2, -2), 6, 6)
        icon = QRect(rect.x() + (rect.width() - ICON_SIZE) // 2, rect.y() + PAD + 2, ICON_SIZE, ICON_SIZE)
        rejected = v["status"] == "rejected"
        if rejected:
            painter.setOpacity(0.3)
        pix = self.model.loader.pixmap(sha) if sha else None
        if pix is None:
            painter.fillRect(icon, QColor(128, 128, 128, 60))
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(icon, Qt.AlignmentFlag.AlignCenter, "?" if sha and self.model.loader.error(sha) else "…")
        else:
            target = QRect(QPoint(0, 0), pix.size().scaled(icon.size(), Qt.AspectRatioMode.KeepAspectRatio))
            target.moveCenter(icon.center())
            painter.drawPixmap(target, pix)
        painter.setOpacity(1.0)
        if v.get("current"):
            self._draw_badge(painter, icon)
        text_rect = QRect(rect.x() + PAD, icon.bottom() + 3, rect.width() - 2 * PAD, rect.bottom() - icon.bottom() - 3)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText if rejected else QPalette.ColorRole.Text))
        caption = option.fontMetrics.elidedText(version_caption(v), Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, caption)
        painter.restore()

    def _draw_badge(self, painter: QPainter, icon: QRect) -> None:
        """A green tick on the accepted image, readable on any picture."""
        badge = QRect(icon.right() - 20, icon.top() + 3, 18, 18)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(QColor(ACCEPTED_COLOR))
        painter.drawEllipse(badge)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "✓")


class GalleryItem:
    """One cell, read the way a QListWidgetItem is read (text, data, icon)."""

    def __init__(self, strip: ThumbnailStrip, row: int) -> None:
        self._strip, self._row = strip, row

    def data(self, role: int) -> Any:
        return self._strip.model().data(self._strip.model().index(self._row, 0), role)

    def text(self) -> str:
        return self.data(Qt.ItemDataRole.DisplayRole) or ""

    def toolTip(self) -> str:  # noqa: N802 - the QListWidgetItem spelling
        return self.data(Qt.ItemDataRole.ToolTipRole) or ""

    def icon(self) -> QIcon:
        pix = self.data(Qt.ItemDataRole.DecorationRole)
        return QIcon(pix if pix is not None else placeholder(ICON_SIZE))


class ThumbnailStrip(QListView):
    """Every image version of a field, newest first, as a grid of thumbnails that wraps to the width it is given.
    Rejected ones are dimmed but stay selectable. Thumbnails load lazily: only what is on screen, then ahead."""

    version_selected = Signal(object)  # version dict, or None

    def __init__(self, data_dir, parent: QWidget | None = None, *, parallelism: int | None = None) -> None:
        super().__init__(parent)
        self.loader = ThumbnailLoader(data_dir, self, display=ICON_SIZE, parallelism=parallelism)
        self._model = CandidateModel(self.loader, self)
        self.setModel(self._model)
        self.setItemDelegate(ThumbnailDelegate(self._model, self))
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

    def has_thumbnail(self, row: int) -> bool:
        """The cell shows its picture (or, for an unreadable file, its error mark)."""
        sha = self._model.sha(row)
        return not sha or sha in self.loader.cache or self.loader.error(sha) is not None

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

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._schedule()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.loader.set_display(round(ICON_SIZE * self.devicePixelRatioF()))
        self._schedule()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self.loader.want([])  # nothing on screen: stop decoding


class ImagePreview(QGraphicsView):
    """The selected image, fitted to the area; the wheel or +/- zoom, 0 fits again, 1 shows actual pixels, drag pans.

    The scene is in the source image's pixels, so an image decoded at the size of the view (what the panel loads
    first) can be swapped for a sharper decode when the editor zooms in, without the view jumping.
    """

    zoom_changed = Signal(float)
    detail_needed = Signal()  # zoomed in beyond the decoded pixels: a larger decode would look sharper

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(160)
        self._item: QGraphicsPixmapItem | None = None
        self._source = QSize()
        self._fit = True
        self.set_message("No image selected")

    @property
    def fitted(self) -> bool:
        return self._fit

    def has_image(self) -> bool:
        return self._item is not None

    def source_size(self) -> QSize:
        return QSize(self._source)

    def wanted_side(self) -> int:
        """How many pixels per side a decode needs to look sharp at the current size and zoom."""
        ratio = self.devicePixelRatioF()
        if self._item is None:
            return max(256, math.ceil(max(self.viewport().width(), self.viewport().height()) * ratio))
        longest = max(self._source.width(), self._source.height(), 1)
        return max(1, min(longest, math.ceil(longest * self.zoom_factor() * ratio)))

    def set_pixmap(self, pixmap: QPixmap, source: QSize | None = None) -> None:
        """Show a new image, fitted. `source`: the original's size when the pixmap is a scaled decode of it."""
        self.scene().clear()
        self._source = QSize(source) if source is not None and source.isValid() else pixmap.size()
        self._item = self.scene().addPixmap(pixmap)
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scale_item(pixmap)
        self.scene().setSceneRect(QRectF(0, 0, self._source.width(), self._source.height()))
        self.fit()

    def replace_pixmap(self, pixmap: QPixmap) -> None:
        """A sharper decode of the image shown: same place, same zoom."""
        if self._item is not None:
            self._item.setPixmap(pixmap)
            self._scale_item(pixmap)

    def decoded_side(self) -> int:
        if self._item is None:
            return 0
        pix = self._item.pixmap()
        return max(pix.width(), pix.height())

    def _scale_item(self, pixmap: QPixmap) -> None:
        if pixmap.width() > 0:
            self._item.setScale(self._source.width() / pixmap.width())

    def set_message(self, text: str) -> None:
        self.scene().clear()
        self._item = None
        self._source = QSize()
        label = QGraphicsSimpleTextItem(text)
        label.setBrush(self.palette().color(QPalette.ColorRole.PlaceholderText))
        self.scene().addItem(label)
        self.scene().setSceneRect(label.boundingRect())
        self.resetTransform()
        self.centerOn(label)

    def zoom_factor(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        if self._item is not None:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom_factor())
            self._check_detail()

    def zoom_by(self, factor: float) -> None:
        if self._item is None:
            return
        current = self.zoom_factor()
        target = min(max(current * factor, 0.05), 32.0)
        self._fit = False
        self.scale(target / current, target / current)
        self.zoom_changed.emit(self.zoom_factor())
        self._check_detail()

    def actual_size(self) -> None:
        if self._item is not None:
            self._fit = False
            self.resetTransform()
            self.zoom_changed.emit(1.0)
            self._check_detail()

    def _check_detail(self) -> None:
        if self._item is not None and self.decoded_side() < 0.9 * self.wanted_side():
            self.detail_needed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120
        if steps and self._item is not None:
            self.zoom_by(1.25 ** steps)
            event.accept()
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_F):
            self.fit()
        elif key == Qt.Key.Key_1:
            self.actual_size()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fit:
            self.fit()
