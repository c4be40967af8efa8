"""Change notifications without a window: what a write announces, the NOTIFY payload and its channel, and (on
PostgreSQL) that another workspace on the same database and schema hears it while one on another schema does not."""

from __future__ import annotations

import json
import queue

import pytest

from wfdesk.db import notify
from wfdesk.services import config_store, editing
from wfdesk.services.changes import EVERYTHING, Changes, FieldRef, Presence, publisher
from wfdesk.workspace import open_workspace

WAIT = 20  # seconds: an upper bound only


def _heard(ws) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    publisher(ws).subscribe(q.put, q.put)
    return q


def _next(q: queue.Queue, match=lambda _item: True):
    """The next item heard that matches (others, e.g. the engine's own announcements, are skipped)."""
    while True:
        item = q.get(timeout=WAIT)
        if match(item):
            return item


# --- the Changes type and the payload --------------------------------------------------------------------------

def test_changes_merge_and_answer_each_views_question():
    field = Changes.of(fields=[FieldRef(53, 711, "draft")])
    step = Changes.of(steps=[2])
    both = field | step
    assert both.fields == {FieldRef(53, 711, "draft")}
    assert both.steps == {2}
    assert both.touches_content_of(53)
    assert not both.touches_content_of(54)
    assert both.touches_steps()
    assert not both.touches_posts()
    assert not both.touches_runs()
    assert Changes.of(sections=[(54, 9)]).touches_content_of(54)
    assert not Changes()
    assert EVERYTHING.touches_content_of(1)
    assert EVERYTHING.touches_posts()


def test_a_change_survives_the_wire():
    changes = Changes.of(posts=[1], sections=[(1, 2)], fields=[FieldRef(1, 2, "draft"), FieldRef(1, None, "title")],
                         steps=[3], runs=[4], units=[5, 6])
    message = json.loads(notify.encode({**changes.to_message(), "o": "window-a"}))
    back = Changes.from_message(message)
    assert back == changes
    assert back.origin == "window-a"


def test_a_presence_survives_the_wire():
    presence = Presence("ana (laptop)", FieldRef(53, 711, "draft"), True, "window-a")
    assert Presence.from_message(json.loads(notify.encode(presence.to_message()))) == presence


def test_a_change_too_big_for_a_payload_names_only_its_kinds():
    changes = Changes.of(fields=[FieldRef(1, i, "draft") for i in range(2000)], steps=[1])
    payload = notify.encode(changes.to_message())
    assert len(payload.encode()) < 8000
    back = Changes.from_message(json.loads(payload))
    assert back.broad == {notify.FIELDS, notify.STEPS}
    assert back.touches_content_of(1234)


def test_a_malformed_message_widens_instead_of_failing():
    back = Changes.from_message({"o": "x", "t": "c", "f": [["not a post id"]], "w": [1]})
    assert back.broad == {notify.FIELDS}
    assert back.steps == {1}
    assert notify.decode("hello") is None
    assert notify.decode('{"t": "other"}') is None


def test_channels_are_per_database_and_schema():
    channels = {notify.channel_for(db, schema) for db in ("test", "prod") for schema in ("public", "t_1", "t_2")}
    assert len(channels) == 6
    for channel in channels:
        assert len(channel) < 63
        assert channel == channel.lower()
        assert channel.replace("_", "").isalnum()
    assert notify.channel_for("test", "public") == notify.channel_for("test", "public")


# --- services announce what they wrote ------------------------------------------------------------------------

def test_writes_announce_what_they_changed(demo):
    ws = demo
    heard = _heard(ws)
    saved = editing.save_field(ws, 53, 711, "draft", "New text.", _lock(ws, 53, 711, "draft"))
    changes = _next(heard)
    assert changes.fields == {FieldRef(53, 711, "draft")}
    assert changes.origin == publisher(ws).origin
    assert saved["lock_version"]

    post_id = editing.create_post(ws, "Another")
    assert _next(heard).posts == {post_id}
    section_id = editing.add_section(ws, post_id, "First")
    assert _next(heard).sections == {(post_id, section_id)}
    editing.rename_section(ws, section_id, "Renamed")
    assert _next(heard).sections == {(post_id, section_id)}

    step = config_store.load_step(ws, 1)
    config_store.save_step(ws, 1, name=step.name, stage="later", config=step.config,
                           lock_version=step.lock_version)
    assert _next(heard).steps == {1}
    editing.accept_field_version(ws, saved["previous_version_id"])  # an undo of the save
    assert _next(heard).fields == {FieldRef(53, 711, "draft")}
    assert heard.empty()


def test_a_refused_write_announces_nothing(demo):
    from wfdesk.errors import ConflictError

    heard = _heard(demo)
    with pytest.raises(ConflictError, match="draft"):
        editing.save_field(demo, 53, 711, "draft", "Mine.", 999)
    assert heard.empty()


def _lock(ws, post_id, section_id, name):
    from wfdesk.services import queries

    return queries.field_value(ws, post_id, section_id, name)["lock_version"]


# --- on PostgreSQL: other processes hear it ---------------------------------------------------------------------

@pytest.fixture
def pg_demo(demo, db_url):
    if demo.db.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    return demo


def _second(db_url, tmp_path, settings, name="second"):
    return open_workspace(database_url=db_url, data_dir=tmp_path / name, settings=settings)


