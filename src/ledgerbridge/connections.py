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
from ledgerbridge.environments import DEFAULT_ENVIRONMENT
from ledgerbridge.errors import LedgerBridgeError, NotFoundError
from ledgerbridge.parsing import is_ascii_digits, parse_int
from ledgerbridge.tables import (
    connections,
    credential_claims,
    listed_keys,
    records,
    sync_runs,
    sync_state,
)
from ledgerbridge.webhooks import events
from ledgerbridge.webhooks.events import EventType

DEFAULT_SYNC_FREQUENCY_S = 3600
MAX_METADATA_TAGS = 50
_TAG_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TAG_VALUE = 500


def check_metadata(value: Mapping[str, Any]) -> dict[str, str]:
    """Connection metadata: at most 50 tags, names of letters, digits and `_.:-` (64 at
    most), values strings of 500 characters at most (so `metadata[name]=value` filters
    compare like with like on every backend)."""
    if len(value) > MAX_METADATA_TAGS:
        raise ValueError(f"at most {MAX_METADATA_TAGS} metadata tags")
    for name, tag in value.items():
        if not _TAG_NAME.match(name):
            raise ValueError(f"metadata tag name {name!r}: 1 to 64 letters, digits or _.:-")
        if not isinstance(tag, str) or len(tag) > MAX_TAG_VALUE or "\x00" in tag:
            raise ValueError(
                f"metadata tag {name!r}: a string of at most {MAX_TAG_VALUE} characters"
            )
    return dict(value)


class ConnectionStatus(StrEnum):
    """Whether a connection syncs: `active`; `error` after several failed syncs in a row
    (they go on, backing off; see `sync/health.py`); or `needs_reauth` until a person
    re-authorises it (the platform refused its credentials; syncs stop retrying)."""

    ACTIVE = "active"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"
    PAUSED = "paused"
    """Set by the caller (`PATCH /connections/{id}` with `paused: true`): never due, and
    a sync asked for is refused (409) until it is resumed."""


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
    remote_account_id: str | None = None
    """The account at the platform (a QuickBooks realm id), when the platform names one."""
    environment: str = DEFAULT_ENVIRONMENT
    end_user_id: str | None = None
    """The caller's own reference, unique per environment and platform."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free-form tags of the caller's, filterable in `GET /connections`."""


class EndUserTakenError(LedgerBridgeError):
    """Another connection of this environment and platform has that `end_user_id`."""


def info_of(row: Any) -> ConnectionInfo:
    """A row of `PUBLIC_COLUMNS` as a `ConnectionInfo`."""
    return info_of_values(dict(row._mapping))


def info_of_values(values: dict[str, Any]) -> ConnectionInfo:
    """`PUBLIC_COLUMNS` by name as a `ConnectionInfo`."""
    values["settings"] = dict(values["settings"] or {})
    values["metadata"] = dict(values["metadata"] or {})
    return ConnectionInfo(**{**values, "status": ConnectionStatus(values["status"])})


PUBLIC_COLUMNS = [
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
    connections.c.remote_account_id,
    connections.c.environment,
    connections.c.end_user_id,
    connections.c["metadata"],
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
    remote_account_id: str | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
    end_user_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ConnectionInfo:
    """A new connection, due for its first sync at once. `EndUserTakenError` if
    `end_user_id` is another connection's in this environment and platform."""
    if end_user_id is not None:
        check_end_user_free(conn, environment, provider, end_user_id)
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
            remote_account_id=remote_account_id,
            environment=environment,
            end_user_id=end_user_id,
            metadata=dict(metadata or {}),
        )
    )
    # Due at once: a new connection's first (full) sync starts with the next scheduler tick.
    conn.execute(sa.insert(sync_state).values(connection_id=connection_id, next_run_at=now))
    info = get_connection(conn, connection_id)
    events.connection_changed(conn, EventType.CONNECTION_CREATED, info, now=now)
    return info


def check_end_user_free(
    conn: DbConnection,
    environment: str,
    provider: str,
    end_user_id: str,
    *,
    but: str | None = None,
) -> None:
    """`EndUserTakenError` if a connection (other than `but`) of this environment and
    platform has `end_user_id` (the unique constraint backs this check up)."""
    query = sa.select(connections.c.id).where(
        connections.c.environment == environment,
        connections.c.provider == provider,
        connections.c.end_user_id == end_user_id,
    )
    if but is not None:
        query = query.where(connections.c.id != but)
    taken = conn.execute(query).scalar_one_or_none()
    if taken is not None:
        raise EndUserTakenError(
            f"connection {taken!r} of this environment already has end_user_id "
            f"{end_user_id!r} for {provider}; re-authorise or update that one"
        )


def get_connection(
    conn: DbConnection, connection_id: str, *, environment: str | None = None
) -> ConnectionInfo:
    """The connection; with `environment`, only if it belongs to it (another
    environment's connection is `NotFoundError`, exactly like a missing one)."""
    query = sa.select(*PUBLIC_COLUMNS).where(connections.c.id == connection_id)
    if environment is not None:
        query = query.where(connections.c.environment == environment)
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return info_of(row)


@dataclass(frozen=True)
class ConnectionForRun:
    """What a starting sync run reads of its connection, in one query: the connection,
    its change sequence now, and its stored (encrypted) credentials."""

    info: ConnectionInfo
    change_seq: int
    credentials: str


def get_connection_for_run(conn: DbConnection, connection_id: str) -> ConnectionForRun:
    row = conn.execute(
        sa.select(*PUBLIC_COLUMNS, connections.c.change_seq, connections.c.credentials).where(
            connections.c.id == connection_id
        )
    ).first()
    if row is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    values = dict(row._mapping)
    change_seq, credentials = values.pop("change_seq"), values.pop("credentials")
    return ConnectionForRun(info_of_values(values), int(change_seq), str(credentials))


