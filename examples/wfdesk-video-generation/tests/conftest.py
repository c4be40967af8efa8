"""A workspace with post 1: section 10 has two images (one accepted, one candidate), section 11 none; step 1 is a
video_generation step writing the clip's URL to `clip_url`."""

from __future__ import annotations

import copy
import io
import os

import pytest
from PIL import Image

from wfdesk.db import content
from wfdesk.db.models import Post, PostSection, WorkflowStepEntity
from wfdesk.media.store import store_image
from wfdesk.settings import Settings
from wfdesk.workspace import open_workspace, set_current

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the panel test needs no screen

CONFIG = {"inputs": {}, "outputs": {"clip": {"label": "Clip", "db_field": "clip_url", "type": "text"}},
          "script_config": {"type": "video_generation",
                            "parameters": {"model": "stable-video-diffusion", "duration": 1, "fps": 8, "width": 32}}}


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def step_config() -> dict:
    return copy.deepcopy(CONFIG)


@pytest.fixture
def ws(tmp_path):
    workspace = open_workspace(database_url=f"sqlite:///{tmp_path / 'v.db'}", data_dir=tmp_path / "data",
                               settings=Settings())
    set_current(workspace)
    with workspace.db.session() as s:
        s.add(Post(id=1, title="Clip test"))
        s.add_all([PostSection(id=10, post_id=1, position=1, title="With images"),
                   PostSection(id=11, post_id=1, position=2, title="Without images")])
        s.add(WorkflowStepEntity(id=1, name="section_clips", stage="Video", position=1, config=CONFIG))
    for colour, accept in (((200, 0, 0), True), ((0, 0, 200), False)):
        stored = store_image(workspace.data_dir, 1, 10, _png(colour))
        with workspace.db.session() as s:
            asset = content.get_or_create_asset(s, sha256=stored.sha256, path=stored.rel_path, mime=stored.info.mime,
                                                width=stored.info.width, height=stored.info.height,
                                                size_bytes=stored.size_bytes)
            content.add_image(s, 1, 10, "generated_image_url", asset, accept=accept)
    yield workspace
    set_current(None)
    workspace.close()
