"""File → Export workflow, Import workflow, Add the reference workflow: steps and LLM actions (no posts) as one
JSON document, with wfdesk.services (workflows, exchange) doing the work in a BackgroundOp.

An import adds new rows (new ids) and is all or nothing: a file with problems lists them and adds nothing.
Made with the window's shell: the engine is imported when an action runs, not before the first paint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.services.shapes import WorkflowImported
    from wfdesk.ui.main_window import MainWindow

FILE_FILTER = "wfdesk workflow (*.json);;All files (*)"
MAX_PROBLEMS_SHOWN = 12


def plural(n: int, word: str) -> str:
    """"1 post", "3 posts" (every noun the app counts takes an s)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


# What File → Import counts, in the editor's words.
COUNT_NOUNS = {"llm_actions": "LLM action", "workflow_steps": "step", "posts": "post", "sections": "section",
               "post_step_overrides": "post override"}


def import_summary(counts: dict[str, int]) -> str:
    """"1 post, 3 sections, 3 steps and 1 LLM action", or "nothing"."""
    order = ("posts", "sections", "workflow_steps", "llm_actions", "post_step_overrides")
    parts = [plural(counts[k], COUNT_NOUNS[k]) for k in order if counts.get(k)]
    parts += [plural(n, k.replace("_", " ").removesuffix("s")) for k, n in counts.items()
              if k not in COUNT_NOUNS and isinstance(n, int) and n]
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def read_workflow_file(path: str) -> Any:
    """The JSON document in the file; a file that cannot be read or parsed says so in one line."""
    from wfdesk.errors import Problem
    from wfdesk.services.transfer import ImportRefusedError, read_json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefusedError([Problem("", f"cannot read {path}: {exc}")]) from None
    return read_json(text)  # not JSON, or nested too deeply: an ImportRefusedError in words


class WorkflowTransfer(QObject):
    """The three menu actions on the workspace of `window`, which hosts the dialogs; results come as signals and a
    window-modal message box."""

    status_message = Signal(str)
    imported = Signal(object)  # list of the new step ids
    exported = Signal(str)  # the path written
    failed = Signal(str)  # what went wrong, as shown

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._shown: QMessageBox | None = None  # the last result, closed when the next one shows

    # --- export ---------------------------------------------------------------------------------------------

    def export_all(self) -> None:
        ws = self.window.ws
        if ws is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the workflow (steps and LLM actions, no posts)",
                                              "workflow.json", FILE_FILTER)
        if not path:
            return
        if not Path(path).suffix:
            path += ".json"

        def run() -> tuple[str, int, int]:
            from wfdesk.fileio import atomic_write_bytes
            from wfdesk.services.exchange import export_workflow_document

            doc = export_workflow_document(ws, Path(path).stem)
            atomic_write_bytes(Path(path), json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8"))
            return path, len(doc["workflow_steps"]), len(doc["llm_actions"])

        def done(result: tuple[str, int, int]) -> None:
            written, steps, actions = result
            self.status_message.emit(f"Exported {plural(steps, 'step')} and {plural(actions, 'LLM action')} "
                                     f"to {written}.")
            self.exported.emit(written)

        from wfdesk.ui.config_editor.parameters_form import if_alive

        self.status_message.emit(f"Exporting the workflow to {path}…")
        (BackgroundOp(run).success(if_alive(self.window, done))
         .failure(if_alive(self.window, lambda exc: self._show_failure("Export workflow",
                                                                        f"Nothing was written: {exc}")))
         .run_in_background())

    # --- import ---------------------------------------------------------------------------------------------

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import a workflow", "", FILE_FILTER)
        if path:
            self._import(lambda: read_workflow_file(path), Path(path).name)

    def add_template(self, name: str = "reference") -> None:
        def load() -> Any:
            from wfdesk.services.workflows import templates

            return templates()[name]

        self._import(load, f"the {name} workflow")

    def _import(self, load: Callable[[], Any], origin: str) -> None:
        ws = self.window.ws
        if ws is None:
            return

        def run() -> tuple[WorkflowImported, str]:
            from wfdesk.services.exchange import import_workflow_document

            data = load()
            counts = import_workflow_document(ws, data)  # all or nothing; every window's step list shows them
            return counts, str(data.get("name", "")) if isinstance(data, dict) else ""

        from wfdesk.ui.config_editor.parameters_form import if_alive

        self.status_message.emit(f"Importing {origin}…")
        (BackgroundOp(run).success(if_alive(self.window, lambda done: self._imported(done[0], done[1], origin)))
         .failure(if_alive(self.window, lambda exc: self._import_failed(exc, origin)))
         .run_in_background())

    def _imported(self, counts: WorkflowImported, name: str, origin: str) -> None:
        steps, actions = counts["workflow_steps"], counts["llm_actions"]
        named = f" “{name}”" if name else ""
        text = (f"Added {plural(steps, 'step')} and {plural(actions, 'LLM action')} from {origin}{named}. "
                "They are at the end of the workflow list; the steps already there are unchanged.")
        self.status_message.emit(text)
        self.imported.emit(list(counts["step_ids"]))
        self._show(QMessageBox.Icon.Information, "Import workflow", text)

    def _import_failed(self, exc: Exception, origin: str) -> None:
        from wfdesk.services.transfer import ImportRefusedError

        if isinstance(exc, ImportRefusedError):
            problems = [str(p) for p in exc.problems]
            shown = "".join(f"\n• {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
            more = f"\n… and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
            text = f"Nothing was added: {origin} has {plural(len(problems), 'problem')}:{shown}{more}"
            details = "\n".join(problems) if more else ""
            self._show_failure("Import workflow", text, details=details)
        else:
            self._show_failure("Import workflow", f"Nothing was added: {type(exc).__name__}: {exc}")

    # --- messages -------------------------------------------------------------------------------------------

    def _show_failure(self, title: str, text: str, details: str = "") -> None:
        self.status_message.emit(text.splitlines()[0].rstrip(":") + (" (listed in the message)" if "\n" in text
                                                                    else ""))
        self.failed.emit(text)
        self._show(QMessageBox.Icon.Warning, title, text, details)

    def _show(self, kind: QMessageBox.Icon, title: str, text: str, details: str = "") -> None:
        # Window-modal and not exec(): the result is on screen while nothing waits for it.
        if self._shown is not None:
            self._shown.close()
        box = QMessageBox(kind, title, text, QMessageBox.StandardButton.Ok, self.window)
        if details:
            box.setDetailedText(details)
        self._shown = box
        box.open()


__all__ = ["WorkflowTransfer", "read_workflow_file"]
