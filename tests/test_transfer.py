"""Import and export: ids kept, a second import updates in place, one transaction."""

from __future__ import annotations

import json

import pytest
from conftest import REFERENCE_STEPS

from wfdesk.db import content
from wfdesk.db.models import Post, PostSection
from wfdesk.db.transfer import ImportError_, export_bundle, import_bundle


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
    assert counts["posts"] == 1 and counts["sections"] == 3
    with ws.db.session() as s:
        assert s.query(Post).count() == 1 and s.query(PostSection).count() == 3
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


@pytest.mark.parametrize("mutate, where", [
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
    with pytest.raises(ImportError_) as err:
        with ws.db.session() as s:
            import_bundle(s, bundle)
    assert where in str(err.value)
    with ws.db.session() as s:
        assert [p.title for p in s.query(Post).all()] == ["Existing"]