def list_connections(conn: DbConnection) -> list[ConnectionInfo]:
    """Every connection of every environment (`connection_search` pages one environment)."""
    rows = conn.execute(
        sa.select(*PUBLIC_COLUMNS).order_by(connections.c.created_at, connections.c.id)
    )
    return [info_of(row) for row in rows]


def connection_of_end_user(
    conn: DbConnection, environment: str, provider: str, end_user_id: str
) -> ConnectionInfo | None:
    row = conn.execute(
        sa.select(*PUBLIC_COLUMNS).where(
            connections.c.environment == environment,
            connections.c.provider == provider,
            connections.c.end_user_id == end_user_id,
        )
    ).first()
    return None if row is None else info_of(row)


def connections_of_account(
    conn: DbConnection, provider: str, remote_account_id: str
) -> list[ConnectionInfo]:
    """The connections reaching one account of a platform (e.g. a QuickBooks realm)."""
    rows = conn.execute(
        sa.select(*PUBLIC_COLUMNS)
        .where(
            connections.c.provider == provider,
            connections.c.remote_account_id == remote_account_id,
        )
        .order_by(connections.c.created_at, connections.c.id)
    )
    return [info_of(row) for row in rows]


def fill_remote_account_ids(
    conn: DbConnection, cipher: CredentialCipher, account_fields: Mapping[str, str]
) -> int:
    """Fill in `remote_account_id` for connections made before it was stored (their
    credentials name the account under the platform's field in `account_fields`).
    Returns how many were filled."""
    if not account_fields:
        return 0
    rows = conn.execute(
        sa.select(connections.c.id, connections.c.provider, connections.c.credentials).where(
            connections.c.remote_account_id.is_(None),
            connections.c.provider.in_(list(account_fields)),
        )
    ).all()
    filled = 0
    for row in rows:
        value = cipher.decrypt(row.credentials).get(account_fields[row.provider])
        if value:
            conn.execute(
                sa.update(connections)
                .where(connections.c.id == row.id)
                .values(remote_account_id=str(value))
            )
            filled += 1
    return filled


def delete_connection(
    conn: DbConnection,
    connection_id: str,
    *,
    environment: str | None = None,
    now: datetime | None = None,
) -> None:
    """Delete the connection and, with it, its records, runs, sync state (checkpoint,
    lease) and credentials; `connection.deleted` is announced in the same transaction.
    Nothing is kept; run ids are never reused."""
    info = get_connection(conn, connection_id, environment=environment)
    events.connection_changed(conn, EventType.CONNECTION_DELETED, info, now=now or utcnow())
    for table in (records, listed_keys, sync_runs, sync_state, credential_claims):
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


@dataclass(frozen=True)
class ConnectionChanges:
    """What `PATCH /connections/{id}` (or the CLI, or the dashboard) changes; None leaves
    a field as it is."""

    sync_frequency_s: int | None = None
    paused: bool | None = None
    metadata: dict[str, str] | None = None
    end_user_id: str | None = None
    credentials: dict[str, Any] | None = None
    remote_account_id: str | None = None
    """The account the new `credentials` reach (`Platform.remote_account_id`)."""


def update_connection(
    conn: DbConnection,
    cipher: CredentialCipher,
    connection: ConnectionInfo,
    changes: ConnectionChanges,
    *,
    now: datetime,
) -> ConnectionInfo:
    """Apply `changes`. New credentials restore a connection in `needs_reauth` or `error`
    to `active` (failures forgotten) and make it due at once; pausing makes it never due
    until it is resumed (its next sync is then due when it would have been)."""
    values: dict[str, Any] = {}
    if changes.sync_frequency_s is not None:
        values["sync_frequency_s"] = changes.sync_frequency_s
    if changes.metadata is not None:
        values["metadata"] = dict(changes.metadata)
    if changes.end_user_id is not None:
        check_end_user_free(
            conn,
            connection.environment,
            connection.provider,
            changes.end_user_id,
            but=connection.id,
        )
        values["end_user_id"] = changes.end_user_id
    if values:
        conn.execute(sa.update(connections).where(connections.c.id == connection.id).values(values))
    if changes.credentials is not None:
        restore_credentials(
            conn, cipher, connection.id, changes.credentials, changes.remote_account_id, now=now
        )
    if changes.paused is True:
        set_status(conn, connection.id, ConnectionStatus.PAUSED, "paused by the API")
    elif changes.paused is False and connection.status == ConnectionStatus.PAUSED:
        set_status(conn, connection.id, ConnectionStatus.ACTIVE)
    return get_connection(conn, connection.id)


def restore_credentials(
    conn: DbConnection,
    cipher: CredentialCipher,
    connection_id: str,
    credentials: dict[str, Any],
    remote_account_id: str | None,
    *,
    now: datetime,
) -> None:
    """Store new credentials (a re-authorisation, or credentials replaced by the caller):
    a connection in `needs_reauth` or `error` is `active` again with its failures
    forgotten, due for a sync at once; its id, records and checkpoint stay as they are.
    A paused connection stays paused."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id)
        .values(
            credentials=cipher.encrypt(credentials),
            remote_account_id=remote_account_id,
            consecutive_failures=0,
            status=sa.case(
                (connections.c.status == ConnectionStatus.PAUSED, ConnectionStatus.PAUSED),
                else_=ConnectionStatus.ACTIVE,
            ),
            status_message=sa.case(
                (connections.c.status == ConnectionStatus.PAUSED, connections.c.status_message),
                else_=None,
            ),
        )
    )
    conn.execute(
        sa.update(sync_state)
        .where(sync_state.c.connection_id == connection_id)
        .values(next_run_at=now)
    )
