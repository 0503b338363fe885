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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.connections import SCHEDULABLE
from ledgerbridge.db import is_sqlite
from ledgerbridge.tables import connections, sync_state


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


def release(conn: Connection, connection_ids: Sequence[str], owner: str) -> None:
    """Hand back the leases `owner` holds on these connections (nothing else changes)."""
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id.in_(connection_ids), sync_state.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def save_checkpoint(
    conn: Connection, connection_id: str, owner: str, checkpoint: dict[str, Any] | None
) -> bool:
    """Store a page's checkpoint if this owner still holds the lease (in the page's own
    transaction); False when the lease was lost and nothing may be written. None keeps the
    stored checkpoint, still checking the lease and locking its row as a write does."""
    values = {"lease_owner": owner} if checkpoint is None else {"checkpoint": checkpoint}
    result = conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, sync_state.c.lease_owner == owner)
        .values(**values)
    )
    return result.rowcount == 1


def starting_point(conn: Connection, connection_id: str) -> tuple[dict[str, Any] | None, bool]:
    """Where the last run stopped reading (None: nothing read yet, or after a full reset),
    and whether a run was asked for."""
    row = conn.execute(
        sa.select(sync_state.c.checkpoint, sync_state.c.run_requested_at).where(
            sync_state.c.connection_id == connection_id
        )
    ).first()
    if row is None:
        return None, False
    return row.checkpoint, row.run_requested_at is not None


def schedule(conn: Connection, connection_id: str, at: datetime) -> None:
    """When the connection is next due."""
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id)
        .values(next_run_at=at)
    )


def schedule_and_release(conn: Connection, connection_id: str, owner: str, *, at: datetime) -> None:
    """A run's end: when the connection is next due, and the lease released if this owner
    still holds it (one statement in the usual case)."""
    released = conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id, sync_state.c.lease_owner == owner)
        .values(next_run_at=at, lease_owner=None, lease_expires_at=None)
    ).rowcount
    if not released:
        schedule(conn, connection_id, at)


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


def _due_candidates(now: datetime, limit: int, *, requested: bool) -> sa.Select[Any]:
    """Free, schedulable connections that are due, oldest first, read through one of
    `sync_state`'s two due indexes: those a run was asked for (or never scheduled), by
    request time; or those whose `next_run_at` has come, by due time. Neither reads
    `sync_runs`, so the cost does not grow with run history.

    A connection's status is read by a subquery for each candidate, not joined, so
    `sync_state` is the query's only table: the database reads it by a due index (or, for
    requested runs, which are few, as it estimates best) and looks up only the candidates'
    connections, by key. Joined, PostgreSQL chose the plan by its estimate of the
    schedulable share of `connections`, and without statistics for the table (a server
    without autovacuum, or before its first pass) it guessed three rows: it read every
    connection and probed `sync_state` for each, twice a claim, several claims a second in
    every worker (1.5-1.8 ms a query at 1,000 connections, against 0.17 and 0.63 now)."""
    if requested:
        due = sa.or_(sync_state.c.run_requested_at.is_not(None), sync_state.c.next_run_at.is_(None))
        order = sync_state.c.run_requested_at.asc().nulls_first()
    else:
        due = sync_state.c.next_run_at <= now
        order = sync_state.c.next_run_at.asc()
    status = (
        sa.select(connections.c.status)
        .where(connections.c.id == sync_state.c.connection_id)
        .scalar_subquery()
    )
    return (
        sa.select(sync_state.c.connection_id)
        .where(due, _free(now), status.in_(SCHEDULABLE))
        .order_by(order)
        .limit(limit)
    )


def due_queries(now: datetime, limit: int) -> list[sa.Select[Any]]:
    """The claim's two searches, requested runs first (shown by `EXPLAIN` in tests and the
    scheduler benchmark)."""
    return [_due_candidates(now, limit, requested=flag) for flag in (True, False)]


def claim_due(
    conn: Connection, owner: str, *, now: datetime, ttl: timedelta, limit: int
) -> list[str]:
    """Lease up to `limit` due connections in two index reads and one UPDATE: first those
    a run was asked for (`POST /connections/{id}/sync`), then the longest overdue, so
    manual runs jump the queue and scheduled work is served oldest first when there is
    more than capacity. Connections needing re-authorisation are never due; those in
    `error` are, on their back-off schedule. On PostgreSQL candidates are locked with
    `SKIP LOCKED`, so racing schedulers split the due work instead of queueing."""
    if limit <= 0:
        return []
    postgresql = not is_sqlite(conn)
    if postgresql:
        # The planner's estimate of this small query can be inflated enough to switch JIT
        # compilation on, which costs ~100 ms for a query that takes ~1 ms.
        conn.exec_driver_sql("SET LOCAL jit = off")
    candidates: list[str] = []
    for requested in (True, False):
        if len(candidates) >= limit:
            break
        query = _due_candidates(now, limit - len(candidates), requested=requested)
        if candidates:
            query = query.where(sync_state.c.connection_id.not_in(candidates))
        if postgresql:
            query = query.with_for_update(of=sync_state, skip_locked=True)
        candidates.extend(conn.execute(query).scalars())
    if not candidates:
        return []
    claimed = set(
        conn.execute(
            sa.update(sync_state)
            .where(sync_state.c.connection_id.in_(candidates), _free(now))
            .values(lease_owner=owner, lease_expires_at=now + ttl)
            .returning(sync_state.c.connection_id)
        ).scalars()
    )
    return [c for c in candidates if c in claimed]


def next_due_at(conn: Connection, *, now: datetime) -> datetime | None:
    """When the next free connection falls due (one read of the due index): a scheduler
    with room sleeps until then rather than a whole poll interval."""
    due: datetime | None = conn.execute(
        sa.select(sync_state.c.next_run_at)
        .where(sync_state.c.next_run_at > now, sync_state.c.lease_owner.is_(None))
        .order_by(sync_state.c.next_run_at)
        .limit(1)
    ).scalar_one_or_none()
    return due


def request_run(conn: Connection, connection_id: str, *, now: datetime) -> None:
    """Mark a run as asked for; an earlier request keeps its place in the queue."""
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id)
        .values(run_requested_at=sa.func.coalesce(sync_state.c.run_requested_at, now))
    )


def take_request(conn: Connection, connection_id: str) -> None:
    """The run starting now serves whatever was asked for so far."""
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id)
        .values(run_requested_at=None)
    )


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
