"""Findings of an adversarial review of the HTTP API, each pinned by a test: no SQL or exception text in answers,
no password of a base URL anywhere, stored images only from the content folder, no CORS wildcard, a token that can
match, and a Host header check."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from api_support import Client
from conftest import ROOT

TOKEN = "hardening-token-" + "h" * 30
PASSWORD = "s3cret-pa55word"


def serve(demo, runner_class=None, host: str = "127.0.0.1", **kwargs):
    from wfdesk.api.app import create_app
    from wfdesk.api.runner import InProcessRunner
    from wfdesk.api.server import ApiServer
    from wfdesk.api.token import ApiToken

    runner = (runner_class or InProcessRunner)(lambda: demo)
    app = create_app(runner, lambda: ApiToken(TOKEN, "a test"), **kwargs)
    server = ApiServer(app, host, 0).start_in_thread()
    client = Client(server.url, TOKEN)
    client.runner, client.ws, client.server = runner, demo, server
    return client


@pytest.fixture
def api(demo, loopback):
    client = serve(demo)
    yield client
    client.server.stop()
    client.runner.shutdown()


def _fail_runs_with(monkeypatch, exc: BaseException) -> None:
    from wfdesk.runs import engine

    def broken(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr(engine, "execute_step", broken)


def test_a_database_error_is_503_in_words_without_sql(api, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from wfdesk.db.engine import database_error_message

    error = OperationalError("SELECT secret_column FROM workflow_run WHERE id = ?", (7,),
                             Exception("no such table: workflow_run"))
    _fail_runs_with(monkeypatch, error)
    response = api.post("/api/workflow/execute-step", {"step_id": 1, "post_id": 53,
                                                       "context": {"section_ids": [711]}})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == database_error_message(error)
    assert "SELECT" not in response.text
    assert "secret_column" not in response.text


def test_an_unexpected_error_is_500_without_its_text_and_logged_with_its_traceback(api, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    _fail_runs_with(monkeypatch, RuntimeError("internal detail /home/x/secret"))
    response = api.post("/api/workflow/execute-step", {"step_id": 1, "post_id": 53,
                                                       "context": {"section_ids": [711]}})
    assert response.status_code == 500
    assert response.json()["error"] == "The run failed"
    assert "internal detail" not in response.text
    logged = [r for r in caplog.records if r.exc_info and "internal detail" in str(r.exc_info[1])]
    assert logged, [r.getMessage() for r in caplog.records]


def test_a_password_in_a_base_url_is_in_no_section_error_nor_answer(api, loopback):
    from wfdesk.settings import ProviderProfile

    # A closed port: the section fails with "cannot reach <base url>".
    api.ws.settings.providers["default"] = ProviderProfile(
        name="default", base_url=f"http://editor:{PASSWORD}@127.0.0.1:9/v1", api_key_env="", max_retries=0)
    response = api.post("/api/workflow/execute-step", {"step_id": 1, "post_id": 53,
                                                       "context": {"section_ids": [711]}})
    body = response.json()
    error = body["results"][0]["error"]
    assert "cannot reach http://editor:***@127.0.0.1:9/v1" in error
    detail = api.get(f"/api/workflow/runs/{body['run_id']}").text
    listed = api.get("/api/workflow/runs").text
    for text in (response.text, detail, listed):
        assert PASSWORD not in text


def test_a_password_in_an_address_never_reaches_the_apps_log_file(tmp_path):
    """The app's log handler redacts every line: the run process's copied stderr, httpx's request lines,
    tracebacks."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    script = (
        "import logging\n"
        "from wfdesk.ui.app import setup_logging\n"
        "path = setup_logging(); print(path, flush=True)\n"
        f"url = 'https://editor:{PASSWORD}@llm.example/v1'\n"
        "logging.getLogger('wfdesk.run_process').info('%s', 'INFO httpx: HTTP Request: POST ' + url + "
        "'/chat/completions \"HTTP/1.1 200 OK\"')\n"
        "logging.getLogger('httpx').info('HTTP Request: %s %s', 'POST', url)\n"
        "try:\n"
        "    raise ConnectionError('cannot reach ' + url)\n"
        "except ConnectionError:\n"
        "    logging.getLogger('wfdesk').exception('a run failed')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = Path(proc.stdout.strip()).read_text(encoding="utf-8")
    assert "https://editor:***@llm.example/v1/chat/completions" in text
    assert "ConnectionError: cannot reach https://editor:***@llm.example/v1" in text
    assert PASSWORD not in text
    assert PASSWORD not in proc.stderr


