"""`llm_action`: a stored LLM action (prompt template + model settings) over each selected section, or the post."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wfdesk.db.models import LLMAction
from wfdesk.errors import Problem
from wfdesk.providers.answers import ChatAnswer, finished_text
from wfdesk.providers.chat import PLAIN_BODY_CAP, STREAM_BODY_CAP, ask, ask_streaming, chat_request
from wfdesk.providers.openai_compat import adaptations_for, call_adapting, profile_for, resolve_base_url
from wfdesk.scripts.base import (
    CancelToken,
    Job,
    OutputWrite,
    SectionHandler,
    UnitOutcome,
    UnitPlan,
)
from wfdesk.scripts.config import LLMParameters, StepConfig
from wfdesk.scripts.templates import PromptTemplateError, render, variables_used
from wfdesk.usage import Usage
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    import openai  # imported on first use: it costs half a second at start-up


def template_variables(job: Job[Any], section_id: int | None) -> dict[str, Any]:
    """The names a prompt template may use: the post, the section and its fields, the step's input keys."""
    section = next((s for s in job.sections if s.id == section_id), None)
    variables: dict[str, Any] = {}
    variables.update(job.post.fields)
    if section is not None:
        variables.update(section.fields)
    variables.update(job.input_values(section))
    variables["post"] = job.post.as_template_var()
    variables["section"] = section.as_template_var() if section is not None else None
    return variables


