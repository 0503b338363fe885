"""Sync runs as stored: queued, running, then succeeded or failed, with their counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.connections import ConnectionInfo, ConnectionStatus, get_connection
from ledgerbridge.errors import ConnectionPausedError, NeedsReauthorisationError, NotFoundError
from ledgerbridge.sync import leases
from ledgerbridge.tables import sync_runs


class RunStatus(StrEnum):
    """A run goes `queued`, `running`, then `succeeded` or `failed`."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunKind(StrEnum):
    """`full` reads every customer; `incremental` the changes since the last run."""

    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True)
class SyncRunInfo:
    id: int
    connection_id: str
    kind: RunKind
    trigger: str
    status: RunStatus
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pages: int
    added: int
    updated: int
    deleted: int
    unchanged: int
    total: int | None
    error: str | None


_COLUMNS = [getattr(sync_runs.c, name) for name in SyncRunInfo.__dataclass_fields__]


def _info(row: Any) -> SyncRunInfo:
    fields = dict(row._mapping)
    kind, status = RunKind(fields.pop("kind")), RunStatus(fields.pop("status"))
    return SyncRunInfo(kind=kind, status=status, **fields)


def get_run(conn: Connection, run_id: int) -> SyncRunInfo:
    row = conn.execute(sa.select(*_COLUMNS).where(sync_runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"sync run {run_id} does not exist")
    return _info(row)


def list_runs(conn: Connection, connection_id: str, *, limit: int) -> list[SyncRunInfo]:
    """Newest first."""
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(sync_runs.c.connection_id == connection_id)
        .order_by(sync_runs.c.id.desc())
        .limit(limit)
    )
    return [_info(row) for row in rows]


def enqueue(
    conn: Connection, connection_id: str, *, full: bool, trigger: str, now: datetime
) -> SyncRunInfo:
    """Ask for a run. A run already waiting is reused (made full if this asks for full).
    The connection is flagged as requested, so schedulers claim it before scheduled work."""
    leases.request_run(conn, connection_id, now=now)
    waiting = conn.execute(
        sa.select(sync_runs.c.id, sync_runs.c.kind)
        .where(sync_runs.c.connection_id == connection_id, sync_runs.c.status == RunStatus.QUEUED)
        .order_by(sync_runs.c.id)
    ).first()
    if waiting is not None:
        if full and waiting.kind != RunKind.FULL:
            conn.execute(
                sa.update(sync_runs).where(sync_runs.c.id == waiting.id).values(kind=RunKind.FULL)
            )
        return get_run(conn, waiting.id)
    run_id = conn.execute(
        sa.insert(sync_runs)
        .values(
            connection_id=connection_id,
            kind=RunKind.FULL if full else RunKind.INCREMENTAL,
            trigger=trigger,
            status=RunStatus.QUEUED,
            queued_at=now,
        )
        .returning(sync_runs.c.id)
    ).scalar_one()
    return get_run(conn, run_id)


def request_run(
    conn: Connection, connection_id: str, *, full: bool, trigger: str, now: datetime
) -> SyncRunInfo:
    """A person (API, dashboard) asks for a run: refused while the connection needs
    re-authorising (it would only fail) or is paused (pausing means no sync at all), else
    queued like `enqueue`. The caller wakes the scheduler once the transaction commits."""
    ensure_runnable(get_connection(conn, connection_id))
    return enqueue(conn, connection_id, full=full, trigger=trigger, now=now)


def ensure_runnable(connection: ConnectionInfo) -> None:
    """Whether a run asked for by a person may start: `NeedsReauthorisationError` or
    `ConnectionPausedError` when it may not (the API, the dashboard and the CLI's `sync`
    all ask this)."""
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauthorisationError(
            connection.status_message or "Re-authorise this connection."
        )
    if connection.status == ConnectionStatus.PAUSED:
        raise ConnectionPausedError(
            "The connection is paused; resume it with `PATCH /connections/{id}` and "
            '`{"paused": false}` first.'
        )


@dataclass(frozen=True)
class Unfinished:
    """A connection's runs not yet ended: the run waiting to start (asked for, oldest
    first), and whether any is `running` (left so by a process that died)."""

    waiting: int | None
    waiting_full: bool
    running: bool


def unfinished(conn: Connection, connection_id: str) -> Unfinished:
    rows = conn.execute(
        sa.select(sync_runs.c.id, sync_runs.c.kind, sync_runs.c.status)
        .where(
            sync_runs.c.connection_id == connection_id,
            sync_runs.c.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
        )
        .order_by(sync_runs.c.id)
    ).all()
    waiting = next((row for row in rows if row.status == RunStatus.QUEUED), None)
    return Unfinished(
        waiting=None if waiting is None else waiting.id,
        waiting_full=waiting is not None and waiting.kind == RunKind.FULL,
        running=any(row.status == RunStatus.RUNNING for row in rows),
    )


def start_run(
    conn: Connection,
    connection_id: str,
    *,
    waiting: int | None,
    kind: RunKind,
    trigger: str,
    owner: str,
    now: datetime,
) -> SyncRunInfo:
    """The running run, in one statement: the `waiting` one, or a new one (`trigger`)."""
    values = {"status": RunStatus.RUNNING, "kind": kind, "started_at": now, "owner": owner}
    statement: sa.Update | sa.Insert
    if waiting is not None:
        statement = sa.update(sync_runs).where(sync_runs.c.id == waiting).values(**values)
    else:
        statement = sa.insert(sync_runs).values(
            connection_id=connection_id, trigger=trigger, queued_at=now, **values
        )
    return _info(conn.execute(statement.returning(*_COLUMNS)).one())


def end_run(conn: Connection, run_id: int, **values: Any) -> SyncRunInfo:
    """Record how the run ended (`status`, `finished_at`, `error`); the run as it is now."""
    return _info(
        conn.execute(
            sa.update(sync_runs)
            .where(sync_runs.c.id == run_id)
            .values(**values)
            .returning(*_COLUMNS)
        ).one()
    )


INTERRUPTED = (
    "interrupted: its process stopped before the run finished; "
    "the next run resumes from its last saved page"
)


def fail_interrupted(conn: Connection, *connection_ids: str, now: datetime) -> int:
    """Runs left `running` by a process that died: failed, and resumed by the next run."""
    if not connection_ids:
        return 0
    result = conn.execute(
        sa.update(sync_runs)
        .where(
            sync_runs.c.connection_id.in_(connection_ids),
            sync_runs.c.status == RunStatus.RUNNING,
        )
        .values(status=RunStatus.FAILED, finished_at=now, error=INTERRUPTED)
    )
    return result.rowcount


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    conn.execute(sa.update(sync_runs).where(sync_runs.c.id == run_id).values(**values))


def add_counts(
    conn: Connection,
    run_id: int,
    *,
    added: int,
    updated: int,
    deleted: int,
    unchanged: int,
    total: int | None = None,
) -> None:
    """One more page saved, what it changed, and the platform's total when it told one."""
    c = sync_runs.c
    values: dict[str, Any] = {
        "pages": c.pages + 1,
        "added": c.added + added,
        "updated": c.updated + updated,
        "deleted": c.deleted + deleted,
        "unchanged": c.unchanged + unchanged,
    }
    if total is not None:
        values["total"] = total
    conn.execute(sa.update(sync_runs).where(c.id == run_id).values(**values))
