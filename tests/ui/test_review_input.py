"""Reviewing results with the mouse and the keyboard, as an editor does: the text panel after a re-run, the words
its messages use, and the image review's buttons and keys (scoped to the review area, never ambiguous)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut

from wfdesk.db import content
from wfdesk.scripts.registry import execute_step_script
from wfdesk.ui.panels.image_generation import ImageGenerationPanel

from .editor_input import activate, open_step
from .gui_input import TIMEOUT, button, click, click_button, click_row, click_tree_item, focused, press, visible_buttons
from .widget_reading import has_thumbnail, tooltip

IMAGE_FIELD = "generated_image_url"
K = Qt.Key
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


TEXT_STEP, IMAGE_STEP = "polish_sections", "section_illustrations"  # the demo's steps 1 and 2


def open_panel(qtbot, window, step_name: str):
    """Click the step in the main window's workflow list (the demo post is chosen); the window has the keyboard."""
    panel = open_step(qtbot, window, step_name)
    activate(qtbot, window)
    return panel


def field(ws, section_id: int, name: str) -> str | None:
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


def run_by_clicking(qtbot, panel, runs) -> dict:
    """Click Run (Ctrl+Enter is the main window's Step menu action, tested with the window), then wait until the
    panel is idle again."""
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT)
    return finished.args[1]


def only_section(qtbot, panel, title: str) -> None:
    """None, then tick the one section by clicking it and pressing Space."""
    click_button(qtbot, panel.picker, "None")
    click_tree_item(qtbot, panel.picker.tree, title)
    press(qtbot, K.Key_Space)
    assert [panel.picker.title_of(sid) for sid in panel.picker.checked_ids()] == [title]


# --- the text panel ---------------------------------------------------------------------------------------------

def test_after_a_rerun_the_text_panel_shows_the_newest_version(qtbot, gui_ws, main_window, loopback):
    runs = main_window.runs
    replies = iter(["First polish.", "Second polish.", "Third polish."])
    loopback.chat_reply = lambda req: next(replies)
    panel = open_panel(qtbot, main_window, TEXT_STEP)
    only_section(qtbot, panel, "Arriving in Inverness")
    run_by_clicking(qtbot, panel, runs)
    run_by_clicking(qtbot, panel, runs)
    versions = panel.review.versions
    qtbot.waitUntil(lambda: versions.list.topLevelItemCount() == 2, timeout=TIMEOUT)
    click_row(qtbot, versions.list, 1)  # the older version, to compare
    qtbot.waitUntil(lambda: "First polish." in panel.review.after.toPlainText(), timeout=TIMEOUT)

    run_by_clicking(qtbot, panel, runs)
    qtbot.waitUntil(lambda: versions.list.topLevelItemCount() == 3, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "Third polish." in panel.review.after.toPlainText(), timeout=TIMEOUT)
    assert versions.selected()["current"]
    assert versions.selected()["value"] == "Third polish."
    assert "current version" in panel.review.after_caption.text()


def test_revert_message_names_the_field_label_and_the_section_title(qtbot, gui_ws, main_window, loopback):
    runs = main_window.runs
    replies = iter(["First polish.", "Second polish."])
    loopback.chat_reply = lambda req: next(replies)
    panel = open_panel(qtbot, main_window, TEXT_STEP)
    only_section(qtbot, panel, "Arriving in Inverness")
    run_by_clicking(qtbot, panel, runs)
    run_by_clicking(qtbot, panel, runs)
    versions = panel.review.versions
    qtbot.waitUntil(lambda: versions.list.topLevelItemCount() == 2, timeout=TIMEOUT)
    click_row(qtbot, versions.list, 1)
    with qtbot.waitSignal(panel.status_message, timeout=TIMEOUT) as message:
        click_button(qtbot, panel, "Revert to this version")
    qtbot.waitUntil(lambda: field(gui_ws, 711, "polished") == "First polish.", timeout=TIMEOUT)
    text = message.args[0]
    assert "“Polished Content”" in text, text
    assert "“Arriving in Inverness”" in text, text
    for internal in ("polished ", "711", "section_id"):
        assert internal not in text, text
    status = panel.status_text()
    assert "Polished Content" in status, status
    assert "polished" not in status.replace("Polished", ""), status
    # The captions name the fields by their labels only.
    for caption in (panel.review.before_caption.text(), panel.review.after_caption.text(),
                    versions.title.text()):
        assert "(draft)" not in caption, caption
        assert "(polished)" not in caption, caption


