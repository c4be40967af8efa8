"""Shared fixtures: a loopback provider, a workspace on SQLite (always) and PostgreSQL (when configured)."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

# Qt tests run without a screen (a 1440×900 one: the window fits its screen, and Qt's default offscreen screen is
# 800×800); the isolation variables keep tests away from the user's real files and keyring.
os.environ.setdefault("QT_QPA_PLATFORM",
                      f"offscreen:configfile={Path(__file__).resolve().parent / 'offscreen-1440x900.json'}")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
sys.path.insert(0, str(Path(__file__).parent))

from loopback import LoopbackServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_STEPS = ROOT / "wfdesk" / "resources" / "reference-steps.json"
PG_URL = os.environ.get("WFDESK_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("WFDESK_REQUIRE_POSTGRES") == "1"
RUN_SLOW = os.environ.get("WFDESK_RUN_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    """Builds that take minutes run once in CI (`.ci/run` sets WFDESK_RUN_SLOW=1), not in every developer loop."""
    if RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow: set WFDESK_RUN_SLOW=1 to run it (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def loopback_server():
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def loopback(loopback_server):
    loopback_server.reset()
    yield loopback_server
    loopback_server.reset()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("WFDESK_CONFIG_DIR", str(tmp_path / "config"))
    # The default data and log folders (platformdirs) are per test too: tests run in parallel (pytest-xdist) and
    # must never share, or touch, the user's own ~/.local/share/wfdesk.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WFDESK_DATABASE_URL", "WFDESK_DATA_DIR",
                "WFDESK_CUSTOM_SCRIPT_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _no_run_process_left():
    """The app's run process outlives a test otherwise, holding the test's temporary database open."""
    yield
    client = sys.modules.get("wfdesk.runs.child_client")
    if client is not None:
        client.terminate_all(5)


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("WFDESK_REQUIRE_POSTGRES=1 but WFDESK_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need WFDESK_TEST_POSTGRES_URL")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {PG_URL} is required but unusable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield _pg_schema_url(PG_URL, schema)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def settings(loopback):
    from wfdesk.settings import ProviderProfile, Settings

    profile = ProviderProfile(name="default", base_url=loopback.base_url, max_retries=0, read_timeout=20)
    return Settings(custom_script_base_url=loopback.root_url, providers={"default": profile})


@pytest.fixture
def ws(db_url, tmp_path, settings):
    """An open workspace, also set as the process's current one (what execute_step_script uses), with the engine
    bound to the scripts layer (as every process that runs steps has it: execute_step_script runs it)."""
    from wfdesk.runs.engine import bind
    from wfdesk.workspace import open_workspace, set_current

    bind()

    workspace = open_workspace(database_url=db_url, data_dir=tmp_path / "data", settings=settings)
    set_current(workspace)
    yield workspace
    set_current(None)
    workspace.close()


@pytest.fixture
def demo(ws):
    """The reference document's three step configs, with post 53 and sections 711-713."""
    from wfdesk.services.transfer import import_bundle

    with ws.db.session() as s:
        import_bundle(s, json.loads(REFERENCE_STEPS.read_text()))
    return ws
