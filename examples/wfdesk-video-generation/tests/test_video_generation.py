"""The example plugin on its own: discovered through its entry point, validated by its schema, run by the engine."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from wfdesk.db import content
from wfdesk.db.models import Post, PostSection, WorkflowStepEntity
from wfdesk.errors import ConfigError
from wfdesk.media.store import store_image
from wfdesk.scripts.registry import SCRIPT_TYPES, execute_step_script
from wfdesk.scripts.validation import validate_step
from wfdesk.settings import Settings
from wfdesk.workspace import open_workspace, set_current

CONFIG = {"inputs": {}, "outputs": {"clip": {"label": "Clip", "db_field": "clip_url", "type": "text"}},
          "script_config": {"type": "video_generation",
                            "parameters": {"model": "stable-video-diffusion", "duration": 1, "fps": 8, "width": 32}}}


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "PNG")
    return buf.getvalue()


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


def test_discovered_through_the_entry_point():
    info = SCRIPT_TYPES["video_generation"]
    assert info.source.startswith("wfdesk-video-generation")
    assert info.panel == "wfdesk_video_generation.panel:VideoGenerationPanel"
    schema = info.parameters_model.model_json_schema()["properties"]
    assert schema["fps"]["maximum"] == 60 and schema["duration"]["default"] == 5


def test_makes_an_animated_clip_from_the_section_images(ws):
    result = execute_step_script(1, 1, {"section_ids": [10]})
    entry = result["results"][0]
    assert result["success"] and entry["metadata"]["frames"] == 8 and entry["metadata"]["source_images"] == 2
    with Image.open(ws.data_dir / entry["image_url"]) as clip:
        assert clip.format == "GIF" and clip.n_frames == 8 and clip.size == (32, 24)
        first = clip.convert("RGB").getpixel((5, 5))
    assert first[0] > 150 and first[2] < 50  # the accepted (red) image comes first
    with ws.db.session() as s:
        assert [v.status for v in content.versions_of(s, 1, 10, "clip_url")] == ["candidate"]


def test_parameters_are_validated_by_the_plugin_schema(ws):
    bad = {**CONFIG, "script_config": {"type": "video_generation", "parameters": {"fps": 500}}}
    assert [p.field for p in validate_step(ws, "section_clips", bad)] == ["script_config.parameters.fps"]


def test_a_section_without_images_is_refused_before_anything_runs(ws):
    with pytest.raises(ConfigError, match="section 11 .*no images"):
        execute_step_script(1, 1, {"section_ids": [10, 11]})
