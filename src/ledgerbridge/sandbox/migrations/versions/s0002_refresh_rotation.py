"""Refresh-token families and supersession, for rotation with a grace period.

Revision ID: s0002_refresh_rotation
Revises: s0001
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "s0002_refresh_rotation"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sandbox_oauth_tokens", sa.Column("family", sa.String(64), nullable=True))
    op.add_column("sandbox_oauth_tokens", sa.Column("superseded_at", UTCDateTime, nullable=True))
    op.create_index("ix_sandbox_oauth_tokens_family", "sandbox_oauth_tokens", ["family"])


def downgrade() -> None:
    op.drop_index("ix_sandbox_oauth_tokens_family", table_name="sandbox_oauth_tokens")
    op.drop_column("sandbox_oauth_tokens", "superseded_at")
    op.drop_column("sandbox_oauth_tokens", "family")
