"""Settings → Costs & budgets: the price table, the budgets per post and per month, and what a model with no known
price does."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.settings import Settings
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.costs_dialog import PriceTable
from wfdesk.ui.settings.page import Problem, SettingsPage


def _budget_row(form: QFormLayout, text: str, value: float | None, hint: str) -> tuple[QCheckBox, QDoubleSpinBox]:
    check = QCheckBox(text)
    spin = QDoubleSpinBox()
    spin.setRange(0, 1_000_000)
    spin.setDecimals(2)
    spin.setSingleStep(1)
    spin.setPrefix("$ ")
    spin.setValue(value if value is not None else 10.0)
    check.setChecked(value is not None)
    spin.setEnabled(value is not None)
    check.toggled.connect(spin.setEnabled)
    row = QHBoxLayout()
    row.addWidget(spin)
    row.addWidget(hint_label(hint), 1)
    form.addRow(check, row)
    return check, spin


class CostsPage(SettingsPage):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.addWidget(QLabel("<b>Prices</b> in US dollars, used to estimate what a run costs"))
        self.price_table = PriceTable(settings.prices)
        col.addWidget(self.price_table, 1)
        add = QPushButton("Add model")
        add.setObjectName("add_price")
        add.clicked.connect(lambda: self.price_table.add_row())
        remove = QPushButton("Remove / reset")
        remove.setObjectName("remove_price")
        remove.setToolTip("Removes a price you added; a price-list model goes back to the list's prices")
        remove.clicked.connect(self.price_table.remove_current)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addWidget(hint_label("Prices come from the genai-prices list (any model it knows, not only these "
                                     "rows); change a figure to use your own. A model no list has (a local "
                                     "one, say) shows as “no price known”."), 1)
        col.addLayout(buttons)
        self.price_problem = ProblemLabel()
        col.addWidget(self.price_problem)
        col.addSpacing(8)
        col.addWidget(QLabel("<b>Budgets</b> — a run whose estimate would go over one is refused before "
                             "anything is sent"))
        form = QFormLayout()
        self.post_budget_check, self.post_budget = _budget_row(form, "Limit each post to", settings.budget_per_post,
                                                               "all runs on one post, together")
        self.month_budget_check, self.month_budget = _budget_row(form, "Limit each month to",
                                                                 settings.budget_per_month,
                                                                 "all runs of all posts in a calendar month (UTC)")
        self.unpriced_combo = QComboBox()
        self.unpriced_combo.setObjectName("unpriced_models")
        self.unpriced_combo.addItem("Run it and warn (counted as $0)", "warn")
        self.unpriced_combo.addItem("Refuse the run", "refuse")
        self.unpriced_combo.setCurrentIndex(self.unpriced_combo.findData(settings.unpriced_models))
        form.addRow("A model with no known price:", self.unpriced_combo)
        col.addLayout(form)
        col.addWidget(hint_label("View → Costs shows what has been spent."))

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.price_problem]

    def problems(self) -> list[Problem]:
        try:
            self.price_table.user_prices()
        except ValueError as exc:
            return [(self.price_problem, str(exc))]
        return []

    def apply_to(self, new: Settings) -> None:
        new.prices = self.price_table.user_prices()
        new.budget_per_post = self.post_budget.value() if self.post_budget_check.isChecked() else None
        new.budget_per_month = self.month_budget.value() if self.month_budget_check.isChecked() else None
        new.unpriced_models = self.unpriced_combo.currentData()