def test_redact_url_keeps_the_user_and_host():
    from wfdesk.redact import redact_text, redact_url

    assert redact_url("https://user:pa@ss@host:8/v1") == "https://user:***@host:8/v1"
    assert redact_url("http://host/v1") == "http://host/v1"
    assert redact_url(None) is None
    assert redact_text("write to a@b.c, see http://user@host/") == "write to a@b.c, see http://user@host/"
    assert redact_text("postgresql+psycopg2://postgres:pw@127.0.0.1/test and https://a:b@c") == (
        "postgresql+psycopg2://postgres:***@127.0.0.1/test and https://a:***@c")


def test_a_symlink_in_the_data_folder_outside_the_content_folder_is_not_served(api):
    data = Path(api.ws.data_dir)
    secret = data / "not-content.txt"
    secret.write_text("private")
    folder = data / "content" / "posts" / "53"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leak.png").symlink_to(secret)
    response = api.get("/static/content/posts/53/leak.png")
    assert response.status_code == 404
    assert "private" not in response.text


def test_wfdesk_serve_refuses_a_cors_wildcard(tmp_path):
    env = {**os.environ, "WFDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
           "WFDESK_DATA_DIR": str(tmp_path / "data"), "WFDESK_CONFIG_DIR": str(tmp_path / "config"),
           "WFDESK_API_TOKEN": TOKEN}
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "serve", "--port", "0", "--cors-origin", "*"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "any web page" in proc.stderr
    assert "https://cms.example.com" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_non_ascii_token_variable_is_refused_at_start(tmp_path):
    env = {**os.environ, "WFDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
           "WFDESK_DATA_DIR": str(tmp_path / "data"), "WFDESK_CONFIG_DIR": str(tmp_path / "config"),
           "WFDESK_API_TOKEN": "geheimes-schlüssel-" + "x" * 20}
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "serve", "--port", "0"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "WFDESK_API_TOKEN" in proc.stderr
    assert "ASCII" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_non_ascii_token_is_unavailable(monkeypatch):
    from wfdesk.api.token import TokenUnavailableError, load_token

    monkeypatch.setenv("WFDESK_API_TOKEN", "jeton-é" + "x" * 30)
    with pytest.raises(TokenUnavailableError, match="ASCII"):
        load_token()


def test_a_request_for_another_host_name_is_refused_on_loopback(api):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(api.url + "/api/workflow/steps", headers=headers, timeout=30).status_code == 200
    port = api.server.port
    for host in (f"localhost:{port}", "localhost", f"[::1]:{port}", "127.0.0.1"):
        ok = requests.get(api.url + "/api/workflow/steps", headers={**headers, "Host": host}, timeout=30)
        assert ok.status_code == 200, host
    refused = requests.get(api.url + "/api/workflow/steps", headers={**headers, "Host": f"evil.example:{port}"},
                           timeout=30)
    assert refused.status_code == 400
    assert "evil.example" not in refused.text or "host" in refused.text.lower()


def test_with_allow_remote_the_bound_host_and_configured_names_are_accepted(demo):
    from wfdesk.api.server import allowed_hosts

    client = serve(demo, host="0.0.0.0", allowed_hosts=allowed_hosts("0.0.0.0", ["wfdesk.lan"]))
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        url = f"http://127.0.0.1:{client.server.port}/api/workflow/steps"
        assert requests.get(url, headers={**headers, "Host": "wfdesk.lan"}, timeout=30).status_code == 200
        assert requests.get(url, headers={**headers, "Host": "evil.example"}, timeout=30).status_code == 400
    finally:
        client.server.stop()
        client.runner.shutdown()


def test_the_allowed_hosts_of_a_bind_address():
    from wfdesk.api.server import allowed_hosts

    assert set(allowed_hosts("127.0.0.1")) == {"127.0.0.1", "localhost", "::1", "[::1]"}
    assert set(allowed_hosts("0.0.0.0", ["wfdesk.lan"])) >= {"0.0.0.0", "wfdesk.lan", "127.0.0.1", "localhost"}
    assert "wfdesk.lan" not in allowed_hosts("127.0.0.1")
