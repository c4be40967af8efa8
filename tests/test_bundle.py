"""The one-folder bundle (`make bundle`, packaging/wfdesk.spec): one executable for the window, the command line and
the run process, with plugins from a `plugins/` folder beside it (wfdesk.frozen).

The slow test builds the real bundle and runs it as an editor's machine would: copied out of the source tree, from a
directory outside it, with no Python on PATH and PYTHONPATH empty. The fast test runs the same start-up code
(wfdesk.frozen.main) in this Python, told it is frozen, for the plugins folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

FIXTURES = ROOT / "tests" / "plugin_fixtures"
# A step of the plugin's type, added beside the demo's three steps.
ECHO_STEPS = {"workflow_steps": [{
    "id": 4, "name": "echo_from_a_plugin", "stage": "Publishing", "position": 4,
    "config": {"inputs": {}, "outputs": {"output1": {"label": "Echo", "db_field": "echo", "type": "textarea"}},
               "script_config": {"type": "echo_words", "parameters": {"word": "bundled", "times": 2}}}}]}


def build_echo_plugin_wheel(dest: Path) -> Path:
    """tests/plugin_fixtures/sample_plugins.py's `echo_words` type as a plugin package's wheel, built by pip."""
    src = dest / "echo-plugin-src"
    src.mkdir(parents=True)
    shutil.copy(FIXTURES / "sample_plugins.py", src / "wfdesk_echo_words.py")
    (src / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "wfdesk-echo-words"
        version = "1.0"

        [project.entry-points."wfdesk.script_types"]
        echo_words = "wfdesk_echo_words:ECHO"

        [tool.setuptools]
        py-modules = ["wfdesk_echo_words"]
        """))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(dest), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = dest.glob("wfdesk_echo_words-1.0-*.whl")
    return wheel


def fill_plugins_folder(folder: Path, scratch: Path) -> None:
    """Both kinds a plugins folder holds: a wheel (echo_words) and an unpacked package (the hijacker, which
    declares the built-in llm_action and must be refused)."""
    folder.mkdir(parents=True)
    shutil.copy(build_echo_plugin_wheel(scratch), folder)
    shutil.copytree(FIXTURES / "hijacker", folder, dirs_exist_ok=True)


def editor_env(home: Path, loopback, **extra: str) -> dict[str, str]:
    """An environment without the developer's Python: no venv on PATH, PYTHONPATH empty, everything in `home`."""
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": "", "HOME": str(home), "LANG": "C.UTF-8",
            "WFDESK_DATABASE_URL": f"sqlite:///{home / 'wfdesk.db'}", "WFDESK_DATA_DIR": str(home / "data"),
            "WFDESK_CONFIG_DIR": str(home / "config"), "XDG_CONFIG_HOME": str(home / "xdg"),
            "XDG_STATE_HOME": str(home / "state"), "OPENAI_BASE_URL": loopback.base_url, **extra}


