"""The one-folder bundle (`make bundle`, packaging/wfdesk.spec): one executable for the window, the command line and
the run process, with plugins from a `plugins/` folder beside it (wfdesk.frozen).

The slow test builds the real bundle and runs it as an editor's machine would: copied out of the source tree, from a
directory outside it, with no Python on PATH and PYTHONPATH empty. The fast test runs the same start-up code
(packaging/wfdesk_main.py) in this Python, told it is frozen, for the plugins folder.
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
    assert "wfdesk-hijacker 1.0" in echoed.stderr
    assert "built-in types cannot be replaced" in echoed.stderr


def test_plugins_in_the_folder_beside_the_frozen_executable_load(tmp_path, loopback):
    home = tmp_path / "home"
    home.mkdir()
    exe = tmp_path / "app" / "wfdesk"  # where the bundle's executable would be; plugins/ beside it
    fill_plugins_folder(exe.parent / "plugins", tmp_path / "wheels")
    as_frozen = ("import runpy, sys; sys.frozen = True; sys.executable = sys.argv.pop(1); "
                 f"runpy.run_path({str(ROOT / 'packaging' / 'wfdesk_main.py')!r}, run_name='__main__')")
    wfdesk = [sys.executable, "-c", as_frozen, str(exe)]
    env = editor_env(home, loopback)
    run([*wfdesk, "init"], env, home)
    run([*wfdesk, "demo"], env, home)
    check_plugins_load(wfdesk, env, home)
    # Not frozen (a source checkout or a pip install), the folder is not looked at: plugins are installed there.
    plain = run([sys.executable, "-m", "wfdesk", "run-step", "--step", "4", "--post", "53", "--sections", "711"],
                env, home, code=2)
    assert "echo_words" in plain.stderr


def test_the_plugins_folder_its_pth_files_and_wheels_come_after_everything_else_once(tmp_path, monkeypatch):
    from wfdesk.frozen import add_plugins_to_path

    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    folder = tmp_path / "plugins"
    (folder / "vendored").mkdir(parents=True)
    (folder / "extra.pth").write_text("vendored\n")  # as some packages install, e.g. with pip --target
    (folder / "b-1.0-py3-none-any.whl").write_bytes(b"")
    (folder / "a-1.0-py3-none-any.whl").write_bytes(b"")
    added = add_plugins_to_path(folder)
    assert sys.path[:len(before)] == before
    assert sys.path[len(before):] == added
    assert added == [str(folder), str(folder / "vendored"), str(folder / "a-1.0-py3-none-any.whl"),
                     str(folder / "b-1.0-py3-none-any.whl")]
    assert add_plugins_to_path(folder) == []
    assert add_plugins_to_path(tmp_path / "none") == []


@pytest.fixture(scope="module")
def bundle_copy(tmp_path_factory) -> Path:
    """`make bundle`, once (a few minutes on two cores), then an editor's copy of it somewhere else, with a plugins
    folder: nothing may come from the source tree or the developer's Python."""
    started = time.monotonic()
    proc = subprocess.run(["make", "-C", str(ROOT), "bundle"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"make bundle took {time.monotonic() - started:.0f} s")
    built = ROOT / "dist" / "wfdesk"
    assert (built / "wfdesk").is_file()
    assert os.access(built / "wfdesk", os.X_OK)
    assert all((built / license_file.name).is_file() for license_file in ROOT.glob("LICENSE*"))
    copy = tmp_path_factory.mktemp("Applications") / "wfdesk"
    shutil.copytree(built, copy, symlinks=True)
    fill_plugins_folder(copy / "plugins", tmp_path_factory.mktemp("wheels"))
    return copy / "wfdesk"


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def _demo_database(exe: Path, env: dict[str, str], home: Path) -> None:
    assert run([str(exe), "init"], env, home).stdout.startswith("Database ready: ")
    assert run([str(exe), "demo"], env, home).stdout.startswith("Demo loaded: 1 post with 3 sections")


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.slow
def test_the_bundle_is_the_command_line_without_python(bundle_copy, home, loopback):
    env = editor_env(home, loopback)
    wfdesk = [str(bundle_copy)]
    _demo_database(bundle_copy, env, home)
    polished = json.loads(run([*wfdesk, "run-step", "--step", "1", "--post", "53", "--sections", "711"], env,
                              home).stdout)
    assert polished["success"] is True
    assert loopback.count("/v1/chat/completions") == 1
    run([*wfdesk, "export", str(home / "export.json")], env, home)
    (post,) = json.loads((home / "export.json").read_text())["posts"]
    section = next(s for s in post["sections"] if s["id"] == 711)
    assert section["fields"]["polished"] == polished["results"][0]["output"]
    assert section["fields"]["polished"].startswith("POLISHED: ")
    assert section["fields"]["draft"] in section[ "fields"]["polished"]
    (costs,) = json.loads(run([*wfdesk, "costs", "--by", "model", "--json"], env, home).stdout)
    assert costs["cost"] > 0
    assert costs["unpriced_units"] == 0  # genai-prices' data is in the bundle

    check_plugins_load(wfdesk, env, home)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_bundle_opens_a_team_s_postgresql_database(bundle_copy, home, loopback, db_url):
    """The PostgreSQL driver is in the bundle: a URL as CI and editors write it opens, and a step runs on it."""
    env = editor_env(home, loopback, WFDESK_DATABASE_URL=db_url)
    _demo_database(bundle_copy, env, home)
    result = json.loads(run([str(bundle_copy), "run-step", "--step", "1", "--post", "53", "--sections", "712"], env,
                            home).stdout)
    assert result["success"] is True
    assert result["results"][0]["output"].startswith("POLISHED: ")


@pytest.mark.slow
def test_the_bundle_serves_the_http_api(bundle_copy, home, loopback):
    """`wfdesk serve` (FastAPI on uvicorn, whose parts load by name) answers from the bundle."""
    import urllib.request

    token = "bundle-test-token-" + "x" * 32
    env = editor_env(home, loopback, WFDESK_API_TOKEN=token)
    _demo_database(bundle_copy, env, home)
    server = subprocess.Popen([str(bundle_copy), "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=home)
    try:
        url = next(line.split()[-1] for line in server.stdout if line.startswith("serving on "))
        request = urllib.request.Request(f"{url}/api/workflow/steps", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            steps = json.load(answer)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert [step["name"] for step in steps] == ["polish_sections", "section_illustrations", "process_data"]
    assert "Traceback" not in err, err


def _as_the_frozen_app(monkeypatch, exe: Path, env: dict[str, str]) -> None:
    """This process, as the bundle's app: child_client then starts `exe` in run-process mode, in the editor's
    environment (no developer Python on PATH, PYTHONPATH empty)."""
    for key in ("PATH", "PYTHONPATH", "HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))


def _assert_the_run_process_is_the_bundle(exe: Path) -> None:
    from wfdesk.frozen import RUN_PROCESS_ARG
    from wfdesk.runs import child_client

    process = child_client._process.proc
    assert process.args == [str(exe), RUN_PROCESS_ARG]
    assert Path(os.readlink(f"/proc/{process.pid}/exe")) == exe.resolve()


@pytest.mark.slow
def test_the_window_runs_a_step_in_the_bundle_s_run_process(bundle_copy, home, loopback, settings, monkeypatch,
                                                             qtbot):
    from PySide6.QtCore import QSettings, Qt
    from ui.editor_input import WAIT, activate, click, click_row

    from wfdesk.ui.main_window import MainWindow
    from wfdesk.workspace import open_workspace, set_current

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)  # window geometry: never the user's real settings
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(home / "qsettings"))
    env = editor_env(home, loopback)
    _demo_database(bundle_copy, env, home)
    _as_the_frozen_app(monkeypatch, bundle_copy, env)
    ws = open_workspace(database_url=env["WFDESK_DATABASE_URL"], data_dir=env["WFDESK_DATA_DIR"], settings=settings)
    set_current(ws)
    try:
        window = MainWindow(ws)
        qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_asked_already", True))
        window.show()
        activate(qtbot, window)
        title = "A week in the Scottish Highlands"
        qtbot.waitUntil(lambda: bool(window.posts.tree.findItems(title, Qt.MatchFlag.MatchExactly)), timeout=WAIT)
        click_row(qtbot, window.posts.tree, title)
        qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
        qtbot.waitUntil(lambda: bool(window.steps.findItems("polish_sections", Qt.MatchFlag.MatchRecursive)),
                        timeout=WAIT)
        click_row(qtbot, window.steps, "polish_sections")
        qtbot.waitUntil(lambda: window.current_panel() is not None and window.current_panel().data is not None
                        and window.current_panel().run_button.isEnabled(), timeout=WAIT)
        with qtbot.waitSignal(window.runs.run_finished, timeout=WAIT) as finished:
            click(qtbot, window.current_panel().run_button)
        result = finished.args[1]
        _assert_the_run_process_is_the_bundle(bundle_copy)
        assert result["status"] == "succeeded"
        assert sorted(result["sections_processed"]) == [711, 712, 713]
        assert loopback.count("/v1/chat/completions") == 3
        window.close()
    finally:
        from wfdesk.runs import child_client

        child_client.terminate_all(5)
        set_current(None)
        ws.close()


@pytest.mark.slow
def test_the_bundle_opens_the_window(bundle_copy, home, loopback):
    """Offscreen, without arguments: it opens the database and keeps running, with nothing going wrong."""
    env = {**editor_env(home, loopback), "QT_QPA_PLATFORM": "offscreen"}
    _demo_database(bundle_copy, env, home)
    window = subprocess.Popen([str(bundle_copy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=home)
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
    assert opened, (window.returncode, out, err, log)
    assert still_running, (window.returncode, out, err, log)
    assert window.returncode == -signal.SIGTERM  # ended by the signal, not by a crash of its own
    assert "Traceback" not in err, (err, log)
    assert "Traceback" not in log, (err, log)
    assert " ERROR " not in log, (err, log)


# --- the icon of the Windows and macOS bundles (packaging/app_icon.py, used by packaging/wfdesk.spec) -----------

def _app_icon_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("app_icon", ROOT / "packaging" / "app_icon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundle_icon_is_the_largest_png_and_none_without_icons(tmp_path):
    from PIL import Image

    largest_png = _app_icon_module().largest_png
    assert largest_png(tmp_path / "no-icons") is None
    for size in (16, 256, 48):
        folder = tmp_path / "icons" / f"{size}x{size}"
        folder.mkdir(parents=True)
        Image.new("RGBA", (size, size)).save(folder / "wfdesk.png")
    assert largest_png(tmp_path / "icons") == tmp_path / "icons" / "256x256" / "wfdesk.png"


def test_the_app_icon_converts_to_the_windows_and_macos_formats(tmp_path):
    from PyInstaller.building.icon import normalize_icon_type

    png = _app_icon_module().largest_png(ROOT / "wfdesk" / "resources" / "icons")
    if png is None:
        pytest.skip("no PNG icon under wfdesk/resources/icons yet")
    ico = normalize_icon_type(str(png), ("exe", "ico"), "ico", str(tmp_path))
    icns = normalize_icon_type(str(png), ("icns",), "icns", str(tmp_path))
    assert Path(ico).read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert Path(icns).read_bytes()[:4] == b"icns"
