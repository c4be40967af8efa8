"""Bad bytes, fuzzed configs and imports, sandboxed templates, secrets that must never be stored."""

from __future__ import annotations

import io
import json
import logging
import struct
import zlib

import pytest
from conftest import REFERENCE_STEPS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select

from wfdesk.db.models import ContentVersion, Post, WorkflowStepEntity
from wfdesk.errors import ConfigError
from wfdesk.scripts.registry import execute_step_script
from wfdesk.scripts.templates import PromptTemplateError, render
from wfdesk.services.transfer import ImportRefusedError, import_bundle
from wfdesk.services.validation import validate_step
from wfdesk.settings import ProviderProfile

from tests_support import set_action_template


def _png(w: int = 8, h: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def _huge_png_header(w: int, h: int) -> bytes:
    """A real PNG whose IHDR claims w x h: a decompression bomb without allocating one."""
    data = bytearray(_png())
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", w, h)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


@pytest.mark.parametrize(("payload", "message"), [
    (_png()[:40], "truncated"),
    (b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>", "HTML"),
    (_huge_png_header(40000, 40000), "too large"),
    (SVG, "SVG"),
    (b"BM" + b"\0" * 60, "unsupported"),
    (b"", "empty"),
])
def test_bad_image_bytes_end_in_a_clear_section_error(demo, loopback, payload, message):
    loopback.image_bytes = payload
    result = execute_step_script(2, 53, {"section_ids": [711, 712]})
    for entry in result["results"]:
        assert entry["status"] == "error", entry["error"]
        assert message.lower() in entry["error"].lower(), entry["error"]
        assert "Traceback" not in entry["error"]
    assert not (demo.data_dir / "content").exists() or not any((demo.data_dir / "content").rglob("*.*"))
    with demo.db.session() as s:
        assert s.scalars(select(ContentVersion).where(ContentVersion.kind == "image")).first() is None


# --- templates stay sandboxed --------------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ post.__class__ }}{{ cycler.__init__.__globals__ }}",
    "{{ section.fields.update({'x': 1}) }}",
    "{% for x in range(10**9) %}{% endfor %}",
])
def test_templates_cannot_reach_python_internals(template):
    with pytest.raises(PromptTemplateError):
        render(template, {"post": {"title": "t"}, "section": {"fields": {}}})


def test_unsafe_template_refused_before_any_call(demo, loopback):
    set_action_template(demo, 5, "{{ ''.__class__.__mro__ }}")
    with pytest.raises(ConfigError, match=r"unsafe|unknown variable|error"):
        execute_step_script(1, 53, {"section_ids": [711]})
    assert loopback.count() == 0


# --- fuzzing --------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)

config_like = st.fixed_dictionaries({}, optional={
    "inputs": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    "outputs": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    "script_config": st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["llm_action", "image_generation", "custom_script", "nope", ""]) | st.text(max_size=5),
        "action_id": json_values,
        "custom_endpoint": json_values,
        "parameters": st.dictionaries(st.sampled_from(["model", "size", "n", "timeout", "temperature",
                                                       "max_tokens", "quality", "concurrency", "auto_accept"]),
                                      json_values, max_size=4),
    }) | json_values,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=config_like | json_values)
def test_fuzzed_step_configs_give_field_named_problems_never_a_crash(demo, config):
    problems = validate_step(demo, "fuzzed", config)
    for p in problems:
        assert isinstance(p.message, str)
        assert p.message
        assert isinstance(p.field, str)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=st.tuples(st.sampled_from(["llm_actions", "workflow_steps", "posts", "post_step_overrides"]),
                          st.integers(0, 3), st.text(max_size=12), json_values))
def test_fuzzed_imports_are_all_or_nothing(ws, mutation):
    kind, index, key, value = mutation
    bundle = json.loads(REFERENCE_STEPS.read_text())
    items = bundle[kind]
    if items:
        target = items[index % len(items)]
        target[key or "id"] = value
    with ws.db.session() as s:
        before = s.query(Post).count()
    problems = None
    try:
        with ws.db.session() as s:
            import_bundle(s, bundle)
    except ImportRefusedError as exc:
        problems = exc.problems
    with ws.db.session() as s:
        count = s.query(Post).count()
    if problems is None:  # accepted
        assert count >= 1
    else:  # refused: every problem in words, and nothing written
        assert problems
        assert all(p.message for p in problems)
        assert count == before


