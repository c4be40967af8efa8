"""Live updates, as editors see them: one window's views follow each other through the ChangeHub (SQLite too), and on
a shared PostgreSQL database a colleague's saved field shows in another open window, with who is editing it."""

from __future__ import annotations

import statistics
import time

import pytest

from ui.conftest import close_window
from ui.editor_input import WAIT, activate, click, click_cell, open_step, press
from ui.widget_reading import step_state
from wfdesk.services import editing
from wfdesk.services.changes import publisher
from wfdesk.workspace import open_workspace

SAVES = 10


def _type_and_save(qtbot, window, section_id: int, field: str, text: str) -> None:
    """Open the field in the window's editor, replace its text by typing, save with Ctrl+S (as an editor does)."""
    view = window.sections
    activate(qtbot, window)
    click_cell(qtbot, view, section_id, field)
    click(qtbot, view.editor.viewport())
    press(qtbot, "Ctrl+A")
    qtbot.keyClicks(view.editor, text)
    assert view.save_button.isEnabled()
    press(qtbot, "Ctrl+S")
    assert view.editor_state.text() == "Saved"


def test_a_saved_field_refreshes_the_step_panel_of_the_same_window(qtbot, main_window):
    """No view calls another: the save announces the field, the hub tells the panel, the panel re-reads."""
    panel = open_step(qtbot, main_window, "polish_sections")
    assert panel.picker.tree.topLevelItem(0).text(2).startswith("we arrived late in inverness")
    _type_and_save(qtbot, main_window, 711, "draft", "Rain over Inverness at midnight.")
    qtbot.waitUntil(lambda: panel.picker.tree.topLevelItem(0).text(2).startswith("Rain over Inverness"),
                    timeout=WAIT)


def test_a_version_accepted_by_the_review_service_refreshes_the_sections_table(qtbot, main_window):
    """The other way round: what the review service accepts (for a panel, the API, a colleague) shows in the table."""
    from wfdesk.services import queries
    from wfdesk.ui.sections_view import FIRST_FIELD_COL

    ws = main_window.ws
    _type_and_save(qtbot, main_window, 711, "draft", "Rain over Inverness at midnight.")
    column = FIRST_FIELD_COL + main_window.sections.field_names().index("draft")
    qtbot.waitUntil(lambda: main_window.sections.table.item(0, column).text().startswith("Rain over"), timeout=WAIT)
    first = queries.field_value(ws, 53, 711, "draft")
    assert first["value"] == "Rain over Inverness at midnight."
    # Someone's earlier text made the field's value again, through the review service (no view involved).
    from wfdesk.services import review

    versions = review.field_versions(ws, 53, "draft", [711])[711]
    older = next(v for v in versions if v["value"] != first["value"])
    review.version_action(ws, older["id"], "accept")
    qtbot.waitUntil(lambda: main_window.sections.table.item(0, column).text().startswith("we arrived late"),
                    timeout=WAIT)


# --- two windows on one PostgreSQL schema ----------------------------------------------------------------------

@pytest.fixture
def two_windows(qtbot, db_url, tmp_path, settings):
    if not db_url.startswith("postgresql"):
        pytest.skip("colleagues share a PostgreSQL database")
    from wfdesk.ui.main_window import MainWindow

    spaces = [open_workspace(database_url=db_url, data_dir=tmp_path / name, settings=settings) for name in "ab"]
    editing.load_demo(spaces[0])
    publisher(spaces[0]).who = "Ana"
    windows = []
    for ws in spaces:
        window = MainWindow(ws)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda w=window: w.post_id == 53 and w.sections.table.rowCount() == 3, timeout=WAIT)
        qtbot.waitUntil(lambda w=window: w.hub.live, timeout=WAIT)
        windows.append(window)
    yield windows
    for window in windows:
        close_window(window)
    for ws in spaces:
        ws.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_colleagues_saved_field_appears_in_the_other_window(qtbot, two_windows):
    mine, theirs = two_windows
    click_cell(qtbot, theirs.sections, 712, "draft")  # open in the colleague's editor, not being edited there
    assert theirs.sections.editor.toPlainText().startswith("glen affric is maybe")
    latencies = []
    for i in range(SAVES):
        text = f"Glen Affric, version {i}: the most beautiful glen."
        _type_and_save(qtbot, mine, 712, "draft", text)
        saved = time.monotonic()
        qtbot.waitUntil(lambda t=text: theirs.sections.editor.toPlainText() == t, timeout=WAIT)
        latencies.append(time.monotonic() - saved)
    assert theirs.sections.editor_state.text() == ""  # shown as the field's text, not as unsaved typing
    print(f"\ncolleague's save shown in the other window: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms over {SAVES} saves")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_other_window_shows_who_is_editing_a_field(qtbot, two_windows):
    mine, theirs = two_windows
    presence = theirs.sections.field_editor.presence
    click_cell(qtbot, theirs.sections, 711, "draft")
    assert not presence.isVisible()
    activate(qtbot, mine)
    click_cell(qtbot, mine.sections, 711, "draft")
    click(qtbot, mine.sections.editor.viewport())  # Ana puts the cursor in the field
    qtbot.waitUntil(lambda: presence.isVisible() and presence.text() == "Ana is editing", timeout=WAIT)
    click_cell(qtbot, mine.sections, 712, "draft")  # and leaves it
    qtbot.waitUntil(lambda: not presence.isVisible(), timeout=WAIT)
    click(qtbot, mine.sections.editor.viewport())  # in another field: not the one open over there
    click_cell(qtbot, theirs.sections, 712, "draft")  # the colleague opens that one: it says so at once
    qtbot.waitUntil(lambda: presence.isVisible() and presence.text() == "Ana is editing", timeout=WAIT)


