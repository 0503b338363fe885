"""Scheduling at ten thousand connections: a requested run is a flag on `sync_state`, and
due work has its own indexes, so finding due connections never reads run history.

`run_requested_at` is set when a run is asked for (`POST /connections/{id}/sync`) and
cleared when a run takes it; claims serve requested connections first, oldest request
first. It replaces a test for a queued run in `sync_runs`, whose cost grew with history.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REQUESTED = "run_requested_at IS NOT NULL OR next_run_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.add_column(sa.Column("run_requested_at", UTCDateTime, nullable=True))
    # Runs already waiting keep their place: the oldest waiting run's time is the request's.
    op.execute(
        "UPDATE sync_state SET run_requested_at = (SELECT min(queued_at) FROM sync_runs "
        "WHERE sync_runs.connection_id = sync_state.connection_id "
        "AND sync_runs.status = 'queued')"
    )
    op.create_index("ix_sync_state_due", "sync_state", ["next_run_at"])
    # Expired leases are looked for at every claim; live ones are few (the runs in flight).
    op.create_index("ix_sync_state_lease_expiry", "sync_state", ["lease_expires_at"])
    op.create_index(
        "ix_sync_state_requested",
        "sync_state",
        ["run_requested_at"],
        postgresql_where=sa.text(REQUESTED),
        sqlite_where=sa.text(REQUESTED),
    )
    # Retention deletes the oldest finished runs first.
    op.create_index("ix_sync_runs_finished", "sync_runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_finished", "sync_runs")
    op.drop_index("ix_sync_state_requested", "sync_state")
    op.drop_index("ix_sync_state_lease_expiry", "sync_state")
    op.drop_index("ix_sync_state_due", "sync_state")
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("run_requested_at")
