"""The records' unified `parent_id` as a column of its own, indexed where it is set.

Migration 0009 indexed the expression `payload ->> 'parent_id'` (SQLite's `json_extract`),
so every record written had its whole payload parsed once more by the database just to
maintain that index: 2.3 of the 14.5 µs a QuickBooks Online customer cost to store on
SQLite (`bench/phases_bench.py`), and as much of PostgreSQL's own CPU. The store now writes
the value beside the payload (`unified.records.save_records`), and the index covers only
the records that have a parent (jobs and sub-customers), so a record without one costs the
index nothing.

Existing rows are filled from their payloads once, here (one pass over `records`).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _payload_parent() -> str:
    """0009's expression, in this database's JSON syntax."""
    sqlite = op.get_context().dialect.name == "sqlite"
    return "json_extract(payload, '$.parent_id')" if sqlite else "(payload ->> 'parent_id')"


def upgrade() -> None:
    op.add_column("records", sa.Column("parent_id", sa.String(255), nullable=True))
    expression = _payload_parent()
    op.execute(f"UPDATE records SET parent_id = {expression} WHERE {expression} IS NOT NULL")
    op.drop_index("ix_records_parent", "records")
    op.create_index(
        "ix_records_parent",
        "records",
        ["connection_id", "model", "parent_id"],
        sqlite_where=sa.text("parent_id IS NOT NULL"),
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_records_parent", "records")
    op.create_index(
        "ix_records_parent", "records", ["connection_id", "model", sa.text(_payload_parent())]
    )
    op.drop_column("records", "parent_id")
