"""Plugin script types through the `wfdesk.script_types` entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib.metadata import EntryPoint

import pytest
from conftest import ROOT

from wfdesk.scripts import plugins
from wfdesk.scripts.registry import SCRIPT_REGISTRY, SCRIPT_TYPES, unregister_script_type
from wfdesk.scripts.validation import validate_step

GROUP = plugins.ENTRY_POINT_GROUP


def _ep(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"plugin_fixtures.sample_plugins:{target}", group=GROUP)


@pytest.fixture
def clean_errors():
    before = list(plugins.PLUGIN_ERRORS)
    yield plugins.PLUGIN_ERRORS
    plugins.PLUGIN_ERRORS[:] = before
    unregister_script_type("echo_words")


def test_builtins_come_through_the_entry_point_group():
    for name in ("llm_action", "custom_script", "image_generation"):
        assert SCRIPT_TYPES[name].source.startswith("wfdesk ")


def test_a_plugin_registers_with_its_schema(clean_errors):
    assert plugins.load_plugins([_ep("echo_words", "ECHO")]) == ["echo_words"]
    info = SCRIPT_TYPES["echo_words"]
    assert info.description == "Repeats a word" and info.parameters_model.__name__ == "EchoParameters"
    problems = validate_step(None, "s", {"script_config": {"type": "echo_words", "parameters": {"times": 9}}})
    assert [p.field for p in problems] == ["script_config.parameters.times"]


def test_broken_and_duplicate_plugins_are_listed_and_skipped(clean_errors):
    eps = [EntryPoint(name="ghost", value="no_such_module_anywhere:PLUGIN", group=GROUP),
           _ep("llm_action", "DUPLICATE"), _ep("number", "NOT_A_HANDLER"), _ep("echo_words", "ECHO")]
    assert plugins.load_plugins(eps) == ["echo_words"]  # the good one still loads
    errors = {e.entry_point.split(" =")[0]: e.error for e in clean_errors[-3:]}
    assert "ModuleNotFoundError" in errors["ghost"]
    assert "'llm_action' is already registered" in errors["llm_action"]
    assert "must name a ScriptTypePlugin or a handler" in errors["number"]
    assert SCRIPT_REGISTRY["llm_action"].script_type == "llm_action"  # the built-in was not replaced


def test_example_plugin_installs_with_pip_into_a_fresh_environment(tmp_path):
    """A new venv sees the project's dependencies through a .pth file (no network), then pip installs the example."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "project-deps.pth"), "w") as fh:
        # addsitedir, so the project's own .pth files (its editable install) are honoured too.
        fh.write(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                           "--no-build-isolation", "--no-index", str(ROOT / "examples" / "wfdesk-video-generation")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    check = ("from wfdesk.scripts.registry import SCRIPT_TYPES; from wfdesk.scripts.plugins import PLUGIN_ERRORS; "
             "i = SCRIPT_TYPES['video_generation']; print(i.source, i.parameters_model.__name__, len(PLUGIN_ERRORS))")
    out = subprocess.run([str(py), "-c", check], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["wfdesk-video-generation", "0.1.0", "VideoParameters", "0"]
    # The plugin's own tests, run in the environment it was installed into.
    tests = ROOT / "examples" / "wfdesk-video-generation" / "tests"
    out = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 passed" in out.stdout  # 4 for the handler, 2 for its panel (pytest-qt)
