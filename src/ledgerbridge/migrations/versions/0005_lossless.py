"""Claims on a connection's token refresh, so no transaction spans the token endpoint call.

A refresher claims the connection's refresh for a short while in one short transaction,
calls the token endpoint holding no database lock, and stores the answer with a compare
on the credentials it started from; a claim left by a killed process expires.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_claims",
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credential_claims")
