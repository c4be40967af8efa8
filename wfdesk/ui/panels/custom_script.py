"""The custom_script panel: per section, the endpoint's response (pretty-printed JSON) and the output field, with
the output's versions (revert)."""

from __future__ import annotations

import html
import json
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services import review
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.panels.base import StepPanel, show_last_failure
from wfdesk.ui.panels.llm_action import VersionList


def pretty_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


def _mono_view() -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return view


class CustomScriptPanel(StepPanel):
    script_type = "custom_script"
    llm_fields = ()

    def build_results(self) -> QWidget:
        self._detail: dict[str, Any] | None = None
        self._detail_gen = 0
        box = QWidget()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.response_caption = QLabel("<b>Response</b>")
        self.response_view = _mono_view()
        self.output_caption = QLabel("<b>Output field</b>")
        self.output_view = _mono_view()
        self.versions = VersionList("Versions")
        self.versions.list.setMaximumHeight(120)
        self.versions.version_selected.connect(self._show_version)
        self.versions.revert_requested.connect(self._revert)
        split = QSplitter(Qt.Orientation.Vertical)
        for caption, view in ((self.response_caption, self.response_view), (self.output_caption, self.output_view)):
            part = QWidget()
            lay = QVBoxLayout(part)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(caption)
            lay.addWidget(view)
            split.addWidget(part)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_base_url_box())
        layout.addWidget(self.heading)
        layout.addWidget(self.note)
        layout.addWidget(split, 1)
        layout.addWidget(self.versions)
        return box

    def _build_base_url_box(self) -> QWidget:
        """Shown while no base URL is set: the step cannot run, and this is where to fix it without a detour."""
        self.base_url_box = QGroupBox("Where do custom scripts run?")
        self.inline_base_url = QLineEdit()
        self.inline_base_url.setObjectName("inline_base_url")
        self.inline_base_url.setPlaceholderText("http://localhost:8000")
        self.inline_base_url.returnPressed.connect(self._save_base_url)
        save = QPushButton("Save base URL")
        save.setAutoDefault(False)
        save.clicked.connect(self._save_base_url)
        self.inline_problem = ProblemLabel()
        row = QHBoxLayout()
        row.addWidget(QLabel("Base URL:"))
        row.addWidget(self.inline_base_url, 1)
        row.addWidget(save)
        col = QVBoxLayout(self.base_url_box)
        col.addWidget(hint_label("Custom-script steps send each section to a path under this address (also in "
                                 "Settings → Custom scripts). It applies to every custom-script step."))
        col.addLayout(row)
        col.addWidget(self.inline_problem)
        self.base_url_box.hide()
        return self.base_url_box

    def data_loaded(self, data: dict[str, Any]) -> None:
        self.base_url_box.setVisible(not self.ws.settings.custom_script_base_url)

    def _save_base_url(self) -> None:
        from wfdesk.ui.settings_dialog import save_custom_script_base_url

        try:
            save_custom_script_base_url(self.ws.settings, self.inline_base_url.text())
        except (ValueError, OSError) as exc:
            self.inline_problem.set_problem(str(exc))
            return
        self.inline_problem.set_problem(None)
        self._set_status(f"Custom scripts now run under {self.ws.settings.custom_script_base_url}.")
        self.refresh()

    def _first(self, which: str) -> dict[str, Any] | None:
        return next(iter((self.data or {}).get("step", {}).get(which, {}).values()), None)

    def section_shown(self, section_id: int | None) -> None:
        self._detail = None
        self.reload_detail()

    def reload_detail(self) -> None:
        sid = self.picker.current_id()
        out = self._first("outputs")
        target = self.target()
        if self.data is None or sid is None or target is None:
            self.heading.setText("")
            self.response_view.clear()
            self.output_view.clear()
            self.versions.set_versions([])
            return
        fields = [spec["db_field"] for spec in (self._first("inputs"), out) if spec]
        self._detail_gen += 1
        gen, ws, (step_id, post_id) = self._detail_gen, self.ws, target
        field = out["db_field"] if out else None
        self.in_background(lambda: review.section_review(ws, step_id, post_id, sid, fields, field),
                           partial(self._on_detail, gen),
                           lambda exc: self._set_status(f"Cannot load this section's results: {exc}", error=True))

    def _on_detail(self, gen: int, detail: dict[str, Any]) -> None:
        if gen != self._detail_gen or detail["section_id"] != self.picker.current_id() or self.data is None:
            return
        self._detail = detail
        inp, out = self._first("inputs"), self._first("outputs")
        endpoint = (self.data["step"]["config"].get("script_config") or {}).get("custom_endpoint") or ""
        sent = detail["values"].get(inp["db_field"]) if inp else None
        self.heading.setText(f"<b>{html.escape(self.picker.title_of(detail['section_id']))}</b><br>"
                             f"Sends {html.escape(inp['label'] if inp else 'nothing')}: "
                             f"<code>{html.escape(review.preview(sent, 120)) or '<i>empty</i>'}</code>")
        last = detail.get("last") or {}
        show_last_failure(self.note, last)
        result = last.get("result") or {}
        if "response" in result:
            self.response_caption.setText(f"<b>Response</b> from {html.escape(endpoint)} (run #{last['run_id']})")
            self.response_view.setPlainText(pretty_json(result["response"]))
        else:
            self.response_caption.setText(f"<b>Response</b> from {html.escape(endpoint)}")
            self.response_view.setPlainText("" if last else "Not run on this section yet.")
        if out:
            self.versions.title.setText(f"<b>Versions of {html.escape(out['label'])} ({out['db_field']})</b> "
                                        f"(newest first)")
        self.versions.set_versions(detail["versions"])
        if not detail["versions"]:
            self._show_version(None)

    def _show_version(self, version: dict[str, Any] | None) -> None:
        out = self._first("outputs")
        label = f"{out['label']} ({out['db_field']})" if out else "Output"
        if version is None:
            value = (self._detail or {}).get("values", {}).get(out["db_field"]) if out else None
            self.output_caption.setText(f"<b>{html.escape(label)}</b>")
            self.output_view.setPlainText(pretty_json(value) if value else "")
            return
        which = "current value" if version.get("current") else "an earlier version (not the field's value)"
        self.output_caption.setText(f"<b>{html.escape(label)}</b> · {which}")
        self.output_view.setPlainText(pretty_json(version.get("value") or ""))

    def _revert(self, version_id: int) -> None:
        ws = self.ws
        self.in_background(lambda: review.version_action(ws, version_id, "accept"), self._on_reverted,
                           lambda exc: self._set_status(f"Cannot revert: {exc}", error=True))

    def _on_reverted(self, result: dict[str, Any]) -> None:
        self._set_status(f"Reverted: {result['field']} holds the selected version again.")
        self.reload_detail()
