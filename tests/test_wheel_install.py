"""The wheel works from any install: built, installed into a fresh venv outside the source tree (its own directory as
cwd, PYTHONPATH empty, HOME and the XDG folders in the test's), it runs `wfdesk init`, `wfdesk demo`, `run-step` on
the loopback provider, installs its desktop entry, says what a PostgreSQL URL needs on the lean base install, and
starts the GUI offscreen for a few seconds without an error.

The dependencies come from a wheelhouse kept between runs (the user cache dir, filled once by `pip download` with the
wheel's own requirements), so the install is offline and takes under a minute once warm — still over a minute in
all, so the test is slow (CI runs it once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path

import platformdirs
import pytest
from conftest import PG_URL, ROOT
from test_demo_packaging import build_wheel

pytestmark = pytest.mark.slow

WHEELHOUSE = Path(os.environ.get("WFDESK_TEST_WHEELHOUSE") or
                  Path(platformdirs.user_cache_dir("wfdesk-tests")) / "wheelhouse")
GUI_SECONDS = 4  # the window runs this long after its workspace is open


def _pip_install(venv: Path, requirement: Path | str) -> None:
    """Offline from the wheelhouse; when it lacks a requirement (first run, a new dependency), fill it and retry."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    install = [*pip, "install", "-q", "--no-compile", "--no-index", "--find-links", str(WHEELHOUSE), str(requirement)]
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    _forget_our_own_wheels()
    if subprocess.run(install, capture_output=True, timeout=600).returncode == 0:
        return
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), str(requirement)],
                   check=True, capture_output=True, timeout=900)
    _forget_our_own_wheels()
    proc = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def _forget_our_own_wheels() -> None:
    """pip download copies the wheel under test into the wheelhouse; an older build kept there under the same name
    (wfdesk-0.1.0) would be taken for this one and its older requirements downloaded instead of the new ones."""
    for kept in WHEELHOUSE.glob("wfdesk-*.whl"):
        kept.unlink()


def _extra_pin(extra: str) -> str:
    """The version bound pyproject.toml gives psycopg in an extra (">=3.2")."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    spec = next(r for r in project["optional-dependencies"][extra] if r.startswith("psycopg["))
    return spec[spec.index("]") + 1:]


@contextmanager
def _pg_schema():
    """A schema of its own on the test server, dropped afterwards; yields the URL (psycopg2-style, as CI's)."""
    from sqlalchemy import create_engine, text

    from wfdesk.database_url import engine_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _clean_env(tmp_path: Path, venv: Path, loopback) -> dict[str, str]:
    """Nothing from this checkout or its venv: no PYTHON*/VIRTUAL_ENV/WFDESK_*/XDG_* of the test process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "WFDESK_", "XDG_", "OPENAI_", "QT_"))}
    home = tmp_path / "home"
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": "",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "OPENAI_BASE_URL": loopback.base_url,
        "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url,
        "QT_QPA_PLATFORM": "offscreen",
    })
    return env


def test_the_wheel_installed_in_a_fresh_venv_runs_the_cli_and_the_gui(tmp_path, loopback):
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    _pip_install(venv, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env(tmp_path, venv, loopback)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True, env=env,
                              cwd=work, timeout=300)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    where = run("python", "-c", "import wfdesk, sys; print(wfdesk.__file__); print(sys.path)").stdout
    assert where.startswith(str(venv))
    assert str(ROOT) not in where
    assert run("wfdesk", "--version").stdout == "wfdesk 0.1.0\n"

    assert "Database ready" in run("wfdesk", "init").stdout
    assert (tmp_path / "home" / "data" / "wfdesk" / "wfdesk.db").is_file()  # the default: $XDG_DATA_HOME/wfdesk
    demo = run("wfdesk", "demo").stdout
    assert demo.startswith("Demo loaded: 1 post with 3 sections, 3 workflow steps")
    polished = json.loads(run("wfdesk", "run-step", "--step", "1", "--post", "53", "--sections", "711,712").stdout)
    assert polished["success"] is True
    assert polished["sections_processed"] == [711, 712]
    assert all(r["output"].startswith("POLISHED: ") for r in polished["results"])
    image = json.loads(run("wfdesk", "run-step", "--step", "2", "--post", "53", "--sections", "713").stdout)
    assert image["success"] is True
    assert image["results"][0]["image_url"].startswith("content/posts/53/")
    assert "reference" in run("wfdesk", "workflow", "templates").stdout  # a template read from the package

    installed = run("wfdesk", "--install-desktop-entry").stdout
    assert str(tmp_path / "home" / "data" / "applications" / "org.wfdesk.wfdesk.desktop") in installed
    assert (tmp_path / "home/data/icons/hicolor/256x256/apps/org.wfdesk.wfdesk.png").stat().st_size > 1000
    entry = (tmp_path / "home/data/applications/org.wfdesk.wfdesk.desktop").read_text()
    assert f"Exec={venv / 'bin' / 'wfdesk-gui'}\n" in entry

    # The base install has no PostgreSQL driver: a URL for one is refused in words, naming the fix.
    refused = run("wfdesk", "--database", "postgresql+psycopg2://bob:pw-9x1@127.0.0.1:1/team", "init", code=1)
    assert "pipx install 'wfdesk[postgres]'" in refused.stderr
    assert "pw-9x1" not in refused.stderr

    _run_gui_offscreen(venv, env, work, tmp_path / "home")

    if PG_URL:  # the `postgres` extra's driver, added to the same install, opens the URL CI and editors use
        _pip_install(venv, f"psycopg[binary]{_extra_pin('postgres')}")
        with _pg_schema() as url:
            run("wfdesk", "--database", url, "init")
            assert run("wfdesk", "--database", url, "demo").stdout.startswith("Demo loaded")
            out = json.loads(run("wfdesk", "--database", url, "run-step", "--step", "1", "--post", "53",
                                 "--sections", "711").stdout)
            assert out["success"] is True


def _run_gui_offscreen(venv: Path, env: dict[str, str], work: Path, home: Path) -> None:
    log_file = home / "state" / "wfdesk" / "log" / "wfdesk.log"
    stderr_path = work / "gui-stderr.txt"
    with stderr_path.open("wb") as stderr:
        gui = subprocess.Popen([str(venv / "bin" / "wfdesk-gui")], env=env, cwd=work, stdout=subprocess.DEVNULL,
                               stderr=stderr, start_new_session=True)  # its own group: its run process ends with it
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and gui.poll() is None:
            if log_file.exists() and "workspace open:" in log_file.read_text(encoding="utf-8", errors="replace"):
                break
            time.sleep(0.2)
        assert gui.poll() is None, f"the GUI exited with {gui.returncode}: {stderr_path.read_text()}"
        assert log_file.exists(), "the GUI wrote no log file"
        assert "workspace open:" in log_file.read_text(encoding="utf-8"), log_file.read_text(encoding="utf-8")
        time.sleep(GUI_SECONDS)
        assert gui.poll() is None, f"the GUI exited with {gui.returncode}: {stderr_path.read_text()}"
    finally:
        if gui.poll() is None:
            os.killpg(gui.pid, signal.SIGTERM)
        gui.wait(timeout=60)
    errors = stderr_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in errors, errors
    logged = log_file.read_text(encoding="utf-8")
    assert " ERROR " not in logged, logged
    assert "Traceback" not in logged, logged