# --- secrets --------------------------------------------------------------------------------------------------

def test_api_key_never_reaches_database_ledger_or_logs(demo, loopback, caplog, tmp_path):
    secret = "sk-live-THIS-MUST-NEVER-BE-STORED-42"
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                         api_key_env="WFDESK_TEST_KEY", max_retries=0)
    import os

    os.environ["WFDESK_TEST_KEY"] = secret
    try:
        with caplog.at_level(logging.DEBUG):
            execute_step_script(1, 53, {"section_ids": [711]})
            execute_step_script(2, 53, {"section_ids": [711]})
            loopback.fail = lambda i, r: (500, {}, b'{"error": {"message": "nope"}}')
            execute_step_script(1, 53, {"section_ids": [712]})
    finally:
        del os.environ["WFDESK_TEST_KEY"]
    assert all(r.headers.get("authorization") == f"Bearer {secret}" for r in loopback.requests)
    assert secret not in caplog.text
    with demo.db.engine.connect() as conn:
        from sqlalchemy import inspect, text

        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert secret not in json.dumps([str(v) for v in row])


def test_a_secret_in_a_step_config_is_refused(demo):
    config = {"script_config": {"type": "image_generation", "parameters": {"api_key": "sk-123"}},
              "outputs": {"o": {"label": "Image", "db_field": "img"}}}
    problems = validate_step(demo, "leaky", config)
    assert [p.field for p in problems] == ["script_config.parameters.api_key"]


def test_validation_finds_secrets_under_any_key_name_and_inside_lists(demo):
    """Runs and `validate` use the same scan as imports: x-api-key, access_token, a key inside a list."""
    config = {"script_config": {"type": "image_generation",
                                "parameters": {"headers": [{"x-api-key": "abc"}], "access_token": "t0ken"}},
              "outputs": {"o": {"label": "Image", "db_field": "img"}}}
    problems = validate_step(demo, "leaky", config)
    assert sorted(p.field for p in problems) == ["script_config.parameters.access_token",
                                                 "script_config.parameters.headers.0.x-api-key"]
    assert all("abc" not in p.message and "t0ken" not in p.message for p in problems)


@pytest.mark.parametrize(("parameters", "where"), [
    ({"headers": {"sk-proj-" + "A" * 40: "x"}}, "parameters.headers: secrets"),  # the key itself is the secret
    ({"headers": {"Bearer " + "b" * 30: 1}}, "parameters.headers: secrets"),
    ({"headers": {"Ocp-Apim-Subscription-Key": "0123456789abcdef"}}, "headers.Ocp-Apim-Subscription-Key: secrets"),
    ({"padding": [0] * 1_000_001, "zz": {"api_key": "hidden-behind-a-million-values"}},
     "workflow_steps.0.config: is too large to check for secrets"),
])
def test_secrets_hidden_in_keys_or_behind_bulk_are_refused_and_never_repeated(ws, parameters, where):
    bundle = json.loads(REFERENCE_STEPS.read_text())
    bundle["workflow_steps"][0]["config"]["script_config"]["parameters"] = parameters
    with pytest.raises(ImportRefusedError) as info, ws.db.session() as s:
        import_bundle(s, bundle)
    text = str(info.value) + " ".join(p.field + p.message for p in info.value.problems)
    assert where in text
    assert "AAAAAAAAAA" not in text
    assert "bbbbbbbbbb" not in text
    assert "0123456789abcdef" not in text
    with ws.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WorkflowStepEntity)) == 0


@pytest.mark.parametrize("key", ["clientSecret", "dbPassword", "userPassword", "secretAccessKey", "apiSecret",
                                 "sessionCookie", "password1", "accessKey", "signingKey", "hmacKey", "pwd",
                                 "x-functions-key"])
def test_secret_key_names_in_camel_case_or_with_digits_are_found(demo, key):
    config = {"script_config": {"type": "image_generation", "parameters": {"headers": {key: "hunter2-value"}}},
              "outputs": {"o": {"label": "Image", "db_field": "img"}}}
    problems = validate_step(demo, "leaky", config)
    assert [p.field for p in problems] == [f"script_config.parameters.headers.{key}"]


