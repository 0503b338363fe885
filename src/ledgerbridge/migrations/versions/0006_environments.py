"""Environments, scoped keys and the life of a connection.

Every API key and connection belongs to an environment (`environments`; `dev` and `prod`
exist from the start, and rows made before now move into `dev`); keys carry a scope
(`read` or `full`; existing keys could do everything, so they are `full`) and when they
were last used. Connections carry the caller's own reference (`end_user_id`, unique per
environment and platform) and free-form `metadata` tags. `connect_sessions` are the
short-lived, single-use tokens an end user's browser starts a connect flow with.

Revision ID: 0006
Revises: 0005
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DEFAULT = "dev"


def upgrade() -> None:
    environments = op.create_table(
        "environments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    now = datetime.now(UTC)  # a bound value: a replayed migration writes the same rows
    op.bulk_insert(environments, [{"name": name, "created_at": now} for name in ("dev", "prod")])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("environment", sa.String(64), nullable=False, server_default=_DEFAULT)
        )
        batch.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="full"))
        batch.add_column(sa.Column("last_used_at", UTCDateTime, nullable=True))
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column("environment", sa.String(64), nullable=False, server_default=_DEFAULT)
        )
        batch.add_column(sa.Column("end_user_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("metadata", sa.JSON, nullable=False, server_default="{}"))
        batch.create_unique_constraint(
            "uq_connections_end_user", ["environment", "provider", "end_user_id"]
        )
    op.create_index(
        "ix_connections_environment", "connections", ["environment", "created_at", "id"]
    )
    op.create_table(
        "connect_sessions",
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


def downgrade() -> None:
    op.drop_table("connect_sessions")
    op.drop_index("ix_connections_environment", table_name="connections")
    with op.batch_alter_table("connections") as batch:
        batch.drop_constraint("uq_connections_end_user", type_="unique")
        batch.drop_column("metadata")
        batch.drop_column("end_user_id")
        batch.drop_column("environment")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("scope")
        batch.drop_column("environment")
    op.drop_table("environments")
