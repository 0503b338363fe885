"""Connecting a company through the platform's OAuth 2.0 flow (authorization code), for
every platform whose plugin has an `oauth` hook (QuickBooks Online).

`GET /connections/{provider}/authorize?redirect_uri=...` (with the API key) answers a
redirect to the platform's consent page; after consent the platform sends the browser to
`/connections/{provider}/callback`, which exchanges the code, stores the tokens and the
company id as a new connection, and sends the browser on to
`redirect_uri?connection_id=conn_...` (or `?error=...`). The `state` parameter is the
encrypted, 10-minute request itself, so the callback needs no session and cannot be
replayed with someone else's redirect.

With no app configured (for QuickBooks Online, `LEDGERBRIDGE_QBO_CLIENT_ID` unset), the
flow goes to this server's sandbox of the platform, so it works end to end with no account.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

import httpx
import structlog
from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.deps import (
    CipherDep,
    EngineDep,
    SandboxDep,
    SettingsDep,
    SyncDep,
    require_api_key,
)
from ledgerbridge.api.errors import ApiError
from ledgerbridge.config import Settings
from ledgerbridge.connections import (
    DEFAULT_SYNC_FREQUENCY_S,
    create_connection,
    sync_frequency_seconds,
)
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.errors import ConfigurationError
from ledgerbridge.providers.plugin import OAuthConnect
from ledgerbridge.providers.registry import PLATFORMS, get_platform

router = APIRouter(tags=["connections"])

STATE_TTL_S = 600

ProviderPath = Annotated[str, Path(description="A platform with an OAuth connect flow.")]


def _oauth(provider: str) -> OAuthConnect:
    platform = PLATFORMS.get(provider)
    if platform is None or platform.oauth is None:
        raise ApiError(404, "not_found", f"No OAuth connect flow for provider {provider!r}.")
    return platform.oauth


def _public_base(request: Request, settings: Settings) -> str:
    """Where browsers reach this server: `LEDGERBRIDGE_PUBLIC_URL`, else the URL the
    request came in on."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _callback_url(public_base: str, provider: str) -> str:
    return f"{public_base}/connections/{provider}/callback"


@router.get(
    "/connections/{provider}/authorize",
    dependencies=[Depends(require_api_key)],
    status_code=307,
    summary="Start connecting a company through OAuth (redirects to the consent page)",
)
async def authorize(
    request: Request,
    provider: ProviderPath,
    settings: SettingsDep,
    cipher: CipherDep,
    sandbox: SandboxDep,
    redirect_uri: Annotated[
        str, Query(pattern=r"^https?://\S+$", max_length=2000, description="Where to go after.")
    ],
    sync_frequency: Annotated[str, Query(description="e.g. `1h`, `15m`, seconds.")] = str(
        DEFAULT_SYNC_FREQUENCY_S
    ),
) -> Response:
    try:
        frequency = sync_frequency_seconds(sync_frequency)
    except ValueError as exc:
        raise ApiError(400, "invalid_query_params", f"sync_frequency: {exc}") from None
    oauth = _oauth(provider)
    public_base = _public_base(request, settings)
    app = await to_thread.run_sync(oauth.app, settings, sandbox, public_base)
    state = cipher.encrypt(
        {"redirect_uri": redirect_uri, "sync_frequency_s": frequency, "n": secrets.token_hex(8)}
    )
    query = urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": oauth.scope,
            "redirect_uri": _callback_url(public_base, provider),
            "state": state,
        }
    )
    return RedirectResponse(f"{app.authorize_url}?{query}", status_code=307)


def _back(redirect_uri: str, **params: str) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=303)


@router.get(
    "/connections/{provider}/callback",
    status_code=303,
    summary="Where the platform sends the browser back (creates the connection)",
)
async def callback(
    request: Request,
    provider: ProviderPath,
    settings: SettingsDep,
    cipher: CipherDep,
    engine: EngineDep,
    sandbox: SandboxDep,
    sync: SyncDep,
    state: str = "",
    code: str = "",
    error: str = "",
) -> Response:
    oauth = _oauth(provider)
    tenant = request.query_params.get(oauth.tenant_param, "")
    structlog.contextvars.bind_contextvars(provider=provider)  # its token request is logged
    try:
        request_state = cipher.decrypt(state, ttl=STATE_TTL_S)
    except (ConfigurationError, ValueError):
        raise ApiError(
            400, "invalid_state", "The authorisation request is unknown or older than 10 minutes."
        ) from None
    redirect_uri = str(request_state["redirect_uri"])
    if error or not code or not tenant:
        return _back(redirect_uri, error=error or f"missing code or {oauth.tenant_param}")
    public_base = _public_base(request, settings)
    app = await to_thread.run_sync(oauth.app, settings, sandbox, public_base)
    http = sync.env.http
    try:
        answer = await http.post(
            app.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": _callback_url(public_base, provider),
            },
            auth=(app.client_id, app.client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.TransportError as exc:
        return _back(redirect_uri, error=f"token endpoint unreachable: {exc}")
    if answer.status_code != 200:
        return _back(redirect_uri, error=f"token exchange refused: {answer.text[:200]}")
    credentials = oauth.credentials(app, tenant, answer.json(), utcnow())

    def store() -> str:
        with write_transaction(engine) as conn:
            return create_connection(
                conn,
                cipher,
                provider=provider,
                base_url=app.api_url,
                credentials=credentials,
                sync_frequency_s=int(request_state["sync_frequency_s"]),
                now=utcnow(),
                remote_account_id=get_platform(provider).remote_account_id(credentials),
            ).id

    connection_id = await to_thread.run_sync(store)
    sync.scheduler.wake()
    return _back(redirect_uri, connection_id=connection_id)