@pytest.mark.parametrize("key", ["maxTokens", "tokenizer", "passes", "keyword", "secretary_notes", "monkey",
                                 "passThrough", "accessibility"])
def test_ordinary_camel_case_keys_are_not_secrets(key):
    from wfdesk.scripts.secret_scan import find_secrets

    assert find_secrets({key: "some value"}) == []


def test_imports_refuse_secrets_in_configs(ws):
    bundle = json.loads(REFERENCE_STEPS.read_text())
    bundle["workflow_steps"][0]["config"]["script_config"]["parameters"] = {"api_key": "sk-in-a-file"}
    with (pytest.raises(ImportRefusedError, match=r"workflow_steps\.0\.config\.script_config\.parameters\.api_key"),
          ws.db.session() as s):
        import_bundle(s, bundle)
    from wfdesk.services.workflows import import_workflow

    doc = {"format": "wfdesk-workflow", "version": 1, "llm_actions": bundle["llm_actions"],
           "workflow_steps": bundle["workflow_steps"]}
    with pytest.raises(ImportRefusedError, match="api_key"), ws.db.session() as s:
        import_workflow(s, doc, ws)


# --- custom endpoints stay under the base URL ---------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["/%2e%2e/%2e%2e/x", "/.%2e/.%2e/x", "/%2E%2E/x", "/..%2fx", "/a/..%2f..%2fx",
                                      "/%252e%252e/%252e%252e/x", "/a/%2e%2e%5c%2e%2e/x", "/./x"])
def test_encoded_traversal_in_a_custom_endpoint_is_refused(demo, loopback, endpoint):
    from wfdesk.scripts.registry import get_step_config

    from tests_support import set_step_config

    demo.settings.custom_script_base_url = loopback.root_url + "/hooks"
    config = get_step_config(3)
    config["script_config"]["custom_endpoint"] = endpoint
    set_step_config(demo, 3, config)
    problems = validate_step(demo, "s", config)
    assert [p.field for p in problems] == ["script_config.custom_endpoint"]
    assert "under the base address" in problems[0].message
    with pytest.raises(ConfigError, match="custom_endpoint"):
        execute_step_script(3, 53, {"section_ids": [711]})
    assert [r.path for r in loopback.requests] == []


def test_an_encoded_but_harmless_endpoint_is_sent_under_the_base_path(demo, loopback):
    from wfdesk.scripts.custom_scripts import endpoint_url
    from wfdesk.scripts.registry import get_step_config

    from tests_support import set_step_config

    base = loopback.root_url + "/hooks/"
    demo.settings.custom_script_base_url = base
    config = get_step_config(3)
    config["script_config"]["custom_endpoint"] = "/process%20data/v1.2/..data"
    set_step_config(demo, 3, config)
    assert execute_step_script(3, 53, {"section_ids": [711]})["success"]
    assert [r.path for r in loopback.requests] == ["/hooks/process%20data/v1.2/..data"]
    for bad in ("/%2e%2e/x", "/a/%2e%2e/%2e%2e/x"):
        with pytest.raises(ValueError, match="under the base address"):
            endpoint_url(base, bad)


@pytest.mark.parametrize("endpoint", [
    "//evil.example/x", "http://evil.example/x", "https://user@evil.example/x",  # another host, silently dropped before
    "/..;/x", "/a/..;/..;/x", "/.;/x",  # "..;" is ".." to Tomcat and other Java servers
    "/\u2025/x", "/\uff0e\uff0e/x", "/\u2024\u2024/x", "/a/%ef%bc%8e%ef%bc%8e/x",  # dots some servers normalise
    "/x%00y", "/x%0d%0aHost:%20evil",  # control characters
])
def test_endpoints_that_leave_the_base_or_smuggle_characters_are_refused(demo, loopback, endpoint):
    from wfdesk.scripts.custom_scripts import endpoint_url
    from wfdesk.scripts.registry import get_step_config

    from tests_support import set_step_config

    demo.settings.custom_script_base_url = loopback.root_url + "/hooks"
    with pytest.raises(ValueError, match=r"under the base address|control character"):
        endpoint_url(loopback.root_url + "/hooks", endpoint)
    config = get_step_config(3)
    config["script_config"]["custom_endpoint"] = endpoint
    set_step_config(demo, 3, config)
    problems = validate_step(demo, "s", config)
    assert [p.field for p in problems] == ["script_config.custom_endpoint"]
    with pytest.raises(ConfigError, match="custom_endpoint"):
        execute_step_script(3, 53, {"section_ids": [711]})
    assert loopback.requests == []


