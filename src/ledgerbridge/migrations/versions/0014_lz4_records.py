"""PostgreSQL compresses the records' JSON columns with LZ4 instead of its default, pglz.

PostgreSQL compresses a value when its row passes about 2 KB (TOAST): in a 100,000-customer
QuickBooks Online sync about a third of the platform objects (`remote_data`) are. With
LZ4, saving the same 20,000 customers' pages into a new database took the server 32.0 µs
of CPU a customer in each of three rounds, against 33.5-36.0 with pglz; over a whole
`sync_bench` run (the same 20,000), 35.0 and 35.0 against 37.0 and 35.5. (Reading back
should gain as well, LZ4 decompressing faster than pglz; not measured here.) Only values
written from now on are compressed with LZ4; those already stored stay readable as they
are.

Needs PostgreSQL 14 or newer built with LZ4 (`default_toast_compression` lists `lz4`);
elsewhere, and on SQLite, this migration changes nothing.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = ("payload", "remote_data")


def _lz4_available() -> bool:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return False
    offered = conn.execute(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    ).scalar()
    return bool(offered)


def _compress(method: str) -> None:
    if _lz4_available():
        changes = (f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in _COLUMNS)
        op.execute(f"ALTER TABLE records {', '.join(changes)}")


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("DEFAULT")
