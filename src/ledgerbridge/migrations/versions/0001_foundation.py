"""Foundation: API keys, connections, records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("sync_frequency_s", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False, server_default="active"),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "records",
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
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_modified_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
        sa.Column("last_action", sa.String(8), nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("connection_id", "model", "external_id", name="uq_records_external"),
        sa.UniqueConstraint("connection_id", "model", "change_seq", name="uq_records_change_seq"),
    )
    op.create_index(
        "ix_records_action_seq",
        "records",
        ["connection_id", "model", "last_action", "change_seq"],
    )
    op.create_index(
        "ix_records_modified", "records", ["connection_id", "model", "last_modified_at"]
    )
