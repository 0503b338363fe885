"""Run history retention: finished runs older than `days` are deleted, except each
connection's latest `keep`, in small batches by the schedulers.

Ten thousand connections every five minutes write 2.9 million runs a day; nothing needs
them for long (health lives on the connection, checkpoints on `sync_state`), and the
`GET /connections/{id}/syncs` history a person reads is its newest few. Deleting in
batches of a few hundred keeps each transaction short, so claims and page saves never
wait on a prune; any number of schedulers may prune at once (the same rows are simply
deleted by whichever commits first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.sync.runs import RunStatus
from ledgerbridge.tables import sync_runs


@dataclass(frozen=True)
class RunRetention:
    """How much run history to keep; `days=0` keeps every run."""

    days: int = 30
    keep: int = 20
    batch: int = 500


def prune_runs(conn: Connection, retention: RunRetention, *, now: datetime) -> int:
    """Delete up to one batch of expired runs, oldest first; returns how many. Runs still
    queued or running are never deleted, nor a connection's latest `keep`."""
    if retention.days <= 0:
        return 0
    newer = sync_runs.alias("newer")
    # At least `keep` runs of the same connection came after it (ix_sync_runs_connection).
    superseded = (
        sa.select(newer.c.id)
        .where(newer.c.connection_id == sync_runs.c.connection_id, newer.c.id > sync_runs.c.id)
        .order_by(newer.c.id)
        .limit(1)
        .offset(max(retention.keep - 1, 0))
        .exists()
    )
    expired = (
        sa.select(sync_runs.c.id)
        .where(
            sync_runs.c.finished_at < now - timedelta(days=retention.days),
            sync_runs.c.status.in_([RunStatus.SUCCEEDED, RunStatus.FAILED]),
            superseded if retention.keep > 0 else sa.true(),
        )
        .order_by(sync_runs.c.finished_at)
        .limit(retention.batch)
    )
    ids = list(conn.execute(expired).scalars())
    if not ids:
        return 0
    conn.execute(sa.delete(sync_runs).where(sync_runs.c.id.in_(ids)))
    return len(ids)
