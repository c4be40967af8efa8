"""Settings → Images: the image backend steps use when they do not choose one, and the addresses of the
AUTOMATIC1111 and ComfyUI servers, each with its Test connection."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, SignalInstance
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services import connections
from wfdesk.settings import Settings, environment
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.settings.page import Problem, SettingsPage, check_base_url, run_connection_test


class ImagesPage(SettingsPage):
    a1111_checked = Signal(bool, str)  # the Test connection verdicts
    comfyui_checked = Signal(bool, str)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.addWidget(QLabel("<b>Image backend</b> — where image_generation steps make their images"))
        self.openai_images_radio = QRadioButton("OpenAI-compatible image API (DALL·E, gpt-image-1, or a server "
                                                "that speaks it), through the step's provider profile")
        self.a1111_radio = QRadioButton("AUTOMATIC1111 / Stable Diffusion web UI on this computer or your "
                                        "network (free, works offline)")
        self.comfyui_radio = QRadioButton("ComfyUI on this computer or your network, with its plain txt2img "
                                          "workflow or a step's own (free, works offline)")
        group = QButtonGroup(self)
        for radio in (self.openai_images_radio, self.a1111_radio, self.comfyui_radio):
            group.addButton(radio)
        {"a1111": self.a1111_radio, "comfyui": self.comfyui_radio}.get(
            settings.image_backend, self.openai_images_radio).setChecked(True)
        for radio in (self.openai_images_radio, self.a1111_radio, self.comfyui_radio):
            col.addWidget(radio)
        col.addWidget(hint_label("A step can choose its own backend (its “backend” parameter); this is the "
                                 "choice for steps that don't."))
        col.addSpacing(12)
        form = QFormLayout()
        self.a1111_url, self.a1111_problem, self.a1111_result = self._server_row(
            form, "AUTOMATIC1111 address:", settings.a1111_base_url, "a1111", "http://127.0.0.1:7860",
            "Start the web UI with --api. wfdesk sends POST /sdapi/v1/txt2img, and /sdapi/v1/interrupt when you "
            "cancel a run.", connections.check_a1111, self.a1111_checked, "WFDESK_A1111_BASE_URL")
        self.comfyui_url, self.comfyui_problem, self.comfyui_result = self._server_row(
            form, "ComfyUI address:", settings.comfyui_base_url, "comfyui", "http://127.0.0.1:8188",
            "wfdesk posts the workflow to /prompt, follows /history and fetches the images with /view; cancel "
            "sends /interrupt.", connections.check_comfyui, self.comfyui_checked, "WFDESK_COMFYUI_BASE_URL")
        col.addLayout(form)
        col.addStretch(1)

    def _server_row(self, form: QFormLayout, label: str, value: str, name: str, placeholder: str, hint: str,
                    check: Callable[[str], tuple[bool, str]], verdict: SignalInstance, env: str
                    ) -> tuple[QLineEdit, ProblemLabel, QLabel]:
        """An image server's address, its problem label and its Test connection button with the verdict."""
        edit = QLineEdit(value)
        edit.setObjectName(f"{name}_base_url")
        edit.setPlaceholderText(placeholder)
        problem = ProblemLabel()
        cell = QVBoxLayout()
        cell.addWidget(edit)
        cell.addWidget(hint_label(hint))
        cell.addWidget(problem)
        form.addRow(label, cell)
        test = QPushButton("Test connection")
        test.setObjectName(f"test_{name}")
        result = QLabel()
        result.setObjectName(f"{name}_result")
        result.setWordWrap(True)

        def run_test() -> None:
            url = edit.text().strip() or placeholder
            run_connection_test(self, result, f"Connecting to {url}…", lambda: check(url), verdict)

        test.clicked.connect(run_test)
        row = QHBoxLayout()
        row.addWidget(test)
        row.addWidget(result, 1)
        form.addRow("", row)
        if getattr(environment(), env.removeprefix("WFDESK_").lower()):
            edit.setEnabled(False)
            form.addRow("", hint_label(f"Set by {env} in the environment."))
        return edit, problem, result

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.a1111_problem, self.comfyui_problem]

    def problems(self) -> list[Problem]:
        problems = []
        for edit, label in ((self.a1111_url, self.a1111_problem), (self.comfyui_url, self.comfyui_problem)):
            url = edit.text().strip()
            if url and (problem := check_base_url(url)):
                problems.append((label, problem))
        return problems

    def apply_to(self, new: Settings) -> None:
        new.image_backend = ("a1111" if self.a1111_radio.isChecked() else
                             "comfyui" if self.comfyui_radio.isChecked() else "openai")
        env, defaults = environment(), Settings()
        if not env.comfyui_base_url:
            new.comfyui_base_url = self.comfyui_url.text().strip().rstrip("/") or defaults.comfyui_base_url
        if not env.a1111_base_url:
            new.a1111_base_url = self.a1111_url.text().strip().rstrip("/") or defaults.a1111_base_url
