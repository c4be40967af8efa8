"""The command line against a real database and the loopback provider.

The end-to-end tests run `python -m wfdesk` as a user does, in a subprocess; the many small checks of messages and
exit codes call the same `main()` in-process, which is the same code without a second of interpreter start-up.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from conftest import REFERENCE_STEPS, ROOT


@pytest.fixture
def cli(db_url, tmp_path, loopback):
    env = {**os.environ, "WFDESK_DATABASE_URL": db_url, "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url,
           "WFDESK_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("OPENAI_API_KEY", None)

    def run(*args: str, check_code: int | None = 0, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "wfdesk", *args], capture_output=True, text=True,
                              env={**env, **(extra_env or {})}, cwd=ROOT, timeout=120)
        if check_code is not None:
            assert proc.returncode == check_code, (proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc

    return run


@pytest.fixture
def cli_fast(db_url, tmp_path, loopback, monkeypatch):
    """main() in this process, with the same environment the subprocess gets."""
    from wfdesk.cli import main

    for key, value in {"WFDESK_DATABASE_URL": db_url, "WFDESK_DATA_DIR": str(tmp_path / "data"),
                       "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url,
                       "WFDESK_CONFIG_DIR": str(tmp_path / "config")}.items():
        monkeypatch.setenv(key, value)

    def run(*args: str, check_code: int | None = 0) -> subprocess.CompletedProcess:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        proc = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
        if check_code is not None:
            assert code == check_code, (proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc

    return run


def test_reference_configs_end_to_end(cli, loopback, tmp_path):
    """The issue's 'done when': import the three reference step configs, run each on three sections."""
    cli("init")
    cli("init")  # idempotent
    assert "Imported 1 llm actions, 3 workflow steps" in cli("import", str(REFERENCE_STEPS)).stdout
    assert "ok" in cli("validate").stdout
    shapes = {}
    for step in (1, 2, 3):
        out = json.loads(cli("run-step", "--step", str(step), "--post", "53", "--sections", "711,712,713").stdout)
        assert out["success"] is True
        assert out["sections_processed"] == [711, 712, 713]
        assert set(out) >= {"success", "results", "step", "sections_processed", "run_id"}
        for entry in out["results"]:
            assert entry["status"] == "success"
            assert isinstance(entry["metadata"], dict)
        shapes[out["step"]] = out["results"][0]
    assert "output" in shapes["polish_sections"]
    assert "output" in shapes["process_data"]
    assert shapes["section_illustrations"]["image_url"].startswith("content/posts/53/sections/711/raw/")
    assert (tmp_path / "data" / shapes["section_illustrations"]["image_url"]).is_file()

    runs = json.loads(cli("runs", "list", "--json").stdout)
    assert [r["step"] for r in runs] == ["process_data", "section_illustrations", "polish_sections"]
    assert all(r["status"] == "succeeded" and r["counts"]["total"] == 3 for r in runs)
    shown = json.loads(cli("runs", "show", str(runs[1]["id"])).stdout)
    assert shown["effective_config"]["script_config"]["type"] == "image_generation"
    assert [u["status"] for u in shown["units"]] == ["success"] * 3

    version_id = shapes["section_illustrations"]["images"][0]["version_id"]
    accepted = json.loads(cli("accept", str(version_id)).stdout)
    assert accepted["status"] == "accepted"
    assert accepted["field"] == "generated_image_url"
    export = tmp_path / "export.json"
    cli("export", str(export))
    data = json.loads(export.read_text())
    fields = data["posts"][0]["sections"][0]["fields"]
    assert fields["generated_image_url"] == shapes["section_illustrations"]["image_url"]
    assert fields["polished"].startswith("POLISHED: ")
    rejected = json.loads(cli("reject", str(version_id)).stdout)
    assert rejected["status"] == "rejected"


def test_exit_codes(cli_fast, loopback, tmp_path):
    cli_fast("import", str(REFERENCE_STEPS))
    # 2: a bad request; nothing sent.
    for args, message in [
        (("run-step", "--step", "99", "--post", "53"), "Step 99 does not exist"),
        (("run-step", "--step", "1", "--post", "99"), "Post 99 does not exist"),
        (("run-step", "--step", "1", "--post", "53", "--sections", "711,999"), "999"),
        (("run-step", "--step", "1", "--post", "53", "--inputs", "{nope"), "--inputs is not valid JSON"),
        (("run-step", "--step", "1", "--post", "53", "--sections", "a,b"), "--sections"),
        (("accept", "12345"), "Version 12345 does not exist"),
        (("runs", "show", "777"), "Run 777 does not exist"),
        (("import", str(tmp_path / "missing.json")), "no such file"),
    ]:
        proc = cli_fast(*args, check_code=2)
        assert message in proc.stderr, (args, proc.stderr)
    assert loopback.count() == 0
    # 1: some section failed, each result says why.
    loopback.fail = lambda i, req: ((400, {}, b'{"error": {"message": "GPU on fire"}}')
                                    if "Glen Affric" in json.dumps(req.json) else None)
    out = json.loads(cli_fast("run-step", "--step", "1", "--post", "53", "--sections", "711,712,713",
                         check_code=1).stdout)
    errors = [r for r in out["results"] if r["status"] == "error"]
    assert len(errors) == 1
    assert "GPU on fire" in errors[0]["error"]


