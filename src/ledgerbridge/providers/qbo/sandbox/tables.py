"""The QuickBooks Online sandbox's own tables (created by its Alembic branch `qbo`).

A customer's writable properties live in `body` (JSON, as the client sent them, cleaned);
the columns beside it are what the server computes and what queries filter and sort on.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.db import UTCDateTime

metadata = sa.MetaData()

companies = sa.Table(
    "qbo_companies",
    metadata,
    sa.Column("realm_id", sa.String(128), primary_key=True),
    sa.Column("company_name", sa.String(255), nullable=False),
    sa.Column("home_currency", sa.String(3), nullable=False),
    sa.Column("next_id", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

customers = sa.Table(
    "qbo_customers",
    metadata,
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

# The indexes the query language and the rules hit: the unique name, the sync cursor, the
# active-only default and the hierarchy walk.
INDEXES = (
    ("ux_qbo_customers_name", ("realm_id", "display_name_lower"), True),
    ("ix_qbo_customers_updated", ("realm_id", "last_updated_time", "id"), False),
    ("ix_qbo_customers_active_updated", ("realm_id", "active", "last_updated_time", "id"), False),
    ("ix_qbo_customers_created", ("realm_id", "create_time"), False),
    ("ix_qbo_customers_parent", ("realm_id", "parent_id"), False),
)
for _name, _columns, _unique in INDEXES:
    sa.Index(_name, *(customers.c[c] for c in _columns), unique=_unique)

# Customers that no longer exist (merged into another), as change data capture reports them:
# `{"Id", "status": "Deleted", "MetaData": {"LastUpdatedTime"}}`.
deleted_customers = sa.Table(
    "qbo_deleted_customers",
    metadata,
    sa.Column("realm_id", sa.String(128), primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("deleted_time", UTCDateTime, nullable=False),
)
sa.Index(
    "ix_qbo_deleted_customers_time", deleted_customers.c.realm_id, deleted_customers.c.deleted_time
)

# Change notifications (webhooks), see `notifications.py`: each app's endpoint and verifier
# token, and the outbox of changes waiting to be POSTed to it.
webhook_apps = sa.Table(
    "qbo_webhook_apps",
    metadata,
    sa.Column("client_id", sa.String(128), primary_key=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

webhook_events = sa.Table(
    "qbo_webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(128), nullable=False),
    sa.Column("realm_id", sa.String(128), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(32), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("deleted_id", sa.String(32), nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_qbo_webhook_events_due", webhook_events.c.due_at)
