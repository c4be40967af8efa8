"""Two editors on one database (two processes, or two engines standing in for them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from wfdesk.db import content
from wfdesk.errors import ConflictError
from wfdesk.runs import ledger
from wfdesk.workspace import open_workspace


@pytest.fixture
def second_editor(demo, settings, tmp_path):
    """Another app instance: its own engine and connection pool on the same database."""
    other = open_workspace(database_url=demo.db.url, data_dir=demo.data_dir, settings=settings)
    yield other
    other.close()


def test_second_save_of_the_same_field_is_refused_with_both_versions(demo, second_editor):
    with demo.db.session() as s:
        seen_by_a = content.get_field(s, 53, 711, "draft").lock_version
    with second_editor.db.session() as s:
        seen_by_b = content.get_field(s, 53, 711, "draft").lock_version
    assert seen_by_a == seen_by_b

    with second_editor.db.session() as s:
        content.write_text(s, 53, 711, "draft", "B's edit", source="editor", expected_lock_version=seen_by_b)
    with pytest.raises(ConflictError) as err, demo.db.session() as s:
        content.write_text(s, 53, 711, "draft", "A's edit", source="editor", expected_lock_version=seen_by_a)
    assert err.value.mine == "A's edit"
    assert err.value.theirs == "B's edit"
    assert "changed by someone else" in str(err.value)
    with demo.db.session() as s:
        assert content.get_field(s, 53, 711, "draft").value == "B's edit"


def test_different_fields_of_one_section_never_conflict(demo, second_editor):
    with demo.db.session() as s:
        draft_v = content.get_field(s, 53, 711, "draft").lock_version
        prompt_v = content.get_field(s, 53, 711, "image_prompts").lock_version
    with second_editor.db.session() as s:
        content.write_text(s, 53, 711, "draft", "B", source="editor", expected_lock_version=draft_v)
    with demo.db.session() as s:
        content.write_text(s, 53, 711, "image_prompts", "A", source="editor", expected_lock_version=prompt_v)


def test_two_processes_running_steps_on_one_post(demo, loopback, tmp_path):
    env = {**os.environ, "WFDESK_DATABASE_URL": demo.db.url, "WFDESK_DATA_DIR": str(demo.data_dir),
           "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url}
    loopback.latency = 0.2
    procs = [subprocess.Popen([sys.executable, "-m", "wfdesk", "run-step", "--step", step, "--post", "53",
                               "--sections", "711,712,713"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for step in ("1", "2", "1")]
    outs = [p.communicate(timeout=120) for p in procs]
    results = [json.loads(out) for out, _ in outs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert len({r["run_id"] for r in results}) == 3
    for r in results:
        detail = ledger.run_detail(demo, r["run_id"])
        assert detail["status"] == "succeeded"
        assert [u["section_id"] for u in detail["units"]] == [711, 712, 713]
    with demo.db.session() as s:
        for sid in (711, 712, 713):
            # Both polish runs wrote a version; the field holds one of them, the other stays recoverable.
            versions = content.versions_of(s, 53, sid, "polished")
            assert len(versions) == 2
            assert content.get_field(s, 53, sid, "polished").accepted_version_id in {v.id for v in versions}
            assert len(content.versions_of(s, 53, sid, "generated_image_url")) == 1
