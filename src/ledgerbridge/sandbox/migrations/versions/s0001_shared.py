"""Shared sandbox tables: tenants, OAuth clients and tokens.

Revision ID: s0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "s0001"
down_revision = None
branch_labels = ("sandbox",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_tenants",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "sandbox_oauth_clients",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("client_secret", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "sandbox_oauth_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False, server_default=""),
        sa.Column("redirect_uri", sa.String(1000), nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_sandbox_tokens_tenant", "sandbox_oauth_tokens", ["provider", "tenant_id"])
