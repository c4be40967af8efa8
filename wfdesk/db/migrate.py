"""Create or upgrade the schema with Alembic (idempotent).

Start-up only asks the database for its revision; Alembic itself (a noticeable import) is loaded when there is
something to upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from wfdesk.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config  # imported on first use (see above)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration's revision; tests/test_schema.py checks it against the migration scripts.
HEAD = "0009"


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database) -> None:
    if current_revision(db) == HEAD:
        return
    from alembic import command

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()

