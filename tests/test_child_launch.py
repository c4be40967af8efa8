"""How the app starts its run process: `python -m wfdesk.runs.child` from source, the bundle's own executable in
run-process mode when frozen (wfdesk.frozen). tests/test_bundle.py runs the real bundle."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

from wfdesk.frozen import RUN_PROCESS_ARG, bundle_plugins_dir, restore_library_path, run_process_command
from wfdesk.runs import child_client
from wfdesk.runs.child_client import run_in_child
from wfdesk.runs.engine import RunOptions

ENTRY = ROOT / "packaging" / "wfdesk_main.py"


def test_from_source_the_run_process_is_this_python_running_the_child_module(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert run_process_command() == [sys.executable, "-P", "-m", "wfdesk.runs.child"]


def test_in_the_bundle_the_run_process_is_the_bundle_executable_in_run_process_mode(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/wfdesk/wfdesk")
    assert run_process_command() == ["/opt/wfdesk/wfdesk", RUN_PROCESS_ARG]


def test_plugins_sit_beside_the_executable_or_beside_a_macos_app(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "wfdesk" / "wfdesk"))
    assert bundle_plugins_dir() == tmp_path / "wfdesk" / "plugins"
    monkeypatch.setattr(sys, "executable", str(tmp_path / "wfdesk.app" / "Contents" / "MacOS" / "wfdesk"))
    assert bundle_plugins_dir() == tmp_path / "plugins"


def test_programs_the_bundle_starts_get_the_library_path_the_user_had():
    had = {"LD_LIBRARY_PATH": "/opt/wfdesk/_internal", "LD_LIBRARY_PATH_ORIG": "/usr/local/lib"}
    restore_library_path(had)
    assert had == {"LD_LIBRARY_PATH": "/usr/local/lib"}
    had_none = {"LD_LIBRARY_PATH": "/opt/wfdesk/_internal", "HOME": "/home/editor"}
    restore_library_path(had_none)
    assert had_none == {"HOME": "/home/editor"}


def _stand_in_bundle(tmp_path):
    """An executable that behaves as the bundle's does: the bundle's entry script, run by this Python."""
    exe = tmp_path / "app" / "wfdesk"
    exe.parent.mkdir()
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ENTRY}" "$@"\n')
    exe.chmod(0o755)
    return exe


def test_a_frozen_app_runs_its_steps_in_its_own_executable_started_in_run_process_mode(demo, loopback, tmp_path,
                                                                                      monkeypatch):
    exe = _stand_in_bundle(tmp_path)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    result = run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53,
                                 "context": {"section_ids": [711]}}, RunOptions())
    assert child_client._process.proc.args == [str(exe), RUN_PROCESS_ARG]
    assert result["success"] is True
    assert result["sections_processed"] == [711]
    assert result["results"][0]["output"].startswith("POLISHED: ")
    assert loopback.count("/v1/chat/completions") == 1


def test_the_entry_script_with_a_command_is_the_command_line(tmp_path):
    env = {**os.environ, "WFDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'entry.db'}",
           "WFDESK_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, str(ENTRY), "init"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Database ready: sqlite:///")


def test_the_run_process_never_imports_from_the_folder_the_app_was_started_in(demo, loopback, tmp_path, monkeypatch):
    # `python -m` puts the current folder first on sys.path: a sqlalchemy.py in the home folder (where a menu entry
    # starts the app) would run inside the process that holds the provider keys.
    planted = tmp_path / "started_here"
    planted.mkdir()
    marker = tmp_path / "planted-code-ran"
    (planted / "sqlalchemy.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise ImportError('planted')\n")
    monkeypatch.chdir(planted)
    monkeypatch.delattr(sys, "frozen", raising=False)
    result = run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53,
                                 "context": {"section_ids": [711]}}, RunOptions())
    assert result["success"], result
    assert not marker.exists()
