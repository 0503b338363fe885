"""Connection health (failures in a row, the latest error) and run ids never reused.

SQLite hands out `max(id) + 1` for a plain INTEGER PRIMARY KEY, so deleting a connection
(and its runs) made the next run reuse their ids; AUTOINCREMENT remembers the highest id
ever given (`sqlite_sequence`). SQLite cannot add it in place: the table is rebuilt.
PostgreSQL's sequences never reuse a value.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("last_error_at", UTCDateTime, nullable=True))
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table(
            "sync_runs", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
        batch.drop_column("consecutive_failures")
