"""Connect sessions: how an end user's browser starts a connect flow without the API key.

The app's backend creates one (`POST /connect/sessions`, with the end user's reference and
the platforms allowed) and hands its token to the browser, which opens
`/connections/{provider}/authorize?connect_session_token=...`. A token is single-use (the
first authorize spends it), expires (`LEDGERBRIDGE_CONNECT_SESSION_TTL_S`, 10 minutes by
default) and is bound to the environment it was made in: the connection it makes belongs
there, with the session's `end_user_id` and metadata. Only the token's hash is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.errors import LedgerBridgeError
from ledgerbridge.tables import connect_sessions

TOKEN_PREFIX = "lbcs_"
KEEP_EXPIRED = timedelta(days=1)


@dataclass(frozen=True)
class ConnectSession:
    id: int
    environment: str
    end_user_id: str
    allowed_providers: list[str]
    metadata: dict[str, str]
    redirect_uri: str | None
    expires_at: datetime


class ConnectSessionError(LedgerBridgeError):
    """The token cannot start a flow: `code` is `connect_session_unknown`,
    `connect_session_expired`, `connect_session_used` or `provider_not_allowed`; `session`
    is the session when the token names one (its `redirect_uri` hears of the refusal)."""

    def __init__(self, code: str, message: str, session: ConnectSession | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.session = session


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session(row: Any) -> ConnectSession:
    return ConnectSession(
        id=row.id,
        environment=row.environment,
        end_user_id=row.end_user_id,
        allowed_providers=list(row.allowed_providers),
        metadata=dict(row.metadata),
        redirect_uri=row.redirect_uri,
        expires_at=row.expires_at,
    )


def create_session(
    conn: Connection,
    *,
    environment: str,
    end_user_id: str,
    allowed_providers: Sequence[str],
    metadata: Mapping[str, str],
    redirect_uri: str | None,
    now: datetime,
    ttl_s: int,
) -> tuple[ConnectSession, str]:
    """A new session and its token, in clear this once. Sessions expired for a day are
    forgotten now (their outcome is long known), so the table stays small."""
    conn.execute(
        sa.delete(connect_sessions).where(connect_sessions.c.expires_at < now - KEEP_EXPIRED)
    )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_id = conn.execute(
        sa.insert(connect_sessions)
        .values(
            token_hash=_hash(token),
            environment=environment,
            end_user_id=end_user_id,
            allowed_providers=list(allowed_providers),
            metadata=dict(metadata),
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        .returning(connect_sessions.c.id)
    ).scalar_one()
    row = conn.execute(sa.select(connect_sessions).where(connect_sessions.c.id == session_id))
    return _session(row.one()), token


def redeem_session(conn: Connection, token: str, *, provider: str, now: datetime) -> ConnectSession:
    """Spend the token to start `provider`'s flow; `ConnectSessionError` saying why not.
    One conditional update spends it, so two browsers racing with one token cannot both
    start."""
    row = conn.execute(
        sa.select(connect_sessions).where(connect_sessions.c.token_hash == _hash(token))
    ).first()
    if row is None:
        raise ConnectSessionError(
            "connect_session_unknown", "This connect link is not valid; ask the app for a new one."
        )
    session = _session(row)
    if row.used_at is not None:
        raise ConnectSessionError(
            "connect_session_used",
            "This connect link was used already; ask the app for a new one.",
            session,
        )
    if row.expires_at <= now:
        raise ConnectSessionError(
            "connect_session_expired",
            "This connect link has expired; ask the app for a new one.",
            session,
        )
    if provider not in session.allowed_providers:
        raise ConnectSessionError(
            "provider_not_allowed",
            f"This connect link does not allow {provider}; it allows "
            f"{', '.join(session.allowed_providers)}.",
            session,
        )
    spent = conn.execute(
        sa.update(connect_sessions)
        .where(connect_sessions.c.id == session.id, connect_sessions.c.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise ConnectSessionError(
            "connect_session_used", "This connect link was used already.", session
        )
    return session