def _listening(ws) -> queue.Queue:
    heard = _heard(ws)
    listener = publisher(ws).listen()
    assert listener.listening.wait(WAIT), "the listener did not start"
    return heard


def test_another_workspace_on_the_schema_hears_a_save_and_its_own_echo_is_ignored(pg_demo, db_url, tmp_path,
                                                                                  settings):
    other = _second(db_url, tmp_path, settings)
    try:
        heard_there = _listening(other)
        heard_here = _listening(pg_demo)
        editing.save_field(pg_demo, 53, 712, "draft", "Saved here.", _lock(pg_demo, 53, 712, "draft"))
        changes = _next(heard_there)
        assert changes.fields == {FieldRef(53, 712, "draft")}
        assert changes.origin == publisher(pg_demo).origin
        assert _next(heard_here).fields == {FieldRef(53, 712, "draft")}  # the local delivery...
        editing.rename_post(other, 53, "Renamed there")  # ...and no echo of it before the other's news
        assert _next(heard_here).posts == {53}
    finally:
        other.close()


def test_a_workspace_on_another_schema_hears_nothing(pg_demo, db_url, tmp_path, settings):
    from conftest import PG_URL, _pg_schema_url
    from sqlalchemy import create_engine, text

    schema = "t_other_" + tmp_path.name[-8:].replace("-", "_").lower()
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    elsewhere = open_workspace(database_url=_pg_schema_url(PG_URL, schema), data_dir=tmp_path / "x", settings=settings)
    try:
        heard = _listening(elsewhere)
        same = _second(db_url, tmp_path, settings)
        heard_same = _listening(same)
        assert publisher(elsewhere).listen().channel != publisher(same).listen().channel
        editing.save_field(pg_demo, 53, 713, "draft", "Only for this schema.", _lock(pg_demo, 53, 713, "draft"))
        assert _next(heard_same).fields == {FieldRef(53, 713, "draft")}  # by then the other would have it too
        assert heard.empty()
        same.close()
    finally:
        elsewhere.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_presence_reaches_the_other_workspace_only(pg_demo, db_url, tmp_path, settings):
    other = _second(db_url, tmp_path, settings)
    try:
        heard_there = _listening(other)
        heard_here = _listening(pg_demo)
        publisher(pg_demo).who = "Ana"
        publisher(pg_demo).announce_presence(FieldRef(53, 711, "draft"), True)
        presence = _next(heard_there, lambda item: isinstance(item, Presence))
        assert (presence.who, presence.field, presence.editing) == ("Ana", FieldRef(53, 711, "draft"), True)
        publisher(pg_demo).announce_presence(FieldRef(53, 711, "draft"), False)
        assert not _next(heard_there, lambda item: isinstance(item, Presence)).editing
        assert not any(isinstance(item, Presence) for item in list(heard_here.queue))
    finally:
        other.close()


def test_the_engine_announces_runs_and_units_but_not_heartbeats(pg_demo, db_url, tmp_path, settings):
    from wfdesk.runs import ledger

    other = _second(db_url, tmp_path, settings)
    try:
        heard = _listening(other)
        run_id, unit_ids = ledger.create_run(pg_demo, step_id=1, post_id=53, step_name="polish",
                                             script_type="llm_action", effective_config={}, context={},
                                             section_ids=[711, 712])
        created = _next(heard, lambda c: isinstance(c, Changes) and c.runs)
        assert created.runs == {run_id}
        assert set(unit_ids) <= created.units
        ledger.heartbeat(pg_demo, run_id)
        ledger.unit_finished(pg_demo, unit_ids[0], "success", {})
        finished = _next(heard, lambda c: isinstance(c, Changes) and c.touches_runs())
        assert finished.units == {unit_ids[0]}  # the heartbeat before it said nothing
        assert not finished.runs
    finally:
        other.close()


def test_the_listener_comes_back_after_its_connection_is_cut(pg_demo, db_url, tmp_path, settings):
    from sqlalchemy import text

    other = _second(db_url, tmp_path, settings)
    try:
        live: queue.Queue = queue.Queue()
        heard = _heard(other)
        listener = publisher(other).listen(live.put)
        assert live.get(timeout=WAIT) is True
        with pg_demo.db.engine.begin() as conn:  # the server ends the listening session (a restart, a proxy)
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query LIKE 'LISTEN wfdesk_%' AND pid <> pg_backend_pid()"
                              " AND query LIKE :channel"), {"channel": f"%{listener.channel}%"})
        assert live.get(timeout=WAIT) is False
        assert live.get(timeout=WAIT) is True
        editing.rename_post(pg_demo, 53, "Heard after the cut")
        assert _next(heard, lambda c: isinstance(c, Changes) and c.posts).posts == {53}
    finally:
        other.close()


def test_a_run_announces_the_field_text_its_units_wrote(pg_demo, db_url, tmp_path, settings, loopback):
    from wfdesk.scripts.registry import execute_step_script

    loopback.chat_reply = lambda req: "Polished by the run."
    other = _second(db_url, tmp_path, settings)
    try:
        heard = _listening(other)
        execute_step_script(1, 53, {"section_ids": [712]})
        written = _next(heard, lambda c: isinstance(c, Changes) and c.fields)
        assert FieldRef(53, 712, "polished") in written.fields
        assert written.units
        assert written.touches_content_of(53)
    finally:
        other.close()
