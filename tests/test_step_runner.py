"""The scripts layer runs the engine through a binding (wfdesk.scripts.step_runner), never an import of it: the
reference's execute_step_script and a SectionHandler called as a plain handler reach whatever engine is bound."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT

from wfdesk.scripts import registry
from wfdesk.scripts.step_runner import set_step_runner


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def execute_step(self, ws, step_id, post_id, context, **options):
        self.calls.append(("execute_step", ws, step_id, post_id, context, options))
        return {"success": True, "results": []}

    def run_config(self, ws, step_config, post_id, context, step_name):
        self.calls.append(("run_config", ws, step_config, post_id, context, step_name))
        return {"success": True, "results": []}


@pytest.fixture
def recorder(ws):
    runner = _Recorder()
    before = set_step_runner(runner)
    yield runner
    set_step_runner(before)


def test_execute_step_script_runs_the_bound_engine_on_the_current_workspace(ws, recorder):
    on_run_id = print
    assert registry.execute_step_script(1, 53, {"section_ids": [711]}, on_run_id=on_run_id)["success"]
    assert recorder.calls == [("execute_step", ws, 1, 53, {"section_ids": [711]}, {"on_run_id": on_run_id})]


def test_a_section_handler_called_as_a_plain_handler_runs_the_bound_engine(ws, recorder):
    handler = registry.get_handler("llm_action")
    config = {"script_config": {"type": "llm_action", "action_id": 1}}
    handler(config, 53, {"step_name": "polish"})
    assert recorder.calls == [("run_config", ws, config, 53, {"step_name": "polish"}, "polish")]


def test_the_registry_alone_runs_a_step_with_the_engine_it_ships_with(tmp_path):
    """The reference's contract: `from registry import execute_step_script` and call it. A script that imports
    nothing else got "No engine is bound" (the benchmarks did); the engine the package ships is loaded on first
    use, and an engine bound before (a test's, a plugin host's) is kept."""
    code = ("import sys\nimport wfdesk.scripts.registry\nfrom wfdesk.scripts import step_runner\n"
            "print('wfdesk.runs.engine' in sys.modules)\n"
            "print(type(step_runner.step_runner()).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         check=True).stdout.split()
    assert out == ["False", "wfdesk.runs.engine"]


def test_an_engine_bound_before_is_the_one_used(ws, recorder):
    from wfdesk.scripts.step_runner import step_runner

    assert step_runner() is recorder
