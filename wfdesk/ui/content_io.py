"""Drafts in, posts out, in the window: File → New post from file…, files dropped on the window, Markdown or HTML
pasted into an empty post, and File → Export post….

Dialogs are opened with open() (never exec()), and the work runs in BackgroundOps; the engine (wfdesk.content) is
imported where it is used so the window's first paint does not wait for it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QStandardPaths, Signal
from PySide6.QtGui import QDropEvent, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from typing_extensions import override

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.content.post_import import ImportedPost
    from wfdesk.ui.main_window import MainWindow

log = logging.getLogger(__name__)
DRAFT_FILTER = "Drafts (*.md *.markdown *.docx *.html *.htm);;All files (*)"


class ImportOptionsDialog(QDialog):
    """Where the sections are cut (heading level) and which field of each section gets the text."""

    def __init__(self, source: str, fields: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New post from a draft")
        self.source_label = QLabel(f"Make a post of <b>{html.escape(source)}</b>: each heading starts a section.")
        self.source_label.setWordWrap(True)
        self.level_spin = QSpinBox()
        self.level_spin.setRange(1, 6)
        self.level_spin.setValue(2)
        self.level_spin.setPrefix("level ")
        self.level_spin.setAccessibleName("Split at headings of")
        self.field_combo = QComboBox()
        self.field_combo.setEditable(True)
        self.field_combo.addItems(list(dict.fromkeys(["draft", *fields])))
        self.field_combo.setAccessibleName("Put the text in the field")
        form = QFormLayout()
        form.addRow("Split at &headings of", self.level_spin)
        form.addRow("Put the text in the &field", self.field_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Make the post")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source_label)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def options(self) -> dict[str, Any]:
        return {"split_level": self.level_spin.value(), "field": self.field_combo.currentText().strip()}


class ExportPostDialog(QDialog):
    """Format, which field is each section's body, and the folder to write into."""

    def __init__(self, title: str, formats: dict[str, str], candidates: list[str], fields: list[str],
                 kept: dict[str, Any], parent: QWidget | None = None, labels: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export post")
        heading = QLabel(f"Export <b>{html.escape(title)}</b>")
        heading.setWordWrap(True)
        self.format_combo = QComboBox()
        for key, label in formats.items():
            self.format_combo.addItem(label, key)
        self.body_combo = QComboBox()
        labels = labels or {}  # the names the steps give the fields (Polished Content), as in the sections table
        named = [labels.get(n, n) for n in candidates]
        self.body_combo.addItem(f"Automatic: the first filled of {', '.join(named)}", None)
        for name in dict.fromkeys([*fields, "draft"]):
            self.body_combo.addItem(labels.get(name, name), name)
        self.folder_edit = QLineEdit(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation))
        self.folder_edit.setAccessibleName("Folder")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("&Format", self.format_combo)
        form.addRow("Section &body", self.body_combo)
        folder_label = QLabel("F&older")
        folder_label.setBuddy(self.folder_edit)  # a row holding a layout gets no buddy, and Qt then shows the "&"
        form.addRow(folder_label, folder_row)
        self.kept_label = QLabel()
        self.kept_label.setWordWrap(True)
        if kept:
            self.kept_label.setText("Kept from the draft and written again: "
                                    + html.escape(", ".join(f"{k}: {_short(v)}" for k, v in kept.items())))
        self.kept_label.setVisible(bool(kept))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.kept_label)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Export into folder", self.folder_edit.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.fileSelected.connect(self.folder_edit.setText)
        dialog.open()

    def choice(self) -> dict[str, Any]:
        return {"fmt": self.format_combo.currentData(), "body_field": self.body_combo.currentData(),
                "folder": self.folder_edit.text().strip()}


