"""The HTTP API over real HTTP: a server on a free port in this process (the engine in-process, as `wfdesk serve`
runs it), the loopback provider behind it, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pytest
import requests
from api_support import REFERENCE_REQUEST, REFERENCE_RESPONSE, Client, same_shape
from conftest import REFERENCE_STEPS

TOKEN = "test-token-" + "x" * 32
CMS = "https://cms.example.com"


def serve(demo, runner_class):
    from wfdesk.api.app import create_app
    from wfdesk.api.server import ApiServer
    from wfdesk.api.token import ApiToken

    runner = runner_class(lambda: demo)
    app = create_app(runner, lambda: ApiToken(TOKEN, "a test"), cors_origins=[CMS])
    server = ApiServer(app, "127.0.0.1", 0).start_in_thread()
    client = Client(server.url, TOKEN)
    client.runner, client.ws, client.server = runner, demo, server
    return client


@pytest.fixture
def api(demo, loopback):
    """The engine in this process, as `wfdesk serve` runs it."""
    from wfdesk.api.runner import InProcessRunner

    client = serve(demo, InProcessRunner)
    yield client
    client.server.stop()
    client.runner.shutdown()


@pytest.fixture
def api_run_process(demo, loopback):
    """Runs in the app's run process (wfdesk.runs.child), as the open app serves them."""
    from wfdesk.api.runner import RunProcessRunner

    client = serve(demo, RunProcessRunner)
    yield client
    client.server.stop()
    client.runner.cancel_all()
    client.runner.shutdown()


