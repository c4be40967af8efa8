"""The large preview of the selected image: fitted to the area, zoomed by wheel or keys, sharper decodes on zoom."""

from __future__ import annotations

import math

from PySide6.QtCore import (
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QKeyEvent,
    QPainter,
    QPalette,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)
from typing_extensions import override


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
        self._item = item = self.scene().addPixmap(pixmap)
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scale_item(item, pixmap)
        self.scene().setSceneRect(QRectF(0, 0, self._source.width(), self._source.height()))
        self.fit()

    def replace_pixmap(self, pixmap: QPixmap) -> None:
        """A sharper decode of the image shown: same place, same zoom."""
        if self._item is not None:
            self._item.setPixmap(pixmap)
            self._scale_item(self._item, pixmap)

    def decoded_side(self) -> int:
        if self._item is None:
            return 0
        pix = self._item.pixmap()
        return max(pix.width(), pix.height())

    def _scale_item(self, item: QGraphicsPixmapItem, pixmap: QPixmap) -> None:
        if pixmap.width() > 0:
            item.setScale(self._source.width() / pixmap.width())

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

    @override
    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps and self._item is not None:
            self.zoom_by(1.25 ** steps)
            event.accept()
        else:
            super().wheelEvent(event)

    @override
    def keyPressEvent(self, event: QKeyEvent) -> None:
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

    @override
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()
