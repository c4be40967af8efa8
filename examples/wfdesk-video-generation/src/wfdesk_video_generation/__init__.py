"""A `video_generation` script type, as in the reference document's "Future Extensibility" example.

It turns a section's images (the accepted one first, then the candidates) into a short animated clip with Pillow:
a cross-fade slideshow of `duration` seconds at `fps` frames per second, stored as an animated GIF candidate.
"""

from __future__ import annotations

import io

from PIL import Image
from pydantic import Field
from sqlalchemy import select

from wfdesk.db.models import ContentVersion
from wfdesk.errors import Problem, UnitError
from wfdesk.media.store import resolve_image_path, store_image
from wfdesk.scripts.base import CancelledError, CancelToken, Job, OutputWrite, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import Parameters

MAX_FRAMES = 240


class VideoParameters(Parameters):
    model: str = Field("stable-video-diffusion", min_length=1, description="Recorded with the clip")
    duration: float = Field(5, gt=0, le=30, description="Seconds")
    fps: int = Field(24, ge=1, le=60, description="Frames per second")
    width: int = Field(256, ge=16, le=1024, description="Clip width in pixels")
    auto_accept: bool = False


def section_images(job: Job, section_id: int) -> list[str]:
    """Image paths of a section: accepted first, then candidates, oldest first; rejected ones are left out."""
    with job.workspace.db.session() as s:
        rows = s.scalars(select(ContentVersion).where(
            ContentVersion.post_id == job.post.id, ContentVersion.section_id == section_id,
            ContentVersion.kind == "image", ContentVersion.status.in_(("accepted", "candidate")))
            .order_by(ContentVersion.id)).all()
        ordered = [v for v in rows if v.status == "accepted"] + [v for v in rows if v.status != "accepted"]
        seen: dict[str, None] = {}
        for v in ordered:
            seen.setdefault(v.value, None)
        return list(seen)


def render_clip(frames_src: list[Image.Image], duration: float, fps: int, width: int, cancel: CancelToken) -> bytes:
    size = (width, max(16, round(width * frames_src[0].height / frames_src[0].width)))
    stills = [img.convert("RGB").resize(size) for img in frames_src]
    total = min(MAX_FRAMES, max(1, round(duration * fps)))
    frames = []
    for i in range(total):
        if cancel.cancelled:
            raise CancelledError()
        pos = i / total * len(stills)
        a, t = int(pos), pos - int(pos)
        b = (a + 1) % len(stills)
        frames.append(Image.blend(stills[a], stills[b], t) if len(stills) > 1 else stills[0])
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return buf.getvalue()


class VideoGenerationHandler(SectionHandler):
    script_type = "video_generation"
    description = "Animates each section's images into a short clip (an animated GIF candidate)."
    parameters_model = VideoParameters
    default_concurrency = 2  # CPU-bound

    def check_config(self, ws, config, params) -> list[Problem]:
        if not config.outputs:
            return [Problem("outputs", "a video_generation step needs an output field for the clip URL")]
        return []

    def check(self, job: Job) -> list[Problem]:
        if not job.sections:
            return [Problem("context.section_ids", "choose the sections to animate")]
        return [Problem("context.section_ids", f"section {s.id} ({s.title!r}) has no images yet: run an image "
                                               "step on it first")
                for s in job.sections if not section_images(job, s.id)]

    def execute(self, job: Job, unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: VideoParameters = job.parameters
        sources = []
        for rel in section_images(job, unit.section_id):
            with Image.open(resolve_image_path(job.workspace.data_dir, rel)) as img:
                img.load()
                sources.append(img.copy())
        if not sources:
            raise UnitError("the section has no images any more")
        clip = render_clip(sources, params.duration, params.fps, params.width, cancel)
        stored = store_image(job.workspace.data_dir, job.post.id, unit.section_id, clip)
        field = job.output_fields()[0]
        frames = min(MAX_FRAMES, max(1, round(params.duration * params.fps)))
        metadata = {"model": params.model, "duration": params.duration, "fps": params.fps, "frames": frames,
                    "source_images": len(sources)}
        return UnitOutcome(outputs=[OutputWrite(field=field, image=stored, accept=params.auto_accept)],
                           entry={"image_url": stored.image_url}, metadata=metadata, images=1)


execute_video_generation = VideoGenerationHandler()
PLUGIN = execute_video_generation.as_plugin(panel="wfdesk_video_generation.panel:VideoGenerationPanel")
