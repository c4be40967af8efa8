"""The ComfyUI backend against a loopback server that speaks ComfyUI's API (tests/loopback_comfyui.py)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from loopback_comfyui import ComfyUIServer

from wfdesk.db import content
from wfdesk.errors import ConfigError
from wfdesk.providers.connection_test import check_comfyui
from wfdesk.scripts.base import CancelToken
from wfdesk.scripts.registry import execute_step_script

from loopback import make_png

PROMPT_711 = "Inverness at dusk in the rain, river Ness, warm lights"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'comfyui.db'}"


@pytest.fixture
def comfy():
    with ComfyUIServer() as server:
        yield server


@pytest.fixture
def ws_comfy(demo, comfy):
    demo.settings.comfyui_base_url = comfy.url
    return demo


def posted_graphs(comfy) -> list[dict]:
    return [r.json for r in comfy.requests if r.method == "POST" and r.path == "/prompt"]


def stored_files(ws) -> list[Path]:
    root = ws.data_dir / "content"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_step_renders_with_comfyui(ws_comfy, comfy, loopback):
    result = execute_step_script(2, 53, {"section_ids": [711, 712], "parameters": {
        "backend": "comfyui", "size": "768x512", "steps": 12, "negative_prompt": "blurry", "seed": 42}})
    assert result["success"], result
    assert loopback.count("/v1/images") == 0
    bodies = posted_graphs(comfy)
    assert len(bodies) == 2
    assert all(b["client_id"] for b in bodies)
    graph = next(b["prompt"] for b in bodies if b["prompt"]["6"]["inputs"]["text"] == PROMPT_711)
    assert graph["5"]["inputs"] == {"width": 768, "height": 512, "batch_size": 1}
    assert graph["7"]["inputs"]["text"] == "blurry"
    assert (graph["3"]["inputs"]["seed"], graph["3"]["inputs"]["steps"]) == (42, 12)
    assert graph["4"]["inputs"]["ckpt_name"] == comfy.checkpoints[0]  # none named: the server's first
    # Progress was followed through /history, and the images fetched with /view.
    assert comfy.count("GET", "/history/") >= 2
    views = [parse_qs(urlsplit(r.path).query, keep_blank_values=True) for r in comfy.requests
             if r.path.startswith("/view?")]
    assert len(views) == 2
    assert all(v["type"] == ["output"] and v["subfolder"] == [""] for v in views)

    entry = next(e for e in result["results"] if e["section_id"] == 711)
    assert entry["metadata"]["backend"] == "comfyui"
    assert entry["metadata"]["seed"] == 42
    assert entry["metadata"]["model"] == comfy.checkpoints[0]
    assert (ws_comfy.data_dir / entry["image_url"]).read_bytes() == make_png(PROMPT_711, 0, 64, 64)
    with ws_comfy.db.session() as s:
        assert [v.status for v in content.versions_of(s, 53, 711, "generated_image_url")] == ["candidate"]


def test_settings_choose_comfyui_for_every_step_and_n_images(ws_comfy, comfy):
    ws_comfy.settings.image_backend = "comfyui"
    result = execute_step_script(2, 53, {"section_ids": [713], "parameters": {"n": 2,
                                                                               "checkpoint": comfy.checkpoints[1]}})
    assert result["success"], result
    (body,) = posted_graphs(comfy)
    assert body["prompt"]["5"]["inputs"]["batch_size"] == 2
    assert body["prompt"]["4"]["inputs"]["ckpt_name"] == comfy.checkpoints[1]
    assert len(result["results"][0]["images"]) == 2
    seed = body["prompt"]["3"]["inputs"]["seed"]
    assert isinstance(seed, int)
    assert result["results"][0]["metadata"]["seed"] == seed  # a random seed, recorded


def test_cancel_interrupts_the_render_and_keeps_nothing(ws_comfy, comfy):
    comfy.render_delay = 30
    cancel = CancelToken()

    def cancel_once_rendering():
        while comfy.running is None:
            threading.Event().wait(0.05)
        cancel.cancel()

    threading.Thread(target=cancel_once_rendering, daemon=True).start()
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}},
                                 cancel=cancel)
    assert result["results"][0]["status"] == "cancelled"
    (_body,) = posted_graphs(comfy)
    prompt_id = next(iter(comfy.client_ids))
    assert comfy.interrupted == [prompt_id]  # only our prompt, not whatever else the server runs
    assert prompt_id in comfy.deleted  # and taken off the queue, had it still been waiting
    assert comfy.count("GET", "/view") == 0
    assert stored_files(ws_comfy) == []
    with ws_comfy.db.session() as s:
        assert content.versions_of(s, 53, 711, "generated_image_url") == []


def test_cancel_while_queued_removes_the_prompt_from_the_queue(ws_comfy, comfy):
    comfy.render_delay = 30
    status, _ = comfy._post_prompt({"prompt": json.loads(json.dumps(default_graph(comfy))), "client_id": "other"})
    assert status == 200  # someone else's long render occupies the server
    cancel = CancelToken()

    def cancel_once_queued():
        while len(comfy.pending) < 1 or comfy.running is None:
            threading.Event().wait(0.05)
        cancel.cancel()

    threading.Thread(target=cancel_once_queued, daemon=True).start()
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}},
                                 cancel=cancel)
    assert result["results"][0]["status"] == "cancelled"
    ours = next(pid for pid, client in comfy.client_ids.items() if client != "other")
    assert ours in comfy.deleted
    assert comfy.pending == []
    assert comfy.running is not None
    assert comfy.running.extra["client_id"] == "other"  # theirs goes on
    comfy._interrupt(None)


def default_graph(comfy) -> dict:
    from wfdesk.providers import comfyui

    return comfyui.fill(comfyui.default_workflow(), {"prompt": "x", "negative_prompt": "", "width": 64,
                                                     "height": 64, "batch_size": 1, "seed": 1, "steps": 1,
                                                     "checkpoint": comfy.checkpoints[0]})


def test_an_error_during_the_render_is_the_sections_message(ws_comfy, comfy):
    comfy.fail_with = "Allocation on device 0 would exceed allowed memory. (out of memory)"
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error"
    assert "KSampler" in entry["error"]
    assert "out of memory" in entry["error"]
    assert "Traceback" not in entry["error"]
    assert stored_files(ws_comfy) == []


def test_a_checkpoint_the_server_does_not_have_is_named(ws_comfy, comfy):
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {
        "backend": "comfyui", "checkpoint": "missing.safetensors"}})["results"][0]
    assert entry["status"] == "error"
    assert "missing.safetensors" in entry["error"]
    assert "refused the workflow" in entry["error"]


def test_a_bad_image_from_comfyui_stores_nothing(ws_comfy, comfy):
    comfy.image_bytes = b"<html><body>502</body></html>"
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error"
    assert "HTML page" in entry["error"]
    assert stored_files(ws_comfy) == []


def test_a_workflow_of_your_own_from_a_file_and_inline(ws_comfy, comfy, tmp_path):
    from wfdesk.providers import comfyui

    graph = comfyui.default_workflow()
    graph["3"]["inputs"]["cfg"] = 4.5
    graph["9"]["inputs"]["filename_prefix"] = "blog"
    path = tmp_path / "my-workflow.json"
    path.write_text(json.dumps(graph))
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui",
                                                                              "workflow": str(path)}})
    assert result["success"], result
    assert posted_graphs(comfy)[-1]["prompt"]["3"]["inputs"]["cfg"] == 4.5
    assert any("filename=blog_" in r.path for r in comfy.requests)
    result = execute_step_script(2, 53, {"section_ids": [712], "parameters": {"backend": "comfyui",
                                                                              "workflow": graph}})
    assert result["success"], result


@pytest.mark.parametrize(("workflow", "message"), [
    ({"nodes": [], "links": [], "version": 0.4}, "Save (API Format)"),
    ("/nonexistent/workflow.json", "cannot read /nonexistent/workflow.json"),
    ({"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fixed text"}}}, "{{prompt}}"),
])
def test_an_unusable_workflow_is_refused_before_anything_is_sent(ws_comfy, comfy, workflow, message):
    with pytest.raises(ConfigError, match="workflow") as info:
        execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui",
                                                                         "workflow": workflow}})
    assert message in str(info.value)
    assert comfy.requests == []


def test_comfyui_down_is_a_clear_error(ws_comfy):
    ws_comfy.settings.comfyui_base_url = "http://127.0.0.1:9"
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error"
    assert "cannot reach http://127.0.0.1:9" in entry["error"]
    assert "ComfyUI" in entry["error"]


def test_a_step_may_name_its_own_server(ws_comfy, comfy):
    ws_comfy.settings.comfyui_base_url = "http://127.0.0.1:9"  # the settings' server is down; the step's is up
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui",
                                                                              "comfyui_url": comfy.url}})
    assert result["success"], result


def test_connection_test_lists_checkpoints(comfy):
    ok, message = check_comfyui(comfy.url)
    assert ok
    assert "2 checkpoints" in message
    assert comfy.checkpoints[0] in message
    assert comfy.count("GET", "/object_info/CheckpointLoaderSimple") == 1
    ok, message = check_comfyui("http://127.0.0.1:9")
    assert not ok
    assert "Cannot reach http://127.0.0.1:9" in message
    ok, message = check_comfyui("comfy-box:8188")
    assert not ok
    assert "Not an address" in message


def test_connection_test_on_something_that_is_not_comfyui(loopback):
    ok, message = check_comfyui(loopback.root_url)  # an OpenAI-compatible server answers 404 here
    assert not ok
    assert "answered 404" in message
    loopback.fail = lambda i, r: (200, {}, b'{"object": "list", "data": []}')  # JSON, but not ComfyUI's
    ok, message = check_comfyui(loopback.root_url)
    assert not ok
    assert "did not list checkpoints" in message


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_in_the_cli_interrupts_comfyui_at_once(comfy, tmp_path):
    from test_a1111 import interrupt_when, start_cli_run

    comfy.render_delay = 60
    proc = start_cli_run(tmp_path, {"image_backend": "comfyui"}, {"WFDESK_COMFYUI_BASE_URL": comfy.url})
    out, err = interrupt_when(proc, lambda: comfy.running is not None, lambda: comfy.requests)
    assert proc.returncode == 130, (out, err)
    ours = next(iter(comfy.client_ids))
    assert ours in comfy.interrupted
    assert ours in comfy.deleted
    assert "interrupted" in err
    assert "Traceback" not in err


# --- second pass: a server that never finishes, answers oddly, or sends us elsewhere --------------------------------

def test_a_render_that_never_finishes_ends_at_the_steps_timeout(ws_comfy, comfy):
    comfy.render_delay = 120  # the history never shows the prompt within the step's timeout
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui",
                                                                            "timeout": 1}})["results"][0]
    assert entry["status"] == "error"
    assert "did not finish the image within 1 s" in entry["error"]
    prompt_id = next(iter(comfy.client_ids))
    assert prompt_id in comfy.interrupted
    assert prompt_id in comfy.deleted  # not left rendering for nobody
    assert stored_files(ws_comfy) == []
    comfy._interrupt(None)


@pytest.mark.parametrize("entry", [
    ["not", "an", "entry"],
    {"status": "error", "outputs": {}},
    {"status": {"status_str": "error", "messages": [["execution_error"], "odd", ["execution_error", "text"]]}},
    {"status": {"status_str": "success"}, "outputs": {"9": {"images": [{"filename": ["a.png"]}, "b.png"]}}},
    {"status": {"status_str": "success"}, "outputs": ["9"]},
])
def test_a_history_entry_of_an_unexpected_shape_is_a_message(ws_comfy, comfy, entry):
    comfy.history_entry = entry
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert result["status"] == "error"
    assert "ComfyUI at" in result["error"], result["error"]
    assert "Error" not in result["error"], result["error"]
    assert stored_files(ws_comfy) == []


def test_a_redirect_to_another_server_is_not_followed(ws_comfy, comfy):
    with ComfyUIServer() as other:
        comfy.redirect = other.url
        result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})
        assert other.requests == []
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert "answered 302" in entry["error"]


def test_an_image_larger_than_the_limit_is_not_read_whole(ws_comfy, comfy):
    from wfdesk.providers.comfyui import MAX_VIEW_BYTES

    comfy.image_bytes = make_png("x", 0, 8, 8) + b"\x00" * MAX_VIEW_BYTES  # a 50 MB tail after a small picture
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error"
    assert "larger than 50 MB" in entry["error"]
    assert stored_files(ws_comfy) == []


def test_an_image_download_that_breaks_off_is_a_message(ws_comfy, comfy):
    comfy.cut_view = True
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error"
    assert "ComfyUI at" in entry["error"]
    assert "broke off" in entry["error"]
    assert "Error" not in entry["error"]
    assert stored_files(ws_comfy) == []


@pytest.mark.parametrize("answer", [
    {"CheckpointLoaderSimple": {"input": ["ckpt_name"]}},
    {"CheckpointLoaderSimple": {"input": {"required": ["ckpt_name"]}}},
    {"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": "sd.safetensors"}}}},
    {"CheckpointLoaderSimple": []},
])
def test_a_checkpoint_list_of_an_unexpected_shape_is_a_message(ws_comfy, comfy, answer):
    comfy._object_info = lambda node_class: answer
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "comfyui"}})["results"][0]
    assert entry["status"] == "error", entry["error"]
    assert "did not list checkpoints" in entry["error"], entry["error"]
