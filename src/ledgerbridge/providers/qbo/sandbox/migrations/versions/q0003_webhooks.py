"""QuickBooks Online sandbox: apps' webhook endpoints and the outbox of change notifications.

Revision ID: q0003
Revises: q0002
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "q0003"
down_revision = "q0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qbo_webhook_apps",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "qbo_webhook_events",
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
    op.create_index("ix_qbo_webhook_events_due", "qbo_webhook_events", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_qbo_webhook_events_due", table_name="qbo_webhook_events")
    op.drop_table("qbo_webhook_events")
    op.drop_table("qbo_webhook_apps")
