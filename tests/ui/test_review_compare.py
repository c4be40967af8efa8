"""Image review, faster: two candidates side by side (Ctrl+click, or Compare with the accepted one), a before/after
slider dragged with the mouse, the review keys stepping through candidates while comparing, and stars (a click on
the thumbnail's star or S) that are kept in the database and seen again in a new window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from wfdesk.db import content
from wfdesk.db.models import ContentVersion
from wfdesk.scripts.registry import execute_step_script
from wfdesk.ui.candidate_thumbnails import star_rect

from .conftest import close_window
from .editor_input import activate, open_step
from .gui_input import TIMEOUT, button, click, click_button, click_row, click_tree_item, focused, press

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
IMAGE_FIELD = "generated_image_url"
IMAGE_STEP = "section_illustrations"


@pytest.fixture
def candidates(gui_ws, loopback):
    """Section 711 with two image candidates (different bytes), 712 with one: made by the engine beforehand."""
    assert execute_step_script(2, 53, {"section_ids": [711, 712]})["success"]
    loopback.image_max_side = 48
    assert execute_step_script(2, 53, {"section_ids": [711]})["success"]
    return gui_ws


def image_panel(qtbot, window):
    panel = open_step(qtbot, window, IMAGE_STEP)
    activate(qtbot, window)
    click_tree_item(qtbot, panel.picker.tree, "Arriving in Inverness")
    qtbot.waitUntil(lambda: panel.strip.count() == 2, timeout=TIMEOUT)
    click_row(qtbot, panel.strip, 0)
    assert focused() is panel.strip
    return panel


def ctrl_click_row(qtbot, strip, row: int) -> None:
    rect = strip.visualRect(strip.model().index(row, 0))
    assert strip.viewport().rect().contains(rect.center())
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, CTRL, rect.center())


def compare_of(panel):
    return panel.strip.tools.compare_view


def field(ws, section_id: int, name: str) -> str | None:
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


def starred_in_db(ws, version_id: int) -> bool:
    with ws.db.session() as s:
        return s.get(ContentVersion, version_id).starred


def test_ctrl_click_shows_two_candidates_side_by_side_and_keys_step_the_right_one(qtbot, candidates, main_window):
    panel = image_panel(qtbot, main_window)
    newest, older = (panel.strip.model().version(r) for r in (0, 1))
    ctrl_click_row(qtbot, panel.strip, 1)
    view = compare_of(panel)
    qtbot.waitUntil(view.isVisible, timeout=TIMEOUT)
    assert [v["id"] for v in view.versions] == [newest["id"], older["id"]]
    assert panel.strip.selected()["id"] == older["id"]  # the clicked one is selected, as a click selects
    # Both images are decoded and drawn, each with its caption.
    qtbot.waitUntil(lambda: view.left.picture.pixmap is not None and view.right.picture.pixmap is not None,
                    timeout=TIMEOUT)
    assert "new" in view.left.caption.text()
    assert view.left.isVisible()
    assert view.right.isVisible()
    assert view.left.picture.pixmap.cacheKey() != view.right.picture.pixmap.cacheKey()

    press(qtbot, K.Key_Left)  # the review keys keep working: the right side follows the selection
    qtbot.waitUntil(lambda: view.versions[1]["id"] == newest["id"], timeout=TIMEOUT)
    assert view.versions[0]["id"] == newest["id"]

    click_button(qtbot, view, "Close")
    assert not view.isVisible()
    assert panel.preview.isVisible()


def test_compare_button_holds_the_accepted_image_and_accept_still_works(qtbot, candidates, main_window):
    ws = candidates
    panel = image_panel(qtbot, main_window)
    click_row(qtbot, panel.strip, 1)
    accepted = panel.strip.selected()
    click_button(qtbot, panel, "Accept")
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == accepted["value"], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("current") is True, timeout=TIMEOUT)
    click_row(qtbot, panel.strip, 0)
    newest = panel.strip.selected()

    click(qtbot, button(panel.preview, "Compare"))
    view = compare_of(panel)
    qtbot.waitUntil(view.isVisible, timeout=TIMEOUT)
    assert [v["id"] for v in view.versions] == [accepted["id"], newest["id"]]
    assert "accepted" in view.left.caption.text()

    # Accepting while comparing works as before, and the captions follow.
    click_row(qtbot, panel.strip, 0)
    click_button(qtbot, panel, "Accept")
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == newest["value"], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "accepted" in view.right.caption.text(), timeout=TIMEOUT)
    assert view.isVisible()

    press(qtbot, K.Key_PageDown)  # another section: the held image is not there, the comparison ends
    qtbot.waitUntil(lambda: panel.picker.current_id() == 712 and not view.isVisible(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.strip.count() == 1, timeout=TIMEOUT)
    assert not panel.strip.tools.compare_button.isVisible()  # one image: nothing to compare with
    press(qtbot, K.Key_PageUp)
    qtbot.waitUntil(lambda: panel.strip.count() == 2, timeout=TIMEOUT)
    assert button(panel.preview, "Compare").isVisible()


def test_before_after_slider_follows_the_mouse(qtbot, candidates, main_window):
    panel = image_panel(qtbot, main_window)
    press(qtbot, K.Key_B)
    view = compare_of(panel)
    qtbot.waitUntil(view.isVisible, timeout=TIMEOUT)
    slider = view.slider
    assert slider.isVisible()
    qtbot.waitUntil(lambda: not slider.image_rect().isEmpty(), timeout=TIMEOUT)
    area = slider.image_rect()
    assert slider.split == pytest.approx(0.5)
    start = QPoint(slider.divider_x(), area.center().y())
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(slider, QPoint(area.left() + area.width() // 5, area.center().y()))
    qtbot.mouseMove(slider, QPoint(area.left() + area.width() // 4, area.center().y()))
    end = QPoint(area.left() + area.width() // 4, area.center().y())
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=end)
    assert slider.split == pytest.approx(0.25, abs=0.02)
    assert abs(slider.divider_x() - end.x()) <= 1

    # Drawn where the editor let go: the white divider line is now a quarter of the way across.
    shot = slider.grab().toImage()
    ratio = shot.width() / slider.width()
    y = round((area.bottom() - 10) * ratio)
    assert shot.pixelColor(round(slider.divider_x() * ratio), y).lightness() > 240
    assert shot.pixelColor(round(start.x() * ratio), y) != shot.pixelColor(round(slider.divider_x() * ratio), y)

    press(qtbot, K.Key_C)  # C switches the same comparison to side by side
    assert view.isVisible()
    assert view.left.isVisible()
    press(qtbot, K.Key_C)  # and closes it
    assert not view.isVisible()


def test_star_by_click_and_by_key_is_kept_across_a_restart(qtbot, candidates, main_window):
    from wfdesk.ui.main_window import MainWindow

    ws = candidates
    panel = image_panel(qtbot, main_window)
    strip = panel.strip
    older = strip.model().version(1)
    star = star_rect(strip.visualRect(strip.model().index(1, 0)))
    click(qtbot, strip.viewport(), star.center())
    qtbot.waitUntil(lambda: strip.model().version(1).get("starred") is True, timeout=TIMEOUT)
    assert starred_in_db(ws, older["id"])
    assert strip.selected()["id"] == strip.model().version(0)["id"]  # the star click leaves the selection
    assert strip.item(1).text().startswith("★")

    newest = strip.selected()
    press(qtbot, K.Key_S)
    qtbot.waitUntil(lambda: starred_in_db(ws, newest["id"]), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: strip.selected().get("starred") is True, timeout=TIMEOUT)
    press(qtbot, K.Key_S)  # again: unstarred
    qtbot.waitUntil(lambda: not starred_in_db(ws, newest["id"]), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: strip.selected().get("starred") is False, timeout=TIMEOUT)
    assert panel.strip.selected()["status"] == "candidate"  # a star is no review decision

    close_window(main_window)
    again = MainWindow(ws)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.post_id == 53, timeout=TIMEOUT)
    panel = image_panel(qtbot, again)
    row = panel.strip.model().row_of(older["id"])
    assert panel.strip.model().version(row)["starred"] is True
    assert panel.strip.item(row).text().startswith("★")
    assert panel.strip.model().version(panel.strip.model().row_of(newest["id"]))["starred"] is False
    close_window(again)


def test_help_lists_the_compare_and_star_keys_and_they_clash_with_nothing(qtbot, candidates, main_window):
    from PySide6.QtGui import QAction, QShortcut

    from wfdesk.ui.shortcuts_dialog import collect_shortcuts

    panel = image_panel(qtbot, main_window)
    listed = {(key, e.area) for e in collect_shortcuts(main_window) for key in e.keys}
    for key in ("C", "B", "S", "Ctrl+Click", "Right", "Page Down", "A", "X"):
        assert (key, "Step panel (images)") in listed, key
    ambiguous: list[str] = []
    for shortcut in main_window.findChildren(QShortcut):
        shortcut.activatedAmbiguously.connect(lambda s=shortcut: ambiguous.append(s.key().toString()))
    for action in main_window.findChildren(QAction):
        assert not {seq.toString() for seq in action.shortcuts()} & {"C", "B", "S"}, action.text()
    view = compare_of(panel)
    press(qtbot, K.Key_C)
    qtbot.waitUntil(view.isVisible, timeout=TIMEOUT)
    press(qtbot, K.Key_B)
    assert view.slider.isVisible()
    press(qtbot, K.Key_B)
    assert not view.isVisible()
    press(qtbot, K.Key_S)
    qtbot.waitUntil(lambda: panel.strip.selected().get("starred") is True, timeout=TIMEOUT)
    assert ambiguous == []
