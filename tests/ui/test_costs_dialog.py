"""View → Costs: the figures of real runs against the loopback server, as wfdesk.runs.costs computes them, the
budgets' use, and a budget too small for a run refusing it in the GUI before anything is sent."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.editor_input import activate, choose_menu, click, click_button
from tests.ui.input_helpers import pick
from ui.widget_reading import cell_text
from wfdesk.runs import costs
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ModelPrice
from wfdesk.ui.costs_dialog import CostsDialog, money

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def open_dialog(qtbot, ws, post_id=None) -> CostsDialog:
    dialog = CostsDialog(ws, post_id=post_id)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=WAIT):
        dialog.show()
    activate(qtbot, dialog)
    return dialog


def regroup(qtbot, dialog: CostsDialog, title: str) -> None:
    """Pick a grouping (“By model”) from the drop-down, as the editor does, and wait for the new figures."""
    with qtbot.waitSignal(dialog.loaded, timeout=WAIT):
        pick(qtbot, dialog.grouping, title)


def shown_rows(dialog: CostsDialog) -> dict[str, list[str]]:
    return {cell_text(dialog.table, r, 0): [cell_text(dialog.table, r, c) for c in range(1, 6)]
            for r in range(dialog.table.rowCount())}


def test_costs_dialog_shows_what_the_runs_cost(qtbot, gui_ws, loopback):
    gui_ws.settings.prices["gpt-4o-mini"] = ModelPrice(prompt_per_1k=1.0, completion_per_1k=2.0)
    assert execute_step_script(1, 53, {"section_ids": [711, 712]})["success"]
    assert execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "dall-e-3"}})["success"]
    gui_ws.settings.budget_per_post = 1.0

    dialog = open_dialog(qtbot, gui_ws, post_id=53)
    expected = costs.totals(gui_ws, "step", post_id=53)
    rows = shown_rows(dialog)
    assert set(rows) == {"polish_sections", "section_illustrations", "Total"}
    for row in expected:
        assert rows[row["step"]] == [str(row["units"]), f"{row['prompt_tokens']:,}",
                                     f"{row['completion_tokens']:,}", str(row["images"]), money(row["cost"])]
    assert rows["section_illustrations"][-1] == "$0.0400"
    total = sum(r["cost"] for r in expected)
    assert rows["Total"][0] == "3"
    assert rows["Total"][-1] == money(total)
    assert dialog.total_cost() == pytest.approx(total)

    used = costs.spent(gui_ws, post_id=53)
    assert used == pytest.approx(total)
    assert f"{money(used)} of $1.00 used" in dialog.post_meter.text.text()
    assert dialog.post_meter.bar.isVisible()
    assert dialog.post_meter.bar.value() == round(used * 100)
    assert "no limit" in dialog.month_meter.text.text()
    assert not dialog.month_meter.bar.isVisible()

    regroup(qtbot, dialog, "By model")
    assert set(shown_rows(dialog)) == {"gpt-4o-mini", "dall-e-3", "Total"}
    assert dialog.table.horizontalHeaderItem(0).text() == "Model"
    regroup(qtbot, dialog, "By month")
    (month,) = costs.totals(gui_ws, "month")
    assert shown_rows(dialog)[costs.month_start().strftime("%B %Y")][-1] == money(month["cost"])
    regroup(qtbot, dialog, "By post")
    assert "A week in the Scottish Highlands  (#53)" in shown_rows(dialog)

    # A run made while the dialog is open appears after Refresh.
    assert execute_step_script(2, 53, {"section_ids": [712]})["success"]
    with qtbot.waitSignal(dialog.loaded, timeout=WAIT):
        click_button(qtbot, dialog, "Refresh")
    assert shown_rows(dialog)["Total"][3] == "2"


def test_no_runs_yet_and_opened_from_the_view_menu(qtbot, main_window):
    activate(qtbot, main_window)
    choose_menu(qtbot, main_window, "View", "Costs…")
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), CostsDialog), timeout=WAIT)
    dialog = QApplication.activeModalWidget()
    qtbot.waitUntil(lambda: "No runs with costs yet" in dialog.status.text(), timeout=WAIT)
    assert dialog.post_id == 53
    assert dialog.scope.currentText() == "This post"
    assert shown_rows(dialog) == {"Total": ["0", "0", "0", "0", "$0.00"]}
    click_button(qtbot, dialog, "Close")
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=WAIT)  # closed (and deleted)


def test_a_budget_too_small_refuses_a_gui_run_before_any_request(qtbot, main_window, loopback):
    from tests.ui.editor_input import click_row

    main_window.ws.settings.budget_per_post = 0.01  # three gpt-image-1-mini images would cost about $0.03
    activate(qtbot, main_window)
    qtbot.waitUntil(lambda: main_window.steps.item_for(2) is not None, timeout=WAIT)
    click_row(qtbot, main_window.steps, "section_illustrations")
    qtbot.waitUntil(lambda: getattr(main_window.current_panel(), "step_id", None) == 2
                    and main_window.current_panel().data is not None, timeout=WAIT)
    panel = main_window.current_panel()
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT)
    loopback.reset()
    with qtbot.waitSignal(main_window.runs.run_failed, timeout=WAIT) as failed:
        click(qtbot, panel.run_button)
    message = failed.args[1]
    assert "would cost about $0.03" in message
    assert "$0.01 budget" in message
    assert "Nothing was sent" in message
    qtbot.waitUntil(lambda: "Nothing was sent" in panel.status_label.text(), timeout=WAIT)
    assert panel.status_label.isVisible()
    assert "Nothing was sent" in main_window.statusBar().currentMessage()
    assert loopback.count("/v1/images") == 0
    assert loopback.count("/sdapi") == 0  # the status bar may ask /v1/models


def test_estimated_tokens_and_models_without_a_price_are_marked(qtbot, gui_ws, loopback):
    def no_usage(index, request):  # a local server: the answer carries no `usage`
        if request.path != "/v1/chat/completions":
            return None
        body = {"id": f"c{index}", "object": "chat.completion", "created": 0, "model": request.json["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Polished text, eight words or so."}}]}
        return 200, {}, json.dumps(body).encode()

    loopback.fail = no_usage
    assert execute_step_script(1, 53, {"section_ids": [711]})["success"]
    loopback.fail = None
    assert execute_step_script(1, 53, {"section_ids": [712], "llm_settings": {"model": "llama3.2:3b"}})["success"]

    dialog = open_dialog(qtbot, gui_ws, post_id=53)
    regroup(qtbot, dialog, "By model")
    rows = shown_rows(dialog)
    mini, llama = rows["gpt-4o-mini"], rows["llama3.2:3b"]
    assert mini[1].startswith("≈ ")
    assert mini[2].startswith("≈ ")
    assert mini[-1].startswith("$")
    assert not llama[1].startswith("≈")
    assert llama[-1] == "no price known"
    assert rows["Total"][-1].endswith("+ 1 with no price known")
    assert "no price known" in dialog.budget_hint.text()
    assert "warning" in dialog.budget_hint.text()
