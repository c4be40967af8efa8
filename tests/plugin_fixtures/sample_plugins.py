"""Entry-point targets for tests/test_plugins.py."""

from pydantic import Field

from wfdesk.scripts.base import ScriptTypePlugin
from wfdesk.scripts.config import Parameters


class EchoParameters(Parameters):
    word: str = Field("hello", min_length=1)
    times: int = Field(1, ge=1, le=5)


def echo(step_config, post_id, context):
    params = step_config.get("script_config", {}).get("parameters", {})
    text = " ".join([params.get("word", "hello")] * int(params.get("times", 1)))
    return {"success": True, "results": [{"section_id": sid, "status": "success", "output": text, "metadata": {}}
                                         for sid in context.get("section_ids", [])]}


ECHO = ScriptTypePlugin("echo_words", echo, EchoParameters, description="Repeats a word")
DUPLICATE = ScriptTypePlugin("llm_action", echo)
NOT_A_HANDLER = 42
