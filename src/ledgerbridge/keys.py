"""API keys of the unified API: random, shown once, stored as SHA-256 hashes, each bound
to one environment with a scope.

Scopes: `read` reads connections, records and runs; `full` also writes (connections,
customers, syncs, keys). The operator key (`LEDGERBRIDGE_API_KEY`) has every scope plus
`operator` (environments) and picks its environment per request (`api/deps.py`).

Checking a key is one indexed lookup by hash; `last_used_at` is written at most once per
`LAST_USED_PRECISION` per key, so requests do not each add a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.config import Settings
from ledgerbridge.db import read_transaction, utcnow
from ledgerbridge.environments import DEFAULT_ENVIRONMENT, require_environment
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import api_keys

PREFIX = "lb_"
LAST_USED_PRECISION = timedelta(minutes=1)


class Scope(StrEnum):
    READ = "read"
    FULL = "full"
    OPERATOR = "operator"
    """Only the operator key: managing environments."""


GRANTS: dict[str, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.FULL: frozenset({Scope.READ, Scope.FULL}),
    Scope.OPERATOR: frozenset(Scope),
}
"""What a key of each scope may do."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as it may be shown: never the secret, only its first characters."""

    id: int
    name: str
    prefix: str
    environment: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    conn: Connection,
    *,
    name: str,
    now: datetime,
    environment: str = DEFAULT_ENVIRONMENT,
    scope: str = Scope.FULL,
) -> tuple[ApiKeyInfo, str]:
    """Store a new key of an existing environment; returns it and its secret in clear,
    the only time the secret is ever visible."""
    if scope not in (Scope.READ, Scope.FULL):
        raise ValueError(f"unknown scope {scope!r}; use read or full")
    require_environment(conn, environment)
    key = PREFIX + secrets.token_urlsafe(32)
    key_id = conn.execute(
        sa.insert(api_keys)
        .values(
            name=name,
            prefix=key[:10],
            key_hash=_hash(key),
            created_at=now,
            environment=environment,
            scope=scope,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return get_api_key(conn, key_id, environment=environment), key


_PUBLIC = [
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.environment,
    api_keys.c.scope,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
]


def get_api_key(conn: Connection, key_id: int, *, environment: str) -> ApiKeyInfo:
    """A key of `environment`; another environment's key is `NotFoundError` like a
    missing one."""
    row = conn.execute(
        sa.select(*_PUBLIC).where(api_keys.c.id == key_id, api_keys.c.environment == environment)
    ).first()
    if row is None:
        raise NotFoundError(f"no API key {key_id} in this environment")
    return ApiKeyInfo(**row._mapping)


def list_api_keys(conn: Connection, *, environment: str | None) -> list[ApiKeyInfo]:
    """The keys of `environment` (None: of every environment, for the CLI)."""
    query = sa.select(*_PUBLIC).order_by(api_keys.c.id)
    if environment is not None:
        query = query.where(api_keys.c.environment == environment)
    return [ApiKeyInfo(**row._mapping) for row in conn.execute(query)]


def revoke_api_key(conn: Connection, key_id: int, *, environment: str | None) -> None:
    """Delete the key: the next request made with it is refused."""
    query = sa.delete(api_keys).where(api_keys.c.id == key_id)
    if environment is not None:
        query = query.where(api_keys.c.environment == environment)
    if conn.execute(query).rowcount == 0:
        raise NotFoundError(
            f"no API key {key_id}" + (" in this environment" if environment else "")
        )


@dataclass(frozen=True)
class KeyGrant:
    """Who a valid key is: its id, environment and scope, and whether `last_used_at` is
    due to be written."""

    key_id: int
    environment: str
    scope: str
    last_used_stale: bool


def find_api_key(conn: Connection, key: str, *, now: datetime) -> KeyGrant | None:
    """The key's grant, or None if no such key (one lookup on the unique hash index)."""
    row = conn.execute(
        sa.select(
            api_keys.c.id, api_keys.c.environment, api_keys.c.scope, api_keys.c.last_used_at
        ).where(api_keys.c.key_hash == _hash(key))
    ).first()
    if row is None:
        return None
    stale = row.last_used_at is None or row.last_used_at <= now - LAST_USED_PRECISION
    return KeyGrant(row.id, row.environment, row.scope, stale)


def touch_api_key(conn: Connection, key_id: int, *, now: datetime) -> None:
    """Record that the key was used (conditional: of concurrent requests, one writes)."""
    conn.execute(
        sa.update(api_keys)
        .where(
            api_keys.c.id == key_id,
            sa.or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at <= now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )


def accepts_api_key(engine: Engine, settings: Settings, key: str) -> bool:
    """Whether `key` may administer: the operator key (`LEDGERBRIDGE_API_KEY`) or a
    `full` key. Asked by the sandbox admin APIs; a `read` key may only read through the
    API. The key is found by `find_api_key`, the one lookup every caller uses."""
    if not key:
        return False
    if settings.api_key and secrets.compare_digest(key.encode(), settings.api_key.encode()):
        return True
    with read_transaction(engine) as conn:
        grant = find_api_key(conn, key, now=utcnow())
    return grant is not None and grant.scope == Scope.FULL
