"""`image_generation`: an image per selected section from its prompt, stored content-addressed as a candidate."""

from __future__ import annotations

import base64
import binascii
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wfdesk.errors import Problem, UnitError
from wfdesk.media.download import DownloadError, download_image
from wfdesk.media.store import discard, store_image
from wfdesk.media.verify import ImageError, verify_image
from wfdesk.providers import a1111, comfyui, openai_images
from wfdesk.providers.openai_compat import call_adapting, is_openai_api, profile_for, resolve_base_url
from wfdesk.providers.resilience import MalformedAnswerError, error_in_answer, not_an_api_answer
from wfdesk.providers.shared_gate import gate_for_provider
from wfdesk.scripts.base import CancelToken, Job, OutputWrite, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import ImageParameters, StepConfig
from wfdesk.usage import Usage
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    import openai  # imported on first use: it costs half a second at start-up
    from openai.types import ImagesResponse

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
# One answer's HTTP body: base64 is 4/3 of the image, plus JSON (several images share the cap).
MAX_IMAGE_ANSWER_BYTES = MAX_DOWNLOAD_BYTES * 4 // 3 + 1024 * 1024


def prompt_for(job: Job[ImageParameters], section_id: int | None) -> str:
    """The step's first input for the section, unless context.inputs gives one (by input key or db_field)."""
    section = next((s for s in job.sections if s.id == section_id), None)
    values = job.input_values(section)
    for key in job.config.inputs:
        if values.get(key):
            return str(values[key])
    overrides = job.context.get("inputs") or {}
    for key in ("prompt", "image_prompt", "image_prompts"):
        if overrides.get(key):
            return str(overrides[key])
    return ""


