"""cost ledger: model and estimated cost per run unit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("cost", sa.Float(), nullable=False, server_default="0"))
    op.create_index("ix_workflow_run_unit_finished", "workflow_run_unit", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_workflow_run_unit_finished", table_name="workflow_run_unit")
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.drop_column("cost")
        batch.drop_column("model")
