"""starred candidates: an editor's mark on a version (image review), kept across restarts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content_version") as batch:
        batch.add_column(sa.Column("starred", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("content_version") as batch:
        batch.drop_column("starred")