def run(command: list[str], env: dict[str, str], cwd: Path, code: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert proc.returncode == code, (command, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def check_plugins_load(wfdesk: list[str], env: dict[str, str], cwd: Path) -> None:
    """The wheel's type runs a step; the unpacked package is found too, and refused for taking a built-in name."""
    steps = cwd / "echo-steps.json"
    steps.write_text(json.dumps(ECHO_STEPS))
    run([*wfdesk, "import", str(steps)], env, cwd)
    echoed = run([*wfdesk, "run-step", "--step", "4", "--post", "53", "--sections", "711"], env, cwd)
    assert json.loads(echoed.stdout)["results"][0]["output"] == "bundled bundled"
    assert "wfdesk-hijacker 1.0" in echoed.stderr and "built-in types cannot be replaced" in echoed.stderr


def test_plugins_in_the_folder_beside_the_frozen_executable_load(tmp_path, loopback):
    home = tmp_path / "home"
    home.mkdir()
    exe = tmp_path / "app" / "wfdesk"  # where the bundle's executable would be; plugins/ beside it
    fill_plugins_folder(exe.parent / "plugins", tmp_path / "wheels")
    as_frozen = ("import sys; sys.frozen = True; sys.executable = sys.argv.pop(1); from wfdesk.frozen import main; "
                 "sys.exit(main(sys.argv[1:]))")
    wfdesk = [sys.executable, "-c", as_frozen, str(exe)]
    env = editor_env(home, loopback)
    run([*wfdesk, "init"], env, home)
    run([*wfdesk, "demo"], env, home)
    check_plugins_load(wfdesk, env, home)
    # Not frozen (a source checkout or a pip install), the folder is not looked at: plugins are installed there.
    plain = run([sys.executable, "-m", "wfdesk", "run-step", "--step", "4", "--post", "53", "--sections", "711"],
                env, home, code=2)
    assert "echo_words" in plain.stderr


@pytest.fixture(scope="module")
def built_bundle() -> Path:
    """`make bundle`, once (a few minutes on two cores)."""
    started = time.monotonic()
    proc = subprocess.run(["make", "-C", str(ROOT), "bundle"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"make bundle took {time.monotonic() - started:.0f} s")
    exe = ROOT / "dist" / "wfdesk" / "wfdesk"
    assert exe.is_file() and os.access(exe, os.X_OK)
    return exe.parent


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.slow
def test_the_bundle_needs_no_python_runs_the_cli_plugins_runs_and_the_window(built_bundle, tmp_path, loopback,
                                                                            settings, monkeypatch):
    # An editor's copy, somewhere else: nothing may come from the source tree or the developer's Python.
    app = tmp_path / "Applications" / "wfdesk"
    shutil.copytree(built_bundle, app, symlinks=True)
    fill_plugins_folder(app / "plugins", tmp_path / "wheels")
    home = tmp_path / "home"
    home.mkdir()
    env = editor_env(home, loopback)
    wfdesk = [str(app / "wfdesk")]

    assert run([*wfdesk, "init"], env, home).stdout.startswith("Database ready: sqlite:///")
    assert run([*wfdesk, "demo"], env, home).stdout.startswith("Demo loaded: 1 post with 3 sections")
    polished = json.loads(run([*wfdesk, "run-step", "--step", "1", "--post", "53", "--sections", "711"], env,
                              home).stdout)
    assert polished["success"] is True and loopback.count("/v1/chat/completions") == 1
    run([*wfdesk, "export", str(home / "export.json")], env, home)
    (post,) = json.loads((home / "export.json").read_text())["posts"]
    section = next(s for s in post["sections"] if s["id"] == 711)
    assert section["fields"]["polished"] == polished["results"][0]["output"]
    assert section["fields"]["polished"].startswith("POLISHED: ") and section["fields"]["draft"] in section[
        "fields"]["polished"]

    (costs,) = json.loads(run([*wfdesk, "costs", "--by", "model", "--json"], env, home).stdout)
    assert costs["cost"] > 0 and costs["unpriced_units"] == 0  # genai-prices' data is in the bundle

    check_plugins_load(wfdesk, env, home)

    # The app's run process, as the frozen app starts it (child_client, told it is frozen): the bundle's executable
    # in run-process mode runs a step of the demo.
    from wfdesk.frozen import RUN_PROCESS_ARG
    from wfdesk.runs import child_client
    from wfdesk.runs.engine import RunOptions
    from wfdesk.workspace import open_workspace

    for key in ("PATH", "PYTHONPATH", "HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", wfdesk[0])
    ws = open_workspace(database_url=env["WFDESK_DATABASE_URL"], data_dir=env["WFDESK_DATA_DIR"], settings=settings)
    try:
        result = child_client.run_in_child(ws, {"action": "start", "step_id": 1, "post_id": 53,
                                                "context": {"section_ids": [712]}}, RunOptions())
        process = child_client._process.proc
        assert process.args == [wfdesk[0], RUN_PROCESS_ARG]
        assert Path(os.readlink(f"/proc/{process.pid}/exe")) == (app / "wfdesk").resolve()
    finally:
        child_client.terminate_all(5)
        ws.close()
    assert result["success"] is True and result["sections_processed"] == [712]
    assert result["results"][0]["output"].startswith("POLISHED: ")

    # The window, offscreen: it opens the database and keeps running, with nothing going wrong on the way.
    gui_env = {**env, "QT_QPA_PLATFORM": "offscreen"}
    window = subprocess.Popen(wfdesk, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gui_env,
                              cwd=home)
    log_file = home / "state" / "wfdesk" / "log" / "wfdesk.log"
    try:
        opened = _wait_for(lambda: log_file.is_file() and "workspace open" in log_file.read_text(), 120)
        still_running = window.poll() is None
        time.sleep(3)  # a few seconds of the event loop with the workspace attached
        still_running = still_running and window.poll() is None
    finally:
        window.terminate()  # what a desktop session's logout sends
        out, err = window.communicate(timeout=60)
    log = log_file.read_text() if log_file.is_file() else ""
    assert opened and still_running, (window.returncode, out, err, log)
    assert window.returncode == -signal.SIGTERM  # ended by the signal, not by a crash of its own
    assert "Traceback" not in err and "Traceback" not in log and " ERROR " not in log, (err, log)
