"""QuickBooks Desktop sandbox: secret key, customers, deleted list objects.

Revision ID: d0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "d0001"
down_revision = None
branch_labels = ("qbd",)
depends_on = "s0001"


def upgrade() -> None:
    op.create_table(
        "qbd_sandbox_keys",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("secret_key", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "qbd_customers",
        sa.Column("end_user_id", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("counter", sa.Integer, nullable=False),
        sa.Column("name", sa.String(41), nullable=False),
        sa.Column("full_name", sa.String(255), nullable=False),
        sa.Column("sort_key", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("sublevel", sa.Integer, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("balance", sa.Numeric(18, 2), nullable=False),
        sa.Column("total_balance", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency_id", sa.String(36), nullable=True),
        sa.Column("class_id", sa.String(36), nullable=True),
        sa.Column("revision_number", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_index(
        "ux_qbd_customers_full_name", "qbd_customers", ["end_user_id", "sort_key"], unique=True
    )
    op.create_index("ix_qbd_customers_parent", "qbd_customers", ["end_user_id", "parent_id"])
    op.create_index("ix_qbd_customers_updated", "qbd_customers", ["end_user_id", "updated_at"])
    op.create_table(
        "qbd_deleted_customers",
        sa.Column("end_user_id", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("full_name", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime, nullable=False),
    )
