"""API keys of the unified API: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.config import Settings
from ledgerbridge.db import read_transaction
from ledgerbridge.tables import api_keys

PREFIX = "lb_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(conn: Connection, *, name: str, now: datetime) -> str:
    """Store a new key and return it in clear, the only time it is ever visible."""
    key = PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_keys).values(name=name, prefix=key[:10], key_hash=_hash(key), created_at=now)
    )
    return key


def is_valid_api_key(conn: Connection, key: str) -> bool:
    return (
        conn.execute(sa.select(api_keys.c.id).where(api_keys.c.key_hash == _hash(key))).first()
        is not None
    )


def accepts_api_key(engine: Engine, settings: Settings, key: str) -> bool:
    """The one rule for who may use the server: `LEDGERBRIDGE_API_KEY`, or a key made by
    `ledgerbridge keys create`. The API, the sandbox admin APIs and the dashboard's
    sign-in all ask it."""
    if not key:
        return False
    if settings.api_key and secrets.compare_digest(key.encode(), settings.api_key.encode()):
        return True
    with read_transaction(engine) as conn:
        return is_valid_api_key(conn, key)