class ImageGenerationHandler(SectionHandler[ImageParameters]):
    script_type = "image_generation"
    description = "Generates an image per section for the editor to accept or reject."
    parameters_model = ImageParameters

    def check_config(self, ws: Workspace, config: StepConfig, params: ImageParameters) -> list[Problem]:
        if not config.outputs:
            return [Problem("outputs", "an image_generation step needs an output field for the image URL")]
        if backend_of(ws, params) == "comfyui":
            try:
                comfyui.load_workflow(params.workflow)
            except comfyui.WorkflowError as exc:
                return [Problem("script_config.parameters.workflow", f"the ComfyUI workflow {exc}")]
        return self._openai_problems(ws, params)

    @staticmethod
    def _openai_problems(ws: Workspace, params: ImageParameters) -> list[Problem]:
        if backend_of(ws, params) != "openai":
            return []
        problems = openai_images.option_problems(params)
        try:
            profile = ws.settings.provider(params.provider)
        except KeyError:
            return problems  # reported by the run itself, with the way to add it
        if is_openai_api(profile):
            problems += openai_images.openai_api_problems(params)
        return problems

    def check(self, job: Job[ImageParameters]) -> list[Problem]:
        problems = []
        for section in job.sections_or_post():
            sid = section.id if section else None
            if not prompt_for(job, sid).strip():
                field = next(iter(job.config.inputs.values()), None)
                what = f"input {field.label!r} ({field.db_field})" if field else "the prompt (context.inputs)"
                where = f"section {sid} ({section.title!r})" if section else "the post"
                problems.append(Problem("inputs", f"{what} is empty for {where}"))
        return problems

    def plan(self, job: Job[ImageParameters]) -> list[UnitPlan]:
        return [UnitPlan(section_id=s.id if s else None, payload={"prompt": prompt_for(job, s.id if s else None)})
                for s in job.sections_or_post()]

    def estimate(self, job: Job[ImageParameters], plans: list[UnitPlan]) -> list[Usage]:
        params: ImageParameters = job.parameters
        if backend_of(job.workspace, params) in LOCAL_BACKENDS:
            return []  # a local server
        return [Usage(params.model, images=params.n) for _ in plans]

    def execute(self, job: Job[ImageParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: ImageParameters = job.parameters
        backend = backend_of(job.workspace, params)
        if backend == "a1111":
            return self._execute_a1111(job, unit, cancel)
        if backend == "comfyui":
            return self._execute_comfyui(job, unit, cancel)
        profile = profile_for(job.workspace, params.provider)
        base_url = resolve_base_url(profile)

        def ask(client: openai.OpenAI, request: dict[str, Any]) -> ImagesResponse:
            answer: ImagesResponse = client.images.generate(**request, timeout=params.timeout)
            if (problem := not_an_api_answer(answer)) is not None:
                raise problem  # a web page at the base URL
            extra = getattr(answer, "model_extra", None) or {}
            if extra.get("error") and not getattr(answer, "data", None):
                raise error_in_answer(extra)  # a proxy passing an upstream failure on as a 200
            if not getattr(answer, "data", None):
                raise MalformedAnswerError("sent no image")
            return answer

        images: list[bytes] = []
        revised: str | None = None
        usage: dict[str, int] = {}
        for request in openai_images.image_requests(params, unit.payload["prompt"]):
            answer = call_adapting(job.workspace, profile, request, ask, cancel, max_bytes=MAX_IMAGE_ANSWER_BYTES,
                                   what="image answer", path="images")
            images += [self._bytes_of(item, params.timeout, cancel) for item in answer.data or []]
            for key, value in (getattr(getattr(answer, "usage", None), "__dict__", None) or {}).items():
                if isinstance(value, int):  # GPT image models report tokens: input_tokens, output_tokens, ...
                    usage[key] = usage.get(key, 0) + value
            revised = revised or next((r for r in (getattr(i, "revised_prompt", None) for i in answer.data or []) if r),
                                      None)
        return self._outcome(job, unit, images, base_url or "the provider", revised, params.model,
                             usage=usage or None)

    def _execute_a1111(self, job: Job[ImageParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: ImageParameters = job.parameters
        base_url = job.workspace.settings.a1111_base_url
        width, height = (512, 512) if params.size == "auto" else map(int, params.size.split("x"))
        # A1111 renders one request at a time: a shared gate keeps every worker in line.
        ws = job.workspace
        gate = ws.cached(("gate", "a1111", base_url), lambda: gate_for_provider(ws.db, "a1111", base_url, 1))
        with gate.slot(cancel):
            images, info = a1111.txt2img(base_url, prompt=unit.payload["prompt"], width=width, height=height,
                                         n=params.n, steps=params.steps, timeout=params.timeout, cancel=cancel,
                                         negative_prompt=params.negative_prompt)
        return self._outcome(job, unit, images, base_url, None, info.get("sd_model_name") or params.model,
                             backend="a1111", seed=info.get("seed"))

    def _execute_comfyui(self, job: Job[ImageParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: ImageParameters = job.parameters
        base_url = (params.comfyui_url or job.workspace.settings.comfyui_base_url).rstrip("/")
        graph = comfyui.load_workflow(params.workflow)
        width, height = (512, 512) if params.size == "auto" else map(int, params.size.split("x"))
        seed = params.seed if params.seed is not None else random.randrange(2**32)
        values = {"prompt": unit.payload["prompt"], "negative_prompt": params.negative_prompt or "", "width": width,
                  "height": height, "batch_size": params.n, "seed": seed, "steps": params.steps,
                  "checkpoint": params.checkpoint}
        # One render at a time per server, like A1111: the step's timeout is the render's, not the queue's.
        ws = job.workspace
        gate = ws.cached(("gate", "comfyui", base_url), lambda: gate_for_provider(ws.db, "comfyui", base_url, 1))
        with gate.slot(cancel):
            if values["checkpoint"] is None and comfyui.uses(graph, "checkpoint"):
                names = comfyui.checkpoints(base_url)
                if not names:
                    raise UnitError(f"ComfyUI at {base_url} has no checkpoint to render with")
                values["checkpoint"] = names[0]
            images = comfyui.render(base_url, comfyui.fill(graph, values), timeout=params.timeout, cancel=cancel)
        return self._outcome(job, unit, images, f"ComfyUI at {base_url}", None,
                             values["checkpoint"] or params.model, backend="comfyui", seed=seed)

    def _outcome(self, job: Job[ImageParameters], unit: UnitPlan, images: list[bytes], source: str, revised: str | None,
                 model: str, **extra: Any) -> UnitOutcome:
        params: ImageParameters = job.parameters
        generated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        field = job.output_fields()[0]
        infos = []
        for i, data in enumerate(images):
            try:
                infos.append(verify_image(data))  # every image, fully decoded here, before any file is written
            except ImageError as exc:
                raise UnitError(f"image {i + 1} from {source} is not usable: {exc}") from None
        outputs: list[OutputWrite] = []
        try:
            for i, (data, info) in enumerate(zip(images, infos, strict=True)):
                stored = store_image(job.workspace.data_dir, job.post.id, unit.section_id, data, verified=info)
                outputs.append(OutputWrite(field=field, image=stored, accept=params.auto_accept and i == 0))
        except BaseException:
            discard(job.workspace.data_dir, [w.image for w in outputs if w.image])  # a section keeps all or none
            raise
        first = outputs[0].image
        assert first is not None  # every output above holds a stored image
        metadata = {"model": model, "generation_time": generated_at, "size": params.size,
                    "prompt": unit.payload["prompt"], "revised_prompt": revised,
                    "width": first.info.width, "height": first.info.height,
                    **{k: v for k, v in extra.items() if v is not None}}
        return UnitOutcome(outputs=outputs, entry={"image_url": first.image_url}, metadata=metadata,
                           images=len(outputs))

    @staticmethod
    def _bytes_of(item: Any, timeout: float, cancel: CancelToken | None = None) -> bytes:
        b64 = getattr(item, "b64_json", None)
        url = getattr(item, "url", None)
        if b64:
            return _b64(b64)
        if b64 is not None and not url:
            raise UnitError("the provider sent an empty image")
        if not url:
            raise UnitError("the provider's answer holds neither b64_json nor url")
        if url.startswith("data:"):
            _, _, payload = url.partition(",")
            if ";base64" not in url.split(",", 1)[0]:
                raise UnitError("the image data: URL is not base64-encoded")
            return _b64(payload)
        try:
            return download_image(url, timeout=timeout, max_bytes=MAX_DOWNLOAD_BYTES, cancel=cancel)
        except DownloadError as exc:
            raise UnitError(str(exc)) from None


LOCAL_BACKENDS = ("a1111", "comfyui")


def backend_of(ws: Workspace, params: ImageParameters) -> str:
    """The step's own backend, else the one chosen in Settings."""
    return params.backend or ws.settings.image_backend


def _b64(text: str) -> bytes:
    if len(text) * 3 // 4 > MAX_DOWNLOAD_BYTES:
        raise UnitError(f"the image is larger than {MAX_DOWNLOAD_BYTES // 2**20} MB; refused")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UnitError("the image data is not valid base64") from None


execute_image_generation = ImageGenerationHandler()
PLUGIN = execute_image_generation.as_plugin()
