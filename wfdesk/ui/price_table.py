"""The price table editor (Settings → Costs & budgets): the built-in price list and the editor's own prices per
model, editable in place; only non-negative numbers can be typed into a price cell."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)
from typing_extensions import override

from wfdesk.runs import prices
from wfdesk.settings import ModelPrice

PRICE_COLUMNS = ["Model", "$ per 1k prompt tokens", "$ per 1k completion tokens", "$ per image", "Source"]
SOURCE_TEXT = {prices.LIBRARY: "price list (genai-prices)", "per image": "price list (per image)"}
PRICE_FIELDS = ("prompt_per_1k", "completion_per_1k", "per_image")


class _PriceDelegate(QStyledItemDelegate):
    """Only non-negative numbers can be typed into a price cell."""

    @override
    def createEditor(self, parent, option, index):
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

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        """A cell of a row: `_append` gives every row all its cells."""
        item = self.item(row, col)
        if item is None:
            raise LookupError(f"the price table has no cell at row {row}, column {col}")
        return item

    def add_row(self, name: str = "", price: ModelPrice | None = None) -> int:
        self._filling = True
        row = self._append(name, price or ModelPrice())
        self._filling = False
        self._mark(row)
        self.setCurrentCell(row, 0)
        if not name:
            self.editItem(self._cell(row, 0))
        return row

    def remove_current(self) -> None:
        """A price of your own goes; a price-list row goes back to the list's figures."""
        row = self.currentRow()
        if row < 0:
            return
        name = self._cell(row, 0).text().strip()
        if self._builtin_row(row):
            self._filling = True
            for col, field in enumerate(PRICE_FIELDS, start=1):
                self._cell(row, col).setText(_price_text(getattr(self._listed[name], field)))
            self._filling = False
            self._mark(row)
        else:
            self.removeRow(row)

    def _builtin_row(self, row: int) -> bool:
        """A price-list row (its name cannot be edited), as opposed to one you added."""
        item = self._cell(row, 0)
        return item.text() in self._listed and not item.flags() & Qt.ItemFlag.ItemIsEditable

    def row_of(self, name: str) -> int:
        for row in range(self.rowCount()):
            if self._cell(row, 0).text().strip() == name:
                return row
        return -1

    def set_price(self, name: str, **values: float) -> None:
        """Set figures of a model's row (added if missing), as typing them would."""
        row = self.row_of(name)
        if row < 0:
            row = self.add_row(name)
        for col, field in enumerate(PRICE_FIELDS, start=1):
            if field in values:
                self._cell(row, col).setText(_price_text(values[field]))

    def _row_price(self, row: int) -> ModelPrice:
        values = {}
        for col, field in enumerate(PRICE_FIELDS, start=1):
            text = self._cell(row, col).text().strip().replace(",", ".") or "0"
            try:
                values[field] = float(text)
            except ValueError:
                raise ValueError(f"{self._cell(row, 0).text() or 'row ' + str(row + 1)}: {text!r} is not a "
                                 "price") from None
            if values[field] < 0:
                raise ValueError(f"{self._cell(row, 0).text()}: a price cannot be negative")
        return ModelPrice(**values)

    def _mark(self, row: int) -> None:
        name = self._cell(row, 0).text().strip()
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
        origin = self._cell(row, 4)
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
            name = self._cell(row, 0).text().strip()
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
