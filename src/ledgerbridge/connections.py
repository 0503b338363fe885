"""Connections: one account of one platform that ledgerbridge syncs (a QuickBooks Online
realm, a Conductor end user, an Intacct company), with its encrypted credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DbConnection

from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import connections, records, sync_runs, sync_state

DEFAULT_SYNC_FREQUENCY_S = 3600


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection as the rest of the product sees it (credentials decrypted on demand)."""

    id: str
    provider: str
    base_url: str
    sync_frequency_s: int
    status: str
    status_message: str | None
    created_at: datetime
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


def _info(row: Any) -> ConnectionInfo:
    return ConnectionInfo(**row._mapping)


_PUBLIC = [
    connections.c.id,
    connections.c.provider,
    connections.c.base_url,
    connections.c.sync_frequency_s,
    connections.c.status,
    connections.c.status_message,
    connections.c.created_at,
    connections.c.consecutive_failures,
    connections.c.last_error,
    connections.c.last_error_at,
]


def create_connection(
    conn: DbConnection,
    cipher: CredentialCipher,
    *,
    provider: str,
    base_url: str,
    credentials: dict[str, Any],
    sync_frequency_s: int,
    now: datetime,
) -> ConnectionInfo:
    connection_id = "conn_" + secrets.token_hex(8)
    conn.execute(
        sa.insert(connections).values(
            id=connection_id,
            provider=provider,
            base_url=base_url.rstrip("/"),
            credentials=cipher.encrypt(credentials),
            sync_frequency_s=sync_frequency_s,
            created_at=now,
        )
    )
    # Due at once: a new connection's first (full) sync starts with the next scheduler tick.
    conn.execute(sa.insert(sync_state).values(connection_id=connection_id, next_run_at=now))
    return get_connection(conn, connection_id)


def get_connection(conn: DbConnection, connection_id: str) -> ConnectionInfo:
    row = conn.execute(sa.select(*_PUBLIC).where(connections.c.id == connection_id)).first()
    if row is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return _info(row)


def list_connections(conn: DbConnection) -> list[ConnectionInfo]:
    rows = conn.execute(sa.select(*_PUBLIC).order_by(connections.c.created_at, connections.c.id))
    return [_info(row) for row in rows]


def delete_connection(conn: DbConnection, connection_id: str) -> None:
    """Delete the connection and, with it, every record it synced."""
    get_connection(conn, connection_id)
    for table in (records, sync_runs, sync_state):
        conn.execute(sa.delete(table).where(table.c.connection_id == connection_id))
    conn.execute(sa.delete(connections).where(connections.c.id == connection_id))


def read_credentials(
    conn: DbConnection, cipher: CredentialCipher, connection_id: str
) -> dict[str, Any]:
    token = conn.execute(
        sa.select(connections.c.credentials).where(connections.c.id == connection_id)
    ).scalar_one_or_none()
    if token is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return cipher.decrypt(token)


def write_credentials(
    conn: DbConnection, cipher: CredentialCipher, connection_id: str, credentials: dict[str, Any]
) -> None:
    """Replace the stored credentials (a rotated refresh token), in the caller's transaction."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id)
        .values(credentials=cipher.encrypt(credentials))
    )


ACTIVE, ERROR, NEEDS_REAUTH = "active", "error", "needs_reauth"
SCHEDULABLE = (ACTIVE, ERROR)
"""Statuses whose connections are synced on schedule (`error` ones with back-off)."""


def set_status(
    conn: DbConnection, connection_id: str, status: str, message: str | None = None
) -> None:
    """`active`, `error` (syncs keep failing, see `sync/health.py`) or `needs_reauth`, with
    a message saying what is wrong."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id)
        .values(status=status, status_message=message)
    )
