"""`GET /connections`: one environment's connections, filtered and paged with a cursor.

Order is creation (then id), so a page boundary never moves when connections are added;
the cursor is opaque (the same style as `unified/cursor.py`) and bound to its environment:
one environment's cursor is refused in another.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DbConnection

from ledgerbridge.connections import PUBLIC_COLUMNS, ConnectionInfo, info_of
from ledgerbridge.tables import connections

_PREFIX = "lbc1:"
_INVALID = "not a valid cursor: pass `next_cursor` unchanged"


@dataclass(frozen=True)
class ConnectionQuery:
    """Filters of `GET /connections`; all of them must hold (metadata: every tag)."""

    provider: str | None = None
    status: str | None = None
    end_user_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def encode_cursor(environment: str, info: ConnectionInfo) -> str:
    raw = f"{_PREFIX}{environment}|{info.created_at.isoformat()}|{info.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, environment: str) -> tuple[datetime, str]:
    """(created_at, id) after which the next page starts; `ValueError` saying why if the
    cursor is not ours or is another environment's."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(_INVALID) from None
    parts = text.removeprefix(_PREFIX).split("|")
    if not text.startswith(_PREFIX) or len(parts) != 3:
        raise ValueError(_INVALID)
    cursor_environment, created_at, connection_id = parts
    if cursor_environment != environment:
        raise ValueError("this cursor belongs to another environment's listing")
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        raise ValueError(_INVALID) from None
    if moment.tzinfo is None or not connection_id:
        raise ValueError(_INVALID)
    return moment, connection_id


def search_connections(
    conn: DbConnection,
    *,
    environment: str,
    query: ConnectionQuery,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[list[ConnectionInfo], bool]:
    """A page of the environment's connections matching `query`, and whether more follow."""
    select = sa.select(*PUBLIC_COLUMNS).where(connections.c.environment == environment)
    for column, value in (
        (connections.c.provider, query.provider),
        (connections.c.status, query.status),
        (connections.c.end_user_id, query.end_user_id),
    ):
        if value is not None:
            select = select.where(column == value)
    for key, value in query.metadata.items():
        select = select.where(connections.c["metadata"][key].as_string() == value)
    if after is not None:
        created_at, connection_id = after
        select = select.where(
            sa.or_(
                connections.c.created_at > created_at,
                sa.and_(connections.c.created_at == created_at, connections.c.id > connection_id),
            )
        )
    rows = conn.execute(
        select.order_by(connections.c.created_at, connections.c.id).limit(limit + 1)
    ).all()
    return [info_of(row) for row in rows[:limit]], len(rows) > limit
