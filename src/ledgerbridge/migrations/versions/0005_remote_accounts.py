"""The account a connection reaches at its platform (a QuickBooks realm id), in the clear,
so change notifications and re-authorisation find a realm's connections by index instead of
decrypting every connection's credentials. Existing rows are filled in at start-up
(`connections.fill_remote_account_ids`): only the process holds the key that decrypts them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("remote_account_id", sa.String(255), nullable=True))
    op.create_index(
        "ix_connections_remote_account", "connections", ["provider", "remote_account_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_connections_remote_account", table_name="connections")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("remote_account_id")
