"""Claims on a connection's token refresh, so no transaction spans the token endpoint call;
an index on the records' unified `parent_id`.

A refresher claims the connection's refresh for a short while in one short transaction,
calls the token endpoint holding no database lock, and stores the answer with a compare
on the credentials it started from; a claim left by a killed process expires.

QuickBooks Desktop renames jobs with their parent without saying so: each incremental page
looks up the stored jobs under the customers it changed (`unified.records.children_of`),
which without an index scans the connection's records. The expression is each database's
own JSON accessor, so the index lives here and not in `tables.py`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_claims",
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    # The very expression `unified.records._parent_id` queries with.
    sqlite = op.get_context().dialect.name == "sqlite"
    parent_id = "json_extract(payload, '$.parent_id')" if sqlite else "(payload ->> 'parent_id')"
    op.create_index("ix_records_parent", "records", ["connection_id", "model", sa.text(parent_id)])


def downgrade() -> None:
    op.drop_index("ix_records_parent", "records")
    op.drop_table("credential_claims")
