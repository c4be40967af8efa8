"""The llm_action panel (legacy steps without script_config too): per section, the input before and the output
after with the changed words highlighted, and every version of the output with "Revert to this version"."""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services import review
from wfdesk.ui.db_errors import describe_db_error
from wfdesk.ui.panels.base import StepPanel, is_dark, show_last_failure
from wfdesk.ui.panels.reuse_answers import ReuseAnswersBox, reused_origin
from wfdesk.ui.text_diff import change_summary, word_diff_html

VERSION_ID = Qt.ItemDataRole.UserRole


def when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%d %b %H:%M")
    except ValueError:
        return iso


def version_columns(v: dict[str, Any], number: int) -> list[str]:
    """#, state, where it came from, when, and (for text) the start of the text."""
    origin = f"run #{v['run_id']}" if v.get("run_id") else {"editor": "edited by hand", "import": "original"}.get(
        v.get("source", ""), v.get("source", ""))
    origin += reused_origin(v.get("meta") or {})  # result cache: a reused answer says so
    state = "current" if v.get("current") else {"superseded": "earlier", "candidate": "not accepted",
                                                 "accepted": "accepted"}.get(v["status"], v["status"])
    text = review.preview(v.get("value"), 200) if v.get("kind") == "text" else ""
    return [f"v{number}", state, origin, when(v.get("created_at")), text]


