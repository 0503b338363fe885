"""API keys of the unified API: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
