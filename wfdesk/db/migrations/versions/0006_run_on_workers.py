"""runs queued on the team's workers: workflow_run.on_workers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_run") as batch:
        batch.add_column(sa.Column("on_workers", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("workflow_run") as batch:
        batch.drop_column("on_workers")