# --- the image panel: buttons ---------------------------------------------------------------------------------

@pytest.fixture
def candidates(gui_ws, loopback):
    """Section 711 with two image candidates (different bytes), 712 with one: made by the engine beforehand."""
    assert execute_step_script(2, 53, {"section_ids": [711, 712]})["success"]
    loopback.image_max_side = 48
    assert execute_step_script(2, 53, {"section_ids": [711]})["success"]
    return gui_ws


def image_panel(qtbot, window) -> ImageGenerationPanel:
    panel = open_panel(qtbot, window, IMAGE_STEP)
    click_tree_item(qtbot, panel.picker.tree, "Arriving in Inverness")
    qtbot.waitUntil(lambda: panel.strip.count() == 2, timeout=TIMEOUT)
    click_row(qtbot, panel.strip, 0)  # the newest candidate; the focus is now in the gallery
    assert focused() is panel.strip
    return panel


def selected_row(panel) -> int:
    return panel.strip.currentIndex().row()


def test_reject_offers_one_way_back_and_it_restores_the_accepted_image(qtbot, candidates, main_window):
    ws = candidates
    panel = image_panel(qtbot, main_window)
    first = panel.strip.selected()
    with qtbot.waitSignal(panel.status_message, timeout=TIMEOUT) as message:
        click_button(qtbot, panel, "Accept")
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == first["value"], timeout=TIMEOUT)
    assert IMAGE_FIELD not in message.args[0], message.args[0]
    assert "“Generated Image URL”" in message.args[0], message.args[0]
    assert "“Arriving in Inverness”" in message.args[0]

    qtbot.waitUntil(lambda: button(panel, "Reject") is not None, timeout=TIMEOUT)
    click_button(qtbot, panel, "Reject")
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "rejected", timeout=TIMEOUT)
    assert field(ws, 711, IMAGE_FIELD) is None
    shown = visible_buttons(panel)
    assert "Restore" in shown, shown
    assert "Undo" not in shown, shown  # one way back
    assert "Restore" in panel.status_text()

    click_button(qtbot, panel, "Restore")  # back as it was: accepted, the section's image again
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == first["value"], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("current") is True, timeout=TIMEOUT)
    assert "Undo" not in visible_buttons(panel)


def test_restoring_a_rejected_candidate_keeps_the_accepted_image(qtbot, candidates, main_window):
    ws = candidates
    panel = image_panel(qtbot, main_window)
    click_row(qtbot, panel.strip, 1)
    older = panel.strip.selected()
    click_button(qtbot, panel, "Accept")
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == older["value"], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("current") is True, timeout=TIMEOUT)
    click_row(qtbot, panel.strip, 0)
    newer = panel.strip.selected()
    click_button(qtbot, panel, "Reject")
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "rejected", timeout=TIMEOUT)
    click_button(qtbot, panel, "Restore")
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "candidate", timeout=TIMEOUT)
    assert panel.strip.selected()["id"] == newer["id"]
    assert field(ws, 711, IMAGE_FIELD) == older["value"]


# --- the image panel: keys ------------------------------------------------------------------------------------

