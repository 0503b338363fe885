"""QuickBooks Online access tokens: Intuit's OAuth 2.0 refresh, single-flight per connection.

Intuit rotates refresh tokens: each refresh returns a new one and the old one dies. Two
refreshes racing with the same token leave one of them holding a dead token
(`invalid_grant`, the most reported QuickBooks sync failure), and a new refresh token lost
before it is stored kills the connection. So every refresh runs inside the credential
store's `rotating()` lock, starts from the credentials stored *now* (another process may
have refreshed already), and stores the rotated pair before anyone uses the new access
token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from ledgerbridge.db import utcnow
from ledgerbridge.providers.base import (
    AuthError,
    CredentialStore,
    FatalError,
    RetriableError,
    ThrottledError,
    retry_after_seconds,
    transport_error,
)

PROVIDER = "qbo"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REFRESH_MARGIN = timedelta(minutes=5)


def default_token_url(base_url: str) -> str:
    """Intuit's token endpoint for Intuit's hosts; the sandbox's own beside its API."""
    host = urlsplit(base_url).hostname or ""
    if host == "intuit.com" or host.endswith(".intuit.com"):
        return INTUIT_TOKEN_URL
    return f"{base_url.rstrip('/')}/oauth2/v1/tokens/bearer"


def stored_credentials(
    previous: Mapping[str, Any], tokens: Mapping[str, Any], received_at: datetime
) -> dict[str, Any]:
    """The connection's credentials after a token answer (`access_token`, `refresh_token`,
    `expires_in`, as Intuit sends them), keeping the rest of `previous` (realm, app keys)."""
    lifetime = timedelta(seconds=int(tokens.get("expires_in", 3600)))
    return {
        **previous,
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or previous["refresh_token"],
        "access_token_expires_at": (received_at + lifetime).isoformat(timespec="seconds"),
    }


def _expires_at(credentials: Mapping[str, Any]) -> datetime | None:
    text = credentials.get("access_token_expires_at")
    if not isinstance(text, str) or not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else None


class _Refused(Exception):
    """The token endpoint refused the stored grant or client: a person must reconnect."""


class AccessTokens:
    """Hands out a usable access token for one connection, refreshing it when it is missing
    or expires within `margin`, or when the API refused it (`refresh(used)`)."""

    def __init__(
        self,
        *,
        credentials: CredentialStore,
        http: httpx.AsyncClient,
        base_url: str,
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = credentials
        self._http = http
        self._base_url = base_url
        self._margin = margin
        self._clock = clock
        self._token: str | None = None
        self._expires: datetime | None = None
        # Concurrent requests of this connector queue here, so one stale token costs one
        # trip through the store's lock, not one per request in flight.
        self._lock = asyncio.Lock()

    def _fresh(self, token: Any, expires: datetime | None) -> bool:
        return (
            isinstance(token, str)
            and token != ""
            and expires is not None
            and expires - self._clock() > self._margin
        )

    def _adopt(self, credentials: Mapping[str, Any]) -> str:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token:
            raise FatalError("The stored credentials have no access token.", provider=PROVIDER)
        self._token, self._expires = token, _expires_at(credentials)
        return token

    def _held(self) -> str | None:
        """The token this connector holds, if it is not about to expire."""
        return self._token if self._fresh(self._token, self._expires) else None

    async def current(self) -> str:
        """An access token that is not about to expire."""
        if (token := self._held()) is not None:
            return token
        async with self._lock:
            if (token := self._held()) is not None:
                return token
            stored = await self._store.load()
            if self._fresh(stored.get("access_token"), _expires_at(stored)):
                return self._adopt(stored)
            return await self._rotate(used=self._token)

    async def refresh(self, used: str) -> str:
        """A new access token after the API refused `used` (401)."""
        async with self._lock:
            token = self._held()
            if token is not None and token != used:  # another request refreshed meanwhile
                return token
            return await self._rotate(used=used)

    async def _rotate(self, used: str | None) -> str:
        try:
            async with self._store.rotating() as rotation:
                current = rotation.current
                stored = current.get("access_token")
                if stored != used and self._fresh(stored, _expires_at(current)):
                    # Someone else refreshed while we waited for the lock: use theirs.
                    credentials = current
                else:
                    credentials = await self._exchange(current)
                    await rotation.save(credentials)
        except _Refused as refused:
            # Outside the rotation: its transaction holds the connection row's lock.
            await self._store.needs_reauthorisation(str(refused))
            raise AuthError(str(refused), provider=PROVIDER) from None
        return self._adopt(credentials)

    async def _exchange(self, current: dict[str, Any]) -> dict[str, Any]:
        """Call the token endpoint with the stored refresh token; the new credentials."""
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not current.get(k)]
        if missing:
            raise _Refused(
                f"The stored QuickBooks Online credentials lack {', '.join(missing)}. "
                "Reconnect the QuickBooks company to authorise ledgerbridge again."
            )
        url = current.get("token_url") or default_token_url(self._base_url)
        sent_at = self._clock()
        try:
            response = await self._http.post(
                url,
                data={"grant_type": "refresh_token", "refresh_token": current["refresh_token"]},
                auth=httpx.BasicAuth(current["client_id"], current["client_secret"]),
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise transport_error(PROVIDER, exc) from exc
        return stored_credentials(current, _token_answer(response), sent_at)


def _token_answer(response: httpx.Response) -> dict[str, Any]:
    """The token endpoint's JSON on success; otherwise the error it stands for."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    if status == 200 and isinstance(body.get("access_token"), str):
        return body
    error = str(body.get("error", ""))
    description = str(body.get("error_description", "")) or response.text[:200]
    if error == "invalid_grant":
        raise _Refused(
            "QuickBooks Online refused the stored refresh token (invalid_grant: "
            f"{description}). Reconnect the QuickBooks company to authorise ledgerbridge again."
        )
    if error == "invalid_client":
        raise _Refused(
            f"QuickBooks Online refused the app's client id or secret (invalid_client: "
            f"{description}). Check the app's keys, then reconnect the QuickBooks company."
        )
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "http_status": status,
        "code": error or None,
        "body": body or response.text,
    }
    if status == 429:
        raise ThrottledError(
            "The token endpoint is rate limited.",
            retry_after=retry_after_seconds(response.headers, 60.0),
            **common,
        )
    if status >= 500 or status == 200:
        raise RetriableError(f"The token endpoint failed: {description}", **common)
    raise FatalError(f"The token endpoint refused the refresh: {description}", **common)