class LLMActionHandler(SectionHandler[LLMParameters]):
    script_type = "llm_action"
    description = "Runs a stored LLM action (prompt template) over each selected section, or the post."
    parameters_model = LLMParameters

    def check_config(self, ws: Workspace, config: StepConfig, params: LLMParameters) -> list[Problem]:
        action_id = config.script_config.action_id
        if action_id is None:
            return [Problem("script_config.action_id", "is required for llm_action steps")]
        with ws.db.session() as s:
            action = s.get(LLMAction, action_id)
            if action is None:
                return [Problem("script_config.action_id", f"LLM action {action_id} does not exist")]
            template, name = action.prompt_template, action.name
        try:
            variables_used(template)
        except PromptTemplateError as exc:
            return [Problem(f"llm_action[{action_id}].prompt_template", f"“{name}”: {exc}")]
        return []

    def check(self, job: Job[LLMParameters]) -> list[Problem]:
        action_id = job.config.script_config.action_id
        with job.workspace.db.session() as s:
            action = s.get(LLMAction, action_id)
            if action is None:  # deleted since check_config found it
                return [Problem("script_config.action_id", f"LLM action {action_id} does not exist")]
            job.state["action"] = {"id": action.id, "name": action.name, "template": action.prompt_template,
                                   "model": action.model, "temperature": action.temperature,
                                   "max_tokens": action.max_tokens}
        # Render every prompt now: a missing variable is a validation error before anything is sent.
        problems = []
        prompts: dict[int | None, str] = {}
        for section in job.sections_or_post():
            sid = section.id if section else None
            try:
                prompts[sid] = render(job.state["action"]["template"], template_variables(job, sid))
            except PromptTemplateError as exc:
                where = f"section “{section.title}”" if section else "the post"
                problems.append(Problem(f"llm_action[{action_id}].prompt_template",
                                        f"“{job.state['action']['name']}”: {exc} (for {where})"))
                break
        job.state["prompts"] = prompts
        return problems

    def plan(self, job: Job[LLMParameters]) -> list[UnitPlan]:
        return [UnitPlan(section_id=sid, payload={"prompt": prompt}) for sid, prompt in job.state["prompts"].items()]

    def estimate(self, job: Job[LLMParameters], plans: list[UnitPlan]) -> list[Usage]:
        settings = self.settings(job)
        out = []
        for plan in plans:
            prompt_tokens = max(1, len(plan.payload["prompt"]) // 4)  # ~4 characters a token in English
            out.append(Usage(settings["model"], prompt_tokens, settings["max_tokens"] or prompt_tokens))
        return out

    def settings(self, job: Job[LLMParameters]) -> dict[str, Any]:
        action, params = job.state["action"], job.parameters
        return {"model": params.model or action["model"],
                "temperature": params.temperature if params.temperature is not None else action["temperature"],
                "max_tokens": params.max_tokens if params.max_tokens is not None else action["max_tokens"]}

    def execute(self, job: Job[LLMParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: LLMParameters = job.parameters
        ws = job.workspace
        profile = profile_for(ws, params.provider)
        settings = self.settings(job)
        request = chat_request(settings["model"], unit.payload["prompt"], temperature=settings["temperature"],
                               max_tokens=settings["max_tokens"], reasoning_effort=params.reasoning_effort)
        if params.timeout:
            request["timeout"] = params.timeout
        # Set in the step (or the run's settings), `stream` is obeyed; left unset, a run someone watches streams
        # (live text) and falls back to a plain answer when the server refuses streaming.
        explicit = "stream" in params.model_fields_set
        streaming = {"on": params.stream if explicit else job.live_text is not None}
        if streaming["on"]:
            request["stream_options"] = {"include_usage": True}  # left out for servers that refuse it
        live = _LiveText(job.live_text, unit.section_id) if job.live_text is not None else None

        def send(client: openai.OpenAI, shaped: dict[str, Any]) -> ChatAnswer:
            import openai

            if not streaming["on"]:
                return ask(client, {k: v for k, v in shaped.items() if k != "stream_options"})
            if live is not None:
                live.attempt()
            try:
                return ask_streaming(client, shaped, cancel, live)
            except openai.APIStatusError as exc:
                if explicit or not refuses_streaming(exc):
                    raise
            streaming["on"] = False
            return send(client, shaped)

        answer = call_adapting(ws, profile, request, send, cancel, what="text answer", path="chat completions",
                               max_bytes=STREAM_BODY_CAP if streaming["on"] else PLAIN_BODY_CAP)
        where = resolve_base_url(profile) or "the OpenAI API"
        text, extra = finished_text(answer, where, settings["max_tokens"], streamed=streaming["on"])
        usage = answer.usage
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        completion_tokens = getattr(usage, "completion_tokens", 0) or 0
        metadata = {"model": answer.model or settings["model"], "action_id": job.state["action"]["id"],
                    "temperature": request.get("temperature"), "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens, **extra}
        if usage is None:
            metadata["usage_reported"] = False  # many local servers send none
        if learned := adaptations_for(ws).learned(profile.name, settings["model"]):
            metadata["adapted"] = learned
        return UnitOutcome(outputs=[OutputWrite(field=f, text=text) for f in job.output_fields()],
                           entry={"output": text}, metadata=metadata, prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens)

    # --- result cache (wfdesk/runs/result_cache.py) -------------------------------------------------------------
    def reusable_request(self, job: Job[LLMParameters], unit: UnitPlan) -> dict[str, Any] | None:
        """What decides the answer: the request as it is shaped for the model, and the provider's address."""
        try:
            address = resolve_base_url(job.workspace.settings.provider(job.parameters.provider))
        except KeyError:
            return None  # an unknown provider: execute() says so
        settings = self.settings(job)
        request = chat_request(settings["model"], unit.payload["prompt"], temperature=settings["temperature"],
                               max_tokens=settings["max_tokens"], reasoning_effort=job.parameters.reasoning_effort)
        return {"provider": address or "https://api.openai.com/v1", "request": request}


class _LiveText:
    """The answer's pieces for whoever watches the run; a request sent again (a retry) starts the text over."""

    def __init__(self, live: Callable[[int | None, str, bool], None], section_id: int | None) -> None:
        self.live, self.section_id, self.sent = live, section_id, False

    def attempt(self) -> None:
        if self.sent:
            self.live(self.section_id, "", True)
            self.sent = False

    def __call__(self, piece: str) -> None:
        self.live(self.section_id, piece, False)
        self.sent = True


def refuses_streaming(exc: Exception) -> bool:
    """A server that does not stream says so with a 4xx naming streaming ("stream is not supported")."""
    status = getattr(exc, "status_code", None)
    return status in (400, 404, 405, 415, 422, 501) and "stream" in str(getattr(exc, "message", exc)).lower()


execute_llm_action = LLMActionHandler()
PLUGIN = execute_llm_action.as_plugin()
