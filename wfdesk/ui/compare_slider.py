"""Two images in one frame: the "before" one left of a divider the editor drags, the "after" one right of it -- the
before/after slider for a section whose image was generated again. Both are fitted to the same rectangle, so
the same spot of the picture is under the divider on both sides."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget
from typing_extensions import override

HANDLE_GRAB_PX = 12  # how near the divider a press picks it up (anywhere else jumps it there)


def fitted(size: QSize, into: QRect) -> QRect:
    """`size` scaled to fit `into` (aspect kept), centred."""
    if size.isEmpty():
        return QRect()
    target = QRect(QPoint(0, 0), size.scaled(into.size(), Qt.AspectRatioMode.KeepAspectRatio))
    target.moveCenter(into.center())
    return target


class BeforeAfterSlider(QWidget):
    """Drag anywhere (or the handle) to move the divider; `split` is its place, 0 (all after) to 1 (all before)."""

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag to move the divider: before on the left, after on the right")
        self._before: QPixmap | None = None
        self._after: QPixmap | None = None
        self._captions = ("Before", "After")
        self._split = 0.5
        self._dragging = False

    @property
    def split(self) -> float:
        return self._split

    def set_images(self, before: QPixmap | None, after: QPixmap | None, captions: tuple[str, str]) -> None:
        self._before, self._after, self._captions = before, after, captions
        self.update()

    def set_split(self, value: float) -> None:
        value = min(1.0, max(0.0, value))
        if value != self._split:
            self._split = value
            self.split_changed.emit(value)
            self.update()

    def image_rect(self) -> QRect:
        """Where the images are drawn (the after image's shape decides; the before one is fitted the same)."""
        shown = self._after or self._before
        return fitted(shown.size(), self.rect().adjusted(4, 4, -4, -4)) if shown is not None else QRect()

    def divider_x(self) -> int:
        area = self.image_rect() if not self.image_rect().isEmpty() else self.rect()
        return area.left() + round(area.width() * self._split)

    # --- the mouse moves the divider ----------------------------------------------------------------------------
    def _split_at(self, x: float) -> None:
        area = self.image_rect() if not self.image_rect().isEmpty() else self.rect()
        if area.width() > 0:
            self.set_split((x - area.left()) / area.width())

    @override
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            if abs(event.position().x() - self.divider_x()) > HANDLE_GRAB_PX:
                self._split_at(event.position().x())
            event.accept()
        else:
            super().mousePressEvent(event)

    @override
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._split_at(event.position().x())
            event.accept()
        else:
            super().mouseMoveEvent(event)

    @override
    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self._split_at(event.position().x())
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    # --- painting -------------------------------------------------------------------------------------------------
    @override
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self.image_rect()
        if area.isEmpty():
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Loading…")
            return
        x = self.divider_x()
        for pix, clip in ((self._before, QRect(area.left(), area.top(), x - area.left(), area.height())),
                          (self._after, QRect(x, area.top(), area.right() - x + 1, area.height()))):
            if pix is None or clip.width() <= 0:
                continue
            p.save()
            p.setClipRect(clip)
            p.drawPixmap(fitted(pix.size(), area), pix)
            p.restore()
        p.setPen(QPen(QColor("white"), 2))
        p.drawLine(x, area.top(), x, area.bottom())
        knob = QRectF(x - 11, area.center().y() - 11, 22, 22)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawEllipse(knob)
        p.drawText(knob, Qt.AlignmentFlag.AlignCenter, "⇔")
        self._caption(p, area, self._captions[0], left=True)
        self._caption(p, area, self._captions[1], left=False)

    def _caption(self, p: QPainter, area: QRect, text: str, *, left: bool) -> None:
        metrics = p.fontMetrics()
        width = min(metrics.horizontalAdvance(text) + 12, area.width() // 2 - 6)
        box = QRect(area.left() + 4 if left else area.right() - width - 4, area.top() + 4, width,
                    metrics.height() + 6)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter,
                   metrics.elidedText(text, Qt.TextElideMode.ElideRight, box.width() - 8))
