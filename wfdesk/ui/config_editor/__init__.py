"""The step config editor (a form and its raw JSON), a post's override of a step, and the LLM action editor."""

from wfdesk.ui.config_editor.llm_action_dialog import LLMActionDialog
from wfdesk.ui.config_editor.step_dialog import StepConfigDialog

__all__ = ["LLMActionDialog", "StepConfigDialog"]
