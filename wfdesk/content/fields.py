"""Kept for the modules that import it from here: it moved to wfdesk.rendering.fields, below the scripts layer,
whose WordPress handler uses it too."""

from wfdesk.rendering.fields import DRAFT, body_candidates, choose_body, image_fields, image_prompt_fields

__all__ = ["DRAFT", "body_candidates", "choose_body", "image_fields", "image_prompt_fields"]
