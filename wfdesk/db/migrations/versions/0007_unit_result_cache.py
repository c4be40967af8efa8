"""result cache: each run unit's request key, and whether its answer was reused

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

`cache_key` is the sha256 of what decided a unit's answer (wfdesk/runs/result_cache.py); a later unit with the same
key may reuse a successful unit's answer. `cache_hit` marks a unit whose answer was reused (nothing was sent).
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_workflow_run_unit_cache_key", "workflow_run_unit", ["cache_key"])


def downgrade() -> None:
    op.drop_index("ix_workflow_run_unit_cache_key", table_name="workflow_run_unit")
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.drop_column("cache_hit")
        batch.drop_column("cache_key")
