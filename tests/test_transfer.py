"""Import and export: ids kept, a second import updates in place, one transaction."""

from __future__ import annotations

import json

import pytest
from conftest import REFERENCE_STEPS

from wfdesk.db import content
from wfdesk.db.models import ContentVersion, Post, PostSection
from wfdesk.services.transfer import ImportRefusedError, export_bundle, import_bundle


def _bundle() -> dict:
    return json.loads(REFERENCE_STEPS.read_text())


def test_round_trip_keeps_ids_and_values(ws):
    with ws.db.session() as s:
        import_bundle(s, _bundle())
    with ws.db.session() as s:
        exported = export_bundle(s)
    assert exported == _bundle()


def test_second_import_updates_in_place(ws):
    with ws.db.session() as s:
        import_bundle(s, _bundle())
    bundle = _bundle()
    bundle["posts"][0]["title"] = "Highlands, revised"
    bundle["posts"][0]["sections"][0]["fields"]["draft"] = "a new draft"
    with ws.db.session() as s:
        counts = import_bundle(s, bundle)
    assert counts["posts"] == 1
    assert counts["sections"] == 3
    with ws.db.session() as s:
        assert s.query(Post).count() == 1
        assert s.query(PostSection).count() == 3
        assert s.get(Post, 53).title == "Highlands, revised"
        # The earlier draft stays as a version the editor can go back to.
        assert [v.value for v in content.versions_of(s, 53, 711, "draft")][-2:] == [
            _bundle()["posts"][0]["sections"][0]["fields"]["draft"], "a new draft"]


def test_new_rows_after_import_get_fresh_ids(ws):
    with ws.db.session() as s:
        import_bundle(s, _bundle())
    with ws.db.session() as s:
        post = Post(title="Another")
        s.add(post)
        s.flush()
        assert post.id not in (53,)
        section = PostSection(post_id=post.id, position=1, title="x")
        s.add(section)
        s.flush()
        assert section.id > 713


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda b: b["posts"][0].update(title=""), "posts.0.title"),
    (lambda b: b["llm_actions"][0].update(temperature=9), "llm_actions.0.temperature"),
    (lambda b: b["workflow_steps"].append(dict(b["workflow_steps"][0])), "workflow_steps.3.id"),
    (lambda b: b.update(unexpected=1), "unexpected"),
    (lambda b: b["posts"][0]["sections"][1].update(id=711), "posts.0.sections.1.id"),
    (lambda b: b["post_step_overrides"].append({"post_id": 53, "step_id": 99, "config": {}}),
     "post_step_overrides.0"),
])
def test_invalid_import_changes_nothing(ws, mutate, where):
    with ws.db.session() as s:
        import_bundle(s, {"posts": [{"id": 1, "title": "Existing", "sections": []}]})
    bundle = _bundle()
    mutate(bundle)
    with pytest.raises(ImportRefusedError) as err, ws.db.session() as s:
        import_bundle(s, bundle)
    assert where in str(err.value)
    with ws.db.session() as s:
        assert [p.title for p in s.query(Post).all()] == ["Existing"]


# --- bad input: deep nesting, secrets anywhere, big files ------------------------------------------------------

def _deep(depth: int) -> str:
    return '{"llm_actions": [], "workflow_steps": [{"id": 1, "name": "s", "config": ' + "[" * depth + "]" * depth + \
        "}]}"


@pytest.mark.parametrize("depth", [100_000, 500])
def test_a_deeply_nested_file_is_refused_with_a_clear_message(ws, tmp_path, depth):
    from wfdesk.services.transfer import read_json

    def read_and_import() -> None:  # refused while reading (very deep) or while checking the bundle (500 deep)
        data = read_json(_deep(depth))
        with ws.db.session() as s:
            import_bundle(s, data)

    with pytest.raises(ImportRefusedError, match="nested too deeply") as info:
        read_and_import()
    assert "Recursion" not in str(info.value)
    with ws.db.session() as s:
        assert s.query(Post).count() == 0


def test_deep_data_given_directly_is_refused_too(ws):
    from wfdesk.services.workflows import import_workflow

    config: dict = {}
    node = config
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    bundle = {"workflow_steps": [{"id": 1, "name": "s", "config": config}]}
    for fn in (import_bundle, lambda s, d: import_workflow(s, {"format": "wfdesk-workflow", **d}, ws)):
        with pytest.raises(ImportRefusedError, match="nested too deeply"), ws.db.session() as s:
            fn(s, bundle)


