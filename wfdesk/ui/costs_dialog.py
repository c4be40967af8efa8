"""View → Costs: what runs cost (estimated), grouped by step, post, month or model, and how much of each budget
is used. (The price table editor the Settings dialog shows is wfdesk.ui.price_table, imported here too.)

Everything is read in a BackgroundOp; the figures are wfdesk.runs.costs.totals / spent, unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.runs import costs
from wfdesk.services import queries
from wfdesk.ui.config_editor.parameters_form import hint_label, if_alive
from wfdesk.ui.price_table import PriceTable
from wfdesk.ui.screen_fit import FitsScreen
from wfdesk.ui.worker import BackgroundOp

# PriceTable: the Settings dialog imports it from here.
__all__ = ["BudgetMeter", "CostsDialog", "PriceTable", "load_costs", "money"]
GROUPINGS = [("step", "By step", "Step"), ("post", "By post", "Post"), ("month", "By month", "Month"),
             ("model", "By model", "Model")]
COLUMNS = ["Sections run", "Prompt tokens", "Completion tokens", "Images", "Estimated cost"]
NOTE = ("Estimated from the genai-prices price list, or your own prices in Settings → Costs & budgets. "
        "≈ marks tokens we counted ourselves because the server did not report them; “no price known” marks "
        "models (local ones, say) that no price list has, counted as $0. Only sections that finished "
        "successfully are counted.")
UNPRICED = "no price known"


def cost_text(row: dict[str, Any]) -> str:
    """The cost cell: dollars, and whether some of it could not be priced."""
    unpriced = row.get("unpriced_units", 0)
    if unpriced and unpriced == row["units"]:
        return UNPRICED
    text = money(row["cost"])
    return f"{text} + {unpriced} with {UNPRICED}" if unpriced else text


def tokens_text(row: dict[str, Any], key: str) -> str:
    return f"≈ {row[key]:,}" if row.get("estimated_units") else f"{row[key]:,}"


def money(value: float) -> str:
    if value == 0:
        return "$0.00"
    return f"${value:,.4f}" if value < 10 else f"${value:,.2f}"


def month_label(key: str) -> str:
    try:
        return datetime.strptime(key, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return key


def load_costs(ws, by: str, post_id: int | None, all_posts: bool) -> dict[str, Any]:
    """Everything the dialog shows, read off the GUI thread (Qt-free)."""
    rows = costs.totals(ws, by, post_id=None if all_posts else post_id)
    titles = {p["id"]: p["title"] for p in queries.list_posts(ws)}
    return {"rows": rows, "titles": titles, "month_used": costs.spent(ws, since=costs.month_start()),
            "post_used": costs.spent(ws, post_id=post_id) if post_id else None}


def _number_item(text: str, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if bold:
        font = item.font()
        font.setBold(True)
        item.setFont(font)
    return item


class BudgetMeter(QWidget):
    """One budget: a line of text and, when there is a limit, a bar of how much of it is used."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedWidth(220)
        self.bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.text, 1)

    def show_use(self, used: float | None, limit: float | None, what: str) -> None:
        if limit is None:
            self.bar.hide()
            spent = f"{money(used)} spent; " if used is not None else ""
            self.text.setText(f"{what}: {spent}no limit (set one in Settings → Costs & budgets)")
            return
        if used is None:
            self.bar.hide()
            self.text.setText(f"{what}: limit ${limit:,.2f} (choose a post to see how much it has used)")
            return
        share = used / limit * 100 if limit else (100.0 if used else 0.0)
        self.bar.show()
        self.bar.setValue(min(100, round(share)))
        self.bar.setFormat(f"{share:.0f}%")
        color = "#c0392b" if share >= 100 else "#b9770e" if share >= 80 else "#1e8449"
        self.bar.setStyleSheet(f"QProgressBar::chunk {{ background: {color}; }}")
        left = max(0.0, limit - used)
        self.text.setText(f"{what}: {money(used)} of ${limit:,.2f} used, {money(left)} left")


