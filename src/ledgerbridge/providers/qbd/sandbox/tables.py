"""Tables of the QuickBooks Desktop sandbox (created by its own Alembic branch, `qbd`)."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.db import UTCDateTime

metadata = sa.MetaData()

secret_keys = sa.Table(
    "qbd_sandbox_keys",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("secret_key", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

customers = sa.Table(
    "qbd_customers",
    metadata,
    sa.Column("end_user_id", sa.String(128), primary_key=True),
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("counter", sa.Integer, nullable=False),
    sa.Column("name", sa.String(41), nullable=False),
    sa.Column("full_name", sa.String(255), nullable=False),
    # Lower-cased full name: QuickBooks names are unique and ordered case-insensitively.
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
    # Every other qbd_customer field, as Conductor prints it.
    sa.Column("body", sa.JSON, nullable=False),
)

deleted_customers = sa.Table(
    "qbd_deleted_customers",
    metadata,
    sa.Column("end_user_id", sa.String(128), primary_key=True),
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("full_name", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=False),
)
