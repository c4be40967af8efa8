"""Two image candidates at once, over the large preview: side by side, or as a before/after slider.

The left ("before") image is the one held for comparing -- the accepted image, or the one selected before a
Ctrl+click; the right ("after") one follows the selection, so the review keys step through candidates against the
same image. Images are decoded on workers at the size they are shown, like the preview's.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from typing_extensions import override

from wfdesk.ui.candidate_thumbnails import version_caption
from wfdesk.ui.compare_slider import BeforeAfterSlider, fitted
from wfdesk.ui.thumbnails import PixmapCache, describe_image_error, load_preview
from wfdesk.ui.worker import BackgroundOp

SIDE_BY_SIDE, SLIDER = "side by side", "before/after"


class ImagePane(QWidget):
    """One image fitted to the pane, with its caption above it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.picture = _Picture()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.picture, 1)

    def show_image(self, caption: str, pixmap: QPixmap | None, message: str = "Loading…") -> None:
        self.caption.setText(caption)
        self.picture.set(pixmap, message)


class _Picture(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(60, 60)
        self.pixmap: QPixmap | None = None
        self.message = ""

    def set(self, pixmap: QPixmap | None, message: str) -> None:
        self.pixmap, self.message = pixmap, message
        self.update()

    @override
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        if self.pixmap is None:
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = fitted(self.pixmap.size(), self.rect())
        target.moveTop(0)  # right under its caption
        p.drawPixmap(target, self.pixmap)


class CompareView(QWidget):
    """The comparison: a bar (layout switch, Close) over two panes or the slider. `versions` are the gallery's
    version dicts (left, right)."""

    closed = Signal()

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.data_dir = Path(data_dir)
        self.versions: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._pixmaps = PixmapCache(6, max_pixels=24_000_000)
        self._errors: dict[str, str] = {}
        self._loading: set[tuple[str, int]] = set()

        self.title = QLabel("<b>Comparing</b>")
        self.side_button = self._mode_button("Side by side", "The two images next to each other (C)")
        self.slider_button = self._mode_button("Before / after", "One image over the other: drag the divider (B)")
        self.close_button = QToolButton()
        self.close_button.setText("Close")
        self.close_button.setToolTip("Back to the single image (C or B again)")
        self.close_button.clicked.connect(self.close_compare)
        self._modes = QButtonGroup(self)
        self._modes.setExclusive(True)
        self._modes.addButton(self.side_button)
        self._modes.addButton(self.slider_button)
        self.side_button.clicked.connect(lambda: self.set_mode(SIDE_BY_SIDE))
        self.slider_button.clicked.connect(lambda: self.set_mode(SLIDER))
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(self.title)
        bar.addStretch(1)
        for b in (self.side_button, self.slider_button, self.close_button):
            bar.addWidget(b)

        self.left, self.right = ImagePane(), ImagePane()
        pair = QWidget()
        pair_layout = QHBoxLayout(pair)
        pair_layout.setContentsMargins(4, 0, 4, 4)
        pair_layout.addWidget(self.left, 1)
        pair_layout.addWidget(self.right, 1)
        self.slider = BeforeAfterSlider()
        self.stack = QStackedWidget()
        self.stack.addWidget(pair)
        self.stack.addWidget(self.slider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self.set_mode(SIDE_BY_SIDE)
        self.hide()

    def _mode_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(True)
        return button

    @property
    def mode(self) -> str:
        return SLIDER if self.stack.currentWidget() is self.slider else SIDE_BY_SIDE

    def is_comparing(self) -> bool:
        return self.isVisible() and self.versions is not None

    def set_mode(self, mode: str) -> None:
        self.stack.setCurrentIndex(1 if mode == SLIDER else 0)
        (self.slider_button if mode == SLIDER else self.side_button).setChecked(True)
        self._refresh()

    def compare(self, left: dict[str, Any], right: dict[str, Any], mode: str | None = None) -> None:
        """Show these two (version dicts with an asset); `mode` keeps the current layout when None."""
        self.versions = (left, right)
        if mode is not None:
            self.stack.setCurrentIndex(1 if mode == SLIDER else 0)
            (self.slider_button if mode == SLIDER else self.side_button).setChecked(True)
        self.show()
        self.raise_()
        self._refresh()

    def set_right(self, right: dict[str, Any]) -> None:
        if self.versions is not None:
            self.compare(self.versions[0], right)

    def update_version(self, version: dict[str, Any]) -> None:
        """A compared version changed (starred, accepted): new captions."""
        if self.versions is not None:
            self.versions = tuple(version if v["id"] == version["id"] else v for v in self.versions)  # type: ignore[assignment]
            self._refresh()

    def close_compare(self) -> None:
        was = self.versions is not None
        self.versions = None
        self.hide()
        if was:
            self.closed.emit()

    # --- what is shown ----------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.versions is None:
            return
        left, right = self.versions
        if self.mode == SLIDER:
            self.title.setText("<b>Before / after</b>")
            self.slider.set_images(self._pixmap(left), self._pixmap(right),
                                   (f"Before: {version_caption(left)}", f"After: {version_caption(right)}"))
        else:
            self.title.setText("<b>Comparing</b>")
            for pane, v in ((self.left, left), (self.right, right)):
                sha = v["asset"]["sha256"]
                pane.show_image(version_caption(v), self._pixmap(v), self._errors.get(sha, "Loading…"))

    def _side(self) -> int:
        """Pixels per side a decode needs to look sharp here."""
        return max(256, round(max(self.width(), self.height()) * self.devicePixelRatioF()))

    def _pixmap(self, version: dict[str, Any]) -> QPixmap | None:
        asset = version["asset"]
        pix = self._pixmaps.get(asset["sha256"])
        side = min(self._side(), max(asset.get("width") or 0, asset.get("height") or 0) or self._side())
        if (pix is None or max(pix.width(), pix.height()) < 0.9 * side) and asset["sha256"] not in self._errors:
            self._decode(asset["sha256"], asset["path"], side)
        return pix

    def _decode(self, sha: str, path: str, side: int) -> None:
        if (sha, side) in self._loading:
            return
        self._loading.add((sha, side))
        data_dir = self.data_dir
        (BackgroundOp(lambda: load_preview(data_dir, path, side)[0])
         .success(partial(self._alive, self._decoded, sha, side))
         .failure(partial(self._alive, self._failed, sha, side))
         .run_in_background())

    def _alive(self, fn, *args) -> None:
        if shiboken6.isValid(self):
            fn(*args)

    def _decoded(self, sha: str, side: int, image) -> None:
        self._loading.discard((sha, side))
        self._pixmaps.put(sha, image)
        self._refresh()

    def _failed(self, sha: str, side: int, exc: Exception) -> None:
        self._loading.discard((sha, side))
        self._errors[sha] = f"Cannot show this image.\n{describe_image_error(exc)}"
        self._refresh()

    @override
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refresh()  # a larger view may want sharper decodes
