"""`wfdesk run-step` against the loopback server answering like today's providers: each rule as an editor running
the command line sees it (exit code, result JSON, what is stored). main() runs in-process for the many cases; one
subprocess run proves the same through `python -m wfdesk`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from conftest import REFERENCE_STEPS, ROOT

from wfdesk.cli import EXIT_FAILED, EXIT_OK

from loopback import key_echo, quota_exhausted, rate_limited, rate_limited_by_headers

SECRET = "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _save_profile(config, **fields) -> None:
    """One provider profile as an editor would save it in Settings (a short longest wait keeps that case short)."""
    profile = {"name": "default", "max_retries": 2, "max_wait": 20, **fields}
    (config / "settings.json").write_text(json.dumps({"providers": {"default": profile}}))


@pytest.fixture
def env(db_url, tmp_path, loopback):
    config = tmp_path / "config"
    config.mkdir()
    _save_profile(config, base_url=loopback.base_url)
    return {"WFDESK_DATABASE_URL": db_url, "WFDESK_DATA_DIR": str(tmp_path / "data"),
            "WFDESK_CONFIG_DIR": str(config), "OPENAI_API_KEY": SECRET}


@pytest.fixture
def wfdesk(env, monkeypatch):
    from wfdesk.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        assert "Traceback" not in err.getvalue()
        return code, out.getvalue(), err.getvalue()

    assert run("init")[0] == 0
    assert run("import", str(REFERENCE_STEPS))[0] == 0
    return run


def _run_step(wfdesk, step: int, settings: dict | None = None, inputs: dict | None = None) -> tuple[int, dict]:
    args = ["run-step", "--step", str(step), "--post", "53", "--sections", "711"]
    if settings:
        args += ["--llm-settings", json.dumps(settings)]
    if inputs:
        args += ["--inputs", json.dumps(inputs)]
    code, out, _ = wfdesk(*args)
    return code, json.loads(out)


CASES = {
    # name: (loopback setup, step, --llm-settings, --inputs, expected status, words in the error or output)
    "gpt image model": (None, 2, {"model": "gpt-image-1.5"}, None, "success", None),
    "reasoning model": (None, 1, {"model": "o3"}, None, "success", "POLISHED: "),
    "reasoning model streamed": (None, 1, {"model": "gpt-5.4-mini", "stream": True}, None, "success", "POLISHED: "),
    "cut at max tokens": (None, 1, {"max_tokens": 4}, None, "error",
                          "the answer was cut off at 4 tokens; raise max tokens"),
    "content filter": (None, 1, None, {"draft": "Glen Coe <<filter>> at dusk"}, "error", "content filter"),
    "refusal": (None, 1, {"stream": True}, {"draft": "<<refuse>>"}, "error", "the model refused: \u201cI'm sorry"),
    "stream without finish reason": (lambda lb: setattr(lb, "omit_finish_reason", True), 1, {"stream": True},
                                     None, "error", "cut off"),
    "think blocks": (None, 1, {"model": "qwq-32b"}, None, "success", "POLISHED: "),
    "no usage": (None, 1, {"model": "local-llama", "stream": True}, None, "success", "POLISHED: "),
    "refused stream_options": (None, 1, {"model": "azure-gpt-4o", "stream": True}, None, "success", "POLISHED: "),
    "dropped mid-stream": (lambda lb: setattr(lb, "drop_answers", 1), 1, {"stream": True}, None, "success",
                           "POLISHED: "),
    "out of credit": (lambda lb: setattr(lb, "fail", lambda i, r: quota_exhausted()), 1, None, None, "error",
                      "out of credit (429): You exceeded your current quota"),
    "retry-after beyond the limit": (lambda lb: setattr(lb, "fail", lambda i, r: rate_limited(600)), 1, None, None,
                                     "error", "asked to wait 600 s, longer than the 20 s allowed"),
    "huge answer": (lambda lb: setattr(lb, "chat_reply", lambda b: "z" * (2 * 1024 * 1024)), 1, None, None,
                    "error", "larger than 1 MB of text"),
    "key echo": (lambda lb: setattr(lb, "fail", lambda i, r: key_echo(r)), 1, None, None, "error",
                 "Incorrect API key provided: [API key]"),
    "404 with a body": (lambda lb: setattr(lb, "images_endpoint", False), 2, None, None, "error",
                        "Unexpected endpoint or method"),
    # Seen on real servers in the review (LiteLLM proxy, @dwmkerr/mock-llm, llmock):
    "error inside a 200": (None, 1, {"model": "proxy-error-1"}, None, "error",
                           "answered with an error: Upstream model is overloaded"),
    "error as a stream's event": (None, 1, {"model": "proxy-error-1", "stream": True}, None, "error",
                                  "answered with an error: Upstream model is overloaded"),
    "web page at the base URL": (None, 1, {"model": "web-page-ui"}, None, "error", "web page, not the API"),
    "gzip-encoded answer": (None, 1, {"model": "gzip-model"}, None, "success", "POLISHED: "),
    "LiteLLM alias of o3": (None, 1, {"model": "litellm-o3-house"}, None, "success", "POLISHED: "),
    "429 with only x-ratelimit headers": (
        lambda lb: setattr(lb, "fail", lambda i, r: rate_limited_by_headers("1s") if i == 1 else None), 1, None,
        None, "success", "POLISHED: "),
    "Bearer key echo": (lambda lb: setattr(lb, "fail", lambda i, r: key_echo(r, whole_header=True)), 1, None, None,
                        "error", "Incorrect API key provided: Bearer [API key]. You"),
    "model the server lacks": (None, 1, {"model": "missing-llama9"}, None, "error", "check the model name"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_run_step_answers_like_todays_providers(wfdesk, loopback, name):
    setup, step, settings, inputs, status, words = CASES[name]
    if setup:
        setup(loopback)
    code, result = _run_step(wfdesk, step, settings, inputs)
    entry = result["results"][0]
    assert entry["status"] == status, entry
    assert code == (EXIT_OK if status == "success" else EXIT_FAILED)
    if status == "error":
        assert words in entry["error"]
        assert "Traceback" not in entry["error"]
        assert SECRET not in json.dumps(result)
    elif words:
        assert entry["output"].startswith(words)
        assert "<think>" not in entry["output"]
    # What was sent is what the provider takes.
    sent = [r.json for r in loopback.requests if r.path.startswith("/v1/")]
    if name == "gpt image model":
        assert "response_format" not in sent[0]
    if name.startswith("reasoning model"):
        assert "max_tokens" not in sent[0]
        assert "temperature" not in sent[0]
        assert sent[0]["max_completion_tokens"]
    if name in ("out of credit", "retry-after beyond the limit"):
        assert len(sent) == 1  # failed at once: no retry could help


def test_a_dripping_server_is_cut_at_the_request_deadline(wfdesk, loopback, env):
    from pathlib import Path

    _save_profile(Path(env["WFDESK_CONFIG_DIR"]), base_url=loopback.base_url, request_deadline=2)
    loopback.drip = 0.25  # a byte every quarter second: the answer would take over a minute
    code, result = _run_step(wfdesk, 1)
    entry = result["results"][0]
    assert code == EXIT_FAILED
    assert "took longer than 2 s" in entry["error"]
    assert loopback.count("/v1/chat") == 1  # not retried: it would only hold the section again


def test_a_cut_answer_leaves_the_field_as_it_was(wfdesk, loopback):
    code, first = _run_step(wfdesk, 1)
    assert code == 0
    code, cut = _run_step(wfdesk, 1, {"max_tokens": 2})
    assert code != 0
    code, out, _ = wfdesk("runs", "show", str(cut["run_id"]))
    unit = json.loads(out)["units"][0]
    assert unit["result"]["metadata"]["partial_output"] == "POLISHED: Polish "
    from wfdesk.db import content
    from wfdesk.workspace import open_workspace

    ws = open_workspace(database_url=os.environ["WFDESK_DATABASE_URL"], data_dir=os.environ["WFDESK_DATA_DIR"])
    try:
        with ws.db.session() as s:
            assert content.get_field(s, 53, 711, "polished").value == first["results"][0]["output"]
    finally:
        ws.close()


def test_python_m_wfdesk_run_step_with_a_current_image_model_and_a_reasoning_model(env, loopback, tmp_path):
    full = {**os.environ, **env}

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "wfdesk", *args], capture_output=True, text=True, env=full,
                              cwd=ROOT, timeout=120)
        assert "Traceback" not in proc.stderr
        return proc

    assert run("init").returncode == 0
    assert run("import", str(REFERENCE_STEPS)).returncode == 0
    image = run("run-step", "--step", "2", "--post", "53", "--sections", "711",
                "--llm-settings", '{"model": "gpt-image-2"}')
    assert image.returncode == 0, image.stdout + image.stderr
    chat = run("run-step", "--step", "1", "--post", "53", "--sections", "711", "--llm-settings", '{"model": "o4-mini"}')
    assert chat.returncode == 0, chat.stdout + chat.stderr
    cut = run("run-step", "--step", "1", "--post", "53", "--sections", "711", "--llm-settings", '{"max_tokens": 3}')
    assert cut.returncode != 0
    assert json.loads(cut.stdout)["results"][0]["error"] == "the answer was cut off at 3 tokens; raise max tokens"
    sent = [r.json for r in loopback.requests if r.path.startswith("/v1/")]
    assert "response_format" not in sent[0]
    assert "max_completion_tokens" in sent[1]