def test_the_references_request_gets_the_references_response(api, loopback):
    response = api.post("/api/workflow/execute-step", REFERENCE_REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert same_shape(REFERENCE_RESPONSE, body) == []
    assert set(body) == set(REFERENCE_RESPONSE) | {"run_id"}  # exactly the reference's fields, plus run_id
    assert body["success"] is True
    assert body["step"] == "section_illustrations"
    assert body["sections_processed"] == [711, 712, 713]
    assert [r["section_id"] for r in body["results"]] == [711, 712, 713]
    for result in body["results"]:
        assert result["status"] == "success"
        assert result["metadata"]["model"] == "dall-e-3"
        assert result["image_url"].startswith(f"/static/content/posts/53/sections/{result['section_id']}/raw/")
    assert loopback.count("/v1/images/generations") == 3
    # image_url is served by the API: the stored bytes, whose sha256 is the file's name.
    image = api.get(body["results"][0]["image_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert body["results"][0]["image_url"].endswith(hashlib.sha256(image.content).hexdigest() + ".png")
    assert api.get(body["results"][0]["image_url"], token=None).status_code == 401
    # The run is in the ledger, as `wfdesk runs show` reads it.
    detail = api.get(f"/api/workflow/runs/{body['run_id']}").json()
    assert detail["status"] == "succeeded"
    assert detail["counts"] == {"total": 3, "success": 3}
    assert detail["result"] == body
    assert api.get("/api/workflow/runs").json()[0]["id"] == body["run_id"]


def test_a_text_step_answers_the_same_shape_with_its_output(api, loopback):
    body = api.post("/api/workflow/execute-step", {"step_id": 1, "post_id": 53,
                                                   "context": {"section_ids": [711]}}).json()
    assert body["success"] is True
    assert body["step"] == "polish_sections"
    assert body["results"][0]["output"].startswith("POLISHED:")
    assert "image_url" not in body["results"][0]
    assert same_shape({k: v for k, v in REFERENCE_RESPONSE.items() if k != "results"}, body) == []


def test_the_frontend_snippets_call_from_a_configured_cms_page(api, loopback):
    """handleRunActionClick: fetch(POST, Content-Type: application/json, JSON.stringify({step_id, post_id,
    context})) from a CMS page; the browser first asks (preflight) because of the Authorization header."""
    preflight = requests.options(api.url + "/api/workflow/execute-step", timeout=30, headers={
        "Origin": CMS, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == CMS
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    body = json.dumps({"step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712], "inputs": {},
                                                                "llm_settings": {"temperature": 0.7}}})
    response = requests.post(api.url + "/api/workflow/execute-step", data=body, timeout=60, headers={
        "Origin": CMS, "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.headers["access-control-allow-origin"] == CMS
    # Another origin: the preflight is refused and no answer carries an allow-origin for it.
    other = requests.options(api.url + "/api/workflow/execute-step", timeout=30, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    stray = requests.get(api.url + "/api/workflow/steps", timeout=30,
                         headers={"Origin": "https://evil.example", "Authorization": f"Bearer {TOKEN}"})
    assert "access-control-allow-origin" not in stray.headers


def test_nothing_answers_without_the_token(api, loopback):
    paths = api.get("/openapi.json").json()["paths"]
    assert set(paths) >= {"/api/workflow/execute-step", "/api/workflow/runs", "/api/workflow/runs/{run_id}",
                          "/api/workflow/runs/{run_id}/cancel", "/api/workflow/runs/{run_id}/resume",
                          "/api/workflow/steps", "/api/posts/{post_id}", "/static/content/{path}"}
    calls = [(method.upper(), path.replace("{run_id}", "1").replace("{post_id}", "53").replace("{path}", "x.png"))
             for path, ops in paths.items() for method in ops]
    calls += [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/no/such/route"), ("POST", "/")]
    for method, path in calls:
        for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
            response = api.http.request(method, api.url + path, headers=api.headers(token),
                                        json=REFERENCE_REQUEST if method == "POST" else None, timeout=30)
            assert response.status_code == 401, (method, path, token, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
    missing = api.get("/api/workflow/steps", token=None).json()["error"]
    assert "Authorization: Bearer" in missing
    basic = api.http.get(api.url + "/api/workflow/steps", headers={"Authorization": f"Basic {TOKEN}"}, timeout=30)
    assert basic.status_code == 401
    assert loopback.count() == 0  # nothing ran


def test_bad_requests_name_the_field_and_send_nothing(api, loopback):
    def refused(body, status):
        response = api.post("/api/workflow/execute-step", body)
        assert response.status_code == status, response.text
        answer = response.json()
        assert answer["success"] is False
        assert answer["error"]
        return answer

    assert refused({**REFERENCE_REQUEST, "step_id": 999}, 404)["field"] == "step_id"
    assert refused({**REFERENCE_REQUEST, "post_id": 999}, 404)["field"] == "post_id"
    missing = refused({**REFERENCE_REQUEST, "context": {"section_ids": [711, 99999]}}, 404)
    assert missing["field"] == "context.section_ids"
    assert "99999" in missing["error"]
    typed = refused({**REFERENCE_REQUEST, "step_id": "two"}, 400)
    assert typed["field"] == "step_id"
    assert "whole number" in typed["error"]
    assert refused({"post_id": 53}, 400)["error"] == "step_id (the workflow step's id) is required"
    ids = refused({**REFERENCE_REQUEST, "context": {"section_ids": "711"}}, 400)
    assert ids["field"] == "context.section_ids"
    assert "list" in ids["error"]
    assert refused({**REFERENCE_REQUEST, "context": {"section_ids": [711.5]}}, 400)["field"] == "context.section_ids"
    assert refused({**REFERENCE_REQUEST, "context": {"inputs": "x"}}, 400)["field"] == "context.inputs"
    typo = refused({**REFERENCE_REQUEST, "context": {"section_id": [711]}}, 400)
    assert typo["field"] == "context.section_id"
    assert "section_ids" in typo["error"]
    assert refused([1, 2], 400)["error"] == "The request body must be a JSON object"
    bad_json = api.http.post(api.url + "/api/workflow/execute-step", data="{not json", timeout=30,
                             headers=api.headers(**{"Content-Type": "application/json"}))
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    assert api.get("/api/workflow/runs/424242").status_code == 404
    runs = "/api/workflow/runs"
    assert api.get(runs + "/abc").json()["error"] == "run_id (the run's id) must be a whole number, such as 53"
    assert api.get(runs + "/0").json()["error"] == "run_id (the run's id) must be 1 or more"
    assert api.get(runs + "?limit=9999").json()["error"] == "limit (how many runs to list) must be 500 or less"
    assert api.get("/api/posts/424242").json()["field"] == "post_id"
    assert api.get("/static/content/posts/53/raw/" + "0" * 64 + ".png").status_code == 404
    assert api.get("/static/content/%2e%2e/%2e%2e/test.db").status_code == 404
    assert api.post("/api/workflow/runs/424242/cancel").status_code == 404
    assert api.post("/api/workflow/runs/424242/resume").status_code == 404
    assert loopback.count() == 0


def test_an_unknown_script_type_is_400_in_the_references_words(api, loopback):
    from wfdesk.services.transfer import import_bundle

    bundle = json.loads(REFERENCE_STEPS.read_text())
    step = bundle["workflow_steps"][2]
    step.update(id=9, name="teleport_step", position=9)
    step["config"]["script_config"]["type"] = "teleport"
    bundle = {"workflow_steps": [step]}
    with api.ws.db.session() as s:
        import_bundle(s, bundle)
    response = api.post("/api/workflow/execute-step", {"step_id": 9, "post_id": 53})
    assert response.status_code == 400
    assert response.json()["error"] == "Unknown script type: teleport"
    assert response.json()["field"] == "step_id"
    assert loopback.count() == 0


def test_an_invalid_step_config_names_its_fields(api, loopback):
    response = api.post("/api/workflow/execute-step", {**REFERENCE_REQUEST, "context": {
        "section_ids": [711], "parameters": {"n": 99}}})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["field"] == "step_id"
    assert "section_illustrations" in answer["error"]
    assert [p["field"] for p in answer["problems"]] == ["script_config.parameters.n"]
    assert loopback.count() == 0


def test_wait_false_answers_202_at_once_then_the_run_can_be_polled(api, loopback):
    loopback.latency = 0.5
    response = api.post("/api/workflow/execute-step", {**REFERENCE_REQUEST, "wait": False})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "running"
    assert accepted["url"] == f"/api/workflow/runs/{accepted['run_id']}"
    detail = api.wait_for_run(accepted["run_id"])
    assert detail["status"] == "succeeded"
    assert same_shape(REFERENCE_RESPONSE, detail["result"]) == []
    assert detail["result"]["run_id"] == accepted["run_id"]


def test_cancel_stops_a_slow_run_and_resume_finishes_it(api, loopback):
    loopback.latency = 1.5  # each answer takes 1.5 s; one section at a time
    body = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712, 713],
                                                     "parameters": {"concurrency": 1}}, "wait": False}
    run_id = api.post("/api/workflow/execute-step", body).json()["run_id"]
    deadline = time.monotonic() + 30
    while loopback.count("/v1/chat/completions") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = api.post(f"/api/workflow/runs/{run_id}/resume")
    assert busy.status_code == 409
    assert busy.json()["error"] == f"Run {run_id} is still running"
    cancel = api.post(f"/api/workflow/runs/{run_id}/cancel")
    assert cancel.status_code == 202
    assert cancel.json() == {"run_id": run_id, "cancelling": True, "status": "running"}
    detail = api.wait_for_run(run_id)
    assert detail["status"] == "cancelled"
    assert loopback.count("/v1/chat/completions") == 1  # the sections waiting were never sent
    again = api.post(f"/api/workflow/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert "already ended" in again.json()["error"]

    loopback.latency = 0
    resumed = api.post(f"/api/workflow/runs/{run_id}/resume")
    assert resumed.status_code == 200, resumed.text
    result = resumed.json()
    assert result["run_id"] == run_id
    assert result["success"] is True
    assert [r["status"] for r in result["results"]] == ["success"] * 3
    assert api.get(f"/api/workflow/runs/{run_id}").json()["status"] == "succeeded"


def test_resume_wait_false_and_a_run_started_elsewhere_is_cancelled_through_the_ledger(api, loopback):
    from wfdesk.runs import ledger

    run_id, _units = ledger.create_run(api.ws, step_id=1, post_id=53, step_name="polish_sections",
                                       script_type="llm_action", effective_config={}, context={},
                                       section_ids=[711])
    # Running in another process (here: this test's, alive): the request is left in the ledger for its executor,
    # whose heartbeat stops it within a second (tests/test_cancel_anywhere.py follows that to the end).
    asked = api.post(f"/api/workflow/runs/{run_id}/cancel")
    assert asked.status_code == 202, asked.text
    assert asked.json() == {"run_id": run_id, "cancelling": True, "status": "running"}
    with api.ws.db.session() as s:
        from wfdesk.db.models import Run

        run = s.get(Run, run_id)
        assert run.cancel_requested_at is not None
        run.status = "interrupted"
        run.cancel_requested_at = None
        run.effective_config = json.loads(REFERENCE_STEPS.read_text())["workflow_steps"][0]["config"]
        run.context = {"section_ids": [711]}
    accepted = api.post(f"/api/workflow/runs/{run_id}/resume", {"wait": False})
    assert accepted.status_code == 202
    assert accepted.json()["run_id"] == run_id
    assert api.wait_for_run(run_id)["status"] == "succeeded"


def test_concurrent_requests_share_the_providers_cap(api, loopback):
    """Three requests at once, each allowing 8 sections in flight: the provider's cap of 2 holds across them."""
    api.ws.settings.providers["default"].concurrency = 2
    active, peak, lock = [0], [0], threading.Lock()

    def reply(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.2)
        with lock:
            active[0] -= 1
        return "ok"

    loopback.chat_reply = reply
    body = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712, 713],
                                                     "parameters": {"concurrency": 8}}}
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(api.post("/api/workflow/execute-step", body)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert [a.status_code for a in answers] == [200] * 3
    assert all(a.json()["success"] for a in answers)
    assert loopback.count("/v1/chat/completions") == 9
    assert peak[0] == 2


def test_request_size_is_limited(api, loopback):
    big = {**REFERENCE_REQUEST, "context": {"inputs": {"image_prompts": "x" * (1024 * 1024 + 1)}}}
    response = api.post("/api/workflow/execute-step", big)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]

    def chunks():
        yield b'{"step_id": 2, "post_id": 53, "context": {"inputs": {"image_prompts": "'
        for _ in range(300):
            yield b"y" * 4096
        yield b'"}}}'

    chunked = api.http.post(api.url + "/api/workflow/execute-step", data=chunks(), timeout=30,
                            headers=api.headers(**{"Content-Type": "application/json"}))
    assert chunked.status_code == 413
    one = json.dumps({"step_id": 1, "post_id": 53, "context": {"section_ids": [711]}}).encode()
    small = api.http.post(api.url + "/api/workflow/execute-step", timeout=60, data=iter([one]),
                          headers=api.headers(**{"Content-Type": "application/json"}))
    assert small.status_code == 200, small.text  # a small chunked body goes through
    assert loopback.count("/v1/images") == 0


def test_steps_and_posts(api, loopback):
    steps = api.get("/api/workflow/steps").json()
    assert [(s["id"], s["name"], s["script_type"]) for s in steps] == [
        (1, "polish_sections", "llm_action"), (2, "section_illustrations", "image_generation"),
        (3, "process_data", "custom_script")]
    assert steps[1]["config"]["script_config"]["type"] == "image_generation"
    post = api.get("/api/posts/53").json()
    assert post["id"] == 53
    assert [s["id"] for s in post["sections"]] == [711, 712, 713]
    assert post["sections"][0]["fields"]["draft"]


def test_openapi_document_describes_the_reference_request(api, loopback):
    doc = api.get("/openapi.json").json()
    assert doc["security"] == [{"bearer": []}]
    request = doc["components"]["schemas"]["ExecuteStepRequest"]
    assert set(request["properties"]) == {"step_id", "post_id", "context", "wait"}
    context = doc["components"]["schemas"]["ExecutionContext"]
    assert {"section_ids", "inputs", "llm_settings"} <= set(context["properties"])
    assert {"success", "results", "step", "sections_processed", "run_id"} <= set(
        doc["components"]["schemas"]["ExecuteStepResponse"]["properties"])


def test_no_token_or_key_in_answers_or_logs(api, loopback, caplog, monkeypatch):
    from wfdesk.settings import ProviderProfile

    key = "sk-test-" + "k" * 40
    monkeypatch.setenv("OPENAI_API_KEY", key)
    api.ws.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                           api_key_env="OPENAI_API_KEY", max_retries=0)
    from loopback import key_echo

    loopback.fail = lambda i, rec: key_echo(rec)  # a provider that echoes the key in its error
    caplog.set_level(logging.DEBUG)
    texts = [api.post("/api/workflow/execute-step", {"step_id": 1, "post_id": 53,
                                                     "context": {"section_ids": [711]}}).text]
    texts += [api.get(p).text for p in ("/api/workflow/runs", "/api/workflow/steps", "/openapi.json")]
    run_id = json.loads(texts[0])["run_id"]
    texts.append(api.get(f"/api/workflow/runs/{run_id}").text)
    texts.append(api.post("/api/workflow/execute-step", {"step_id": 1}, token="wrong").text)
    everything = "\n".join(texts + [r.getMessage() for r in caplog.records])
    assert loopback.count() >= 1
    assert TOKEN not in everything
    assert key not in everything


def test_through_the_apps_run_process_the_reference_request_cancel_and_resume(api_run_process, loopback):
    api = api_run_process
    body = api.post("/api/workflow/execute-step", REFERENCE_REQUEST).json()
    assert same_shape(REFERENCE_RESPONSE, body) == []
    assert body["success"] is True
    assert api.get(body["results"][0]["image_url"]).status_code == 200
    refused = api.post("/api/workflow/execute-step", {**REFERENCE_REQUEST, "context": {"parameters": {"n": 99}}})
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["field"] == "script_config.parameters.n"

    loopback.latency = 1.5
    slow = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712, 713],
                                                     "parameters": {"concurrency": 1}}, "wait": False}
    before = loopback.count("/v1/chat/completions")
    run_id = api.post("/api/workflow/execute-step", slow).json()["run_id"]
    deadline = time.monotonic() + 30
    while loopback.count("/v1/chat/completions") == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.post(f"/api/workflow/runs/{run_id}/cancel").status_code == 202
    assert api.wait_for_run(run_id)["status"] == "cancelled"
    assert loopback.count("/v1/chat/completions") == before + 1
    loopback.latency = 0
    resumed = api.post(f"/api/workflow/runs/{run_id}/resume").json()
    assert resumed["run_id"] == run_id
    assert resumed["success"] is True
    from wfdesk.runs import child_client
    from wfdesk.runs.ledger import parse_owner

    owner = api.get(f"/api/workflow/runs/{run_id}").json()
    assert owner["status"] == "succeeded"
    with api.ws.db.session() as s:
        from wfdesk.db.models import Run

        assert parse_owner(s.get(Run, run_id).owner)[1] == child_client._process.proc.pid


def test_the_listening_socket_says_tcp_so_answers_are_not_held_for_delayed_acks():
    """asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP (socket.create_server's is 0);
    without it each answer on a kept-alive connection waited ~40 ms (measured: 44 ms, 1.4 ms with it)."""
    import socket

    from wfdesk.api.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        client = socket.create_connection(sock.getsockname(), timeout=10)
        accepted, _ = sock.accept()
        with client, accepted:
            assert sock.proto == accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_a_client_that_hangs_up_does_not_stop_the_run(api, loopback, monkeypatch):
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    loopback.latency = 1.0
    body = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711]}}
    with pytest.raises(requests.ReadTimeout):
        api.http.post(api.url + "/api/workflow/execute-step", json=body, headers=api.headers(), timeout=0.3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = api.get("/api/workflow/runs").json()
        if runs and runs[0]["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert runs[0]["status"] == "succeeded"
    assert errors == []