# --- templates have limits on time, output size and arithmetic -----------------------------------------------

def _finishes(fn, seconds: float = 60):
    """Runs fn on a thread; fails (instead of hanging the suite) when it has not finished after `seconds`."""
    import threading

    out: dict[str, object] = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("template", "message"), [
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "too long"),
    ("{% set xs = range(99999)|list %}{% for i in xs %}{% for j in xs %}{% endfor %}{% endfor %}", "too long"),
    ("{{ 'x'*10**9 }}", "too large"),
    ("{{ ['x']*10**9 }}", "too large"),
    ("{{ 10**(10**8) }}", "too large"),
    ("{{ 7**99999999 * 3 }}", "too large"),
    ("{{ (10**900) * (10**900) }}", "too large"),
    ("{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}", "too long"),
    ("{{ 'x'|center(10**9) }}", "too large"),
    ("{{ 'x'|indent(10**9, true) }}", "too large"),
    ("{{ 'x'.ljust(10**9) }}", "too large"),
    ("{{ '%0999999999d' % 1 }}", "too large"),
    ("{{ '%0999999999d'|format(1) }}", "too large"),
    ("{{ '{:>999999999}'.format(1) }}", "too large"),
    ("{{ ('x'*1000)|replace('x', 'x'*1000)|replace('x', 'x'*1000) }}", "too large"),
    ("{{ ('x'*1000).replace('x', 'x'*1000).replace('x', 'x'*1000) }}", "too large"),
    ("{{ (['x'*100000]*100)|join }}", "too large"),
    ("{{ ''.join(['x'*100000]*100) }}", "too large"),
    # Second pass: values that are small in memory but enormous once turned into text or compared (one C call no
    # deadline stops), widths taken from the arguments, and many medium values that add up.
    ("{{ [[1]*99999]*99999 }}", "too large"),
    ("{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = [ns.s, ns.s] %}{% endfor %}{{ ns.s }}",
     "too large"),
    ("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(40) %}{% set ns.a = (ns.a, ns.a) %}"
     "{% set ns.b = (ns.b, ns.b) %}{% endfor %}{{ ns.a == ns.b }}", "too large"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "too large"),
    ("{% macro m(x) %}{{ x }}{{ x }}{% endmacro %}{% set ns = namespace(s='x') %}{% for i in range(40) %}"
     "{% set ns.s = m(ns.s) %}{% endfor %}{{ ns.s }}", "too large"),
    ("{% set ns = namespace(v=1) %}{% for i in range(40) %}{% set ns.v = namespace(a=ns.v, b=ns.v) %}{% endfor %}"
     "{{ ns }}", "too large"),
    ("{{ '{0:{1}}'.format('x', 999999999) }}", "too large"),
    ("{{ '%*d' % (999999999, 1) }}", "too large"),
    ("{{ '%.*f' % (999999999, 1.0) }}", "too large"),
    ("{{ '%*s'|format(999999999, 'x') }}", "too large"),
    ("{{ ('x'*999999).translate({120: 'y'*1000}) }}", "too large"),
    ("{{ ('x '*499999)|wordwrap(1, wrapstring='-'*1000) }}", "too large"),
    ("{{ ('x'*999999)|map('center', 1000)|list|length }}", "too large"),
    ("{% set x %}{% for i in range(1000) %}{{ 'x'*999999 }}{% endfor %}{% endset %}{{ x|length }}", "too large"),
])
def test_template_bombs_end_in_a_clear_problem_quickly_and_small(template, message):
    before = _peak_rss_mb()
    with pytest.raises(PromptTemplateError, match=message) as info:
        _finishes(lambda: render(template, {}))
    assert "Error" not in str(info.value)
    assert "MAX_" not in str(info.value)
    assert _peak_rss_mb() - before < 300  # nothing near the gigabyte the template asked for was allocated


