"""QuickBooks Online access tokens: Intuit's OAuth 2.0 refresh, single-flight per connection.

Intuit rotates refresh tokens on every refresh; `providers/tokens.py` runs the grant
below single-flight and stores the rotated pair before the new access token is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson

from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.providers.base import (
    AuthError,
    FatalError,
    RetriableError,
    RetryPolicy,
    ThrottledError,
)
from ledgerbridge.providers.client import ProviderClient, retry_after_seconds
from ledgerbridge.providers.plugin import OAuthApp
from ledgerbridge.providers.tokens import Grant
from ledgerbridge.sandbox.base import SandboxContext

if TYPE_CHECKING:
    from ledgerbridge.config import Settings

PROVIDER = "qbo"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REFRESH_MARGIN = timedelta(minutes=5)
ONE_ATTEMPT = RetryPolicy(attempts=1)


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


def refresh_grant(
    http: httpx.AsyncClient, base_url: str, clock: Callable[[], datetime] = utcnow
) -> Grant:
    """Intuit's `refresh_token` grant (HTTP Basic client auth) for `AccessTokens`. Called
    from the auth flow of an API request, whose retries also cover it."""
    token_endpoint = ProviderClient(
        provider=PROVIDER,
        http=http,
        base_url="",
        classify=_token_answer,
        retry=ONE_ATTEMPT,
        headers={"Accept": "application/json"},
    )

    async def grant(current: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not current.get(k)]
        if missing:
            raise AuthError(
                f"The stored QuickBooks Online credentials lack {', '.join(missing)}. "
                "Reconnect the QuickBooks company to authorise ledgerbridge again.",
                provider=PROVIDER,
            )
        url = current.get("token_url") or default_token_url(base_url)
        sent_at = clock()
        answer = await token_endpoint.request(
            "POST",
            url,
            data={"grant_type": "refresh_token", "refresh_token": current["refresh_token"]},
            auth=httpx.BasicAuth(current["client_id"], current["client_secret"]),
        )
        return stored_credentials(current, answer, sent_at)

    return grant


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
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "http_status": status,
        "code": error or None,
        "body": body or response.text,
    }
    if error == "invalid_grant":
        raise AuthError(
            "QuickBooks Online refused the stored refresh token (invalid_grant: "
            f"{description}). Reconnect the QuickBooks company to authorise ledgerbridge again.",
            **common,
        )
    if error == "invalid_client":
        raise AuthError(
            f"QuickBooks Online refused the app's client id or secret (invalid_client: "
            f"{description}). Check the app's keys, then reconnect the QuickBooks company.",
            **common,
        )
    if status == 429:
        raise ThrottledError(
            "The token endpoint is rate limited.",
            retry_after=retry_after_seconds(response.headers, 60.0),
            **common,
        )
    if status >= 500 or status == 200:
        raise RetriableError(f"The token endpoint failed: {description}", **common)
    raise FatalError(f"The token endpoint refused the refresh: {description}", **common)


class IntuitConnect:
    """The QuickBooks Online connect flow: your Intuit app when `LEDGERBRIDGE_QBO_CLIENT_ID`
    is set, else the local sandbox's app (so it works with no Intuit account)."""

    scope = "com.intuit.quickbooks.accounting"
    tenant_param = "realmId"

    def app(self, settings: Settings, sandbox: SandboxContext, public_base: str) -> OAuthApp:
        if settings.qbo_client_id:
            return OAuthApp(
                settings.qbo_client_id,
                settings.qbo_client_secret,
                settings.qbo_authorize_url,
                settings.qbo_token_url,
                settings.qbo_api_url,
            )
        from ledgerbridge.providers.qbo.sandbox import provider as qbo_sandbox

        with write_transaction(sandbox.engine) as conn:
            client_id, client_secret = qbo_sandbox.issuer.ensure_client(conn, utcnow())
        base = public_base + qbo_sandbox.mount_path
        return OAuthApp(
            client_id,
            client_secret,
            f"{base}/oauth2/v1/authorize",
            f"{base}/oauth2/v1/tokens/bearer",
            base,
        )

    def credentials(
        self, app: OAuthApp, tenant: str, answer: Mapping[str, Any], received_at: datetime
    ) -> dict[str, Any]:
        app_keys = {
            "realm_id": tenant,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "token_url": app.token_url,
        }
        return stored_credentials(app_keys, answer, received_at)


def sandbox_credentials(issued: Mapping[str, str], received_at: datetime) -> dict[str, Any]:
    """A sandbox realm's issued tokens, stored as the connect flow would store them."""
    app_keys = {key: issued[key] for key in ("realm_id", "client_id", "client_secret")}
    return stored_credentials(app_keys, issued, received_at)