def test_review_keys_are_listed_shown_in_tooltips_and_scoped_to_the_review_area(qtbot, gui_ws, main_window):
    keys = dict(ImageGenerationPanel.SHORTCUTS)
    assert len(keys) == len(ImageGenerationPanel.SHORTCUTS) >= 7
    panel = open_panel(qtbot, main_window, IMAGE_STEP)
    review = panel.review_area
    mine = [s for s in panel.findChildren(QShortcut) if s.parent() is review]
    assert {s.key().toString() for s in mine} >= {QKeySequence(k).toString() for k in
                                                 ("Right", "Left", "PgDown", "PgUp", "A", "X", "Shift+R")}
    assert all(s.context() == Qt.ShortcutContext.WidgetWithChildrenShortcut for s in mine)
    for text, key in (("Accept", "A"), ("Reject", "X"), ("Regenerate", "Shift+R")):
        assert f"({key})" in button_tooltip(panel, text), button_tooltip(panel, text)


def button_tooltip(panel, text: str) -> str:
    found = [b for b in panel.findChildren(type(panel.accept_button)) if b.text() == text]
    assert found, text
    return found[0].toolTip()


def test_accept_reject_and_browse_candidates_by_keyboard(qtbot, candidates, main_window):
    ws = candidates
    panel = image_panel(qtbot, main_window)
    assert selected_row(panel) == 0
    press(qtbot, K.Key_Right)
    assert selected_row(panel) == 1
    press(qtbot, K.Key_Left)
    assert selected_row(panel) == 0
    newest = panel.strip.selected()

    press(qtbot, K.Key_A)
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == newest["value"], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("current") is True, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.reject_button.isEnabled(), timeout=TIMEOUT)
    press(qtbot, K.Key_X)
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "rejected", timeout=TIMEOUT)
    assert field(ws, 711, IMAGE_FIELD) is None
    qtbot.waitUntil(lambda: panel.reject_button.isEnabled(), timeout=TIMEOUT)
    press(qtbot, K.Key_X)  # the same key restores
    qtbot.waitUntil(lambda: field(ws, 711, IMAGE_FIELD) == newest["value"], timeout=TIMEOUT)

    # The keys work with the focus on the large preview too.
    click(qtbot, panel.preview.viewport())
    assert panel.review_area.isAncestorOf(focused())
    press(qtbot, K.Key_Right)
    assert selected_row(panel) == 1


def test_next_and_previous_section_and_regenerate_by_keyboard(qtbot, candidates, main_window, loopback):
    runs = main_window.runs
    panel = image_panel(qtbot, main_window)
    press(qtbot, K.Key_PageDown)
    qtbot.waitUntil(lambda: panel.picker.current_id() == 712 and panel.strip.count() == 1, timeout=TIMEOUT)
    assert "Glen Affric" in panel.heading.text()
    assert panel.review_area.isAncestorOf(focused())  # the focus stays where the editor reviews
    press(qtbot, K.Key_PageUp)
    qtbot.waitUntil(lambda: panel.picker.current_id() == 711 and panel.strip.count() == 2, timeout=TIMEOUT)

    loopback.image_max_side = 40
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        press(qtbot, K.Key_R, SHIFT)
    assert [r["section_id"] for r in finished.args[1]["results"]] == [711]
    qtbot.waitUntil(lambda: panel.strip.count() == 3, timeout=TIMEOUT)
    assert panel.strip.selected()["status"] == "candidate"
    assert selected_row(panel) == 0  # the new candidate is the one shown


def test_review_keys_do_nothing_outside_the_review_area(qtbot, candidates, main_window):
    ws = candidates
    panel = image_panel(qtbot, main_window)
    click_tree_item(qtbot, panel.picker.tree, "Arriving in Inverness")
    assert panel.picker.tree.isAncestorOf(focused()) or focused() is panel.picker.tree
    press(qtbot, K.Key_A)
    press(qtbot, K.Key_X)
    qtbot.wait(200)  # nothing is expected to happen; give a wrongly scoped key time to act
    assert field(ws, 711, IMAGE_FIELD) is None
    assert all(v["status"] == "candidate" for v in panel.strip._versions.values())