class VersionList(QWidget):
    """A field's versions, newest first; selecting one shows it, the button makes it the field's value again."""

    version_selected = Signal(object)  # version dict, or None
    revert_requested = Signal(int)

    def __init__(self, title: str = "Versions", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._versions: dict[int, dict[str, Any]] = {}
        self.title = QLabel(f"<b>{title}</b>")
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["", "State", "From", "When", "Text"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.list.header()
        for col, width in enumerate((40, 90, 110, 100)):
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        self.list.currentItemChanged.connect(self._on_current)
        self.revert_button = QPushButton("Revert to this version")
        self.revert_button.setToolTip("Make the selected version the field's value again (the current one is kept "
                                      "in this list)")
        self.revert_button.setEnabled(False)
        self.revert_button.setAutoDefault(False)
        self.revert_button.clicked.connect(self._on_revert)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(self.revert_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.list)

    def set_versions(self, versions: list[dict[str, Any]], select: int | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self._versions = {v["id"]: v for v in versions}
        total = len(versions)
        target = None
        dim = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for i, v in enumerate(versions):
            item = QTreeWidgetItem(version_columns(v, total - i))
            item.setData(0, VERSION_ID, v["id"])
            item.setToolTip(4, v.get("value") or "")
            for col in range(5):
                if v.get("current"):
                    font = item.font(col)
                    font.setBold(True)
                    item.setFont(col, font)
                if v["status"] == "rejected":
                    item.setForeground(col, dim)
            self.list.addTopLevelItem(item)
            if v["id"] == select or (select is None and v.get("current")):
                target = item
        self.list.blockSignals(False)
        if target is None and self.list.topLevelItemCount():
            target = self.list.topLevelItem(0)
        if target is not None:
            self.list.setCurrentItem(target)
        else:
            self._on_current(None, None)

    def selected(self) -> dict[str, Any] | None:
        item = self.list.currentItem()
        return self._versions.get(item.data(0, VERSION_ID)) if item is not None else None

    def select_version(self, version_id: int) -> None:
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            if item is not None and item.data(0, VERSION_ID) == version_id:
                self.list.setCurrentItem(item)
                return

    def _on_current(self, _item, _previous) -> None:
        v = self.selected()
        self.revert_button.setEnabled(v is not None and not v.get("current"))
        self.version_selected.emit(v)

    def _on_revert(self) -> None:
        v = self.selected()
        if v is not None and not v.get("current"):
            self.revert_requested.emit(v["id"])


class TextReview(QWidget):
    """Before and after for one section, plus the output's versions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.before_caption = QLabel("<b>Before</b>")
        self.before = QTextBrowser()
        self.after_caption = QLabel("<b>After</b>")
        self.after = QTextBrowser()
        for view in (self.before, self.after):
            view.setOpenLinks(False)
        self.versions = VersionList("Versions")
        self.versions.list.setMaximumHeight(130)
        before_box, after_box = QWidget(), QWidget()
        for box, caption, view in ((before_box, self.before_caption, self.before),
                                   (after_box, self.after_caption, self.after)):
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(caption)
            lay.addWidget(view)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(before_box)
        split.addWidget(after_box)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.note)
        layout.addWidget(split, 1)
        layout.addWidget(self.versions)

    def show_texts(self, before: str, after: str | None, *, dark: bool) -> None:
        if after is None:
            self.before.setPlainText(before or "")
            self.after.setHtml("<i>No result yet: run the step on this section.</i>")
            return
        left, right = word_diff_html(before or "", after, dark=dark)
        self.before.setHtml(left)
        self.after.setHtml(right)


class LLMActionPanel(StepPanel):
    script_type = "llm_action"

    def build_results(self) -> QWidget:
        self.review = TextReview()
        self.review.versions.version_selected.connect(self._on_version_selected)
        self.review.versions.revert_requested.connect(self._revert)
        self._detail: dict[str, Any] | None = None
        self._detail_gen = 0
        self._known_versions: tuple[int | None, set[int]] = (None, set())  # section, version ids shown
        self.reuse_box: ReuseAnswersBox | None = None
        self._reuse_checked = True
        return self.review

    # --- result cache: "Reuse earlier identical answers" in the run options (ui/panels/reuse_answers.py) ---------
    def add_options(self, form: QFormLayout, data: dict[str, Any]) -> None:
        self.reuse_box = ReuseAnswersBox(self._reuse_checked)  # the options are rebuilt per step: the choice stays
        self.reuse_box.toggled.connect(self._on_reuse_toggled)
        form.addRow("", self.reuse_box)
        self.reuse_box.follow_temperature(self.temperature_spin.value())
        self.temperature_spin.valueChanged.connect(self.reuse_box.follow_temperature)

    def _on_reuse_toggled(self, checked: bool) -> None:
        self._reuse_checked = checked
        self._update_options_summary()

    def extra_context(self) -> dict[str, Any]:
        return self.reuse_box.context() if self.reuse_box is not None else {}

    def options_note(self) -> str:
        return self.reuse_box.note() if self.reuse_box is not None else ""

    # --- fields of the current step -----------------------------------------------------------------------------
    def input_field(self) -> str | None:
        spec = next(iter((self.data or {}).get("step", {}).get("inputs", {}).values()), None)
        return spec["db_field"] if spec else None

    def output_field(self) -> str | None:
        spec = next(iter((self.data or {}).get("step", {}).get("outputs", {}).values()), None)
        return spec["db_field"] if spec else None

    def _spec_label(self, which: str) -> str:
        """The field's label from the step config: the name an editor knows it by."""
        spec = next(iter((self.data or {}).get("step", {}).get(which, {}).values()), None)
        return spec["label"] if spec else ""

    # --- hooks ----------------------------------------------------------------------------------------------------
    def section_shown(self, section_id: int | None) -> None:
        self._detail = None
        self.reload_detail()

    def live_text(self, section_id: int | None, text: str) -> None:
        """The answer as the model writes it, in the After box; the run's end shows the result and its diff."""
        r = self.review
        r.after_caption.setText(f"<b>After</b> · {_esc(self._spec_label('outputs'))} · being written…")
        r.after.setPlainText(text)
        bar = r.after.verticalScrollBar()
        bar.setValue(bar.maximum())

    def section_finished(self, entry: dict[str, Any]) -> None:
        """The answer is saved: its changes marked at once, from the run's own report (the versions follow)."""
        output = entry.get("output")
        if not isinstance(output, str) or self._detail is None or self._detail["section_id"] != entry["section_id"]:
            return
        chosen = self.review.versions.selected()
        if chosen is not None and not chosen["current"]:
            return  # the editor is reading an earlier version: the versions' reload brings the new one in its turn
        before = self._detail["values"].get(self.input_field() or "") or ""
        self.review.after_caption.setText(f"<b>After</b> · {_esc(self._spec_label('outputs'))} · new result · "
                                          f"{change_summary(before, output)}")
        self.review.show_texts(before, output, dark=is_dark(self))

    def reload_detail(self) -> None:
        sid = self.picker.current_id()
        target = self.target()
        if self.data is None or sid is None or target is None:
            self._show_nothing()
            return
        fields = [f for f in (self.input_field(), self.output_field()) if f]
        self._detail_gen += 1
        gen, ws, (step_id, post_id), out = self._detail_gen, self.ws, target, self.output_field()
        self.in_background(lambda: review.section_review(ws, step_id, post_id, sid, fields, out),
                           partial(self._on_detail, gen), partial(self._on_detail_failed, gen))

    def _show_nothing(self) -> None:
        self.review.heading.setText("")
        self.review.note.hide()
        self.review.before.clear()
        self.review.after.clear()
        self.review.versions.set_versions([])

    def _on_detail(self, gen: int, detail: dict[str, Any]) -> None:
        if gen != self._detail_gen or detail["section_id"] != self.picker.current_id():
            return
        keep = self.review.versions.selected()
        self._detail = detail
        r = self.review
        title = self.picker.title_of(detail["section_id"])
        r.before_caption.setText(f"<b>Before</b> · {_esc(self._spec_label('inputs'))}")
        r.versions.title.setText(f"<b>Versions of {_esc(self._spec_label('outputs'))}</b> (newest first)")
        show_last_failure(r.note, detail.get("last") or {})
        r.heading.setText(f"<b>{_esc(title)}</b>")
        keep_id = keep["id"] if keep and keep.get("section_id") == detail["section_id"] else None
        known_section, known = self._known_versions
        ids = {v["id"] for v in detail["versions"]}
        if known_section == detail["section_id"] and ids - known:
            keep_id = None  # a run wrote a new version: show it, not the older one looked at before
        self._known_versions = (detail["section_id"], ids)
        r.versions.set_versions(detail["versions"], select=keep_id)
        if not detail["versions"]:
            self._render(None)
        live = self.presenter.streaming_text(detail["section_id"])
        if live is not None:  # being written right now: that, not the last result
            self.live_text(detail["section_id"], live)

    def _on_detail_failed(self, gen: int, exc: Exception) -> None:
        if gen == self._detail_gen:
            self._set_status(f"Cannot load this section's results: {describe_db_error(exc)}", error=True)

    def _on_version_selected(self, version: dict[str, Any] | None) -> None:
        self._render(version)

    def _render(self, version: dict[str, Any] | None) -> None:
        if self._detail is None:
            return
        before = self._detail["values"].get(self.input_field() or "") or ""
        r = self.review
        if version is None:
            after = self._detail["values"].get(self.output_field() or "")
            r.after_caption.setText(f"<b>After</b> · {_esc(self._spec_label('outputs'))}")
        else:
            after = version.get("value") or ""
            which = "current version" if version.get("current") else "an earlier version (not the field's value)"
            r.after_caption.setText(f"<b>After</b> · {_esc(self._spec_label('outputs'))} · {which} · "
                                    f"{change_summary(before, after)}")
        r.show_texts(before, after, dark=is_dark(self))

    def _revert(self, version_id: int) -> None:
        ws = self.ws
        self.in_background(lambda: review.version_action(ws, version_id, "accept"), self._on_reverted,
                           lambda exc: self._set_status(f"Cannot revert: {describe_db_error(exc)}", error=True))

    def _on_reverted(self, result: dict[str, Any]) -> None:
        label = self._spec_label("outputs") or "the field"
        title = self.picker.title_of(result["section_id"])
        self._set_status(f"Reverted: “{label}” holds the selected version again (the previous text is kept in "
                         f"the list).")
        self.status_message.emit(f"Reverted “{label}” of “{title}” to the selected version")
        self.reload_detail()
        self.content_changed.emit()


def _esc(text: str) -> str:
    return html.escape(text)
