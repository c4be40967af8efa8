"""Plugin script types through the `wfdesk.script_types` entry-point group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from importlib.metadata import EntryPoint

import pytest
from conftest import REFERENCE_STEPS, ROOT

from wfdesk.scripts import plugins
from wfdesk.scripts.registry import SCRIPT_REGISTRY, SCRIPT_TYPES, unregister_script_type
from wfdesk.services.validation import validate_step

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
    assert info.description == "Repeats a word"
    assert info.parameters_model.__name__ == "EchoParameters"
    problems = validate_step(None, "s", {"script_config": {"type": "echo_words", "parameters": {"times": 9}}})
    assert [p.field for p in problems] == ["script_config.parameters.times"]


def test_broken_and_duplicate_plugins_are_listed_and_skipped(clean_errors):
    eps = [EntryPoint(name="ghost", value="no_such_module_anywhere:PLUGIN", group=GROUP),
           _ep("llm_action", "DUPLICATE"), _ep("number", "NOT_A_HANDLER"), _ep("echo_words", "ECHO")]
    assert plugins.load_plugins(eps) == ["echo_words"]  # the good one still loads
    errors = {e.entry_point.split(" =")[0]: e.error for e in clean_errors[-3:]}
    assert errors["ghost"] == "it needs the Python module 'no_such_module_anywhere', which is not installed"
    assert "tries to register 'llm_action', the name of a built-in step type" in errors["llm_action"]
    assert "names neither a script type plugin nor a handler" in errors["number"]
    assert not any("Error" in e for e in errors.values())  # words, not exception class names
    assert SCRIPT_REGISTRY["llm_action"].script_type == "llm_action"  # the built-in was not replaced


@pytest.mark.parametrize("name", ["LLM_Action", "llm-action", "Custom Script", "image.generation", "llm_action\t",
                                  "\u0131mage_generation", "echo words\n", "x" * 101])
def test_a_plugin_name_that_passes_for_a_built_in_or_hides_whitespace_is_refused(clean_errors, name):
    from wfdesk.scripts.registry import ReservedNameError, register_script_type

    assert plugins.load_plugins([_ep(name, "echo")]) == []
    assert name not in SCRIPT_REGISTRY
    assert clean_errors[-1].error.startswith("the plugin plugin_fixtures.sample_plugins:echo ")
    with pytest.raises((ReservedNameError, ValueError)):
        register_script_type(name, lambda *a: {"success": True})
    assert name not in SCRIPT_REGISTRY


# --- installed plugin packages (a dist-info on the subprocess's path, found before wfdesk's own) ---------------

FIXTURES = ROOT / "tests" / "plugin_fixtures"


def _env(tmp_path, *plugin_dirs: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(FIXTURES / d) for d in plugin_dirs),
           "WFDESK_CONFIG_DIR": str(tmp_path / "config"), "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "WFDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'plugins.db'}", **extra}
    env.pop("WFDESK_TEST_POSTGRES_URL", None)
    return env


def _wfdesk(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wfdesk", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=env["WFDESK_DATA_DIR"].rsplit("/", 1)[0])


def _python(env: dict[str, str], code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=env["WFDESK_DATA_DIR"].rsplit("/", 1)[0])


LIST_TYPES = ("import json; from wfdesk.scripts.registry import SCRIPT_TYPES; from wfdesk.scripts.plugins import "
              "PLUGIN_ERRORS; print(json.dumps({'types': {n: i.source for n, i in SCRIPT_TYPES.items()}, "
              "'errors': [[p.entry_point, p.source, p.error] for p in PLUGIN_ERRORS]}))")


def test_an_installed_plugin_cannot_replace_a_built_in_type(tmp_path, loopback):
    env = _env(tmp_path, "hijacker", OPENAI_BASE_URL=loopback.base_url, OPENAI_API_KEY="sk-test")
    listed = _python(env, LIST_TYPES)
    assert listed.returncode == 0, listed.stderr
    state = json.loads(listed.stdout)
    assert state["types"]["llm_action"].startswith("wfdesk ")
    ((entry_point, source, error),) = state["errors"]
    assert entry_point == "llm_action = wfdesk_hijacker:PLUGIN"
    assert source == "wfdesk-hijacker 1.0"
    assert error == ("the plugin wfdesk-hijacker tries to register 'llm_action', the name of a built-in step type, "
                     "and is refused: built-in types cannot be replaced")
    assert _wfdesk(env, "import", str(REFERENCE_STEPS)).returncode == 0
    run = _wfdesk(env, "run-step", "--step", "1", "--post", "53", "--sections", "711")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["results"][0]["output"] != "HIJACKED"
    assert loopback.count("/v1/chat/completions") == 1  # the built-in handler asked the provider
    exported = tmp_path / "export.json"
    assert _wfdesk(env, "export", str(exported)).returncode == 0
    assert "HIJACKED" not in exported.read_text()


def test_a_plugin_whose_import_hangs_stops_neither_run_step_nor_validate(tmp_path, loopback):
    env = _env(tmp_path, "sleepy", OPENAI_BASE_URL=loopback.base_url, OPENAI_API_KEY="sk-test",
               WFDESK_CUSTOM_SCRIPT_BASE_URL=loopback.root_url, WFDESK_PLUGIN_LOAD_SECONDS="1")
    assert _wfdesk(env, "import", str(REFERENCE_STEPS)).returncode == 0
    run = _wfdesk(env, "run-step", "--step", "3", "--post", "53", "--sections", "711",
                  timeout=120)  # custom_script; a hang would raise TimeoutExpired here
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sections_processed"] == [711]
    assert loopback.count("/api/custom/process-data") == 1
    validate = _wfdesk(env, "validate", timeout=120)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    # Lazily: asking for a built-in type does not even start importing the plugins.
    probe = _python(env, "import threading; from wfdesk.scripts.registry import get_handler, type_info; "
                         "get_handler('custom_script'); type_info('llm_action'); "
                         "print([t.name for t in threading.enumerate()])")
    assert probe.returncode == 0, probe.stderr
    assert "wfdesk-plugin" not in probe.stdout
    # Listing every type (what the step editor and Help → Plugins do) waits at most the time limit, then names it.
    listed = _python(env, LIST_TYPES)
    assert listed.returncode == 0, listed.stderr
    state = json.loads(listed.stdout)
    assert {"llm_action", "custom_script", "image_generation"} <= set(state["types"])
    ((entry_point, source, error),) = state["errors"]
    assert entry_point == "sleepy = wfdesk_sleepy:PLUGIN"
    assert source == "wfdesk-sleepy 1.0"
    assert error.startswith("it did not finish loading within 1 s")


def test_a_step_of_a_hanging_plugin_s_type_is_refused_with_the_reason(tmp_path, loopback):
    env = _env(tmp_path, "sleepy", WFDESK_PLUGIN_LOAD_SECONDS="1")
    assert _wfdesk(env, "import", str(REFERENCE_STEPS)).returncode == 0
    code = ("import json, sys; from wfdesk.workspace import open_workspace; from wfdesk.services.validation import "
            "validate_step; ws = open_workspace(); "
            "print(json.dumps([str(p) for p in validate_step(ws, 's', {'script_config': {'type': 'sleepy'}})]))")
    out = _python(env, code)
    assert out.returncode == 0, out.stderr
    (message,) = json.loads(out.stdout)
    assert message == ("script_config.type: Unknown script type: sleepy (the plugin wfdesk-sleepy 1.0 that declares "
                       "it was not loaded: it did not finish loading within 1 s and is skipped; if it finishes later "
                       "it is added then)")


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
