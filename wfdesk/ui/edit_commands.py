"""File → New post…, and the Step menu's dialogs: edit the chosen step, make a new one, edit the chosen post's
override, edit the LLM actions. After a save the step list (refreshed through the change hub) selects the step saved.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class EditCommands(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def new_post(self) -> None:
        ws = self.window.ws
        if ws is None:
            return
        from wfdesk.services import editing
        from wfdesk.ui.post_list import ask_title

        title, ok = ask_title(self.window, "New post", "Title of the new post:")
        if not ok or not title.strip():
            return
        # Off the GUI thread: a run writing in its child process may hold the database for a while.
        (BackgroundOp(lambda: editing.create_post(ws, title))
         .success(lambda post_id: self._post_created(post_id, title.strip()))
         .failure(self._post_not_created)
         .run_in_background())

    def _post_created(self, post_id: int, title: str) -> None:
        self.window.posts.search.clear()
        self.window.posts.reload(select_id=post_id)
        self.window.statusBar().showMessage(f"Created “{title}”. Add its sections below.", 5000)

    def _post_not_created(self, exc: Exception) -> None:
        from PySide6.QtWidgets import QMessageBox

        from wfdesk.ui.db_errors import describe_db_error, is_edit_error

        if is_edit_error(exc):
            log.warning("creating a post failed: %s", exc)
        else:
            log.error("creating a post failed", exc_info=exc)
        QMessageBox.warning(self.window, "New post", f"Could not create the post: {describe_db_error(exc)}")

    def after_config_saved(self, step_id: int | None) -> None:
        if step_id:  # the lists and panels refresh through the hub: the save announced the step
            self.window.steps.select_step(step_id)

    def edit_step(self) -> None:
        step_id, _ = self.window.steps.current_step()
        if not step_id:
            self.window.statusBar().showMessage("Choose a step to edit.", 5000)
            return
        self._edit(step_id, None)

    def new_step(self) -> None:
        self._edit(None, None)

    def edit_override(self) -> None:
        step_id, _ = self.window.steps.current_step()
        post_id = self.window.post_id
        if not step_id or not post_id:
            self.window.statusBar().showMessage("Choose a post and a step first.", 5000)
            return
        self._edit(step_id, post_id)

    def _edit(self, step_id: int | None, post_id: int | None) -> None:
        """The step's config dialog (`post_id`: that post's override of it); after a save, the step saved (a new
        one's id, for New step) is selected."""
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import StepConfigDialog

        dialog = StepConfigDialog(self.window.ws, step_id, self.window, post_id=post_id)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.after_config_saved(step_id if post_id else getattr(dialog, "saved_step_id", step_id))

    def edit_llm_actions(self) -> None:
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import LLMActionDialog

        window = self.window
        step_id, script_type = window.steps.current_step()
        action_id = None
        if step_id and script_type == "llm_action":
            config = window.steps.steps.get(step_id, {}).get("config") or {}
            action_id = (config.get("script_config") or {}).get("action_id") or config.get("action_id")
        dialog = LLMActionDialog(window.ws, action_id if isinstance(action_id, int) else None, window,
                                 preview_post_id=window.post_id or None, open_first=True)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.after_config_saved(None)
