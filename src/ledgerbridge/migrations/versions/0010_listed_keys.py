"""Key lists staged in the database while they are read.

A full key list (every id a platform lists in a keys-only pass) proves deleted each stored
live record it lacks. It used to be held in memory until its last page (about 130 MB at a
million ids); its pages are now written to `listed_keys` as they are saved, and the
reconciliation is an anti-join (`unified/key_lists.py`).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listed_keys",
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("listed_keys")
