"""View → Costs: what runs cost (estimated), grouped by step, post, month or model, and how much of each budget
is used. Also the price table editor the Settings dialog shows on its "Costs & budgets" tab.

Everything is read in a BackgroundOp; the figures are wfdesk.runs.costs.totals / spent, unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
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
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.runs import costs, prices
from wfdesk.services import queries
from wfdesk.settings import ModelPrice
from wfdesk.ui.config_editor.parameters_form import hint_label, if_alive
from wfdesk.ui.screen_fit import FitsScreen
from wfdesk.ui.worker import BackgroundOp

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
            return f"{titles.get(pid, '(deleted post)')}  (#{pid})"
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
            self.table.setItem(r, 0, _number_item(self._label(by, row, titles)))
            self.table.item(r, 0).setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
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

    def table_text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item is not None else ""


# --- the price table editor (Settings → Costs & budgets) --------------------------------------------------

PRICE_COLUMNS = ["Model", "$ per 1k prompt tokens", "$ per 1k completion tokens", "$ per image", "Source"]
SOURCE_TEXT = {prices.LIBRARY: "price list (genai-prices)", "per image": "price list (per image)"}
PRICE_FIELDS = ("prompt_per_1k", "completion_per_1k", "per_image")


class _PriceDelegate(QStyledItemDelegate):
    """Only non-negative numbers can be typed into a price cell."""

    def createEditor(self, parent, option, index):  # noqa: N802 - Qt override
        editor = super().createEditor(parent, option, index)
        if isinstance(editor, QLineEdit) and 1 <= index.column() <= 3:
            validator = QDoubleValidator(0.0, 1_000_000.0, 8, editor)
            validator.setNotation(QDoubleValidator.Notation.StandardNotation)
            editor.setValidator(validator)
        return editor


STARTER = prices.STARTER_MODELS


def _source(name: str) -> str:
    return "per image" if name in prices.PER_IMAGE else prices.LIBRARY


def _price_text(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") if value else "0"


def _known(name: str) -> ModelPrice | None:
    """A model's price from the price list (None: not listed); a price of your own overrides it."""
    return prices.known_price(name) if name else None


class PriceTable(QTableWidget):
    """Common models with their price-list prices, and the user's own prices on top; only what differs from the
    price list is saved. A model of your own that the list also knows shows the list's price as its source."""

    def __init__(self, prices: dict[str, ModelPrice], parent: QWidget | None = None) -> None:
        super().__init__(0, len(PRICE_COLUMNS), parent)
        self.setObjectName("price_table")
        self.setHorizontalHeaderLabels(PRICE_COLUMNS)
        self.setItemDelegate(_PriceDelegate(self))
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(PRICE_COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._filling = False
        self.itemChanged.connect(self._changed)
        self.load(prices)

    def load(self, own: dict[str, ModelPrice]) -> None:
        self._filling = True
        self.setRowCount(0)
        self._listed = {name: p for name in STARTER if (p := _known(name)) is not None}
        names = list(self._listed) + sorted(m for m in own if m not in self._listed)
        for name in names:
            self._append(name, own.get(name) or self._listed[name])
        self._filling = False
        for row in range(self.rowCount()):
            self._mark(row)

    def _append(self, name: str, price: ModelPrice) -> int:
        row = self.rowCount()
        self.insertRow(row)
        model = QTableWidgetItem(name)
        if name in self._listed:
            model.setFlags(model.flags() & ~Qt.ItemFlag.ItemIsEditable)  # a listed row is overridden, not renamed
            model.setToolTip("A price from the price list: change its figures to use your own")
        self.setItem(row, 0, model)
        for col, field in enumerate(PRICE_FIELDS, start=1):
            item = QTableWidgetItem(_price_text(getattr(price, field)))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, col, item)
        origin = QTableWidgetItem()
        origin.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.setItem(row, 4, origin)
        return row

    def add_row(self, name: str = "", price: ModelPrice | None = None) -> int:
        self._filling = True
        row = self._append(name, price or ModelPrice())
        self._filling = False
        self._mark(row)
        self.setCurrentCell(row, 0)
        if not name:
            self.editItem(self.item(row, 0))
        return row

    def remove_current(self) -> None:
        """A price of your own goes; a price-list row goes back to the list's figures."""
        row = self.currentRow()
        if row < 0:
            return
        name = self.item(row, 0).text().strip()
        if self._builtin_row(row):
            self._filling = True
            for col, field in enumerate(PRICE_FIELDS, start=1):
                self.item(row, col).setText(_price_text(getattr(self._listed[name], field)))
            self._filling = False
            self._mark(row)
        else:
            self.removeRow(row)

    def _builtin_row(self, row: int) -> bool:
        """A price-list row (its name cannot be edited), as opposed to one you added."""
        item = self.item(row, 0)
        return item.text() in self._listed and not item.flags() & Qt.ItemFlag.ItemIsEditable

    def row_of(self, name: str) -> int:
        for row in range(self.rowCount()):
            if self.item(row, 0).text().strip() == name:
                return row
        return -1

    def set_price(self, name: str, **values: float) -> None:
        """Set figures of a model's row (added if missing), as typing them would."""
        row = self.row_of(name)
        if row < 0:
            row = self.add_row(name)
        for col, field in enumerate(PRICE_FIELDS, start=1):
            if field in values:
                self.item(row, col).setText(_price_text(values[field]))

    def _row_price(self, row: int) -> ModelPrice:
        values = {}
        for col, field in enumerate(PRICE_FIELDS, start=1):
            text = self.item(row, col).text().strip().replace(",", ".") or "0"
            try:
                values[field] = float(text)
            except ValueError:
                raise ValueError(f"{self.item(row, 0).text() or 'row ' + str(row + 1)}: {text!r} is not a "
                                 "price") from None
            if values[field] < 0:
                raise ValueError(f"{self.item(row, 0).text()}: a price cannot be negative")
        return ModelPrice(**values)

    def _mark(self, row: int) -> None:
        name = self.item(row, 0).text().strip()
        try:
            price = self._row_price(row)
        except ValueError:
            price = None
        listed = self._listed.get(name) if self._builtin_row(row) else None
        if listed is not None and price == listed:
            text = SOURCE_TEXT.get(_source(name), "price list")
        elif listed is not None or _known(name) is not None:
            text = "yours (over the price list)"
        else:
            text = "yours"
        origin = self.item(row, 4)
        origin.setText(text)
        origin.setForeground(self.palette().placeholderText() if text.startswith("price list")
                             else self.palette().text())

    def _changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and self.item(item.row(), 4) is not None:
            self._filling = True
            self._mark(item.row())
            self._filling = False

    def user_prices(self) -> dict[str, ModelPrice]:
        """The prices to save: your own models, and built-in ones whose figures you changed. Raises ValueError."""
        out: dict[str, ModelPrice] = {}
        for row in range(self.rowCount()):
            name = self.item(row, 0).text().strip()
            price = self._row_price(row)
            if not name:
                if price == ModelPrice():
                    continue  # an empty row nobody filled in
                raise ValueError(f"row {row + 1}: give the model's name, as steps write it (e.g. gpt-4o-mini)")
            if name in out or (name in self._listed and not self._builtin_row(row)):
                raise ValueError(f"{name} is in the table twice")
            if self._listed.get(name) != price:
                out[name] = price
        return out


__all__ = ["CostsDialog", "PriceTable", "load_costs", "money"]
