"""OAuth access tokens for connectors: refreshed one at a time, stored before use.

Refresh tokens rotate (QuickBooks Online's always, Intacct's when one is used): each
refresh returns a new one and the old one dies. Two refreshes racing with the same token
leave one holding a dead token (`invalid_grant`, the most reported sync failure), and a new
refresh token lost before it is stored kills the connection. So every refresh runs inside
the credential store's `rotating()` claim, starts from the credentials stored *now*
(another process may have refreshed already, and then its token is used), and stores the
answer before anyone uses the new access token, with no other work in between. A refresh
the platform refuses after another refresher rotated the token meanwhile uses that
refresher's tokens: only a refusal of the token stored now costs the connection. Each
platform supplies only its `grant`: the call to its token endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgerbridge.db import utcnow
from ledgerbridge.observability import metrics
from ledgerbridge.providers.base import AuthError, CredentialStore, FatalError

Grant = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Calls the token endpoint with the stored credentials and returns the credentials to
store (with `access_token` and `access_token_expires_at`). Raises `AuthError` when the
platform refuses the stored grant or client: a person must reconnect."""


def token_expiry(credentials: Mapping[str, Any]) -> datetime | None:
    """`access_token_expires_at` (ISO-8601 or epoch seconds) as an aware datetime."""
    raw = credentials.get("access_token_expires_at")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC)
    if isinstance(raw, str) and raw:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


class AccessTokens:
    """Hands out a usable access token for one connection, refreshing it when it is
    missing or expires within `margin` (or has no known expiry, unless the platform's
    tokens are trusted until a 401 says otherwise), or when the API refused it
    (`refresh(used)`)."""

    def __init__(
        self,
        *,
        provider: str,
        store: CredentialStore,
        grant: Grant,
        margin: timedelta,
        reauthorise_hint: str = "",
        trust_unknown_expiry: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._provider = provider
        self._store = store
        self._grant = grant
        self._margin = margin
        self._hint = reauthorise_hint
        self._trust_unknown_expiry = trust_unknown_expiry
        self._clock = clock
        self._held: dict[str, Any] | None = None
        self._short_margin: timedelta | None = None
        # Concurrent requests of this connector queue here, so one stale token costs one
        # trip through the store's lock, not one per request in flight.
        self._lock = asyncio.Lock()

    @property
    def credentials(self) -> Mapping[str, Any]:
        """The credentials the current token came with (empty before the first token)."""
        return self._held or {}

    def _fresh(self, credentials: Mapping[str, Any] | None) -> bool:
        if credentials is None:
            return False
        token, expires = credentials.get("access_token"), token_expiry(credentials)
        if not isinstance(token, str) or token == "":
            return False
        if expires is None:
            return self._trust_unknown_expiry
        margin = self._margin if self._short_margin is None else self._short_margin
        return expires - self._clock() > margin

    def _adopt(self, credentials: dict[str, Any]) -> str:
        """Use `credentials` from now on. A token that lives no longer than the margin
        (a platform or sandbox issuing one-minute tokens against a five-minute margin)
        would count as stale at once and be refreshed before every request: its margin
        becomes half its remaining life instead."""
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token:
            raise FatalError("The credentials have no access token.", provider=self._provider)
        expires = token_expiry(credentials)
        if expires is not None:
            remaining = expires - self._clock()
            short = remaining <= self._margin and remaining > timedelta(0)
            self._short_margin = remaining / 2 if short else None
        self._held = credentials
        return token

    async def current(self) -> str:
        """An access token that is not about to expire."""
        if self._fresh(self._held):
            return str(self.credentials["access_token"])
        async with self._lock:
            if self._fresh(self._held):
                return str(self.credentials["access_token"])
            stored = await self._store.load()
            if self._fresh(stored):
                return self._adopt(stored)
            return await self._rotate(used=self.credentials.get("access_token"))

    async def refresh(self, used: str) -> str:
        """A new access token after the API refused `used` (401)."""
        async with self._lock:
            token = self.credentials.get("access_token")
            if self._fresh(self._held) and token != used:  # refreshed meanwhile
                return str(token)
            return await self._rotate(used=used)

    async def _granted(self, current: dict[str, Any]) -> dict[str, Any]:
        """The token endpoint's answer, counted by outcome."""
        refreshes = metrics.TOKEN_REFRESHES
        try:
            credentials = await self._grant(current)
        except AuthError:
            refreshes.labels(self._provider, "refused").inc()
            raise
        except Exception:
            refreshes.labels(self._provider, "error").inc()
            raise
        refreshes.labels(self._provider, "ok").inc()
        return credentials

    async def _rotate(self, used: str | None) -> str:
        current: dict[str, Any] = {}
        try:
            async with self._store.rotating() as rotation:
                current = dict(rotation.current)
                if current.get("access_token") != used and self._fresh(current):
                    credentials = current  # another refresher stored it while we waited
                else:
                    credentials = await rotation.save(await self._granted(current))
        except AuthError as refused:
            # Outside the rotation, which is released by now.
            stored = await self._store.load()
            if stored.get("refresh_token") != current.get("refresh_token") and self._fresh(stored):
                # Refused because another refresher (whose claim outlived ours) or a person
                # reconnecting replaced the token meanwhile: theirs stand.
                return self._adopt(stored)
            message = refused.message
            if self._hint:
                message = f"{message.rstrip('.')}. {self._hint}"
            await self._store.needs_reauthorisation(message)
            raise
        return self._adopt(credentials)
