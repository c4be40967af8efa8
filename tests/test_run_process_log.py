"""What the app's run process logs reaches the app's log (wfdesk.log): its INFO lines and whole tracebacks."""

from __future__ import annotations

import json
import logging
import queue
import time
from pathlib import Path

from wfdesk.runs import child_client
from wfdesk.runs.child_client import run_in_child
from wfdesk.runs.engine import RunOptions
from wfdesk.runs.events import RunEvent, RunFailed


def _lines(caplog, level: int | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "wfdesk.run_process" and (level is None or r.levelno == level)]


def _wait_for(caplog, text: str) -> None:
    deadline = time.monotonic() + 30  # an upper bound: the line is usually there at once
    while not any(text in line for line in _lines(caplog)) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_run_process_info_lines_reach_the_app_log(demo, loopback, caplog):
    caplog.set_level(logging.INFO)
    result = run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [711]}},
                          RunOptions())
    assert result["success"]
    finished = f"run {result['run_id']} finished: succeeded"
    _wait_for(caplog, finished)
    assert any(finished in line for line in _lines(caplog, logging.INFO)), _lines(caplog)


def test_a_traceback_in_the_run_process_reaches_the_app_log_whole(demo, caplog):
    caplog.set_level(logging.INFO)
    process = child_client._run_process()
    inbox: queue.Queue[RunEvent] = queue.Queue()
    # A resume without its run id: an unexpected error inside the run process, logged there with its traceback.
    process.submit("broken", {"op": "resume", "id": "broken", "database_url": demo.db.url,
                              "data_dir": str(demo.data_dir),
                              "settings": json.loads(demo.settings.model_dump_json())}, demo, inbox.put)
    event = inbox.get(timeout=30)
    assert isinstance(event, RunFailed)
    assert "failed unexpectedly: run_id" in event.message  # the editor's words; the name is in the log
    assert "KeyError" not in event.message
    _wait_for(caplog, "KeyError: 'run_id'")
    errors = _lines(caplog, logging.ERROR)
    assert any("request broken failed" in line for line in errors), _lines(caplog)
    assert any(line.startswith("Traceback (most recent call last)") for line in errors)
    assert any("KeyError: 'run_id'" in line for line in errors)


def test_a_crash_of_the_app_leaves_every_thread_stack_in_its_log(tmp_path):
    # platformdirs puts the log under XDG_STATE_HOME on Linux; a real segfault, in a process of its own.
    import subprocess
    import sys

    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    crash = ("from wfdesk.ui.app import setup_logging; path = setup_logging(); print(path, flush=True); "
             "import ctypes; ctypes.string_at(0)")
    proc = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    log_file = proc.stdout.strip()
    assert log_file.startswith(str(tmp_path))
    text = Path(log_file).read_text(encoding="utf-8")
    assert "Fatal Python error: Segmentation fault" in text
    assert "Current thread" in text or "Thread 0x" in text
