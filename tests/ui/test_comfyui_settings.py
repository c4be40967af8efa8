"""Settings → Images: ComfyUI chosen as the image backend with its address, its connection test listing the
server's checkpoints, all through the mouse and keyboard."""

from __future__ import annotations

import json

import pytest
from loopback_comfyui import ComfyUIServer
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QPushButton, QTabWidget

from wfdesk.settings import settings_path
from wfdesk.ui.settings_dialog import SettingsDialog

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def comfy():
    with ComfyUIServer() as server:
        yield server


def open_images_tab(qtbot, dialog) -> None:
    tabs = dialog.findChild(QTabWidget)
    images = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Images")
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(images).center())
    assert tabs.currentIndex() == images


def test_comfyui_is_chosen_tested_and_saved(qtbot, gui_ws, comfy):
    dialog = SettingsDialog(gui_ws)
    qtbot.addWidget(dialog)
    dialog.show()
    open_images_tab(qtbot, dialog)

    radio = dialog.images_page.comfyui_radio
    assert radio.isVisible()
    assert "ComfyUI" in radio.text()
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=radio.rect().center())
    assert radio.isChecked()

    address = dialog.findChild(QLineEdit, "comfyui_base_url")
    assert address.isVisible()
    assert address.text() == "http://127.0.0.1:8188"
    qtbot.mouseClick(address, Qt.MouseButton.LeftButton)
    qtbot.keyClick(address, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # select all, then type over
    qtbot.keyClicks(address, comfy.url + "/")

    test = dialog.findChild(QPushButton, "test_comfyui")
    assert test.isVisible()
    assert test.text() == "Test connection"
    with qtbot.waitSignal(dialog.comfyui_checked, timeout=WAIT) as verdict:
        qtbot.mouseClick(test, Qt.MouseButton.LeftButton)
    ok, message = verdict.args
    assert ok
    assert comfy.checkpoints[0] in message
    assert comfy.checkpoints[0] in dialog.images_page.comfyui_result.text()

    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    data = json.loads(settings_path().read_text())
    assert (data["image_backend"], data["comfyui_base_url"]) == ("comfyui", comfy.url)
    assert gui_ws.settings.image_backend == "comfyui"
    assert gui_ws.settings.comfyui_base_url == comfy.url


def test_a_comfyui_address_without_http_is_refused(qtbot, gui_ws):
    dialog = SettingsDialog(gui_ws)
    qtbot.addWidget(dialog)
    dialog.show()
    open_images_tab(qtbot, dialog)
    address = dialog.findChild(QLineEdit, "comfyui_base_url")
    qtbot.mouseClick(address, Qt.MouseButton.LeftButton)
    qtbot.keyClick(address, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # select all, then type over
    qtbot.keyClicks(address, "comfy-box:8188")
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "http" in dialog.images_page.comfyui_problem.text()
    assert not settings_path().exists()
