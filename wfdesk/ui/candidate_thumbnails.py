"""The gallery's model and painting: one dict per candidate image, its thumbnail from the ThumbnailLoader (a
placeholder until decoded), and a cell drawn with its caption, status and an "accepted" badge."""

from __future__ import annotations

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
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)
from typing_extensions import override

from wfdesk.ui.thumbnails import ThumbnailLoader

VERSION_ID = Qt.ItemDataRole.UserRole
SHA_ROLE = Qt.ItemDataRole.UserRole + 1
VERSION_ROLE = Qt.ItemDataRole.UserRole + 2
ICON_SIZE = 96
CELL = QSize(ICON_SIZE + 24, ICON_SIZE + 26)
PAD = 4
STAR_COLOR = "#f9a825"
STATUS_TEXT = {"accepted": "✓ accepted", "candidate": "new", "rejected": "rejected", "superseded": "earlier"}
ACCEPTED_COLOR = "#43a047"


def icon_rect(cell: QRect) -> QRect:
    """Where a cell draws its thumbnail."""
    return QRect(cell.x() + (cell.width() - ICON_SIZE) // 2, cell.y() + PAD + 2, ICON_SIZE, ICON_SIZE)


def star_rect(cell: QRect) -> QRect:
    """The star's place on a cell (top left of the picture; the accepted tick is top right): a click there stars."""
    icon = icon_rect(cell)
    return QRect(icon.left() + 2, icon.top() + 2, 22, 22)


def placeholder(size: int, text: str = "…") -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor(128, 128, 128, 60))
    p = QPainter(pix)
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix


def version_caption(v: dict[str, Any]) -> str:
    state = "✓ accepted" if v.get("current") else STATUS_TEXT.get(v["status"], v["status"])
    state = f"★ {state}" if v.get("starred") else state
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

    def set_starred(self, version_id: int, starred: bool) -> None:
        """The stored mark changed: this row's copy follows, and its cell repaints."""
        row = self.row_of(version_id)
        if row is not None:
            self._rows[row] = {**self._rows[row], "starred": starred}
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

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
        self.pinned_id: int | None = None  # the candidate held on the compare view's left

    @override
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return CELL

    @override
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
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
        if v["id"] == self.pinned_id:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(rect).adjusted(3, 3, -3, -3), 6, 6)
        icon = icon_rect(rect)
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
        hovered = option.state & (QStyle.StateFlag.State_MouseOver | QStyle.StateFlag.State_Selected)
        if v.get("starred") or hovered:
            self._draw_star(painter, star_rect(rect), bool(v.get("starred")))
        text_rect = QRect(rect.x() + PAD, icon.bottom() + 3, rect.width() - 2 * PAD, rect.bottom() - icon.bottom() - 3)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText if rejected else QPalette.ColorRole.Text))
        caption = option.fontMetrics.elidedText(version_caption(v), Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, caption)
        painter.restore()

    def _draw_star(self, painter: QPainter, place: QRect, starred: bool) -> None:
        """A gold star when starred; an outline to click (on the hovered or selected cell) when not."""
        painter.save()  # its font stays here: the caption below keeps the view's
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 110))
        painter.drawEllipse(place)
        painter.setPen(QColor(STAR_COLOR) if starred else QColor(255, 255, 255, 200))
        font = QFont(painter.font())
        font.setPixelSize(16)
        painter.setFont(font)
        painter.drawText(place, Qt.AlignmentFlag.AlignCenter, "★" if starred else "☆")
        painter.restore()

    def _draw_badge(self, painter: QPainter, icon: QRect) -> None:
        """A green tick on the accepted image, readable on any picture."""
        badge = QRect(icon.right() - 20, icon.top() + 3, 18, 18)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(QColor(ACCEPTED_COLOR))
        painter.drawEllipse(badge)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "✓")