def test_the_cli_refuses_a_deep_file_in_words(ws, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "deep.json"
    path.write_text(_deep(100_000))
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "--database", ws.db.url, "import", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nested too deeply" in proc.stderr, proc.stderr
    assert "Error" not in proc.stderr, proc.stderr


SECRET_CONFIGS = [
    ({"script_config": {"parameters": {"headers": {"x-api-key": "abc123"}}}},
     "script_config.parameters.headers.x-api-key"),
    ({"script_config": {"parameters": {"access_token": "abc123"}}}, "script_config.parameters.access_token"),
    ({"script_config": {"parameters": {"X-Auth-Token": "abc123"}}}, "script_config.parameters.X-Auth-Token"),
    ({"script_config": {"parameters": {"headers": [{"name": "Authorization", "value": "x"},
                                                   {"client_secret": "abc"}]}}},
     "script_config.parameters.headers.1.client_secret"),
    ({"script_config": {"parameters": {"note": "sk-proj-Abc123Def456Ghi789Jkl012Mno345"}}},
     "script_config.parameters.note"),
    ({"script_config": {"parameters": {"list": ["fine", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"]}}},
     "script_config.parameters.list.1"),
    ({"script_config": {"parameters": {"aws": "AKIAIOSFODNN7EXAMPLE"}}}, "script_config.parameters.aws"),
    ({"script_config": {"parameters": {"gh": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}}},
     "script_config.parameters.gh"),
]


@pytest.mark.parametrize(("config", "where"), SECRET_CONFIGS)
def test_secrets_anywhere_in_a_config_are_refused(ws, config, where):
    bundle = _bundle()
    step = bundle["workflow_steps"][2]
    step["config"]["script_config"]["parameters"].update(config["script_config"]["parameters"])
    with pytest.raises(ImportRefusedError) as info, ws.db.session() as s:
        import_bundle(s, bundle)
    fields = [p.field for p in info.value.problems]
    assert fields == [f"workflow_steps.2.config.{where}"]
    assert "secret" in info.value.problems[0].message
    assert "abc123" not in str(info.value)
    assert "sk-proj" not in str(info.value)  # never echoed back
    bundle["post_step_overrides"] = [{"post_id": 53, "step_id": 3, "config": config}]
    bundle["workflow_steps"][2] = _bundle()["workflow_steps"][2]
    with pytest.raises(ImportRefusedError, match=f"post_step_overrides.0.config.{where}"), ws.db.session() as s:
        import_bundle(s, bundle)
    with ws.db.session() as s:
        assert s.query(Post).count() == 0


def test_ordinary_configs_are_not_mistaken_for_secrets(ws):
    bundle = _bundle()
    bundle["workflow_steps"][0]["config"]["script_config"].setdefault("parameters", {}).update(
        {"max_tokens": 500, "tokens_per_section": 3, "token_budget": 9, "keywords": ["sky", "sk-", "skiing"],
         "prompt": "Use a friendly tone; mention the sk-i-lift (no secrets here)"})
    with ws.db.session() as s:
        import_bundle(s, bundle)


def _big_bundle(posts: int, sections: int) -> dict:
    bundle = _bundle()
    bundle["posts"] = [{"id": 1000 + p, "title": f"Post {p}", "status": "draft", "fields": {"intro": f"intro {p}"},
                        "sections": [{"id": 100_000 + p * sections + i, "position": i, "title": f"S{i}",
                                      "fields": {"draft": f"text {p}.{i} " * 20, "notes": None, "raw_data": "{}"}}
                                     for i in range(sections)]}
                       for p in range(posts)]
    bundle["post_step_overrides"] = [{"post_id": 1000, "step_id": 1, "config": {}}]
    return bundle


def _statements(ws, fn) -> int:
    from sqlalchemy import event

    count = [0]

    def before(*_args):
        count[0] += 1

    event.listen(ws.db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", before)
    return count[0]


def test_import_statements_do_not_grow_with_the_number_of_rows(ws):
    """Bulk inserts: round trips per import stay about constant from 20 to 200 sections (they were several per
    row, which cost 419 s for 45 MB on PostgreSQL)."""
    def run(posts):
        with ws.db.session() as s:
            import_bundle(s, _big_bundle(posts, 10))

    small = _statements(ws, lambda: run(2))
    with ws.db.session() as s:
        for post in s.query(Post).all():
            s.delete(post)
    large = _statements(ws, lambda: run(20))
    assert large <= small + 10, (small, large)
    assert large < 60, large
    with ws.db.session() as s:
        assert s.query(PostSection).count() == 200
        assert content.get_field(s, 1019, 100_199, "draft").value == "text 19.9 " * 20
        assert content.get_field(s, 1019, 100_199, "notes") is None
        assert [v.value for v in content.versions_of(s, 1019, 100_199, "draft")] == ["text 19.9 " * 20]
    # A second import of the same file changes nothing and adds no versions; a changed field gets one more.
    bundle = _big_bundle(20, 10)
    bundle["posts"][19]["sections"][9]["fields"]["draft"] = "changed"
    bundle["posts"][19]["sections"][9]["fields"]["raw_data"] = None
    again = _statements(ws, lambda: _import(ws, bundle))
    assert again < 60, again
    with ws.db.session() as s:
        assert [v.value for v in content.versions_of(s, 1019, 100_199, "draft")] == ["text 19.9 " * 20, "changed"]
        assert [v.status for v in content.versions_of(s, 1019, 100_199, "draft")] == ["superseded", "accepted"]
        assert content.get_field(s, 1019, 100_199, "draft").value == "changed"
        assert content.get_field(s, 1019, 100_199, "raw_data").value is None
        assert [v.value for v in content.versions_of(s, 1018, 100_189, "draft")] == ["text 18.9 " * 20]
        exported = export_bundle(s)
    assert exported["posts"][-1]["sections"][-1]["fields"] == {"draft": "changed", "raw_data": None}


def _import(ws, bundle):
    with ws.db.session() as s:
        import_bundle(s, bundle)


def test_a_nul_character_is_refused_before_anything_is_written(ws):
    bundle = _bundle()
    bundle["posts"][0]["sections"][1]["fields"]["draft"] = "half\x00written"
    with pytest.raises(ImportRefusedError, match=r"posts.0.sections.1.fields.draft: contains a NUL character"):
        _import(ws, bundle)
    with ws.db.session() as s:
        assert s.query(Post).count() == 0


@pytest.mark.parametrize("where", ["value", "key", "step"])
def test_a_lone_surrogate_is_refused_in_words_before_anything_is_written(ws, where):
    """JSON may spell "\\ud800", which no database can store as text: PostgreSQL's COPY answered with "QueryCanceled"
    and its CONTEXT, SQLite with a codec error."""
    bundle = json.loads(json.dumps(_bundle()))
    if where == "value":
        bundle["posts"][0]["sections"][1]["fields"]["draft"] = "half \ud800 written"
    elif where == "key":
        bundle["workflow_steps"][0]["config"]["x\udfff"] = 1
    else:
        bundle["workflow_steps"][0]["name"] = "Polish \ud83d"
    with pytest.raises(ImportRefusedError, match="not valid text") as info:
        _import(ws, bundle)
    assert "Error" not in str(info.value)
    assert "COPY" not in str(info.value)
    with ws.db.session() as s:
        assert s.query(Post).count() == 0


def _posts_bundle(first_id: int, posts: int = 3) -> dict:
    return {"llm_actions": [], "workflow_steps": [], "post_step_overrides": [],
            "posts": [{"id": first_id + p, "title": f"Post {first_id + p}", "status": "draft",
                       "fields": {"intro": f"intro {first_id + p}"},
                       "sections": [{"id": first_id * 10 + p, "position": 0, "title": "S",
                                     "fields": {"draft": f"text {first_id + p}"}}]} for p in range(posts)]}


def test_two_imports_at_the_same_moment_keep_their_own_field_rows(ws, monkeypatch):
    """Each import finds the versions it wrote by id; a second import committing in between must not lend it its
    own (on PostgreSQL: a unique violation, or fields pointing at another post's text)."""
    import threading

    from wfdesk.services import transfer

    paused, go = threading.Event(), threading.Event()
    real = transfer._insert_new_fields

    def slow_first(session, before):
        if not paused.is_set():
            paused.set()
            go.wait(30)  # the second import runs meanwhile
        return real(session, before)

    monkeypatch.setattr(transfer, "_insert_new_fields", slow_first)
    errors: list[BaseException] = []

    def run(bundle):
        try:
            _import(ws, bundle)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    first = threading.Thread(target=run, args=(_posts_bundle(1000),), daemon=True)
    first.start()
    assert paused.wait(30)
    second = threading.Thread(target=run, args=(_posts_bundle(2000),), daemon=True)
    second.start()
    second.join(3)  # finishes at once, or waits for the first import: both are fine
    go.set()
    first.join(60)
    second.join(60)
    assert not first.is_alive()
    assert not second.is_alive()
    assert errors == []
    with ws.db.session() as s:
        for post_id in [1000, 1001, 1002, 2000, 2001, 2002]:
            intro = content.get_field(s, post_id, None, "intro")
            section_id = (post_id // 1000) * 10_000 + post_id % 1000  # as _posts_bundle numbers them
            draft = content.get_field(s, post_id, section_id, "draft")
            assert intro.value == f"intro {post_id}"
            assert draft.value == f"text {post_id}"
            assert s.get(ContentVersion, intro.accepted_version_id).post_id == post_id
