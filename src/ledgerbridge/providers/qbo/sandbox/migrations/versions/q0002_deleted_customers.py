"""QuickBooks Online sandbox: customers deleted by a merge, for change data capture.

Revision ID: q0002
Revises: q0001
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "q0002"
down_revision = "q0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qbo_deleted_customers",
        sa.Column("realm_id", sa.String(128), primary_key=True),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("deleted_time", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_qbo_deleted_customers_time", "qbo_deleted_customers", ["realm_id", "deleted_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_qbo_deleted_customers_time", table_name="qbo_deleted_customers")
    op.drop_table("qbo_deleted_customers")
