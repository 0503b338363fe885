"""Records carry the platform's version; connections carry provider-specific settings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: no table rebuild, whatever the size of `records`.
    op.add_column("records", sa.Column("version", sa.String(64), nullable=True))
    op.add_column(
        "connections", sa.Column("settings", sa.JSON, nullable=False, server_default="{}")
    )


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("settings")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("version")
