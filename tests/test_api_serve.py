"""`wfdesk serve`, the real command in a subprocess: the contract line, the token, the bind-address rule."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from api_support import REFERENCE_REQUEST, REFERENCE_RESPONSE, Client, same_shape
from conftest import ROOT

TOKEN = "serve-token-" + "s" * 30
SERVING = re.compile(r"^serving on (http://([0-9.]+):(\d+))$")
TESTS = Path(__file__).resolve().parent


class Served:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_serving(self, timeout_s: float = 60) -> re.Match:
        while True:
            line = self.lines.get(timeout=timeout_s)
            assert line is not None, f"wfdesk serve ended: {''.join(self.out)} {self.proc.stderr.read()}"
            if match := SERVING.match(line):
                return match

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return "".join(self.out), self.proc.stderr.read()


@pytest.fixture
def serve_env(db_url, tmp_path, loopback):
    env = {**os.environ, "WFDESK_DATABASE_URL": db_url, "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CONFIG_DIR": str(tmp_path / "config"),
           "WFDESK_API_TOKEN": TOKEN, "PYTHONPATH": str(TESTS)}
    env.pop("OPENAI_API_KEY", None)
    subprocess.run([sys.executable, "-m", "wfdesk", "demo"], env=env, cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    return env


@pytest.fixture
def start():
    started: list[Served] = []

    def run(env: dict, *args: str, verbose: bool = False) -> Served:
        command = [sys.executable, "-m", "wfdesk", *(["-v"] if verbose else []), "serve", *args]
        proc = subprocess.Popen(command, env=env, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(Served(proc))
        return started[-1]

    yield run
    for served in started:
        served.stop()


def test_wfdesk_serve_answers_the_references_request(serve_env, start, loopback):
    served = start(serve_env, "--port", "0", "--cors-origin", "https://cms.example.com", verbose=True)
    match = served.wait_serving()
    assert match.group(2) == "127.0.0.1"
    assert int(match.group(3)) > 0  # the real port, not 0
    api = Client(match.group(1), TOKEN)
    response = api.post("/api/workflow/execute-step", REFERENCE_REQUEST)
    assert response.status_code == 200, response.text
    assert same_shape(REFERENCE_RESPONSE, response.json()) == []
    assert response.json()["success"] is True
    assert api.get(response.json()["results"][0]["image_url"]).status_code == 200
    assert api.get("/api/workflow/steps", token=None).status_code == 401
    assert api.get("/openapi.json", token="nope").status_code == 401
    preflight = requests.options(api.url + "/api/workflow/execute-step", timeout=30, headers={
        "Origin": "https://cms.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.headers.get("access-control-allow-origin") == "https://cms.example.com"
    out, err = served.stop()
    assert "WFDESK_API_TOKEN environment variable" in out
    assert TOKEN not in out + err
    assert "Traceback" not in err
    assert "POST /api/workflow/execute-step" in err  # -v logs each request (its line, never its headers)


def test_the_token_is_made_once_in_the_keyring_and_never_printed(serve_env, start, tmp_path):
    env = {**serve_env, "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
           "WFDESK_TEST_KEYRING_FILE": str(tmp_path / "keyring.json")}
    env.pop("WFDESK_API_TOKEN")
    served = start(env, "--port", "0")
    url = served.wait_serving().group(1)
    stored = json.loads((tmp_path / "keyring.json").read_text())["wfdesk-api\ntoken"]
    assert len(stored) >= 32
    assert requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {stored}"},
                        timeout=30).status_code == 200
    out, err = served.stop()
    assert "system keyring" in out
    assert stored not in out + err
    again = start(env, "--port", "0")
    url = again.wait_serving().group(1)
    assert requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {stored}"},
                        timeout=30).status_code == 200  # the same token on the next start


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_another_interface_needs_allow_remote_and_still_the_token(serve_env, start):
    refused = subprocess.run([sys.executable, "-m", "wfdesk", "serve", "--host", "0.0.0.0", "--port", "0"],
                             env=serve_env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr
    served = start(serve_env, "--host", "0.0.0.0", "--port", "0", "--allow-remote")
    match = served.wait_serving()
    assert match.group(2) == "0.0.0.0"
    url = f"http://127.0.0.1:{match.group(3)}"
    assert requests.get(url + "/api/workflow/steps", timeout=30).status_code == 401
    assert requests.get(url + "/api/workflow/steps", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=30).status_code == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_without_a_keyring_or_the_variable_it_says_what_to_do(serve_env):
    env = {**serve_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("WFDESK_API_TOKEN")
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "serve", "--port", "0"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "WFDESK_API_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr
