"""The AUTOMATIC1111 backend against a loopback stand-in of its API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import REFERENCE_STEPS, ROOT
from PIL import Image

from wfdesk.db import content
from wfdesk.scripts.base import CancelToken
from wfdesk.scripts.registry import execute_step_script

from loopback import make_png


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'a1111.db'}"


@pytest.fixture
def a1111(demo, loopback):
    demo.settings.a1111_base_url = loopback.root_url
    return demo


def test_step_parameter_chooses_a1111(a1111, loopback):
    result = execute_step_script(2, 53, {"section_ids": [711, 712], "parameters": {
        "backend": "a1111", "size": "768x512", "steps": 12, "negative_prompt": "blurry"}})
    assert result["success"], result
    calls = [r.json for r in loopback.requests if r.path == "/sdapi/v1/txt2img"]
    assert len(calls) == 2
    assert loopback.count("/v1/images") == 0
    assert {(c["width"], c["height"], c["steps"], c["negative_prompt"]) for c in calls} == {(768, 512, 12, "blurry")}
    entry = result["results"][0]
    assert entry["metadata"]["backend"] == "a1111"
    assert entry["metadata"]["seed"] == 1234
    stored = (a1111.data_dir / entry["image_url"]).read_bytes()
    assert stored == make_png("Inverness at dusk in the rain, river Ness, warm lights", 0, 64, 64)
    with a1111.db.session() as s:
        assert [v.status for v in content.versions_of(s, 53, 711, "generated_image_url")] == ["candidate"]


def test_settings_choose_a1111_for_every_step(a1111, loopback):
    a1111.settings.image_backend = "a1111"
    result = execute_step_script(2, 53, {"section_ids": [713], "parameters": {"n": 2}})
    assert len(result["results"][0]["images"]) == 2
    with Image.open(a1111.data_dir / result["results"][0]["image_url"]) as img:
        assert img.format == "PNG"


def test_cancel_sends_interrupt_and_discards_the_render(a1111, loopback):
    loopback.a1111_delay = 30
    cancel = CancelToken()
    seen = threading.Event()
    loopback.fail = lambda i, req: seen.set() or None  # note when the render request arrives
    threading.Thread(target=lambda: seen.wait(10) and cancel.cancel(), daemon=True).start()
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "a1111"}}, cancel=cancel)
    assert result["results"][0]["status"] == "cancelled"
    assert loopback.count("/sdapi/v1/interrupt") >= 1
    with a1111.db.session() as s:
        assert content.versions_of(s, 53, 711, "generated_image_url") == []


def test_a1111_down_is_a_clear_error(a1111, loopback):
    a1111.settings.a1111_base_url = "http://127.0.0.1:9"
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"backend": "a1111"}})["results"][0]
    assert entry["status"] == "error"
    assert "cannot reach http://127.0.0.1:9" in entry["error"]


def start_cli_run(tmp_path, settings: dict, extra_env: dict) -> subprocess.Popen:
    """`wfdesk run-step` in a subprocess, as an editor starts it in a terminal."""
    env = {**os.environ, "WFDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "WFDESK_DATA_DIR": str(tmp_path / "data"), "WFDESK_CONFIG_DIR": str(tmp_path / "config"), **extra_env}
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "settings.json").write_text(json.dumps(settings))
    subprocess.run([sys.executable, "-m", "wfdesk", "import", str(REFERENCE_STEPS)], env=env, cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    return subprocess.Popen([sys.executable, "-m", "wfdesk", "run-step", "--step", "2", "--post", "53",
                             "--sections", "711,712"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def interrupt_when(proc: subprocess.Popen, arrived, seen=lambda: None) -> tuple[str, str]:
    """Ctrl-C once the render request reached the server; the process's output after it exits."""
    deadline = time.monotonic() + 60
    while not arrived():
        assert proc.poll() is None, "the render request never arrived"
        assert time.monotonic() < deadline, "the render request never arrived"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        return proc.communicate(timeout=20)  # generous: the render itself would take a minute
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"the CLI kept waiting for the render after Ctrl-C (sent {sent:.2f}): {err[-2000:]} {seen()}")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_in_the_cli_interrupts_a1111_at_once(loopback, tmp_path):
    loopback.a1111_delay = 60
    proc = start_cli_run(tmp_path, {"image_backend": "a1111"}, {"WFDESK_A1111_BASE_URL": loopback.root_url})
    out, err = interrupt_when(proc, lambda: loopback.count("/sdapi/v1/txt2img") >= 1,
                              lambda: [(r.path, round(r.time, 2)) for r in loopback.requests])
    assert proc.returncode == 130, (out, err)
    assert loopback.count("/sdapi/v1/interrupt") >= 1
    assert "interrupted" in err
    assert "Traceback" not in err
