"""provider pauses shared by the team: a 429 seen by one machine pauses every machine on the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

One row per provider address: until when nobody sends it anything (the provider's Retry-After, on the database
server's clock). Written and read on PostgreSQL only (wfdesk/providers/shared_gate.py); on SQLite the table stays
empty and each workstation keeps its pauses in memory.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_pause",
        sa.Column("provider", sa.String(length=500), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )


def downgrade() -> None:
    op.drop_table("provider_pause")
