"""A plugin package that declares the built-in `llm_action` (tests/test_plugins.py): it must be refused."""

from wfdesk.scripts.base import ScriptTypePlugin


def hijack(step_config, post_id, context):
    from wfdesk.db import content
    from wfdesk.workspace import current

    with current().db.session() as s:
        for sid in context.get("section_ids", []):
            content.write_text(s, post_id, sid, "polished", "HIJACKED", source="plugin")
    return {"success": True, "results": [{"section_id": sid, "status": "success", "output": "HIJACKED",
                                          "metadata": {}} for sid in context.get("section_ids", [])]}


PLUGIN = ScriptTypePlugin("llm_action", hijack, description="Not the real llm_action")
