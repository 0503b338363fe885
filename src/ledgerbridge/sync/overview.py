"""What an operator sees of a connection at a glance: its health, its latest run, when the
next one is due and how many records it holds. The dashboard's connections list and
connection page read it; it is assembled from the same stored rows the API serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.connections import SCHEDULABLE, ConnectionInfo, get_connection
from ledgerbridge.sync.runs import SyncRunInfo, list_runs
from ledgerbridge.tables import records, sync_state


@dataclass(frozen=True)
class ConnectionOverview:
    connection: ConnectionInfo
    last_run: SyncRunInfo | None
    next_run_at: datetime | None
    """None when it is not scheduled (paused, needs re-authorisation)."""
    records_held: int
    """Records not deleted."""


def _records_held(conn: Connection, connection_ids: list[str]) -> dict[str, int]:
    rows = conn.execute(
        sa.select(records.c.connection_id, sa.func.count())
        .where(records.c.connection_id.in_(connection_ids), records.c.deleted_at.is_(None))
        .group_by(records.c.connection_id)
    )
    return {row[0]: int(row[1]) for row in rows}


def _next_runs(conn: Connection, connection_ids: list[str]) -> dict[str, datetime | None]:
    rows = conn.execute(
        sa.select(sync_state.c.connection_id, sync_state.c.next_run_at).where(
            sync_state.c.connection_id.in_(connection_ids)
        )
    )
    return {row.connection_id: row.next_run_at for row in rows}


def connection_overviews(conn: Connection, found: list[ConnectionInfo]) -> list[ConnectionOverview]:
    """The overviews of `found` (a page of `connection_search.search_connections`), in
    its order."""
    ids = [info.id for info in found]
    held, next_runs = _records_held(conn, ids), _next_runs(conn, ids)
    overviews = []
    for info in found:
        latest = list_runs(conn, info.id, limit=1)
        overviews.append(
            ConnectionOverview(
                connection=info,
                last_run=latest[0] if latest else None,
                # A paused connection, or one waiting for re-authorisation, is never due.
                next_run_at=next_runs.get(info.id) if info.status in SCHEDULABLE else None,
                records_held=held.get(info.id, 0),
            )
        )
    return overviews


def connection_overview(
    conn: Connection, connection_id: str, *, environment: str
) -> ConnectionOverview:
    """One connection's overview; `NotFoundError` when `environment` has none of that id."""
    info = get_connection(conn, connection_id, environment=environment)
    return connection_overviews(conn, [info])[0]