class ContentIO(QObject):
    """The window's content in/out: menu slots, drops and paste, each ending in a message in plain words."""

    post_imported = Signal(int)  # post id, once it is in the database
    post_exported = Signal(list)  # the paths written, the document first

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: QDialog | None = None
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    # --- import -----------------------------------------------------------------------------------------------

    def new_post_from_file(self) -> None:
        if self.window.ws is None:
            return
        dialog = QFileDialog(self.window, "New post from a draft", _documents(), DRAFT_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.fileSelected.connect(lambda path: self.import_paths([Path(path)]) if path else None)
        self.dialog = dialog
        dialog.open()

    def import_paths(self, paths: list[Path]) -> None:
        """Ask how to cut the draft(s), then import each one as a new post."""
        if not paths or self.window.ws is None:
            return
        source = paths[0].name if len(paths) == 1 else f"{len(paths)} drafts"
        self._ask_options(source, lambda options: self._import_files(paths, options))

    def paste_into_post(self, post_id: int) -> bool:
        """Markdown or HTML from the clipboard into an empty post (True when the clipboard had text for it)."""
        mime = QGuiApplication.clipboard().mimeData()
        ws = self.window.ws
        if ws is None or mime is None or not (mime.hasHtml() or mime.hasText()) or not post_id:
            return False
        is_html = mime.hasHtml()
        text = mime.html() if is_html else mime.text()
        if not text.strip():
            return False

        def run(options: dict[str, Any]) -> None:
            from wfdesk.content.post_import import ImportOptions, import_pasted

            self._in_background(lambda: import_pasted(ws, text, is_html, ImportOptions(**options), post_id),
                                "Paste", self._pasted)

        self._ask_options("the pasted text", run)
        return True

    def _ask_options(self, source: str, then: Callable[[dict[str, Any]], None]) -> None:
        from wfdesk.services.queries import step_field_names

        ws = self.window.ws
        try:
            fields = step_field_names(ws, ("inputs",)) if ws is not None else []
        except Exception:  # noqa: BLE001 - suggestions only; the dialog works without them
            fields = []
        dialog = ImportOptionsDialog(source, fields, self.window)
        dialog.accepted.connect(lambda: then(dialog.options()))
        self.dialog = dialog
        dialog.open()

    def _import_files(self, paths: list[Path], options: dict[str, Any]) -> None:
        ws = self.window.ws
        if ws is None:
            return

        def run() -> list[ImportedPost]:
            from wfdesk.content.draft_read import read_draft_file
            from wfdesk.content.post_import import ImportOptions, import_draft, plan_draft

            # Every draft is read and checked before the first is written: one bad draft among several makes none.
            drafts = [read_draft_file(path) for path in paths]
            for draft in drafts:
                plan_draft(draft, options["split_level"])
            return [import_draft(ws, draft, ImportOptions(**options)) for draft in drafts]

        self.window.statusBar().showMessage(f"Reading {paths[0].name}…")
        self._in_background(run, "New post from a draft", self._imported)

    def _imported(self, results: list[dict[str, Any]]) -> None:
        last = results[-1]
        self.window.posts.search.clear()
        self.window.posts.reload(select_id=last["post_id"])
        lines = [f"Made “{r['title']}” with {len(r['sections'])} section(s)." for r in results]
        lines += [note for r in results for note in r["notes"]]
        self.window.statusBar().showMessage(lines[0], 10000)
        if len(lines) > 1:
            self._tell("New post from a draft", "\n".join(lines))
        for r in results:
            self.post_imported.emit(r["post_id"])

    def _pasted(self, result: dict[str, Any]) -> None:
        self.window.refresh_all()
        self.window.statusBar().showMessage(f"Pasted {len(result['sections'])} section(s) into “{result['title']}”.",
                                            10000)
        if result["notes"]:
            self._tell("Paste", "\n".join(result["notes"]))
        self.post_imported.emit(result["post_id"])

    # --- export -----------------------------------------------------------------------------------------------

    def export_current_post(self) -> None:
        post_id, ws = self.window.post_id, self.window.ws
        if ws is None:
            return
        if not post_id:
            self._tell("Export post", "Choose a post on the left first.", QMessageBox.Icon.Warning)
            return
        from wfdesk.content.export import FORMATS
        from wfdesk.content.fields import body_candidates
        from wfdesk.content.post_fields import FRONT_MATTER, load_front_matter
        from wfdesk.services.queries import field_value, step_field_names

        kept = load_front_matter(field_value(ws, post_id, None, FRONT_MATTER)["value"])
        text_fields = [n for n in step_field_names(ws) if n in body_candidates(ws) or n == "draft"]
        from wfdesk.db.field_labels import labels_by_field
        from wfdesk.services.queries import list_steps

        dialog = ExportPostDialog(self.window.posts.current_title(), FORMATS, body_candidates(ws), text_fields, kept,
                                  self.window, labels=labels_by_field(list_steps(ws)))
        dialog.accepted.connect(lambda: self._export(post_id, **dialog.choice()))
        self.dialog = dialog
        dialog.open()

    def _export(self, post_id: int, fmt: str, body_field: str | None, folder: str) -> None:
        if not folder:
            self._tell("Export post", "Choose a folder to export into.", QMessageBox.Icon.Warning)
            return
        ws = self.window.ws
        if ws is None:
            return

        def run() -> Any:
            from wfdesk.content.export import export_post

            return export_post(ws, post_id, fmt, Path(folder).expanduser(), body_field)

        self._in_background(run, "Export post", self._exported)

    def _exported(self, result: Any) -> None:
        document, images = result.files[0], len(result.files) - 1
        text = f"Wrote {document}" + (f" and {images} image(s)." if images else ".")
        self.window.statusBar().showMessage(text, 10000)
        self._tell("Export post", "\n".join([text, *result.summary()]))
        self.post_exported.emit([str(f) for f in result.files])

    # --- drops and paste --------------------------------------------------------------------------------------

    @override
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if isinstance(event, QDropEvent) and kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            paths = _draft_paths(event.mimeData()) if self.window.ws is not None else []
            if not paths:
                return False
            event.acceptProposedAction()
            if kind == QEvent.Type.Drop:
                self.import_paths(paths)
            return True
        paste = QKeySequence.StandardKey.Paste
        if isinstance(event, QKeyEvent) and kind == QEvent.Type.KeyPress and event.matches(paste):
            # Reaches the window only when the widget with focus did not take it (a list or table, not a text box).
            post_id = self.window.post_id  # 0 until the lists exist
            if post_id and self.window.sections.table.rowCount() == 0:
                return self.paste_into_post(post_id)
        return False

    # --- helpers ----------------------------------------------------------------------------------------------

    def _in_background(self, fn: Callable[[], Any], what: str, success: Callable[[Any], None]) -> None:
        (BackgroundOp(fn).success(success).failure(lambda exc: self._failed(what, exc)).run_in_background())

    def _failed(self, what: str, exc: Exception) -> None:
        from wfdesk.errors import WfdeskError

        self.window.statusBar().clearMessage()
        if isinstance(exc, WfdeskError | ValueError | OSError):
            message = str(exc)
        else:
            log.error("%s failed", what, exc_info=exc)
            message = f"Something went wrong: {exc}"
        self._tell(what, f"{message}\n\nNothing was changed." if what != "Export post" else message,
                   QMessageBox.Icon.Warning)

    def _tell(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Information) -> None:
        """A window-modal message that does not block the caller (tests and the event loop go on)."""
        QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.window).open()


def _draft_paths(mime: QMimeData | None) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    # Any local file is taken: one that is not a draft gets a message saying so, rather than a silent refusal.
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _documents() -> str:
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)


def _short(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