def test_review_keys_are_not_ambiguous_in_the_main_window(qtbot, candidates, main_window):
    window = main_window
    panel = open_step(qtbot, window, IMAGE_STEP)
    assert isinstance(panel, ImageGenerationPanel)
    qtbot.waitUntil(lambda: panel.picker.current_id() is not None and panel.strip.count() > 0, timeout=TIMEOUT)
    if panel.picker.current_id() != 711:
        click_tree_item(qtbot, panel.picker.tree, "Arriving in Inverness")
        qtbot.waitUntil(lambda: panel.strip.count() == 2, timeout=TIMEOUT)
    activate(qtbot, window)
    click_row(qtbot, panel.strip, 0)

    ambiguous: list[str] = []
    for shortcut in window.findChildren(QShortcut):
        shortcut.activatedAmbiguously.connect(lambda s=shortcut: ambiguous.append(s.key().toString()))
    review_keys = {s.key().toString() for s in panel.findChildren(QShortcut) if s.parent() is panel.review_area}
    # No other shortcut or action of the window uses a review key where the review area has the focus.
    for other in window.findChildren(QShortcut):
        if other.parent() is not panel.review_area and other.key().toString() in review_keys:
            assert other.context() != Qt.ShortcutContext.WindowShortcut or not other.isEnabled(), other.key()
            assert not other.parent().isAncestorOf(panel.review_area), other.key().toString()
    from PySide6.QtGui import QAction
    for action in window.findChildren(QAction):
        for seq in action.shortcuts():
            assert seq.toString() not in review_keys, (action.text(), seq.toString())

    press(qtbot, K.Key_Right)
    assert selected_row(panel) == 1
    press(qtbot, K.Key_Left)
    assert selected_row(panel) == 0
    chosen = panel.strip.selected()
    press(qtbot, K.Key_A)
    qtbot.waitUntil(lambda: field(candidates, 711, IMAGE_FIELD) == chosen["value"], timeout=TIMEOUT)
    press(qtbot, K.Key_PageDown)
    qtbot.waitUntil(lambda: panel.picker.current_id() == 712, timeout=TIMEOUT)
    assert ambiguous == []


def test_panel_header_and_options_name_fields_by_their_labels(qtbot, gui_ws, main_window):
    stored = ("image_prompts", "generated_image_url")
    panel = open_panel(qtbot, main_window, IMAGE_STEP)
    click(qtbot, button(panel, "Run options"))
    editor = panel.options_box.findChildren(type(panel._input_editors["input1"]))[0]
    assert editor.isVisible()
    texts = [panel.description_label.text(), panel.picker.tree.headerItem().text(2), editor.placeholderText(),
             editor.toolTip()]
    assert "Image Prompts" in texts[0]
    assert "Generated Image URL" in texts[0]
    assert texts[1] == "Image Prompts"
    for text in texts:
        assert not any(name in text for name in stored), text


def test_a_missing_image_file_is_described_in_plain_words(qtbot, candidates, main_window):
    ws = candidates
    with ws.db.session() as s:
        from wfdesk.db.models import ContentVersion, ImageAsset

        newest = s.query(ContentVersion).filter_by(section_id=711).order_by(ContentVersion.id.desc()).first()
        path = ws.data_dir / s.get(ImageAsset, newest.asset_id).path
    path.unlink()
    from wfdesk.ui.thumbnails import cache_path
    for cached in cache_path(ws.data_dir, "0" * 64, 160).parent.parent.rglob("*"):
        if cached.is_file():
            cached.unlink()  # no thumbnail cached from before either
    panel = image_panel(qtbot, main_window)
    qtbot.waitUntil(lambda: has_thumbnail(panel.strip, 0), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "Cannot show" in panel.preview.items()[0].text() if panel.preview.items() else False,
                    timeout=TIMEOUT)
    shown = panel.preview.items()[0].text()
    tip = tooltip(panel.strip.item(0))
    for text in (shown, tip):
        assert "file is missing" in text, text
        assert "Errno" not in text, text
        assert str(ws.data_dir) not in text, text
        assert "Error" not in text, text