def test_templates_using_tuples_lists_formats_and_concatenation_still_render():
    template = ("{% for a, b in [(1, 2), (3, 4)] %}{{ a }}{{ b }}{% endfor %} {% set c, d = 'x', 'y' %}{{ c ~ d }} "
                "{{ {'k': [1, 2]}|tojson }} {{ '%d items' % 10**9 }} {{ '%5.2f'|format(3.14159) }} "
                "{{ '{:>6}'.format('r') }} {{ 'ab'|wordwrap(1) }} {{ ['p', 'q']|join(', ') }}")
    assert render(template, {}) == '1234 xy {"k": [1, 2]} 1000000000 items  3.14      r a\nb p, q'


def test_the_editor_s_syntax_check_never_evaluates_a_template():
    from wfdesk.scripts.templates import variables_used

    assert _finishes(lambda: variables_used("{{ 10**(10**8) }}{{ 'x'|center(10**9) }}{{ x }}"), 30) == {"x"}


def test_ordinary_templates_keep_working():
    variables = {"post": {"title": "Highlands"}, "section": {"title": "Glen"}, "draft": "a " * 5000}
    template = ("{{ post.title|upper }} – {{ section.title }}: {{ draft|wordcount }} words, {{ 2**10 }}, "
                "{{ '%05d'|format(42) }} {{ '{:>6}'.format('x') }} {{ '-' * 20 }}"
                "{% for i in range(3) %}[{{ i * 1000 }}]{% endfor %}{{ draft|truncate(20) }}")
    assert render(template, variables) == ("HIGHLANDS – Glen: 5000 words, 1024, 00042      x "
                                           "--------------------[0][1000][2000]a a a a a a a a...")


@pytest.mark.parametrize("template", ["{{ 10**(10**8) }}",
                                      "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"])
def test_a_template_bomb_is_refused_by_validate_and_run_step_before_any_call(demo, loopback, template):
    set_action_template(demo, 5, template)
    problems = _finishes(lambda: validate_step(demo, "polish", {"script_config": {"type": "llm_action",
                                                                                  "action_id": 5}}))
    with pytest.raises(ConfigError, match="prompt template"):
        _finishes(lambda: execute_step_script(1, 53, {"section_ids": [711]}))
    assert loopback.count() == 0
    assert all("Error" not in p.message for p in problems)


def test_a_template_out_of_time_fails_at_once_for_the_next_sections():
    """A run renders per section: 200 sections must not cost 200 deadlines."""
    import time

    template = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}{{ n }}"
    with pytest.raises(PromptTemplateError, match="too long"):
        _finishes(lambda: render(template, {"n": 1}, seconds=0.5))
    started = time.monotonic()
    for n in range(50):
        with pytest.raises(PromptTemplateError, match="too long"):
            render(template, {"n": n}, seconds=0.5)
    assert time.monotonic() - started < 0.5 * 50 / 2  # not one deadline each


def test_an_unreachable_custom_endpoint_is_one_plain_line(demo, loopback):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.settings.custom_script_base_url = f"http://127.0.0.1:{port}"
    entry = execute_step_script(3, 53, {"section_ids": [711]})["results"][0]
    assert entry["status"] == "error"
    assert entry["error"] == (f"cannot reach http://127.0.0.1:{port}/api/custom/process-data: the connection was "
                              "refused (is the service running?)")


def test_a_list_is_weighed_afresh_when_a_namespace_inside_it_grew():
    """A list is weighed once per render (its weight kept), but a namespace inside it may grow afterwards: a list
    holding a list twice ... 17 deep around one empty namespace weighs little; once the namespace holds a megabyte,
    printing the list is 128 GB, built in one C call no deadline stops. Three levels here (8 MB if it were built):
    refused as too large before the text is made, not as too long after."""
    levels = 3
    template = "{% set ns = namespace(x='') %}{% set l0 = [ns, ns] %}"
    template += "".join(f"{{% set l{i} = [l{i - 1}, l{i - 1}] %}}" for i in range(1, levels + 1))
    template += f"{{% set ns.x = 'a' * 999000 %}}{{{{ l{levels} }}}}"
    with pytest.raises(PromptTemplateError, match="would be too large"):
        _finishes(lambda: render(template, {}))
