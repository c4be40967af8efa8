"""The example plugin on its own: discovered through its entry point, validated by its schema, run by the engine."""

from __future__ import annotations

import pytest
from PIL import Image

from wfdesk.db import content
from wfdesk.errors import ConfigError
from wfdesk.scripts.registry import SCRIPT_TYPES, execute_step_script
from wfdesk.services.validation import validate_step


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


def test_parameters_are_validated_by_the_plugin_schema(ws, step_config):
    bad = {**step_config, "script_config": {"type": "video_generation", "parameters": {"fps": 500}}}
    assert [p.field for p in validate_step(ws, "section_clips", bad)] == ["script_config.parameters.fps"]


def test_a_section_without_images_is_refused_before_anything_runs(ws):
    with pytest.raises(ConfigError, match="section 11 .*no images"):
        execute_step_script(1, 1, {"section_ids": [10, 11]})
