"""Connecting a QuickBooks Online company through OAuth 2.0 (authorization code).

`GET /connections/qbo/authorize?redirect_uri=...` (with the API key) answers a redirect to
the provider's consent page; after consent the provider sends the browser to
`/connections/qbo/callback`, which exchanges the code, stores the tokens and `realmId` as a
new connection, and sends the browser on to `redirect_uri?connection_id=conn_...` (or
`?error=...`). The `state` parameter is the encrypted, 10-minute request itself, so the
callback needs no session and cannot be replayed with someone else's redirect.

With `LEDGERBRIDGE_QBO_CLIENT_ID` unset, the flow goes to this server's QuickBooks Online
sandbox, so it works end to end with no Intuit account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

import httpx
import structlog
from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.deps import CipherDep, EngineDep, SettingsDep, require_api_key
from ledgerbridge.api.errors import ApiError
from ledgerbridge.api.routes.connections import sync_frequency_seconds
from ledgerbridge.config import Settings
from ledgerbridge.connections import DEFAULT_SYNC_FREQUENCY_S, create_connection
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.errors import ConfigurationError
from ledgerbridge.providers.catalog import PROVIDERS
from ledgerbridge.providers.qbo.oauth import stored_credentials
from ledgerbridge.sandbox.base import SandboxContext

router = APIRouter(tags=["connections"])

SCOPE = "com.intuit.quickbooks.accounting"
STATE_TTL_S = 600


@dataclass(frozen=True)
class _App:
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_url: str


def _public_base(request: Request, settings: Settings) -> str:
    """Where browsers reach this server: `LEDGERBRIDGE_PUBLIC_URL`, else the URL the
    request came in on."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _qbo_app(settings: Settings, sandbox: SandboxContext, public_base: str) -> _App:
    """Your Intuit app when configured, else the local sandbox's app."""
    if settings.qbo_client_id:
        return _App(
            settings.qbo_client_id,
            settings.qbo_client_secret,
            settings.qbo_authorize_url,
            settings.qbo_token_url,
            settings.qbo_api_url,
        )
    from ledgerbridge.providers.qbo.sandbox import provider

    with write_transaction(sandbox.engine) as conn:
        client_id, client_secret = provider.issuer.ensure_client(conn, utcnow())
    base = public_base + PROVIDERS["qbo"].sandbox_path
    return _App(
        client_id,
        client_secret,
        f"{base}/oauth2/v1/authorize",
        f"{base}/oauth2/v1/tokens/bearer",
        base,
    )


def _callback_url(public_base: str) -> str:
    return f"{public_base}/connections/qbo/callback"


@router.get(
    "/connections/qbo/authorize",
    dependencies=[Depends(require_api_key)],
    status_code=307,
    summary="Start connecting a QuickBooks Online company (redirects to the consent page)",
)
async def authorize(
    request: Request,
    settings: SettingsDep,
    cipher: CipherDep,
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
    public_base = _public_base(request, settings)
    app = await to_thread.run_sync(_qbo_app, settings, request.app.state.sandbox, public_base)
    state = cipher.encrypt(
        {"redirect_uri": redirect_uri, "sync_frequency_s": frequency, "n": secrets.token_hex(8)}
    )
    query = urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": _callback_url(public_base),
            "state": state,
        }
    )
    return RedirectResponse(f"{app.authorize_url}?{query}", status_code=307)


def _back(redirect_uri: str, **params: str) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=303)


@router.get(
    "/connections/qbo/callback",
    status_code=303,
    summary="Where QuickBooks Online sends the browser back (creates the connection)",
)
async def callback(
    request: Request,
    settings: SettingsDep,
    cipher: CipherDep,
    engine: EngineDep,
    state: str = "",
    code: str = "",
    realmId: str = "",
    error: str = "",
) -> Response:
    structlog.contextvars.bind_contextvars(provider="qbo")  # its token request is logged
    try:
        request_state = cipher.decrypt(state, ttl=STATE_TTL_S)
    except (ConfigurationError, ValueError):
        raise ApiError(
            400, "invalid_state", "The authorisation request is unknown or older than 10 minutes."
        ) from None
    redirect_uri = str(request_state["redirect_uri"])
    if error or not code or not realmId:
        return _back(redirect_uri, error=error or "missing code or realmId")
    public_base = _public_base(request, settings)
    app = await to_thread.run_sync(_qbo_app, settings, request.app.state.sandbox, public_base)
    http: httpx.AsyncClient = request.app.state.sync.env.http
    try:
        answer = await http.post(
            app.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": _callback_url(public_base),
            },
            auth=(app.client_id, app.client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.TransportError as exc:
        return _back(redirect_uri, error=f"token endpoint unreachable: {exc}")
    if answer.status_code != 200:
        return _back(redirect_uri, error=f"token exchange refused: {answer.text[:200]}")
    credentials = stored_credentials(
        {
            "realm_id": realmId,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "token_url": app.token_url,
        },
        answer.json(),
        utcnow(),
    )

    def store() -> str:
        with write_transaction(engine) as conn:
            return create_connection(
                conn,
                cipher,
                provider="qbo",
                base_url=app.api_url,
                credentials=credentials,
                sync_frequency_s=int(request_state["sync_frequency_s"]),
                now=utcnow(),
            ).id

    connection_id = await to_thread.run_sync(store)
    request.app.state.sync.scheduler.wake()
    return _back(redirect_uri, connection_id=connection_id)
