"""Tables of the main database (SQLAlchemy Core). Migrations in `migrations/` create them."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.db import UTCDateTime

metadata = sa.MetaData()

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("environment", sa.String(64), nullable=False, server_default="dev"),
    sa.Column("scope", sa.String(16), nullable=False, server_default="full"),  # read | full
    # Updated at most once a minute (keys.py), so checking a key adds no write per request.
    sa.Column("last_used_at", UTCDateTime, nullable=True),
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("base_url", sa.String(500), nullable=False),
    sa.Column("credentials", sa.Text, nullable=False),  # Fernet token, never clear text
    sa.Column("sync_frequency_s", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, server_default="active"),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The last change sequence number handed out for this connection's records.
    sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
    # Provider-specific sync options (e.g. Intacct's reconcile_every), checked by the plugin.
    sa.Column("settings", sa.JSON, nullable=False, server_default="{}"),
    # Health: failed runs in a row, and the latest failure (see sync/health.py).
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", UTCDateTime, nullable=True),
    # The account at the platform (a QuickBooks realm id), in the clear: see
    # `Platform.account_field`.
    sa.Column("remote_account_id", sa.String(255), nullable=True),
    sa.Column("environment", sa.String(64), nullable=False, server_default="dev"),
    # The caller's own reference to whoever owns the account: unique per environment and
    # platform (NULLs, connections without one, are not compared).
    sa.Column("end_user_id", sa.String(255), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, server_default="{}"),  # string tags
    sa.UniqueConstraint("environment", "provider", "end_user_id", name="uq_connections_end_user"),
)
sa.Index("ix_connections_remote_account", connections.c.provider, connections.c.remote_account_id)
sa.Index(
    "ix_connections_environment",
    connections.c.environment,
    connections.c.created_at,
    connections.c.id,
)

# Single-use, short-lived tokens an end user's browser starts a connect flow with.
connect_sessions = sa.Table(
    "connect_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("environment", sa.String(64), nullable=False),
    sa.Column("end_user_id", sa.String(255), nullable=False),
    sa.Column("allowed_providers", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("remote_data", sa.JSON, nullable=True),
    sa.Column("content_hash", sa.String(32), nullable=False),
    sa.Column("remote_hash", sa.String(32), nullable=True),
    # The platform's version of the record (unified.records.record_version): sortable text.
    sa.Column("version", sa.String(64), nullable=True),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_modified_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
    sa.Column("last_action", sa.String(8), nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    # The payload's unified `parent_id`, written beside it (migration 0011): the jobs under a
    # customer are found through `ix_records_parent` without the database parsing payloads.
    sa.Column("parent_id", sa.String(255), nullable=True),
    sa.UniqueConstraint("connection_id", "model", "external_id", name="uq_records_external"),
    sa.UniqueConstraint("connection_id", "model", "change_seq", name="uq_records_change_seq"),
)
sa.Index(
    "ix_records_action_seq",
    records.c.connection_id,
    records.c.model,
    records.c.last_action,
    records.c.change_seq,
)
sa.Index(
    "ix_records_parent",
    records.c.connection_id,
    records.c.model,
    records.c.parent_id,
    # Only records with a parent: the others cost the index nothing to write.
    sqlite_where=records.c.parent_id.is_not(None),
    postgresql_where=records.c.parent_id.is_not(None),
)
sa.Index(
    "ix_records_modified",
    records.c.connection_id,
    records.c.model,
    records.c.last_modified_at,
)

# A full key list being read (a keys-only pass): the ids listed so far, staged as each page
# is saved, so the reconciliation that ends the list is an anti-join against `records`
# instead of a million ids held in memory (unified/key_lists.py).
listed_keys = sa.Table(
    "listed_keys",
    metadata,
    sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("model", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(255), primary_key=True),
    # On SQLite the primary key is the table (no rowid table beside it): staging a million
    # ids 1.24 → 1.10 s of CPU, dropping them 0.45 → 0.24 s.
    sqlite_with_rowid=False,
)

# One row per connection: where its syncs stand and who may run the next one.
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The connector's checkpoint, committed with each saved page (None: never synced).
    sa.Column("checkpoint", sa.JSON, nullable=True),
    sa.Column("next_run_at", UTCDateTime, nullable=True),
    # The lease: one run per connection at a time, across any number of processes.
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    # A run was asked for (POST /connections/{id}/sync): claimed before scheduled work.
    sa.Column("run_requested_at", UTCDateTime, nullable=True),
)
# Due work is found through these two indexes alone, never through run history.
sa.Index("ix_sync_state_due", sync_state.c.next_run_at)
sa.Index("ix_sync_state_lease_expiry", sync_state.c.lease_expires_at)
_REQUESTED = sa.or_(sync_state.c.run_requested_at.is_not(None), sync_state.c.next_run_at.is_(None))
sa.Index(
    "ix_sync_state_requested",
    sync_state.c.run_requested_at,
    postgresql_where=_REQUESTED,
    sqlite_where=_REQUESTED,
)

# A token refresh under way: who claimed it, until when (sync/credentials.py). The token
# endpoint is called outside any transaction; the claim keeps a second refresher waiting.
credential_claims = sa.Table(
    "credential_claims",
    metadata,
    sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(16), nullable=False),  # full | incremental
    sa.Column("trigger", sa.String(16), nullable=False),  # schedule | api | cli
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | succeeded | failed
    sa.Column("queued_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("pages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("added", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("owner", sa.String(200), nullable=True),
    # Run ids are never reused, even after a connection and its runs are deleted.
    sqlite_autoincrement=True,
)
sa.Index("ix_sync_runs_connection", sync_runs.c.connection_id, sync_runs.c.id)
sa.Index("ix_sync_runs_finished", sync_runs.c.finished_at)

# Webhooks (migration 0008; see webhooks/). A subscription: where to send which events.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("environment", sa.String(64), nullable=False, server_default="dev"),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),  # event types, e.g. ["sync.succeeded"]
    sa.Column("secret", sa.Text, nullable=False),  # Fernet token, never clear text
    sa.Column("include_empty_syncs", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The outbox: one row per event, written in the transaction of the change that caused it.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),  # evt_...: receivers dedupe
    sa.Column("environment", sa.String(64), nullable=False, server_default="dev"),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("connection_id", sa.String(64), nullable=True),  # no FK: outlives its connection
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sqlite_autoincrement=True,
)

# One row per (event, subscription) to deliver; leased by one worker at a time.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "subscription_id",
        sa.String(64),
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "event_seq",
        sa.BigInteger,
        sa.ForeignKey("webhook_events.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    # Deliveries of one subscription with the same key are made in order ("" for none).
    sa.Column("ordering_key", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)
sa.Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.status,
    webhook_deliveries.c.next_attempt_at,
)
sa.Index(
    "ix_webhook_deliveries_order",
    webhook_deliveries.c.subscription_id,
    webhook_deliveries.c.ordering_key,
    webhook_deliveries.c.status,
    webhook_deliveries.c.id,
)

# Every HTTP attempt of a delivery: what the receiver answered, how fast, or what failed.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "delivery_id",
        sa.BigInteger,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("response_snippet", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("worker", sa.String(200), nullable=False),
)
sa.Index("ix_webhook_attempts_delivery", webhook_attempts.c.delivery_id, webhook_attempts.c.id)