def test_a_title_being_typed_is_not_swept_away_by_a_colleagues_change(qtbot, main_window):
    """A change heard while the editor types a section title waits until the title is entered."""
    from PySide6.QtWidgets import QApplication

    window = main_window
    activate(qtbot, window)
    click_cell(qtbot, window.sections, 712)
    press(qtbot, "F2")
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not window.sections.table.frozen, timeout=WAIT)
    press(qtbot, "Ctrl+A")
    qtbot.keyClicks(QApplication.focusWidget(), "Glen Affric in the rain")
    with qtbot.waitSignal(window.hub.changed, timeout=WAIT):  # the news reaches the view while the title is typed
        editing.save_field(window.ws, 53, 713, "draft", "Skye, by a colleague.", _lock(window.ws, 53, 713, "draft"))
    assert window.sections._reload_due  # held back, not refilled under the typing
    assert QApplication.focusWidget().hasFocus()
    press(qtbot, "Return")
    qtbot.waitUntil(lambda: window.sections.section_at(1)["title"] == "Glen Affric in the rain", timeout=WAIT)
    qtbot.waitUntil(lambda: window.sections.section_at(2)["fields"]["draft"] == "Skye, by a colleague.",
                    timeout=WAIT)


def _lock(ws, post_id, section_id, name):
    from wfdesk.services import queries

    return queries.field_value(ws, post_id, section_id, name)["lock_version"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_run_started_elsewhere_shows_in_the_step_list_without_polling(qtbot, two_windows):
    from wfdesk.runs import ledger

    mine, theirs = two_windows
    assert not theirs.steps._poll.isActive()  # live: the tables are not polled
    ledger.create_run(mine.ws, step_id=1, post_id=53, step_name="polish_sections", script_type="llm_action",
                      effective_config={}, context={}, section_ids=[711, 712])
    qtbot.waitUntil(lambda: "running" in step_state(theirs.steps, 1).lower(), timeout=WAIT)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_post_renamed_by_a_colleague_is_renamed_in_the_other_window(qtbot, two_windows):
    mine, theirs = two_windows
    editing.rename_post(mine.ws, 53, "Highlands in the rain")
    qtbot.waitUntil(lambda: theirs.posts.current_title() == "Highlands in the rain", timeout=WAIT)
    qtbot.waitUntil(lambda: theirs.sections.heading.text() == "Sections of “Highlands in the rain”", timeout=WAIT)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_closing_the_window_ends_its_presence(qtbot, two_windows):
    mine, theirs = two_windows
    presence = theirs.sections.field_editor.presence
    click_cell(qtbot, theirs.sections, 711, "draft")
    activate(qtbot, mine)
    click_cell(qtbot, mine.sections, 711, "draft")
    click(qtbot, mine.sections.editor.viewport())
    qtbot.waitUntil(presence.isVisible, timeout=WAIT)
    close_window(mine)  # Ana quits with the cursor still in the field
    qtbot.waitUntil(lambda: not presence.isVisible(), timeout=WAIT)
