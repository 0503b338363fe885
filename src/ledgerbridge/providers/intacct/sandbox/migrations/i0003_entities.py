"""Intacct sandbox: entities of multi-entity companies, and the entity owning a customer.

Revision ID: i0003
Revises: i0002
"""

import sqlalchemy as sa
from alembic import op

revision = "i0003"
down_revision = "i0002"
branch_labels = None
depends_on = None

ENTITIES = "sandbox_intacct_entities"
CUSTOMERS = "sandbox_intacct_customers"


def upgrade() -> None:
    op.create_table(
        ENTITIES,
        sa.Column("key", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_intacct_entities_tenant_id", ENTITIES, ["tenant_id", "id"], unique=True)
    # Existing customers were all created at the top level: the new column stays empty.
    # A plain ADD COLUMN on both databases, so a big company is not copied.
    op.add_column(CUSTOMERS, sa.Column("entity_key", sa.Integer(), nullable=True))
    op.create_index("ix_intacct_customers_tenant_entity", CUSTOMERS, ["tenant_id", "entity_key"])


def downgrade() -> None:
    op.drop_index("ix_intacct_customers_tenant_entity", CUSTOMERS)
    with op.batch_alter_table(CUSTOMERS) as batch:
        batch.drop_column("entity_key")
    op.drop_table(ENTITIES)
