"""Intacct sandbox: a data version per company, for the query service's caches.

Revision ID: i0002
Revises: i0001
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "i0002"
down_revision = "i0001"
branch_labels = None
depends_on = None

TABLE = "sandbox_intacct_versions"


def upgrade() -> None:
    versions = op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.String(length=128), primary_key=True),
        sa.Column("version", sa.String(length=32), nullable=False),
    )
    # Companies that already have customers get a version now.
    companies = op.get_bind().execute(
        sa.text("SELECT DISTINCT tenant_id FROM sandbox_intacct_customers")
    )
    rows = [{"tenant_id": row.tenant_id, "version": uuid.uuid4().hex} for row in companies]
    if rows:
        op.bulk_insert(versions, rows)


def downgrade() -> None:
    op.drop_table(TABLE)
