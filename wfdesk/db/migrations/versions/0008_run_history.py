"""runs view: who started a run, each section's prompt as sent, indexes for paging the history

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_run") as batch:
        batch.add_column(sa.Column("started_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.add_column(sa.Column("prompt", sa.Text(), nullable=True))
    op.create_index("ix_workflow_run_status", "workflow_run", ["status", "id"])
    op.create_index("ix_workflow_run_step", "workflow_run", ["step_id", "id"])
    op.create_index("ix_workflow_run_created", "workflow_run", ["created_at"])
    op.create_index("ix_workflow_run_started_by", "workflow_run", ["started_by", "id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_run_started_by", table_name="workflow_run")
    op.drop_index("ix_workflow_run_created", table_name="workflow_run")
    op.drop_index("ix_workflow_run_step", table_name="workflow_run")
    op.drop_index("ix_workflow_run_status", table_name="workflow_run")
    with op.batch_alter_table("workflow_run_unit") as batch:
        batch.drop_column("prompt")
    with op.batch_alter_table("workflow_run") as batch:
        batch.drop_column("started_by")
