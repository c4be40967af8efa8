"""A parameter wider than a spin box (ComfyUI's 64-bit seed) is typed as text; the image form opens and keeps it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit

from wfdesk.scripts.config import ImageParameters
from wfdesk.ui.config_editor.parameters_form import ParametersForm


def _field_for(form: ParametersForm, label: str):
    layout = form.findChild(QFormLayout)
    for row in range(layout.rowCount()):
        item = layout.itemAt(row, QFormLayout.ItemRole.LabelRole)
        if item and isinstance(item.widget(), QLabel) and item.widget().text() == label:
            cell = layout.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
            return cell.findChild(QLineEdit)
    raise AssertionError(f"no field labelled {label!r}")


def test_a_64_bit_seed_is_typed_and_reported(qtbot):
    form = ParametersForm(ImageParameters)  # raised OverflowError when a spin box got the seed's range
    qtbot.addWidget(form)
    form.show()
    seed = _field_for(form, "Seed:")
    changes = []
    form.value_changed.connect(lambda key, value: changes.append((key, value)))
    qtbot.mouseClick(seed, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(seed, "9007199254740993")
    assert changes[-1] == ("seed", 9007199254740993)
    assert form.value("seed") == 9007199254740993
