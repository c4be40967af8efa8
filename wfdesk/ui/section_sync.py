"""One current section for the sections table and a step panel's section picker: choosing a section in either
selects it in the other, so the field being edited and the results being reviewed are of the same section."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wfdesk.ui.panels.section_picker import SectionPicker
    from wfdesk.ui.sections_view import SectionsView


def link_current_section(sections: SectionsView, picker: SectionPicker) -> None:
    """Keep the two on the same section from now on, starting from the table's."""
    sections.section_chosen.connect(picker.set_current)
    picker.section_chosen.connect(sections.select_section)
    current = sections.current_section_id()
    if current is not None:
        picker.set_current(current)