def test_invalid_configs_exit_2_and_name_step_and_field(cli_fast, loopback, tmp_path):
    bundle = json.loads(REFERENCE_STEPS.read_text())
    bundle["workflow_steps"][0]["config"]["script_config"]["action_id"] = 404
    bundle["workflow_steps"][1]["config"]["script_config"]["parameters"]["n"] = 99
    bundle["workflow_steps"][2]["config"]["script_config"]["type"] = "teleport"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    cli_fast("import", str(path))
    proc = cli_fast("validate", check_code=2)
    assert "'polish_sections'" in proc.stderr
    assert "script_config.action_id: LLM action 404 does not exist" in proc.stderr
    assert "script_config.parameters.n" in proc.stderr
    assert "Unknown script type: teleport" in proc.stderr
    proc = cli_fast("run-step", "--step", "2", "--post", "53", "--sections", "711", check_code=2)
    assert "section_illustrations" in proc.stderr
    assert "parameters.n" in proc.stderr
    proc = cli_fast("run-step", "--step", "3", "--post", "53", check_code=2)
    assert "Unknown script type: teleport" in proc.stderr
    assert loopback.count() == 0
    assert "step 1" in cli_fast("validate", "--step", "1", check_code=2).stderr


def test_local_server_needs_only_a_base_url(cli_fast, loopback):
    cli_fast("import", str(REFERENCE_STEPS))
    cli_fast("run-step", "--step", "1", "--post", "53", "--sections", "711")
    auth = loopback.requests[-1].headers.get("authorization")
    assert auth == "Bearer not-needed"


def test_api_key_from_environment_is_sent_but_never_stored(cli, loopback, db_url, tmp_path):
    cli("import", str(REFERENCE_STEPS))
    secret = "sk-test-SECRET-1234567890"
    proc = cli("-v", "run-step", "--step", "1", "--post", "53", "--sections", "711",
               extra_env={"OPENAI_API_KEY": secret})
    assert "run 1" in proc.stderr
    assert secret not in proc.stderr  # progress is logged, the key is not
    assert loopback.requests[-1].headers.get("authorization") == f"Bearer {secret}"
    export = tmp_path / "e.json"
    cli("export", str(export))
    assert secret not in export.read_text()
    runs = cli("runs", "list", "--json").stdout
    assert secret not in cli("runs", "show", str(json.loads(runs)[0]["id"])).stdout


def test_import_is_all_or_nothing(cli_fast, tmp_path):
    bundle = json.loads(REFERENCE_STEPS.read_text())
    bundle["posts"][0]["sections"][2]["fields"]["bad name!"] = "x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    proc = cli_fast("import", str(path), check_code=2)
    assert "bad name!" in proc.stderr
    assert "nothing was changed" in proc.stderr
    export = tmp_path / "e.json"
    cli_fast("export", str(export))
    assert json.loads(export.read_text()) == {"llm_actions": [], "workflow_steps": [], "posts": [],
                                              "post_step_overrides": []}


def test_workflow_commands(cli_fast, tmp_path):
    assert "reference:" in cli_fast("workflow", "templates").stdout
    assert "Added 3 step(s)" in cli_fast("workflow", "import", "--template", "reference").stdout
    out = tmp_path / "wf.json"
    cli_fast("workflow", "export", str(out), "--name", "Team workflow")
    doc = json.loads(out.read_text())
    assert doc["format"] == "wfdesk-workflow"
    assert len(doc["workflow_steps"]) == 3
    assert "posts" not in doc
    assert "Added 3 step(s)" in cli_fast("workflow", "import", str(out)).stdout
    assert "no built-in workflow 'nope'" in cli_fast("workflow", "import", "--template", "nope", check_code=2).stderr


def test_costs_and_budget_from_the_command_line(cli_fast, loopback, tmp_path):
    cli_fast("import", str(REFERENCE_STEPS))
    cli_fast("run-step", "--step", "2", "--post", "53", "--sections", "711,712")
    rows = json.loads(cli_fast("costs", "--by", "step", "--json").stdout)
    from wfdesk.runs.costs import Usage, cost_of
    from wfdesk.settings import Settings

    one_image = cost_of(Settings(), Usage("gpt-image-1-mini", images=1))  # the price list's, not a number here
    assert one_image > 0
    assert rows[0]["step"] == "section_illustrations"
    assert rows[0]["images"] == 2
    assert rows[0]["cost"] == pytest.approx(2 * one_image)
    settings = tmp_path / "config" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"budget_per_post": 2.5 * one_image}))  # a third image would exceed it
    loopback.reset()
    proc = cli_fast("run-step", "--step", "2", "--post", "53", "--sections", "713", check_code=2)
    assert "budget" in proc.stderr
    assert "Nothing was sent" in proc.stderr
    assert loopback.count() == 0


def test_demo_loads_once_and_never_overwrites_the_editors_changes(cli_fast, tmp_path):
    from wfdesk.services import editing  # the demo's own post, not numbers copied here

    demo_post = editing.demo_bundle()["posts"][0]
    assert cli_fast("demo").stdout == "Demo loaded: 1 post with 3 sections, 3 workflow steps and 1 LLM action.\n"
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    cli_fast("export", str(before))
    exported = json.loads(before.read_text())
    assert [p["title"] for p in exported["posts"]] == [demo_post["title"]]
    assert len(exported["workflow_steps"]) == 3

    again = cli_fast("demo")
    assert f'already loaded: post {demo_post["id"]}, "{demo_post["title"]}"' in again.stdout
    cli_fast("export", str(after))
    assert json.loads(after.read_text()) == exported
