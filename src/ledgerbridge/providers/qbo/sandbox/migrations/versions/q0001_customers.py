"""QuickBooks Online sandbox: companies (realms) and customers.

Revision ID: q0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "q0001"
down_revision = None
branch_labels = ("qbo",)
depends_on = "s0001"


def upgrade() -> None:
    op.create_table(
        "qbo_companies",
        sa.Column("realm_id", sa.String(128), primary_key=True),
        sa.Column("company_name", sa.String(255), nullable=False),
        sa.Column("home_currency", sa.String(3), nullable=False),
        sa.Column("next_id", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "qbo_customers",
        sa.Column("realm_id", sa.String(128), primary_key=True),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sync_token", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("job", sa.Boolean, nullable=False),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("display_name_lower", sa.String(100), nullable=False),
        sa.Column("fully_qualified_name", sa.String(255), nullable=False),
        sa.Column("given_name", sa.String(100), nullable=True),
        sa.Column("middle_name", sa.String(100), nullable=True),
        sa.Column("family_name", sa.String(100), nullable=True),
        sa.Column("company_name", sa.String(255), nullable=True),
        sa.Column("primary_email", sa.String(255), nullable=True),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
        sa.Column("balance_with_jobs_cents", sa.BigInteger, nullable=False),
        sa.Column("v4id", sa.String(64), nullable=False),
        sa.Column("create_time", UTCDateTime, nullable=False),
        sa.Column("last_updated_time", UTCDateTime, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_index(
        "ux_qbo_customers_name", "qbo_customers", ["realm_id", "display_name_lower"], unique=True
    )
    op.create_index(
        "ix_qbo_customers_updated", "qbo_customers", ["realm_id", "last_updated_time", "id"]
    )
    op.create_index(
        "ix_qbo_customers_active_updated",
        "qbo_customers",
        ["realm_id", "active", "last_updated_time", "id"],
    )
    op.create_index("ix_qbo_customers_created", "qbo_customers", ["realm_id", "create_time"])
    op.create_index("ix_qbo_customers_parent", "qbo_customers", ["realm_id", "parent_id"])


def downgrade() -> None:
    op.drop_table("qbo_customers")
    op.drop_table("qbo_companies")