class CostsDialog(FitsScreen, QDialog):
    preferred_size = (960, 620)
    loaded = Signal()

    def __init__(self, ws, parent: QWidget | None = None, post_id: int | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self.post_id = post_id or None
        self._generation = 0
        self.rows: list[dict[str, Any]] = []
        self.setWindowTitle("Costs")

        self.grouping = QComboBox()
        self.grouping.setObjectName("grouping")
        for key, title, _ in GROUPINGS:
            self.grouping.addItem(title, key)
        self.scope = QComboBox()
        self.scope.setObjectName("scope")
        if self.post_id:
            self.scope.addItem("This post", False)
        self.scope.addItem("All posts", True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.status = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.scope)
        top.addWidget(self.grouping)
        top.addWidget(self.status, 1)
        top.addWidget(self.refresh_button)

        self.table = QTableWidget(0, len(COLUMNS) + 1)
        self.table.setObjectName("costs_table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS) + 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

        budgets = QGroupBox("Budgets")
        grid = QGridLayout(budgets)
        self.post_meter = BudgetMeter()
        self.month_meter = BudgetMeter()
        grid.addWidget(self.post_meter, 0, 0)
        grid.addWidget(self.month_meter, 1, 0)
        unpriced = ("refused" if ws.settings.unpriced_models == "refuse" else
                    "let through with a warning (they count as $0)")
        self.budget_hint = hint_label("A run whose estimate would go over a budget is refused before anything is "
                                      f"sent. Runs on a model with {UNPRICED} are {unpriced}.")
        grid.addWidget(self.budget_hint, 2, 0)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint_label(NOTE))
        layout.addWidget(budgets)
        layout.addWidget(buttons)

        self.grouping.currentIndexChanged.connect(self.refresh)
        self.scope.currentIndexChanged.connect(self.refresh)
        self.refresh()

    def grouped_by(self) -> str:
        return self.grouping.currentData()

    def all_posts(self) -> bool:
        return bool(self.scope.currentData())

    def refresh(self) -> None:
        self._generation += 1
        generation, ws, by, post_id, all_posts = (self._generation, self.ws, self.grouped_by(), self.post_id,
                                                  self.all_posts())
        self.status.setText("Loading…")
        self.refresh_button.setEnabled(False)

        def done(data: dict[str, Any]) -> None:
            if generation == self._generation:
                self._show(by, data)

        def failed(exc: Exception) -> None:
            if generation == self._generation:
                self.refresh_button.setEnabled(True)
                self.status.setText(f"<span style='color:#c0392b'>Could not read the costs: {exc}</span>")

        (BackgroundOp(lambda: load_costs(ws, by, post_id, all_posts)).success(if_alive(self, done))
         .failure(if_alive(self, failed)).run_in_background())

    def _label(self, by: str, row: dict[str, Any], titles: dict[int, str]) -> str:
        if by == "step":
            return row.get("step") or f"step {row.get('step_id')}"
        if by == "post":
            pid = row.get("post_id")
            title = titles.get(pid, "(deleted post)") if pid is not None else "(deleted post)"
            return f"{title}  (#{pid})"
        if by == "month":
            return month_label(row["month"])
        return row["model"]

    def _show(self, by: str, data: dict[str, Any]) -> None:
        self.rows = data["rows"]
        titles = data["titles"]
        self.refresh_button.setEnabled(True)
        scope = "all posts" if self.all_posts() or not self.post_id else f"“{titles.get(self.post_id, '')}”"
        self.status.setText(f"Estimated costs of {scope}" if self.rows else f"No runs with costs yet for {scope}.")
        heading = {key: name for key, _, name in GROUPINGS}[by]
        self.table.setHorizontalHeaderLabels([heading, *COLUMNS])
        self.table.setRowCount(len(self.rows) + 1)
        keys = ("units", "prompt_tokens", "completion_tokens", "images")
        for r, row in enumerate(self.rows):
            label = _number_item(self._label(by, row, titles))
            label.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, 0, label)
            for c, key in enumerate(keys, start=1):
                estimated = key.endswith("_tokens") and row.get("estimated_units")
                item = _number_item(tokens_text(row, key) if key.endswith("_tokens") else f"{row[key]:,}")
                if estimated:
                    item.setToolTip(f"{row['estimated_units']} of {row['units']} sections: the server did not "
                                    "report tokens, so they were estimated from the text's length")
                self.table.setItem(r, c, item)
            cost = _number_item(cost_text(row))
            if row.get("unpriced_units"):
                cost.setToolTip(f"{row['unpriced_units']} of {row['units']} sections ran on a model without a "
                                "known price; add one in Settings → Costs & budgets")
            self.table.setItem(r, len(keys) + 1, cost)
        total = len(self.rows)
        label = _number_item("Total", bold=True)
        label.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(total, 0, label)
        summed = {key: sum(r[key] for r in self.rows) for key in (*keys, "estimated_units", "unpriced_units")}
        summed["cost"] = self.total_cost()
        for c, key in enumerate(keys, start=1):
            text = tokens_text(summed, key) if key.endswith("_tokens") else f"{summed[key]:,}"
            self.table.setItem(total, c, _number_item(text, bold=True))
        self.table.setItem(total, len(keys) + 1, _number_item(cost_text(summed) if summed["units"] else
                                                              money(0), bold=True))
        settings = self.ws.settings
        post_name = f"This post (“{titles.get(self.post_id, '')}”)" if self.post_id else "Per post"
        self.post_meter.show_use(data["post_used"], settings.budget_per_post, post_name)
        self.month_meter.show_use(data["month_used"], settings.budget_per_month,
                                  f"This month ({costs.month_start().strftime('%B %Y')})")
        self.loaded.emit()

    def total_cost(self) -> float:
        return round(sum(r["cost"] for r in self.rows), 6)

