"""The image_generation panel: per section, every image candidate as a thumbnail, a large inline preview, and
Accept (sets the output field), Reject (Restore takes it back), Regenerate; rejected and earlier images stay
recoverable. Every review action has a key, active wherever the focus is in the review area (REVIEW_KEYS)."""

from __future__ import annotations

import html
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services import gallery_queries, review
from wfdesk.ui.db_errors import describe_db_error
from wfdesk.ui.image_review import ImagePreview, ThumbnailStrip
from wfdesk.ui.panels.base import StepPanel, show_last_failure
from wfdesk.ui.panels.image_review_actions import REVIEW_KEYS, ImageReviewActions
from wfdesk.ui.thumbnails import PixmapCache, describe_image_error, load_preview

if TYPE_CHECKING:
    from wfdesk.services.shapes import SectionReview

__all__ = ["REVIEW_KEYS", "ImageGenerationPanel"]  # REVIEW_KEYS: imported from here before

class ImageGenerationPanel(ImageReviewActions, StepPanel):
    script_type = "image_generation"
    llm_fields = ("model",)
    SHORTCUTS = (*((text, description) for _key, text, description, _method in REVIEW_KEYS),
                 ("+ / -", "Zoom the preview in / out (or the mouse wheel)"), ("0", "Fit the image to the preview"),
                 ("1", "Show the image at its actual size"))

    def build_results(self) -> QWidget:
        self._detail: dict[str, Any] | None = None
        self._detail_gen = 0
        # A few decodes by sha256, mostly view-sized; the pixel budget bounds the rare zoomed-in full decodes.
        self._previews = PixmapCache(8, max_pixels=32_000_000)
        self._preview_loading: set[tuple[str, int]] = set()  # (sha256, side) being decoded
        # The version the preview is for; read by the decode workers, so a decode the editor has already moved
        # past (arrow keys held down in the gallery) is skipped rather than queued in front of the one wanted.
        self._preview_for: list[int | None] = [None]
        self._preview_shown: int | None = None  # the version whose pixels the preview shows
        self._sources: dict[str, QSize] = {}  # sha256 -> the original's size, as decoded (EXIF rotation applied)
        # The last reject, while nothing else was done since: (version id, was it the field's value). Restoring
        # that image then also makes it the field's value again, as it was.
        self._undo: tuple[int, bool] | None = None
        self._known_versions: tuple[int | None, set[int]] = (None, set())  # section, version ids shown

        box = QWidget()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.preview = ImagePreview()
        self.preview.zoom_changed.connect(self._on_zoom)
        self.preview.detail_needed.connect(self._load_sharper_preview)
        self.image_info = QLabel()
        self.image_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image_info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Use this image for the section (A)")
        self.accept_button.clicked.connect(self.accept_selected)
        self.reject_button = QPushButton("Reject")
        self.reject_button.clicked.connect(self.reject_or_restore_selected)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setToolTip("Generate a new candidate for this section only; the others are kept "
                                          "(Shift+R)")
        self.regenerate_button.clicked.connect(self.regenerate)
        for b in (self.accept_button, self.reject_button, self.regenerate_button):
            b.setAutoDefault(False)
        self.zoom_out_button = _tool("−", "Zoom out (-, or the mouse wheel over the image)",
                                     lambda: self.preview.zoom_by(0.8))
        self.fit_button = _tool("Fit", "Fit the image to the area (0)", self.preview.fit)
        self.zoom_in_button = _tool("+", "Zoom in (+, or the mouse wheel over the image)",
                                    lambda: self.preview.zoom_by(1.25))
        self.zoom_label = QLabel()
        actions = QHBoxLayout()
        for w in (self.accept_button, self.reject_button, self.regenerate_button):
            actions.addWidget(w)
        actions.addStretch(1)
        for view_control in (self.zoom_out_button, self.fit_button, self.zoom_in_button, self.zoom_label):
            actions.addWidget(view_control)

        self.strip_caption = QLabel("<b>Candidates</b>")
        self.strip_caption.setToolTip("Newest first. Rejected images are dimmed and can be restored. Drag the divider "
                                      "on the left to see more candidates at once.")
        self.strip = ThumbnailStrip(self.ws.data_dir)
        self.strip.setToolTip("Right / Left: next / previous candidate · Page Down / Page Up: next / previous "
                              "section · A accept · X reject or restore · Shift+R regenerate")
        self.strip.version_selected.connect(self._on_version_selected)
        side_box = QWidget()
        side = QVBoxLayout(side_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.strip_caption)
        side.addWidget(self.strip, 1)
        # The gallery is as wide as the editor drags it: one column by default, a grid when wider.
        self.viewer = QSplitter(Qt.Orientation.Horizontal)
        self.viewer.setObjectName("imageViewerSplitter")
        self.viewer.addWidget(self.preview)
        self.viewer.addWidget(side_box)
        self.viewer.setStretchFactor(0, 1)
        self.viewer.setStretchFactor(1, 0)
        self.viewer.setChildrenCollapsible(False)
        self.viewer.setSizes([10_000, self.strip.minimumWidth()])

        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.note)
        layout.addWidget(self.viewer, 1)
        layout.addWidget(self.image_info)
        layout.addLayout(actions)
        self.review_area = box
        self.review_shortcuts = [self._review_shortcut(key, getattr(self, method))
                                 for key, _text, _what, method in REVIEW_KEYS]
        self._update_actions()
        return box

    def _review_shortcut(self, key: str, slot) -> QShortcut:
        shortcut = QShortcut(QKeySequence(key), self.review_area)
        # Set apart: PySide6 6.11 ignores the `context=` keyword of QShortcut's constructor.
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        return shortcut

    def output_label(self) -> str:
        spec = next(iter((self.data or {}).get("step", {}).get("outputs", {}).values()), None)
        return spec["label"] if spec else "image"

    def output_field(self) -> str | None:
        spec = next(iter((self.data or {}).get("step", {}).get("outputs", {}).values()), None)
        return spec["db_field"] if spec else None

    def input_field(self) -> str | None:
        spec = next(iter((self.data or {}).get("step", {}).get("inputs", {}).values()), None)
        return spec["db_field"] if spec else None

    def llm_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        from wfdesk.scripts.config import ImageParameters

        params = (data["step"]["config"].get("script_config") or {}).get("parameters") or {}
        return {"model": params.get("model") or ImageParameters.model_fields["model"].default}

    # --- loading the current section ---------------------------------------------------------------------------
    def section_shown(self, section_id: int | None) -> None:
        self._detail = None
        self.reload_detail()

    def reload_detail(self) -> None:
        sid = self.picker.current_id()
        out = self.output_field()
        target = self.target()
        if self.data is None or sid is None or out is None or target is None:
            self._show_empty()
            return
        fields = [f for f in (self.input_field(), out) if f]
        self._detail_gen += 1
        gen, ws, (step_id, post_id) = self._detail_gen, self.ws, target
        self.in_background(lambda: _section_images(ws, step_id, post_id, sid, fields, out),
                           partial(self._on_detail, gen), partial(self._on_detail_failed, gen))

    def _show_empty(self) -> None:
        self.heading.setText("")
        self.note.hide()
        self.strip.set_versions([])
        self.preview.set_message("No section selected")

    def _on_detail(self, gen: int, detail: dict[str, Any]) -> None:
        if gen != self._detail_gen or detail["section_id"] != self.picker.current_id():
            return
        keep = self.strip.selected()
        self._detail = detail
        title = self.picker.title_of(detail["section_id"])
        prompt = detail["values"].get(self.input_field() or "") or ""
        self.heading.setText(f"<b>{html.escape(title)}</b><br><span>Prompt: {html.escape(prompt) or '<i>empty</i>'}"
                             f"</span>")
        last = detail.get("last") or {}
        show_last_failure(self.note, last)
        images = [v for v in detail["versions"] if v.get("kind") == "image" and v.get("asset")]
        keep_id = keep["id"] if keep and keep.get("section_id") == detail["section_id"] else None
        known_section, known = self._known_versions
        ids = {v["id"] for v in images}
        if known_section == detail["section_id"] and ids - known:
            keep_id = images[0]["id"]  # a run added candidates: show the newest, not the one looked at before
        self._known_versions = (detail["section_id"], ids)
        self.strip.set_versions(images, select=keep_id)  # the strip loads the thumbnails it shows
        self.strip_caption.setText(f"<b>Candidates</b> ({len(images)})" if images else "<b>Candidates</b>")
        if not images:
            self.preview.set_message("No image yet for this section.\nRun the step, or press Regenerate.")

    def _on_detail_failed(self, gen: int, exc: Exception) -> None:
        if gen == self._detail_gen:
            self._set_status(f"Cannot load this section's images: {describe_db_error(exc)}", error=True)

    # --- the selected candidate --------------------------------------------------------------------------------
    def _on_version_selected(self, version: dict[str, Any] | None) -> None:
        self._update_actions()
        self._preview_for[0] = version["id"] if version is not None else None
        if version is None or not version.get("asset"):
            self._preview_shown = None
            self.image_info.setText("")
            if self._detail is not None and not self.strip.count():
                self.preview.set_message("No image yet for this section")
            return
        asset = version["asset"]
        state = "accepted (the field's value)" if version.get("current") else {
            "candidate": "new, not accepted yet", "rejected": "rejected", "superseded": "accepted earlier",
            "accepted": "accepted"}.get(version["status"], version["status"])
        run = f"run #{version['run_id']} · " if version.get("run_id") else ""
        self.image_info.setText(f"{asset['width']}×{asset['height']} · {run}{state}")
        if self._preview_shown == version["id"] and self.preview.has_image():
            return  # the same image again (the section reloaded): keep the zoom
        pix = self._previews.get(asset["sha256"])
        if pix is not None:
            source = self._sources.get(asset["sha256"]) or QSize(asset.get("width") or 0, asset.get("height") or 0)
            self.preview.set_pixmap(pix, source)
            self._preview_shown = version["id"]
            return
        self._preview_shown = None
        self.preview.set_message("Loading…")
        self._load_preview(version, self.preview.wanted_side())

    def _load_preview(self, version: dict[str, Any], side: int) -> None:
        """Decode the selected image on a worker, at the size the preview shows it (never full size for nothing)."""
        sha = version["asset"]["sha256"]
        if (sha, side) in self._preview_loading:
            return
        self._preview_loading.add((sha, side))
        data_dir, path, vid, wanted = self.ws.data_dir, version["asset"]["path"], version["id"], self._preview_for

        def decode():
            return load_preview(data_dir, path, side) if wanted[0] == vid else None

        def failed(exc: Exception) -> None:
            self._preview_loading.discard((sha, side))
            selected = self.strip.selected()
            if selected is not None and selected["id"] == vid and not self.preview.has_image():
                self.preview.set_message(f"Cannot show this image.\n{describe_image_error(exc)}")

        self.in_background(decode, partial(self._on_preview, vid, sha, side), failed)

    def _on_preview(self, version_id: int, sha256: str, side: int, result) -> None:
        self._preview_loading.discard((sha256, side))
        if result is None:
            return  # skipped: another image was selected before this decode began
        image, source = result
        self._sources[sha256] = source
        selected = self.strip.selected()
        if selected is None or selected["id"] != version_id:
            known = self._previews.get(sha256)
            if known is None or max(known.width(), known.height()) < max(image.width(), image.height()):
                self._previews.put(sha256, image)
            return
        if self.preview.has_image() and self._preview_shown == version_id:
            if max(image.width(), image.height()) > self.preview.decoded_side():  # a sharper decode
                self.preview.replace_pixmap(self._previews.put(sha256, image))
            return
        self.preview.set_pixmap(self._previews.put(sha256, image), source)
        self._preview_shown = version_id

    def _load_sharper_preview(self) -> None:
        version = self.strip.selected()
        if version is not None and version.get("asset"):
            self._load_preview(version, self.preview.wanted_side())

    def _on_zoom(self, factor: float) -> None:
        self.zoom_label.setText(f"{round(factor * 100)}%" + (" (fit)" if self.preview.fitted else ""))

    def _update_actions(self) -> None:
        v = self.strip.selected() if hasattr(self, "strip") else None
        self.accept_button.setEnabled(v is not None and not v.get("current"))
        self.reject_button.setEnabled(bool(v))
        if v is not None and v["status"] == "rejected":
            self.reject_button.setText("Restore")
            back = "the section's image again" if self._undo == (v["id"], True) else "a candidate again"
            self.reject_button.setToolTip(f"Take the reject back: this image becomes {back} (X)")
        else:
            self.reject_button.setText("Reject")
            self.reject_button.setToolTip("Mark this image rejected; it stays here, dimmed, and Restore takes it "
                                          "back (X)")
        has_section = self.picker.current_id() is not None if hasattr(self, "picker") else False
        ok = self.data is not None and not self.data["step"]["config_error"]
        self.regenerate_button.setEnabled(has_section and ok and not self.is_running())
        for b in (self.fit_button, self.zoom_in_button, self.zoom_out_button):
            b.setEnabled(bool(v))

    def running_changed(self, running: bool) -> None:
        if hasattr(self, "regenerate_button"):
            self._update_actions()

    # --- the picker's "Awaiting review" filter ------------------------------------------------------------------
    def data_loaded(self, data: dict[str, Any]) -> None:
        self._load_review_counts()

    def _load_review_counts(self) -> None:
        out, ws, post_id, step_id = self.output_field(), self.ws, self.post_id, self.step_id
        if out is None or post_id is None:
            self.picker.set_review_counts(None)
            return

        def apply(counts: dict[int | None, int]) -> None:
            if (self.post_id, self.step_id) == (post_id, step_id):
                self.picker.set_review_counts(counts)

        self.in_background(lambda: gallery_queries.awaiting_review(ws, post_id, out), apply, lambda _exc: None)


def _section_images(ws, step_id: int, post_id: int, section_id: int, fields: list[str], out: str) -> SectionReview:
    """The section's fields and last unit, and its image candidates in one plain-column query (hundreds of them
    are common: the ORM path costs several times the query). Worker thread."""
    detail = review.section_review(ws, step_id, post_id, section_id, fields, None)
    detail["versions"] = gallery_queries.image_candidates(ws, post_id, section_id, out)
    return detail


def _tool(text: str, tip: str, slot) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
