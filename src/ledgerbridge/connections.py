"""Connections: one account of one platform that ledgerbridge syncs (a QuickBooks Online
realm, a Conductor end user, an Intacct company), with its encrypted credentials."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DbConnection

from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import utcnow
from ledgerbridge.errors import NotFoundError
from ledgerbridge.parsing import is_ascii_digits, parse_int
from ledgerbridge.tables import connections, records, sync_runs, sync_state
from ledgerbridge.webhooks import events
from ledgerbridge.webhooks.events import EventType

DEFAULT_SYNC_FREQUENCY_S = 3600


class ConnectionStatus(StrEnum):
    """Whether a connection syncs: `active`; `error` after several failed syncs in a row
    (they go on, backing off; see `sync/health.py`); or `needs_reauth` until a person
    re-authorises it (the platform refused its credentials; syncs stop retrying)."""

    ACTIVE = "active"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"


_DURATION = re.compile(
    r"^\s*([0-9]+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\s*$"
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_SYNC_FREQUENCY_S = 60
"""Scheduled syncs no more often than once a minute."""
MAX_SYNC_FREQUENCY_S = 366 * 86400
"""A year between syncs at most: past it a connection would never sync (and past 2**31-1
seconds the 4-byte column refuses it on PostgreSQL)."""
_BOUNDS: dict[str, Any] = {"minimum": 0, "maximum": MAX_SYNC_FREQUENCY_S, "what": "seconds"}


def parse_duration(value: int | str) -> int:
    """Seconds in `value`: an integer of seconds, or `90s`, `30m`, `1h`, `1d`."""
    if isinstance(value, int) or is_ascii_digits(value.strip()):
        return parse_int(value if isinstance(value, int) else value.strip(), **_BOUNDS)
    match = _DURATION.match(value.lower())
    if match is None:
        raise ValueError("use seconds or a duration such as '15m', '1h', '1d'")
    seconds = parse_int(match.group(1), **_BOUNDS) * _UNIT_S[match.group(2)]
    return parse_int(seconds, **_BOUNDS)


def sync_frequency_seconds(value: int | str) -> int:
    """Seconds between scheduled syncs, from seconds or a duration; at least a minute."""
    seconds = parse_duration(value)
    if seconds < MIN_SYNC_FREQUENCY_S:
        raise ValueError(f"at least {MIN_SYNC_FREQUENCY_S} seconds")
    return seconds


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection as the rest of the product sees it (credentials decrypted on demand)."""

    id: str
    provider: str
    base_url: str
    sync_frequency_s: int
    status: ConnectionStatus
    status_message: str | None
    created_at: datetime
    settings: dict[str, Any] = field(default_factory=dict)
    """Provider-specific sync options (validated by the provider's `settings` model)."""
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


def _info(row: Any) -> ConnectionInfo:
    values = dict(row._mapping)
    values["settings"] = dict(values["settings"] or {})
    return ConnectionInfo(**{**values, "status": ConnectionStatus(values["status"])})


_PUBLIC = [
    connections.c.id,
    connections.c.provider,
    connections.c.base_url,
    connections.c.sync_frequency_s,
    connections.c.status,
    connections.c.status_message,
    connections.c.created_at,
    connections.c.settings,
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
    settings: Mapping[str, Any] | None = None,
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
            settings=dict(settings or {}),
        )
    )
    # Due at once: a new connection's first (full) sync starts with the next scheduler tick.
    conn.execute(sa.insert(sync_state).values(connection_id=connection_id, next_run_at=now))
    info = get_connection(conn, connection_id)
    events.connection_changed(conn, EventType.CONNECTION_CREATED, info, now=now)
    return info


def get_connection(conn: DbConnection, connection_id: str) -> ConnectionInfo:
    row = conn.execute(sa.select(*_PUBLIC).where(connections.c.id == connection_id)).first()
    if row is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return _info(row)


def list_connections(conn: DbConnection) -> list[ConnectionInfo]:
    rows = conn.execute(sa.select(*_PUBLIC).order_by(connections.c.created_at, connections.c.id))
    return [_info(row) for row in rows]


def delete_connection(
    conn: DbConnection, connection_id: str, *, now: datetime | None = None
) -> None:
    """Delete the connection and, with it, every record it synced."""
    info = get_connection(conn, connection_id)
    events.connection_changed(conn, EventType.CONNECTION_DELETED, info, now=now or utcnow())
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


SCHEDULABLE = (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR)
"""Statuses whose connections are synced on schedule (`error` ones with back-off)."""


_STATUS_EVENTS = {
    ConnectionStatus.NEEDS_REAUTH: EventType.CONNECTION_NEEDS_REAUTH,
    ConnectionStatus.ERROR: EventType.CONNECTION_ERROR,
}
"""The webhook event announcing that a connection entered a status."""


def set_status(
    conn: DbConnection,
    connection_id: str,
    status: ConnectionStatus,
    message: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """`active`, `error` (syncs keep failing, see `sync/health.py`) or `needs_reauth`, with
    a message saying what is wrong; entering `error` or `needs_reauth` is announced."""
    before = get_connection(conn, connection_id).status
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id)
        .values(status=status, status_message=message)
    )
    status_entered(conn, connection_id, before, now=now or utcnow())


def status_entered(
    conn: DbConnection, connection_id: str, before: ConnectionStatus, *, now: datetime
) -> None:
    """Announce the connection's status if it just changed to one that has an event."""
    after = get_connection(conn, connection_id)
    event = _STATUS_EVENTS.get(after.status)
    if event is not None and after.status != before:
        events.connection_changed(conn, event, after, now=now)
