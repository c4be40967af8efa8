"""Image review widgets: a strip of candidate thumbnails and a large preview that fits the area and zooms."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPalette, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

VERSION_ID = Qt.ItemDataRole.UserRole
SHA_ROLE = Qt.ItemDataRole.UserRole + 1
ICON_SIZE = 96
STATUS_TEXT = {"accepted": "✓ accepted", "candidate": "new", "rejected": "rejected", "superseded": "earlier"}


def dimmed(pixmap: QPixmap, opacity: float = 0.3) -> QPixmap:
    out = QPixmap(pixmap.size())
    out.fill(Qt.GlobalColor.transparent)
    p = QPainter(out)
    p.setOpacity(opacity)
    p.drawPixmap(0, 0, pixmap)
    p.end()
    return out


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


class ThumbnailStrip(QListWidget):
    """Every image version of a field, newest first. Rejected ones are dimmed but stay selectable."""

    version_selected = Signal(object)  # version dict, or None

    def __init__(self, parent: QWidget | None = None, *, vertical: bool = False) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.TopToBottom if vertical else QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setGridSize(QSize(ICON_SIZE + 24, ICON_SIZE + 26))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(True)
        scroll_off, scroll_on = Qt.ScrollBarPolicy.ScrollBarAlwaysOff, Qt.ScrollBarPolicy.ScrollBarAsNeeded
        self.setHorizontalScrollBarPolicy(scroll_off if vertical else scroll_on)
        self.setVerticalScrollBarPolicy(scroll_on if vertical else scroll_off)
        if vertical:
            self.setFixedWidth(ICON_SIZE + 24 + self.verticalScrollBar().sizeHint().width() + 8)
        else:
            self.setFixedHeight(ICON_SIZE + 26 + self.horizontalScrollBar().sizeHint().height() + 8)
        self._versions: dict[int, dict[str, Any]] = {}
        self._placeholder = placeholder(ICON_SIZE)
        self.currentItemChanged.connect(lambda *_: self.version_selected.emit(self.selected()))

    def set_versions(self, versions: list[dict[str, Any]], pixmaps: dict[str, QPixmap],
                     select: int | None = None) -> None:
        self.blockSignals(True)
        self.clear()
        self._versions = {v["id"]: v for v in versions}
        target = None
        for v in versions:
            item = QListWidgetItem(version_caption(v))
            item.setData(VERSION_ID, v["id"])
            sha = (v.get("asset") or {}).get("sha256")
            item.setData(SHA_ROLE, sha)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setToolTip(self._tooltip(v))
            if v["status"] == "rejected":
                item.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
            self._apply_icon(item, v, pixmaps.get(sha) if sha else None)
            self.addItem(item)
            if v["id"] == select:
                target = item
        self.blockSignals(False)
        if target is None:
            target = next((self.item(i) for i in range(self.count())
                           if self._versions[self.item(i).data(VERSION_ID)].get("current")), None)
        if target is None and self.count():
            target = self.item(0)
        if target is not None:
            self.setCurrentItem(target)
        self.version_selected.emit(self.selected())

    def set_pixmap(self, sha256: str, pixmap: QPixmap | None, error: str | None = None) -> None:
        for i in range(self.count()):
            item = self.item(i)
            if item.data(SHA_ROLE) == sha256:
                v = self._versions.get(item.data(VERSION_ID))
                if pixmap is None:
                    item.setIcon(QIcon(placeholder(ICON_SIZE, "?")))
                    item.setToolTip(f"{self._tooltip(v)}\n{error or 'cannot read the image'}")
                elif v is not None:
                    self._apply_icon(item, v, pixmap)

    def selected(self) -> dict[str, Any] | None:
        item = self.currentItem()
        return self._versions.get(item.data(VERSION_ID)) if item is not None else None

    def select_version(self, version_id: int) -> None:
        for i in range(self.count()):
            if self.item(i).data(VERSION_ID) == version_id:
                self.setCurrentRow(i)
                return

    def _apply_icon(self, item: QListWidgetItem, v: dict[str, Any], pixmap: QPixmap | None) -> None:
        pix = pixmap if pixmap is not None else self._placeholder
        if v["status"] == "rejected":
            pix = dimmed(pix)
        icon = QIcon(pix)
        icon.addPixmap(pix, QIcon.Mode.Selected)  # no selection tint: the colours are what is being judged
        item.setIcon(icon)

    @staticmethod
    def _tooltip(v: dict[str, Any] | None) -> str:
        if not v:
            return ""
        asset = v.get("asset") or {}
        prompt = (v.get("meta") or {}).get("prompt") or ""
        size = f"{asset.get('width')}×{asset.get('height')}" if asset else ""
        origin = f"run #{v['run_id']}" if v.get("run_id") else ""
        return "\n".join(p for p in (version_caption(v), origin, size, prompt) if p)


class ImagePreview(QGraphicsView):
    """The selected image, fitted to the area; the wheel or +/- zoom, 0 fits again, drag pans."""

    zoom_changed = Signal(float)

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
        self._fit = True
        self.set_message("No image selected")

    @property
    def fitted(self) -> bool:
        return self._fit

    def has_image(self) -> bool:
        return self._item is not None

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self.scene().clear()
        self._item = self.scene().addPixmap(pixmap)
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().setSceneRect(QRectF(pixmap.rect()))
        self.fit()

    def set_message(self, text: str) -> None:
        self.scene().clear()
        self._item = None
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

    def zoom_by(self, factor: float) -> None:
        if self._item is None:
            return
        current = self.zoom_factor()
        target = min(max(current * factor, 0.05), 32.0)
        self._fit = False
        self.scale(target / current, target / current)
        self.zoom_changed.emit(self.zoom_factor())

    def actual_size(self) -> None:
        if self._item is not None:
            self._fit = False
            self.resetTransform()
            self.zoom_changed.emit(1.0)

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
