"""The connection's `sync_state` row, and the only module that reads or writes it (besides
its creation and deletion with the connection): the lease, the checkpoint, the next run.

One sync per connection at a time, across any number of processes: a lease on the row,
with an expiry, so a dead process's lease runs out and another takes over.

Every claim is a conditional UPDATE (only when the lease is free or expired), atomic on
both databases. The scheduler's search for due connections locks candidate rows with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so racing schedulers skip each other's rows instead
of queueing on them; SQLite serialises writers anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.connections import SCHEDULABLE
from ledgerbridge.db import is_sqlite
from ledgerbridge.sync.runs import RunStatus
from ledgerbridge.tables import connections, sync_runs, sync_state


def _free(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(sync_state.c.lease_owner.is_(None), sync_state.c.lease_expires_at < now)


def claim(
    conn: Connection, connection_id: str, owner: str, *, now: datetime, ttl: timedelta
) -> bool:
    """Take the connection's lease if nobody holds a live one."""
    result = conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, _free(now))
        .values(lease_owner=owner, lease_expires_at=now + ttl)
    )
    return result.rowcount == 1


def renew(
    conn: Connection, connection_id: str, owner: str, *, now: datetime, ttl: timedelta
) -> bool:
    """Extend a lease this owner holds; False when it was lost (expired and taken over)."""
    result = conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, sync_state.c.lease_owner == owner)
        .values(lease_expires_at=now + ttl)
    )
    return result.rowcount == 1


def release(conn: Connection, connection_id: str, owner: str) -> None:
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, sync_state.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def save_checkpoint(
    conn: Connection, connection_id: str, owner: str, checkpoint: dict[str, Any]
) -> bool:
    """Store a page's checkpoint if this owner still holds the lease (in the page's own
    transaction); False when the lease was lost and nothing may be written."""
    result = conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, sync_state.c.lease_owner == owner)
        .values(checkpoint=checkpoint)
    )
    return result.rowcount == 1


def checkpoint(conn: Connection, connection_id: str) -> dict[str, Any] | None:
    """Where the last run stopped reading (None: nothing read yet, or after a full reset)."""
    stored: dict[str, Any] | None = conn.execute(
        sa.select(sync_state.c.checkpoint).where(sync_state.c.connection_id == connection_id)
    ).scalar_one_or_none()
    return stored


def schedule(conn: Connection, connection_id: str, at: datetime) -> None:
    """When the connection is next due."""
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id)
        .values(next_run_at=at)
    )


def holder(conn: Connection, connection_id: str, *, now: datetime) -> str | None:
    """Who holds a live lease on the connection, if anyone."""
    row = conn.execute(
        sa.select(sync_state.c.lease_owner, sync_state.c.lease_expires_at).where(
            sync_state.c.connection_id == connection_id
        )
    ).first()
    if row is None or row.lease_owner is None or row.lease_expires_at < now:
        return None
    return str(row.lease_owner)


def claim_due(
    conn: Connection, owner: str, *, now: datetime, ttl: timedelta, limit: int
) -> list[str]:
    """Lease up to `limit` connections that are due: a run was asked for, or their
    `next_run_at` has come. Connections needing re-authorisation are never due; those in
    `error` are, on their back-off schedule."""
    queued = sa.exists().where(
        sync_runs.c.connection_id == sync_state.c.connection_id,
        sync_runs.c.status == RunStatus.QUEUED,
    )
    query = (
        sa.select(sync_state.c.connection_id)
        .join(connections, connections.c.id == sync_state.c.connection_id)
        .where(
            connections.c.status.in_(SCHEDULABLE),
            _free(now),
            sa.or_(queued, sync_state.c.next_run_at.is_(None), sync_state.c.next_run_at <= now),
        )
        .order_by(sync_state.c.next_run_at)
        .limit(limit)
    )
    if not is_sqlite(conn):
        query = query.with_for_update(of=sync_state, skip_locked=True)
    candidates = list(conn.execute(query).scalars())
    return [c for c in candidates if claim(conn, c, owner, now=now, ttl=ttl)]


def reclaim_expired(conn: Connection, *, now: datetime) -> list[str]:
    """Free every lease that has expired (its holder died, or stalled past renewing) and
    return those connections. Their holders, if alive, find the lease lost at their next
    page and stop without writing."""
    expired = list(
        conn.execute(
            sa.select(sync_state.c.connection_id).where(
                sync_state.c.lease_owner.is_not(None), sync_state.c.lease_expires_at < now
            )
        ).scalars()
    )
    if expired:
        conn.execute(
            sa.update(sync_state)
            .where(sync_state.c.connection_id.in_(expired), sync_state.c.lease_expires_at < now)
            .values(lease_owner=None, lease_expires_at=None)
        )
    return expired
