"""The result cache in a step panel: the "Reuse earlier identical answers" box of the run options, and the words
that tell an editor an answer was reused (wfdesk/runs/result_cache.py has the rule)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QWidget

from wfdesk.runs.result_cache import FRESH_ANSWERS

LABEL = "Reuse earlier identical answers"
TOOLTIP = ("Use an earlier successful run's answer again when the section's text, the prompt,\n"
           "the model and its settings are exactly the same: nothing is sent, nothing is paid.\n"
           "Only answers asked at temperature 0 are reused: at a higher temperature every\n"
           "answer is a new draft. Untick to ask the provider for fresh answers.")


class ReuseAnswersBox(QCheckBox):
    """Checked by default; the panel keeps the editor's choice across steps (see `remember`)."""

    def __init__(self, checked: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(LABEL, parent)
        self.setObjectName("reuseAnswers")
        self.setToolTip(TOOLTIP)
        self.setChecked(checked)

    def follow_temperature(self, temperature: float) -> None:
        """Greyed out where the rule reuses nothing anyway, saying why."""
        sampled = temperature > 0
        self.setEnabled(not sampled)
        self.setToolTip(f"At temperature {temperature:g} every run asks anew: only answers asked at\n"
                        "temperature 0 are reused. Set Temperature to 0 to reuse identical answers."
                        if sampled else TOOLTIP)

    def context(self) -> dict[str, Any]:
        """What the run context says: nothing for the default, fresh answers when unchecked."""
        return {} if self.isChecked() else {FRESH_ANSWERS: True}

    def note(self) -> str:
        """The options summary's part: only when the run differs from the default."""
        return "" if self.isChecked() else "fresh answers"


def reused_note(result: dict[str, Any]) -> str:
    """The status line's words for the answers a run reused, or ""."""
    reused = sum(1 for r in result.get("results") or [] if (r.get("metadata") or {}).get("reused"))
    if not reused:
        return ""
    if reused == 1:
        return "1 answer was reused from an earlier identical run (nothing sent, nothing paid)."
    return f"{reused} answers were reused from earlier identical runs (nothing sent, nothing paid)."


def reused_origin(meta: dict[str, Any]) -> str:
    """A version's origin suffix when its text is a reused answer."""
    run = meta.get("reused_from_run")
    return f" · reused from run #{run}" if meta.get("reused") and run else (" · reused" if meta.get("reused") else "")
