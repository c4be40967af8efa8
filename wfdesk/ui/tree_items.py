"""A QTreeWidget's items, typed as they are.

PySide6 types `topLevelItem(i)` and `child(i)` as possibly None (they are, out of range only), and the item of
`setCurrentItem` as never None (Qt takes None: no current item).
"""

from __future__ import annotations

from typing import cast

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


def top_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    """The tree's top-level items, in order."""
    return [item for i in range(tree.topLevelItemCount()) if (item := tree.topLevelItem(i)) is not None]


def child_items(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    """The item's children, in order."""
    return [child for i in range(item.childCount()) if (child := item.child(i)) is not None]


def set_current_item(tree: QTreeWidget, item: QTreeWidgetItem | None) -> None:
    """Make the item current; None leaves no current item."""
    # PySide6's stubs are wrong here: QTreeWidget::setCurrentItem takes a null item (and PySide6 takes None).
    tree.setCurrentItem(cast(QTreeWidgetItem, item))
