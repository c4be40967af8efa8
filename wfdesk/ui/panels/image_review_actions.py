"""What an editor does to the image candidates of the image_generation panel: Accept, Reject / Restore and
Regenerate, and the plain keys for them and for moving between candidates and sections (REVIEW_KEYS).
ImageGenerationPanel inherits these; each runs on a worker and then reloads the section's images."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QPushButton,
)

from wfdesk.services import gallery_queries, review
from wfdesk.ui.db_errors import describe_db_error
from wfdesk.ui.image_review import ThumbnailStrip
from wfdesk.ui.panels.section_picker import SectionPicker

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

# (key, how Help shows it, what it does, the panel method it calls). Plain keys: they act only while the focus is
# in the review area (the gallery, the preview, its buttons), which has no text field, so they never clash with
# the window's Ctrl+Enter, Esc, Ctrl+Z, Ctrl+N, Ctrl+E, Ctrl+S, F2, Alt+Up/Down or with typing.
REVIEW_KEYS: list[tuple[str, str, str, str]] = [
    ("Right", "Right", "Next image candidate", "next_candidate"),
    ("Left", "Left", "Previous image candidate", "previous_candidate"),
    ("PgDown", "Page Down", "Next section's images", "next_section"),
    ("PgUp", "Page Up", "Previous section's images", "previous_section"),
    ("A", "A", "Accept the selected image", "press_accept"),
    ("X", "X", "Reject the selected image (on a rejected one: restore it)", "press_reject"),
    ("Shift+R", "Shift+R", "Regenerate: a new candidate for this section", "press_regenerate"),
]


class ImageReviewActions:
    # Set by ImageGenerationPanel (and StepPanel).
    ws: Any
    strip: ThumbnailStrip
    picker: SectionPicker
    accept_button: QPushButton
    reject_button: QPushButton
    regenerate_button: QPushButton
    _undo: tuple[int, bool] | None
    status_message: SignalInstance
    content_changed: SignalInstance

    if TYPE_CHECKING:  # the panel's, called from here
        def output_label(self) -> str: ...
        def run(self, section_ids: list[int] | None = None, *, offline_ok: bool = False) -> str | None: ...
        def _set_status(self, text: str, *, error: bool = False) -> None: ...
        def reload_detail(self) -> None: ...
        def _load_review_counts(self) -> None: ...
        def _update_actions(self) -> None: ...
        def in_background(self, fn: Callable[[], Any], success: Callable[[Any], None],
                          failure: Callable[[Exception], None] | None = None,
                          finished: Callable[[], None] | None = None) -> None: ...

    def accept_selected(self) -> None:
        v = self.strip.selected()
        if v is not None and not v.get("current"):
            self._version_op(lambda ws: review.version_action(ws, v["id"], "accept"),
                             f"Accepted: this image is now the “{self.output_label()}” of {self._section_name()}.")

    def reject_or_restore_selected(self) -> None:
        v = self.strip.selected()
        if v is None:
            return
        if v["status"] == "rejected":
            if self._undo == (v["id"], True):  # the reject just done: the field gets the image back too
                self._version_op(lambda ws: review.undo_reject(ws, v["id"], True),
                                 f"Restored: this image is the “{self.output_label()}” of {self._section_name()} "
                                 "again.")
            else:
                self._version_op(lambda ws: review.version_action(ws, v["id"], "unreject"),
                                 "Restored: the image is a candidate again.")
            return
        def reject(ws) -> dict[str, Any]:
            # Asked of the database: the strip's copy may predate an Accept clicked a moment ago.
            was_current = gallery_queries.is_field_value(ws, v["id"])
            return {**review.version_action(ws, v["id"], "reject"), "was_current": was_current}

        def rejected(result: dict[str, Any]) -> str:
            self._undo = (v["id"], result["was_current"])
            fallback = " The section went back to the image accepted before it." if result["was_current"] else ""
            return f"Rejected (kept, dimmed).{fallback} Restore (X) takes it back."

        self._version_op(reject, rejected)

    def regenerate(self) -> None:
        sid = self.picker.current_id()
        if sid is not None and self.run(section_ids=[sid]) is not None:
            self._set_status(f"Generating a new candidate for “{self.picker.title_of(sid)}”…")

    # --- review keys (REVIEW_KEYS): the same buttons and moves as the mouse ------------------------------------
    def next_candidate(self) -> None:
        self._move_candidate(1)

    def previous_candidate(self) -> None:
        self._move_candidate(-1)

    def next_section(self) -> None:
        self.picker.move_current(1)

    def previous_section(self) -> None:
        self.picker.move_current(-1)

    def press_accept(self) -> None:
        self.accept_button.click()  # does nothing while the button is disabled, as for the mouse

    def press_reject(self) -> None:
        self.reject_button.click()

    def press_regenerate(self) -> None:
        self.regenerate_button.click()

    def _move_candidate(self, step: int) -> None:
        row = self.strip.currentIndex().row() + step
        if 0 <= row < self.strip.count():
            self.strip.setCurrentIndex(self.strip.model().index(row, 0))

    def _section_name(self) -> str:
        sid = self.picker.current_id()
        return f"“{self.picker.title_of(sid)}”" if sid is not None else "the post"

    def _version_op(self, fn, done: str | Callable[[dict[str, Any]], str]) -> None:
        """Run a review action on a worker; `done` is its message (or makes it from the result). Anything but a
        reject forgets the reject that Restore would take back."""
        ws = self.ws
        for b in (self.accept_button, self.reject_button):
            b.setEnabled(False)

        def ok(result: dict[str, Any]) -> None:
            self._undo = None
            message = done(result) if callable(done) else done
            self._set_status(message)
            self.status_message.emit(message)
            self.strip.select_version(result["version_id"])
            self.reload_detail()
            self._load_review_counts()
            self.content_changed.emit()  # the step list's "awaiting review (n images)" changes

        def failed(exc: Exception) -> None:
            self._set_status(f"Not done: {describe_db_error(exc)}", error=True)
            self._update_actions()

        self.in_background(lambda: fn(ws), ok, failed)
