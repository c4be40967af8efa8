"""The video_generation step's own panel: the generic panel (parameters form from VideoParameters, JSON result)
plus a small playing preview of the section's clip.

The GUI imports this module only when a video_generation step is shown (ScriptTypePlugin.panel names it), so the
plugin itself still works without Qt, e.g. from the command line.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QMovie
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from wfdesk.media.store import resolve_image_path
from wfdesk.ui.panels.base import error_color
from wfdesk.ui.panels.generic import GenericPanel

PREVIEW_BOX = QSize(320, 240)  # the clip is scaled to fit, never enlarged


class VideoGenerationPanel(GenericPanel):
    script_type = "video_generation"

    def build_results(self) -> QWidget:
        box = super().build_results()
        self.movie: QMovie | None = None
        self.clip_path: str | None = None
        self.hint_label = QLabel("Animates each section's accepted and candidate images (rejected ones are left "
                                 "out) into a short clip; the clip is a candidate you accept like an image.")
        self.hint_label.setWordWrap(True)
        font = self.hint_label.font()
        font.setItalic(True)  # a hint, not content
        self.hint_label.setFont(font)
        self.clip_label = QLabel()
        self.clip_label.setObjectName("clipPreview")
        self.clip_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clip_label.setMinimumSize(PREVIEW_BOX)
        self.clip_label.setMaximumHeight(PREVIEW_BOX.height())
        self.clip_label.setFrameShape(QLabel.Shape.StyledPanel)
        self.clip_caption = QLabel()
        self.clip_caption.setWordWrap(True)
        preview = QWidget()
        column = QVBoxLayout(preview)
        column.setContentsMargins(0, 0, 0, 4)
        column.addWidget(self.hint_label)
        column.addWidget(QLabel("<b>Clip</b>"))
        column.addWidget(self.clip_label)
        column.addWidget(self.clip_caption)
        box.layout().insertWidget(2, preview)  # below the panel error and the section heading, above the JSON
        self._show_clip(None, "Not run on this section yet.")
        return box

    def _on_detail(self, gen: int, detail: dict[str, Any]) -> None:
        super()._on_detail(gen, detail)
        if gen != self._detail_gen:
            return
        last = detail.get("last") or {}
        result = last.get("result") or {}
        outputs = [spec["db_field"] for spec in (self.data or {}).get("step", {}).get("outputs", {}).values()]
        accepted = next((detail["values"].get(f) for f in outputs if detail["values"].get(f)), None)
        if result.get("image_url"):
            meta = result.get("metadata") or {}
            caption = (f"Run #{last['run_id']}: {meta.get('frames', '?')} frames, {meta.get('duration', '?')} s at "
                       f"{meta.get('fps', '?')} fps from {meta.get('source_images', '?')} image(s)")
            self._show_clip(result["image_url"], caption)
        elif accepted:
            self._show_clip(accepted, "The accepted clip")
        elif last.get("status") == "error":
            self._show_clip(None, f"The last run failed: {last.get('error') or 'no details'}", error=True)
        else:
            self._show_clip(None, "Not run on this section yet.")

    def _show_clip(self, rel_path: str | None, caption: str, *, error: bool = False) -> None:
        if self.movie is not None:
            self.movie.stop()
            self.movie.deleteLater()
            self.movie = None
        self.clip_path = None
        self.clip_label.clear()
        text = html.escape(caption)
        if rel_path:
            try:
                path = resolve_image_path(self.ws.data_dir, rel_path)
            except ValueError as exc:
                path, text, error = None, html.escape(f"Cannot show the clip: {exc}"), True
            if path is not None and path.is_file():
                movie = QMovie(str(path), parent=self)
                if movie.isValid():
                    movie.setCacheMode(QMovie.CacheMode.CacheAll)
                    movie.jumpToFrame(0)
                    size = movie.currentImage().size()
                    if size.width() > PREVIEW_BOX.width() or size.height() > PREVIEW_BOX.height():
                        size = size.scaled(PREVIEW_BOX, Qt.AspectRatioMode.KeepAspectRatio)
                    movie.setScaledSize(size)
                    self.clip_label.setMovie(movie)
                    movie.start()
                    self.movie, self.clip_path = movie, rel_path
                else:
                    movie.deleteLater()
                    text, error = html.escape(f"Cannot play {rel_path}: {movie.lastErrorString()}"), True
            elif path is not None:
                text, error = html.escape(f"The clip file is missing: {rel_path}"), True
        if not self.clip_path:
            self.clip_label.setText("<i>No clip</i>")
        self.clip_caption.setText(f"<span style='color:{error_color(self)}'>{text}</span>" if error else text)
