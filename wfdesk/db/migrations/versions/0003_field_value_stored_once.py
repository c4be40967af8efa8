"""field values stored once: a field with an accepted version no longer keeps a copy of its text

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Data only. `content_field.value` becomes NULL where it merely repeats the accepted version's value (the app reads
the text from the version then); a value that differs from its version (set by hand) is left alone. The
downgrade puts the copies back, for app versions that read `content_field.value` alone.
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        UPDATE content_field SET value = NULL
        WHERE accepted_version_id IS NOT NULL AND value IS NOT NULL
          AND value = (SELECT v.value FROM content_version v WHERE v.id = content_field.accepted_version_id)
    """)


def downgrade() -> None:
    op.execute("""
        UPDATE content_field
        SET value = (SELECT v.value FROM content_version v WHERE v.id = content_field.accepted_version_id)
        WHERE value IS NULL AND accepted_version_id IS NOT NULL
    """)
