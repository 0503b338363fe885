"""An OAuth 2.0 token issuer for the sandboxes: registered clients, authorization codes,
expiring access tokens and rotating refresh tokens. Tokens are random strings stored only
as hashes.

How refresh tokens rotate is each provider's `RefreshRotation`. Intuit documents (OAuth 2.0
guide, quoted in IntuitDeveloper/oauth2-nodejs#2, intuit/oauth-jsclient#74,
ruckus/quickbooks-ruby#389): "When you request a fresh access token, always use the refresh
token returned in the most recent token_endpoint response. Your previous refresh tokens
expire 24 hours after you receive a new one", and its staff (same threads): "the value of
refresh token can change every 24-26 hour period", i.e. a refresh inside that period answers
with the same refresh token. Intuit's help article "Validity-of-Refresh-Token" (quoted in
intuit/QuickBooks-V3-PHP-SDK#324 and #454) reads stricter: "if a new Refresh Token is
returned, the previous one expires"; that is `STRICT`, every refresh rotating and the old
token dying at once, which Intacct's sandbox and a QuickBooks realm's
`refresh_token_single_use` knob use.

Refresh tokens of one grant form a family. Presenting the current token of a family inside
the rotation period returns that same token; otherwise a new one is issued, and every token
of the family still current is superseded: it keeps working for the grace period (none
under `STRICT`). Presenting a superseded token within its grace rotates again (only hashes
are stored, so the family's current token cannot be handed back), which is what saves a
client that crashed before storing the token it was last given.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.db import UTCDateTime
from ledgerbridge.sandbox import tables

REFRESH_LIFETIME = timedelta(days=100)
CODE_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class RefreshRotation:
    """How refresh tokens rotate: a refresh within `period` of the current token's issue
    returns it again; a token replaced by a newer one keeps working for `grace`."""

    period: timedelta = timedelta(0)
    grace: timedelta = timedelta(0)


STRICT = RefreshRotation()
"""Every refresh issues a new refresh token; the presented one stops working at once."""
INTUIT = RefreshRotation(period=timedelta(hours=24), grace=timedelta(hours=24))
"""QuickBooks Online as Intuit documents it (see the module docstring)."""


class OAuthError(Exception):
    """An RFC 6749 error: `error` is the code (`invalid_grant`, `invalid_client`, ...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    tenant_id: str


@dataclass(frozen=True)
class AccessGrant:
    """Who a valid access token speaks for."""

    tenant_id: str
    client_id: str
    subject: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    """Issues and checks one provider's tokens. `new_access_token` may shape the access token
    (Intacct's are JWTs); by default it is an opaque random string."""

    def __init__(
        self,
        provider: str,
        new_access_token: Callable[[str, datetime, datetime], str] | None = None,
    ) -> None:
        """`new_access_token(tenant_id, issued_at, expires_at)` shapes an access token."""
        self.provider = provider
        self._new_access_token = new_access_token or (lambda _t, _iat, _exp: _random("at"))

    def ensure_client(self, connection: Connection, now: datetime) -> tuple[str, str]:
        """The sandbox app's (client_id, client_secret), registering it on first use."""
        row = connection.execute(
            sa.select(tables.oauth_clients.c.client_id, tables.oauth_clients.c.client_secret)
            .where(tables.oauth_clients.c.provider == self.provider)
            .order_by(tables.oauth_clients.c.created_at)
        ).first()
        if row is not None:
            return row.client_id, row.client_secret
        client_id, client_secret = _random("client"), _random("secret")
        connection.execute(
            sa.insert(tables.oauth_clients).values(
                provider=self.provider,
                client_id=client_id,
                client_secret=client_secret,
                created_at=now,
            )
        )
        return client_id, client_secret

    def authenticate_client(self, connection: Connection, client_id: str, secret: str) -> None:
        row = connection.execute(
            sa.select(tables.oauth_clients.c.client_secret).where(
                tables.oauth_clients.c.provider == self.provider,
                tables.oauth_clients.c.client_id == client_id,
            )
        ).first()
        if row is None or not secrets.compare_digest(row.client_secret, secret):
            raise OAuthError("invalid_client", "Client authentication failed.")

    def issue_code(
        self,
        connection: Connection,
        *,
        tenant_id: str,
        client_id: str,
        redirect_uri: str,
        now: datetime,
    ) -> str:
        code = _random("code")
        self._store(
            connection,
            code,
            "code",
            tenant_id,
            client_id,
            now + CODE_LIFETIME,
            now,
            redirect_uri=redirect_uri,
        )
        return code

    def exchange_code(
        self,
        connection: Connection,
        *,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        lifetime_s: Callable[[str], int],
        now: datetime,
    ) -> TokenPair:
        """Trade an authorization code (single use) for tokens."""
        row = self._consume(connection, code, "code", client_id, now)
        if redirect_uri is not None and row.redirect_uri not in (None, redirect_uri):
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization.")
        return self.issue_pair(
            connection,
            tenant_id=row.tenant_id,
            client_id=client_id,
            lifetime_s=lifetime_s(row.tenant_id),
            now=now,
            subject=row.subject,
        )

    def refresh(
        self,
        connection: Connection,
        *,
        refresh_token: str,
        client_id: str,
        lifetime_s: Callable[[str], int],
        now: datetime,
        rotation: Callable[[str], RefreshRotation] = lambda _tenant: STRICT,
    ) -> TokenPair:
        """A new access token for a live refresh token, with the refresh token the tenant's
        `rotation` says: the same one inside the rotation period, else a new one."""
        table = tables.oauth_tokens
        # Locked (PostgreSQL; SQLite writers are serial) so two racing refreshes of one
        # token cannot both rotate it.
        row = connection.execute(
            sa.select(table)
            .where(
                table.c.token_hash == _hash(refresh_token),
                table.c.provider == self.provider,
                table.c.kind == "refresh",
                table.c.client_id == client_id,
                table.c.revoked_at.is_(None),
                table.c.expires_at > now,
            )
            .with_for_update()
        ).first()
        if row is None:
            raise OAuthError(
                "invalid_grant", "The refresh token is invalid, expired or already used."
            )
        policy = rotation(row.tenant_id)
        lifetime = lifetime_s(row.tenant_id)
        if row.superseded_at is None and now - row.created_at < policy.period:
            access = self._issue_access(connection, row, client_id, lifetime, now)
            return TokenPair(
                access_token=access,
                refresh_token=refresh_token,
                expires_in=lifetime,
                refresh_expires_in=int((row.expires_at - now).total_seconds()),
                tenant_id=row.tenant_id,
            )
        family = row.family or row.token_hash
        self._supersede(connection, family, policy.grace, now)
        return self.issue_pair(
            connection,
            tenant_id=row.tenant_id,
            client_id=client_id,
            lifetime_s=lifetime,
            now=now,
            subject=row.subject,
            family=family,
        )

    def _supersede(
        self, connection: Connection, family: str, grace: timedelta, now: datetime
    ) -> None:
        """Retire the family's current refresh tokens: at once, or after `grace`."""
        table = tables.oauth_tokens
        current = sa.and_(
            table.c.provider == self.provider,
            table.c.kind == "refresh",
            sa.or_(table.c.family == family, table.c.token_hash == family),
            table.c.superseded_at.is_(None),
            table.c.revoked_at.is_(None),
        )
        if grace <= timedelta(0):
            connection.execute(
                sa.update(table).where(current).values(revoked_at=now, superseded_at=now)
            )
            return
        until = sa.literal(now + grace, UTCDateTime)
        connection.execute(
            sa.update(table)
            .where(current)
            .values(
                superseded_at=now,
                expires_at=sa.case((table.c.expires_at > until, until), else_=table.c.expires_at),
            )
        )

    def _issue_access(
        self, connection: Connection, grant: Any, client_id: str, lifetime_s: int, now: datetime
    ) -> str:
        expires_at = now + timedelta(seconds=lifetime_s)
        access = self._new_access_token(grant.tenant_id, now, expires_at)
        self._store(
            connection, access, "access", grant.tenant_id, client_id, expires_at, now, grant.subject
        )
        return access

    def issue_pair(
        self,
        connection: Connection,
        *,
        tenant_id: str,
        client_id: str,
        lifetime_s: int,
        now: datetime,
        subject: str = "",
        family: str | None = None,
    ) -> TokenPair:
        """A new access and refresh token: of a new grant, or of `family`'s."""
        expires_at = now + timedelta(seconds=lifetime_s)
        access = self._new_access_token(tenant_id, now, expires_at)
        refresh = _random("rt")
        self._store(connection, access, "access", tenant_id, client_id, expires_at, now, subject)
        self._store(
            connection,
            refresh,
            "refresh",
            tenant_id,
            client_id,
            now + REFRESH_LIFETIME,
            now,
            subject,
            family=family or _hash(refresh),
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=lifetime_s,
            refresh_expires_in=int(REFRESH_LIFETIME.total_seconds()),
            tenant_id=tenant_id,
        )

    def verify_access(self, connection: Connection, token: str, now: datetime) -> AccessGrant:
        """The grant behind a live access token; `OAuthError('invalid_token')` otherwise."""
        row = connection.execute(
            sa.select(tables.oauth_tokens).where(
                tables.oauth_tokens.c.token_hash == _hash(token),
                tables.oauth_tokens.c.provider == self.provider,
                tables.oauth_tokens.c.kind == "access",
            )
        ).first()
        if row is None or row.revoked_at is not None:
            raise OAuthError("invalid_token", "The access token is not valid.")
        if row.expires_at <= now:
            raise OAuthError("invalid_token", "The access token expired.")
        return AccessGrant(tenant_id=row.tenant_id, client_id=row.client_id, subject=row.subject)

    def revoke(self, connection: Connection, token: str, now: datetime) -> None:
        connection.execute(
            sa.update(tables.oauth_tokens)
            .where(tables.oauth_tokens.c.token_hash == _hash(token))
            .values(revoked_at=now)
        )

    def _store(
        self,
        connection: Connection,
        token: str,
        kind: str,
        tenant_id: str,
        client_id: str,
        expires_at: datetime,
        now: datetime,
        subject: str = "",
        redirect_uri: str | None = None,
        family: str | None = None,
    ) -> None:
        connection.execute(
            sa.insert(tables.oauth_tokens).values(
                token_hash=_hash(token),
                family=family,
                provider=self.provider,
                tenant_id=tenant_id,
                client_id=client_id,
                kind=kind,
                subject=subject,
                redirect_uri=redirect_uri,
                expires_at=expires_at,
                created_at=now,
            )
        )

    def _consume(
        self, connection: Connection, token: str, kind: str, client_id: str, now: datetime
    ) -> sa.Row[tuple[object, ...]]:
        table = tables.oauth_tokens
        # The revoking UPDATE comes first so two racing refreshes cannot both succeed.
        revoked = connection.execute(
            sa.update(table)
            .where(
                table.c.token_hash == _hash(token),
                table.c.provider == self.provider,
                table.c.kind == kind,
                table.c.client_id == client_id,
                table.c.revoked_at.is_(None),
                table.c.expires_at > now,
            )
            .values(revoked_at=now)
        )
        if revoked.rowcount != 1:
            what = "authorization code" if kind == "code" else "refresh token"
            raise OAuthError("invalid_grant", f"The {what} is invalid, expired or already used.")
        return connection.execute(sa.select(table).where(table.c.token_hash == _hash(token))).one()


def _random(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"
