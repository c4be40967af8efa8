"""The wordpress_publish panel: the site and user, the application password (kept in the keyring), the remote
draft's link and status, and "Replace changes made on the site" for a post edited there since the last publish.

The step publishes the whole post, so the section list is not shown; Run is "Publish draft".
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.states import UnitState
from wfdesk.ui.panels.base import StepPanel, show_last_failure


class WordPressPublishPanel(StepPanel):
    script_type = "wordpress_publish"
    llm_fields = ()

    def build_results(self) -> QWidget:
        box = QWidget()
        self.site_label = QLabel()
        self.user_label = QLabel()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("xxxx xxxx xxxx xxxx xxxx xxxx")
        self.password_edit.setAccessibleName("Application password")
        self.save_password_button = QPushButton("Save password")
        self.save_password_button.setToolTip("Keep it in the system keyring (never in a file or the database)")
        self.save_password_button.clicked.connect(self._save_password)
        self.password_state = QLabel()
        self.password_state.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.password_edit, 1)
        row.addWidget(self.save_password_button)
        self.link_label = QLabel()
        self.link_label.setTextFormat(Qt.TextFormat.RichText)
        self.link_label.setOpenExternalLinks(True)
        self.link_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.remote_status_label = QLabel()
        self.published_label = QLabel()
        self.replace_check = QCheckBox("Replace changes made on the site")
        self.replace_check.setToolTip("Publish even if someone changed the post on the site since wfdesk last "
                                      "published it (their changes are replaced)")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.details_label = QLabel()
        self.details_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Site", self.site_label)
        form.addRow("User", self.user_label)
        form.addRow("Application &password", row)
        form.addRow("", self.password_state)
        form.addRow("Draft on the site", self.link_label)
        form.addRow("Status there", self.remote_status_label)
        form.addRow("Last published", self.published_label)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.replace_check)
        layout.addWidget(self.note)
        layout.addWidget(self.details_label)
        layout.addStretch(1)
        return box

    def _build(self) -> None:
        super()._build()
        # The whole post is published: no section list, and Run says what it does.
        self.sections_pane.hide()
        self.run_button.setText("Publish draft")
        self.run_button.setToolTip("Create or update the post's draft on the WordPress site (Ctrl+Enter)")

    # --- data -------------------------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        config = (self.data or {}).get("step", {}).get("config") or {}
        return (config.get("script_config") or {}).get("parameters") or {}

    def data_loaded(self, data: dict[str, Any]) -> None:
        params = self._params()
        self.site_label.setText(html.escape(params.get("site_url") or "(not set: edit the step config)"))
        self.user_label.setText(html.escape(params.get("username") or "(not set)"))
        show_last_failure(self.note, data.get("post_last") or {})
        result = (data.get("post_last") or {}).get("result") or {}
        meta = result.get("metadata") or {}
        details = []
        if meta.get("uploaded") is not None and (data.get("post_last") or {}).get("status") == UnitState.SUCCESS:
            details.append(f"Last publish uploaded {meta['uploaded']} of {meta.get('images', 0)} image(s); "
                           f"the others were already on the site.")
        if meta.get("fell_back"):
            details.append("Without the preferred text (their draft was used): " + ", ".join(meta["fell_back"]))
        details += meta.get("notes") or []
        self.details_label.setText(html.escape(" ".join(details)))
        ws, post_id, site, user = self.ws, self.post_id, params.get("site_url") or "", params.get("username") or ""
        if post_id is None:
            return
        self.in_background(lambda: _remote_state(ws, post_id, site, user), self._show_remote)

    def _show_remote(self, state: dict[str, Any]) -> None:
        from wfdesk.content import post_fields as pf

        fields = state["fields"]
        link = fields.get(pf.WORDPRESS_LINK) if state["same_site"] else None
        if link:
            self.link_label.setText(f'<a href="{html.escape(link)}">{html.escape(link)}</a>')
        else:
            self.link_label.setText("Not published to this site yet")
        self.remote_status_label.setText(html.escape(fields.get(pf.WORDPRESS_STATUS) or "—") if link else "—")
        when = fields.get(pf.WORDPRESS_MODIFIED_GMT)
        self.published_label.setText(f"{when.replace('T', ' ')} UTC" if link and when else "—")
        self.password_state.setText("An application password is kept for this user and site." if state["password"]
                                    else "No application password is kept yet: create one in WordPress under "
                                         "Users → Profile → Application Passwords and paste it here.")

    # --- actions ----------------------------------------------------------------------------------------------

    def _save_password(self) -> None:
        from wfdesk.content.wordpress_auth import set_app_password

        params = self._params()
        secret = self.password_edit.text().strip()
        if not secret:
            self._set_status("Paste the application password first.", error=True)
            return
        if not params.get("site_url") or not params.get("username"):
            self._set_status("Set the site and user in the step config first.", error=True)
            return
        try:
            set_app_password(params["site_url"], params["username"], secret)
        except Exception as exc:  # noqa: BLE001 - no keyring, or it refused: say so
            self._set_status(f"Could not keep the password: {exc}", error=True)
            return
        self.password_edit.clear()
        self._set_status("Application password kept in the system keyring.")
        self.refresh()

    def run(self, section_ids: list[int] | None = None, *, offline_ok: bool = False) -> str | None:
        # The whole post, whatever the (hidden) section list says.
        if section_ids is None and self.data is not None:
            section_ids = [row["id"] for row in self.data["sections"]]
        return super().run(section_ids, offline_ok=True)

    def extra_context(self) -> dict[str, Any]:
        return {"parameters": {"overwrite_remote_changes": True}} if self.replace_check.isChecked() else {}

    def provider_offline(self) -> tuple[str, str] | None:
        return None  # the LLM provider's state says nothing about the WordPress site

    def _start_progress(self, total: int) -> None:
        super()._start_progress(1)  # one unit: the post

    def _on_run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        super()._on_run_finished(run_id, result)
        entry: dict[str, Any] = next(iter(result.get("results") or []), {})
        if entry.get("status") == UnitState.SUCCESS:
            self.replace_check.setChecked(False)  # a one-time decision, never left on by accident
            self._set_status(f"Draft saved on the site: {entry.get('link', '')}")
        elif entry.get("error"):
            self._set_status(entry["error"], error=True)


def _remote_state(ws: Any, post_id: int, site: str, user: str) -> dict[str, Any]:
    from wfdesk.content import post_fields as pf
    from wfdesk.content.wordpress_auth import get_app_password
    from wfdesk.services.queries import post_detail

    fields = post_detail(ws, post_id)["fields"]
    return {"fields": fields, "same_site": fields.get(pf.WORDPRESS_SITE) == site.rstrip("/"),
            "password": bool(site and user and get_app_password(site, user))}
