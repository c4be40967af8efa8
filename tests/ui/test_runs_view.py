"""The runs view, as an editor uses it: opened from the status bar's run count and from View → Runs (Ctrl+Shift+R);
filtered by typing and choosing; a run clicked to read what it sent and got back; Cancel, Resume, Run failed
sections again and Open post and step clicked; several posts chosen with Ctrl+click and run as one batch, which is
then cancelled from the view."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox
from run_history_support import COLLEAGUE, seed_runs
from sqlalchemy import select, update

from ui.editor_input import WAIT, activate, answer_modal, click, click_check_box, press, type_text
from ui.gui_input import button, click_tree_item
from ui.input_helpers import pick
from wfdesk.db.models import Run, RunUnit
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services import editing
from wfdesk.states import RunState, UnitState

REFUSED = json.dumps({"error": {"message": "The model refused this one", "type": "invalid_request_error"}}).encode()


def refuse_glen_affric(switch: dict[str, bool]):
    """The provider refuses the Glen Affric section while switch["on"]."""
    return lambda _i, rec: (400, {}, REFUSED) if switch["on"] and b"glen affric" in rec.body.lower() else None


def runs_window(window):
    hub = window.runs_hub
    return hub.window if hub is not None else None


def open_by_status_bar(qtbot, window):
    indicator = window.status.jobs
    assert indicator.isVisible()
    qtbot.mouseClick(indicator, Qt.MouseButton.LeftButton, pos=indicator.rect().center())
    qtbot.waitUntil(lambda: runs_window(window) is not None and runs_window(window).isVisible(), timeout=WAIT)
    return runs_window(window)


def history_rows(view) -> list[list[str]]:
    tree = view.history
    return [[tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
            for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).flags() & Qt.ItemFlag.ItemIsEnabled]


def wait_rows(qtbot, view, check):
    qtbot.waitUntil(lambda: bool((rows := history_rows(view)) and check(rows)), timeout=WAIT)


def click_run(qtbot, view, run_id: int, tree=None):
    tree = tree or view.history
    qtbot.waitUntil(lambda: bool(tree.findItems(f"#{run_id}", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)),
                    timeout=WAIT)
    click_tree_item(qtbot, tree, f"#{run_id}")
    qtbot.waitUntil(lambda: view.detail.detail is not None and view.detail.detail.run.id == run_id, timeout=WAIT)


def first_progress_row(view, column: int = 0) -> str:
    item = view.progress.topLevelItem(0)
    return item.text(column) if item is not None else ""


def run_status(ws, run_id: int) -> str:
    with ws.db.session() as s:
        return s.scalar(select(Run.status).where(Run.id == run_id))


def test_the_run_count_opens_the_runs_view_and_a_click_shows_what_was_sent(qtbot, main_window, gui_ws, loopback):
    switch = {"on": True}
    loopback.fail = refuse_glen_affric(switch)
    run_id = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})["run_id"]

    view = open_by_status_bar(qtbot, main_window)
    wait_rows(qtbot, view, lambda rows: rows[0][0] == f"#{run_id}")
    assert history_rows(view)[0][1] == "partly done"
    assert history_rows(view)[0][7] == "you"
    click_run(qtbot, view, run_id)

    assert "polish_sections" in view.detail.heading.text()
    assert view.detail.info["Started by"].text() == "you"
    assert view.detail.info["Sections"].text() == "2 done, 1 failed, 3 in all"
    assert view.detail.prompt.toPlainText(), "the prompt sent for the first section"
    assert "inverness" in view.detail.prompt.toPlainText().lower()
    assert view.detail.answer.toPlainText()
    # The failed section: its prompt and the provider's refusal.
    click_tree_item(qtbot, view.detail.units, "Glen Affric")
    assert "glen affric" in view.detail.prompt.toPlainText().lower()
    assert "refused" in view.detail.error.toPlainText()
    assert json.loads(view.detail.config.toPlainText())["script_config"]["type"] == "llm_action"

    # Run the failed section again: one new request, a new run that succeeds.
    switch["on"] = False
    chats = loopback.count("/v1/chat/completions")
    qtbot.mouseClick(button(view, "Run failed sections again"), Qt.MouseButton.LeftButton)
    wait_rows(qtbot, view, lambda rows: rows[0][0] == f"#{run_id + 1}" and rows[0][1] == "done")
    assert loopback.count("/v1/chat/completions") == chats + 1
    assert history_rows(view)[0][4] == "1/1"


def test_view_menu_shortcut_opens_the_runs_view_and_filters_narrow_it(qtbot, main_window, gui_ws):
    ids = seed_runs(gui_ws, 150, posts=5)
    activate(qtbot, main_window)
    press(qtbot, "Ctrl+Shift+R")
    qtbot.waitUntil(lambda: runs_window(main_window) is not None and runs_window(main_window).isVisible(),
                    timeout=WAIT)
    view = runs_window(main_window)
    wait_rows(qtbot, view, lambda rows: len(rows) == 50)
    assert view.more_button.isVisible(), "150 runs: more than a page"
    qtbot.mouseClick(view.more_button, Qt.MouseButton.LeftButton)
    wait_rows(qtbot, view, lambda rows: len(rows) == 100)

    click(qtbot, view.post_filter)
    type_text(qtbot, "number 3")
    wait_rows(qtbot, view, lambda rows: {r[2] for r in rows} == {"Post number 3"})
    assert len(history_rows(view)) == 30
    pick(qtbot, view.status_filter, "Failed")
    qtbot.waitUntil(lambda: view.history.topLevelItem(0).text(1) == "No runs match.", timeout=WAIT)
    pick(qtbot, view.status_filter, "Cancelled")
    wait_rows(qtbot, view, lambda rows: {r[1] for r in rows} == {"cancelled"} and len(rows) == 30)
    pick(qtbot, view.step_filter, "Illustrate")
    wait_rows(qtbot, view, lambda rows: {r[3] for r in rows} == {"Illustrate"} and len(rows) == 15)
    theirs = [r for r in history_rows(view) if r[7] == COLLEAGUE.split("@")[0]]
    assert theirs, "a colleague's runs are shown, marked as theirs"
    click_check_box(qtbot, view.mine_filter)
    wait_rows(qtbot, view, lambda rows: all(r[7] == "you" for r in rows))
    pick(qtbot, view.when_filter, "Today")
    qtbot.waitUntil(lambda: not history_rows(view) and view.history.topLevelItem(0).text(1) == "No runs match.",
                    timeout=WAIT)
    assert ids["newest"] == 150


def test_resume_and_open_post_and_step(qtbot, main_window, gui_ws, loopback):
    run_id = execute_step_script(1, 53, {"section_ids": [711, 712]})["run_id"]
    with gui_ws.db.session() as s:  # the app was killed after the first section: the second never ran
        s.execute(update(RunUnit).where(RunUnit.run_id == run_id, RunUnit.section_id == 712)
                  .values(status=UnitState.QUEUED, result={}))
        s.execute(update(Run).where(Run.id == run_id).values(status=RunState.INTERRUPTED))
    view = open_by_status_bar(qtbot, main_window)
    click_run(qtbot, view, run_id)
    assert view.detail.info["Status"].text() == "interrupted"
    chats = loopback.count("/v1/chat/completions")
    qtbot.mouseClick(button(view, "Resume"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: run_status(gui_ws, run_id) == RunState.SUCCEEDED, timeout=WAIT)
    assert loopback.count("/v1/chat/completions") == chats + 1, "only the section left was sent"
    qtbot.waitUntil(lambda: view.detail.info["Status"].text() == "done", timeout=WAIT)

    editing.create_post(gui_ws, "Another post")
    main_window.posts.reload()
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 2, timeout=WAIT)
    qtbot.mouseClick(main_window.posts.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=main_window.posts.tree.visualItemRect(main_window.posts.tree.topLevelItem(0)).center())
    qtbot.waitUntil(lambda: main_window.post_id != 53, timeout=WAIT)
    qtbot.mouseClick(button(view, "Open post and step"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: main_window.post_id == 53 and main_window.steps.current_step()[0] == 1, timeout=WAIT)


def test_a_run_in_progress_is_cancelled_from_the_view(qtbot, main_window, gui_ws, loopback):
    from ui.editor_input import open_step

    loopback.latency = 1.5
    panel = open_step(qtbot, main_window, "polish_sections")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: main_window.status.jobs.label.text() == "1 run in progress", timeout=WAIT)
    view = open_by_status_bar(qtbot, main_window)
    qtbot.waitUntil(lambda: first_progress_row(view).startswith("#"), timeout=WAIT)
    run_id = int(view.progress.topLevelItem(0).text(0)[1:])
    click_run(qtbot, view, run_id, view.progress)
    qtbot.waitUntil(lambda: view.buttons["cancel"].isEnabled(), timeout=WAIT)
    qtbot.mouseClick(button(view, "Cancel run"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: run_status(gui_ws, run_id) == RunState.CANCELLED, timeout=WAIT)
    qtbot.waitUntil(lambda: first_progress_row(view, 1) == "Nothing is running.", timeout=WAIT)


def _posts_with_a_section(ws, titles: list[str]) -> None:
    for title in titles:
        post_id = editing.create_post(ws, title)
        section_id = editing.add_section(ws, post_id, "Only section")
        editing.save_field(ws, post_id, section_id, "draft", f"a short draft about {title.lower()}", None)


def ctrl_click(qtbot, tree, title: str) -> None:
    item = tree.findItems(title, Qt.MatchFlag.MatchExactly)[0]
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     tree.visualItemRect(item).center())


def test_several_posts_run_as_one_batch_which_is_cancelled_from_the_view(qtbot, main_window, gui_ws, loopback):
    _posts_with_a_section(gui_ws, ["Lochs", "Munros"])
    main_window.posts.reload()
    tree = main_window.posts.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 3, timeout=WAIT)
    click_tree_item(qtbot, tree, "Lochs")
    ctrl_click(qtbot, tree, "Munros")
    ctrl_click(qtbot, tree, "A week in the Scottish Highlands")
    loopback.latency = 2.0  # the first two posts are still running when the batch is cancelled

    def choose_step_and_run(dialog) -> None:
        combo = dialog.findChild(QComboBox)
        assert combo.currentText() == "polish_sections"
        qtbot.mouseClick(button(dialog, "Run on 3 posts"), Qt.MouseButton.LeftButton)

    answer_modal(qtbot, choose_step_and_run)
    qtbot.mouseClick(button(main_window.posts, "Run step on 3 posts…"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: runs_window(main_window) is not None and runs_window(main_window).isVisible(),
                    timeout=WAIT)
    view = runs_window(main_window)
    queue = main_window.runs_hub.queue
    batch = queue.batches()[0]
    qtbot.waitUntil(lambda: bool(view.progress.findItems(f"Batch {batch.id}", Qt.MatchFlag.MatchExactly)),
                    timeout=WAIT)
    assert [i.post_title for i in batch.items] == ["Munros", "Lochs", "A week in the Scottish Highlands"]
    assert sum(1 for i in batch.items if i.waiting) == 1, "two posts at a time: the third waits its turn"
    click_tree_item(qtbot, view.progress, f"Batch {batch.id}")
    qtbot.mouseClick(button(view, "Cancel batch"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: batch.finished, timeout=WAIT)
    assert {i.state for i in batch.items} == {RunState.CANCELLED}
    assert QApplication.activeModalWidget() is None
    qtbot.waitUntil(lambda: main_window.runs.active_count() == 0, timeout=WAIT)
    sent = [r for r in loopback.requests if r.path.endswith("/chat/completions")]
    assert not any(b"inverness" in r.body.lower() for r in sent), "the waiting post was never started"


def test_one_post_is_taken_out_of_a_batch(qtbot, main_window, gui_ws, loopback):
    _posts_with_a_section(gui_ws, ["Lochs", "Munros", "Bothies"])
    main_window.posts.reload()
    tree = main_window.posts.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 4, timeout=WAIT)
    click_tree_item(qtbot, tree, "Lochs")
    ctrl_click(qtbot, tree, "Munros")
    ctrl_click(qtbot, tree, "Bothies")
    loopback.latency = 1.0
    answer_modal(qtbot, lambda dialog: qtbot.mouseClick(button(dialog, "Run on 3 posts"), Qt.MouseButton.LeftButton))
    qtbot.mouseClick(button(main_window.posts, "Run step on 3 posts…"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: runs_window(main_window) is not None and runs_window(main_window).isVisible(),
                    timeout=WAIT)
    view = runs_window(main_window)
    batch = main_window.runs_hub.queue.batches()[0]
    waiting = next(i for i in batch.items if i.waiting)
    qtbot.waitUntil(lambda: bool(view.progress.findItems(waiting.post_title,
                                                         Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 1)),
                    timeout=WAIT)
    click_tree_item(qtbot, view.progress, waiting.post_title, column=1)
    qtbot.mouseClick(button(view, "Cancel run"), Qt.MouseButton.LeftButton)
    assert waiting.state == RunState.CANCELLED
    qtbot.waitUntil(lambda: batch.finished, timeout=WAIT)
    assert sorted(i.state for i in batch.items if i is not waiting) == [RunState.SUCCEEDED, RunState.SUCCEEDED]


def test_a_running_runs_detail_updates_without_losing_the_section_being_read(qtbot, main_window, gui_ws, loopback):
    from ui.editor_input import open_step

    loopback.latency = 1.0
    panel = open_step(qtbot, main_window, "polish_sections")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    view = open_by_status_bar(qtbot, main_window)
    qtbot.waitUntil(lambda: first_progress_row(view).startswith("#"), timeout=WAIT)
    run_id = int(first_progress_row(view)[1:])
    click_run(qtbot, view, run_id, view.progress)
    click_tree_item(qtbot, view.detail.units, "Glen Affric")
    assert "glen affric" in view.detail.prompt.toPlainText().lower(), "the prompt is recorded when the run starts"
    qtbot.waitUntil(lambda: view.detail.info["Status"].text() == "done", timeout=WAIT)
    assert view.detail.units.currentItem().text(0) == "Glen Affric"
    assert view.detail.answer.toPlainText(), "the answer that arrived meanwhile"


def test_a_colleagues_run_in_progress_is_shown_as_theirs_and_can_be_cancelled_here(qtbot, main_window, gui_ws):
    seed_runs(gui_ws, 8, posts=2)
    with gui_ws.db.session() as s:  # run 4 goes on a colleague's machine
        s.execute(update(Run).where(Run.id == 4).values(status=RunState.RUNNING))
    view = open_by_status_bar(qtbot, main_window)
    qtbot.waitUntil(lambda: first_progress_row(view) == "#4", timeout=WAIT)
    assert first_progress_row(view, 4) == "colleague"
    assert view.progress.topLevelItem(0).font(0).italic()
    click_run(qtbot, view, 4, view.progress)
    assert view.detail.info["Started by"].text() == f"{COLLEAGUE} (a colleague)"
    assert view.buttons["cancel"].isEnabled()
    assert "Ask the computer running it to stop" in view.buttons["cancel"].toolTip()
    assert not view.buttons["resume"].isEnabled(), "not while it goes"


def test_a_run_of_another_process_is_cancelled_from_the_view_after_confirming(qtbot, main_window, gui_ws, loopback,
                                                                               tmp_path):
    """`wfdesk run-step` started by Ana in a terminal: Cancel run here asks, then her process stops the run."""
    import subprocess
    import sys

    from conftest import ROOT
    from test_cancel_anywhere import _hold_second_answer, _sent
    from test_crash_resume import _cli_env

    release = _hold_second_answer(loopback)
    log = tmp_path / "ana.log"
    env = {**_cli_env(gui_ws, loopback), "USER": "ana", "LOGNAME": "ana"}
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "wfdesk", "-v", "run-step", "--step", "1", "--post", "53",
                                 "--sections", "711,712,713", "--llm-settings", '{"concurrency": 1}'],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        qtbot.waitUntil(lambda: _sent(loopback) >= 2, timeout=60_000)
        with gui_ws.db.session() as s:
            run_id = s.scalar(select(Run.id).where(Run.status == RunState.RUNNING))
        view = open_by_status_bar(qtbot, main_window)
        qtbot.waitUntil(lambda: first_progress_row(view) == f"#{run_id}", timeout=WAIT)
        click_run(qtbot, view, run_id, view.progress)
        asked: list[str] = []

        def confirm(dialog) -> None:
            asked.append(dialog.text())
            qtbot.mouseClick(button(dialog, "Yes"), Qt.MouseButton.LeftButton)

        answer_modal(qtbot, confirm)
        click(qtbot, button(view, "Cancel run"))
        qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
        assert asked[0].startswith("Stop Ana's run of polish_sections on “A week in the Scottish Highlands”?")
        qtbot.waitUntil(lambda: f"run {run_id}: cancelled by" in log.read_text(), timeout=30_000)
        release.set()
        assert proc.wait(60) is not None
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert run_status(gui_ws, run_id) == RunState.CANCELLED
    assert _sent(loopback) == 2, "no section started after the cancel was seen"
    with gui_ws.db.session() as s:
        units = dict(s.execute(select(RunUnit.section_id, RunUnit.status).where(RunUnit.run_id == run_id)).all())
    assert units == {711: UnitState.SUCCESS, 712: UnitState.CANCELLED, 713: UnitState.CANCELLED}


def test_the_post_lists_context_menu_starts_a_batch(qtbot, main_window, gui_ws):
    from ui.test_busy_database import _context_menu

    _posts_with_a_section(gui_ws, ["Lochs"])
    main_window.posts.reload()
    tree = main_window.posts.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 2, timeout=WAIT)
    click_tree_item(qtbot, tree, "Lochs")
    ctrl_click(qtbot, tree, "A week in the Scottish Highlands")
    asked: list[str] = []

    def cancel(dialog) -> None:
        asked.append(dialog.windowTitle())
        qtbot.mouseClick(button(dialog, "Cancel"), Qt.MouseButton.LeftButton)

    answer_modal(qtbot, cancel)
    _context_menu(qtbot, tree, "Lochs", "Run step on 2 posts…")
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
    assert asked == ["Run a step on 2 posts"]
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)
    assert main_window.runs_hub.queue is None, "the editor said Cancel: no batch"


def test_quitting_the_main_window_closes_the_runs_window(qtbot, main_window):
    """Ctrl+Q in the main window: the runs window (of this workspace) goes with it, instead of staying on screen
    (after a switch of database it went on showing the old one's runs)."""
    activate(qtbot, main_window)
    press(qtbot, "Ctrl+Shift+R")
    qtbot.waitUntil(lambda: runs_window(main_window) is not None and runs_window(main_window).isVisible(),
                    timeout=WAIT)
    view = runs_window(main_window)
    activate(qtbot, main_window)
    press(qtbot, "Ctrl+Q")
    qtbot.waitUntil(lambda: not main_window.isVisible(), timeout=WAIT)
    assert not view.isVisible()
