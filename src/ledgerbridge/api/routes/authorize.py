"""Connecting a company through the platform's OAuth 2.0 flow (authorization code), for
every platform whose plugin has an `oauth` hook (QuickBooks Online).

`GET /connections/{provider}/authorize?redirect_uri=...` answers a redirect to the
platform's consent page; it is started either by the app's backend with a `full` API key,
or by an end user's browser with `?connect_session_token=` alone (`connect_sessions.py`:
single-use, short-lived, bound to its environment). After consent the platform sends the
browser to `/connections/{provider}/callback`, which exchanges the code and stores the
grant (`connect_flow.py`: re-authorises `?connection_id=` keeping its id, records and
checkpoint; updates the environment's connection of the same company instead of making a
twin unless `allow_duplicate=true`; else makes a connection), then sends the browser on to
`redirect_uri?connection_id=conn_...` (or `?error=...`; the platform's own `error`, e.g.
`access_denied` when the user denies, is passed on). The `state` parameter is the
encrypted, 10-minute request itself, so the callback needs no session and cannot be
replayed with someone else's redirect.

With no app configured (for QuickBooks Online, `LEDGERBRIDGE_QBO_CLIENT_ID` unset), the
flow goes to this server's sandbox of the platform, so it works end to end with no account.
"""

from __future__ import annotations

import html
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import structlog
from fastapi import APIRouter, Path, Query, Request, Security
from sqlalchemy.engine import Engine
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ledgerbridge.api.deps import (
    Caller,
    CipherDep,
    EngineDep,
    SandboxDep,
    SettingsDep,
    SyncDep,
    caller_or_connect_session,
)
from ledgerbridge.api.errors import ApiError
from ledgerbridge.config import Settings
from ledgerbridge.connect_flow import ConnectRefusal, Grant, store_grant
from ledgerbridge.connect_sessions import ConnectSessionError, redeem_session
from ledgerbridge.connections import (
    DEFAULT_SYNC_FREQUENCY_S,
    get_connection,
    sync_frequency_seconds,
)
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.errors import ConfigurationError, NotFoundError
from ledgerbridge.keys import Scope
from ledgerbridge.providers.plugin import OAuthConnect
from ledgerbridge.providers.registry import PLATFORMS, get_platform
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.threads import in_thread

router = APIRouter(tags=["connections"])

STATE_TTL_S = 600

ProviderPath = Annotated[str, Path(description="A platform with an OAuth connect flow.")]
StarterDep = Annotated[Caller | None, Security(caller_or_connect_session, scopes=[Scope.FULL])]


def _oauth(provider: str) -> OAuthConnect:
    platform = PLATFORMS.get(provider)
    if platform is None or platform.oauth is None:
        raise ApiError(404, "not_found", f"No OAuth connect flow for provider {provider!r}.")
    return platform.oauth


def public_base(request: Request, settings: Settings) -> str:
    """Where browsers reach this server: `LEDGERBRIDGE_PUBLIC_URL`, else the URL the
    request came in on."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _callback_url(base: str, provider: str) -> str:
    return f"{base}/connections/{provider}/callback"


def _flow_from_session(
    engine: Engine, token: str, provider: str, redirect_uri: str | None
) -> dict[str, Any] | Response:
    """The flow a connect session starts (its environment, end user, tags and redirect),
    or the answer refusing a spent, expired or unknown token."""
    try:
        with write_transaction(engine) as conn:
            session = redeem_session(conn, token, provider=provider, now=utcnow())
    except ConnectSessionError as exc:
        if exc.session is not None and exc.session.redirect_uri:
            return _back(exc.session.redirect_uri, error=exc.code, error_description=str(exc))
        raise ApiError(400, exc.code, str(exc)) from None
    return {
        "environment": session.environment,
        "redirect_uri": session.redirect_uri or redirect_uri or "",
        "end_user_id": session.end_user_id,
        "metadata": session.metadata,
    }


def flow_from_caller(
    engine: Engine, caller: Caller, provider: str, connection_id: str | None, allow_duplicate: bool
) -> dict[str, Any]:
    """The flow the app's backend starts; a re-authorisation names a connection of its
    environment (another environment's is a 404 like a missing one)."""
    if connection_id is not None:
        with read_transaction(engine) as conn:
            try:
                target = get_connection(conn, connection_id, environment=caller.environment)
            except NotFoundError:
                target = None
        if target is None or target.provider != provider:
            raise ApiError(
                404,
                "unknown_connection",
                f"No {provider} connection {connection_id!r}. List them with `GET /connections`.",
            )
    return {
        "environment": caller.environment,
        "connection_id": connection_id,
        "allow_duplicate": allow_duplicate,
    }


@router.get(
    "/connections/{provider}/authorize",
    status_code=307,
    summary="Start connecting (or re-authorising) a company through OAuth",
    description="With a `full` API key, or with `connect_session_token` alone (no key) from "
    "an end user's browser. Redirects to the platform's consent page.",
    responses={303: {"description": "A refused connect session, back to its redirect."}},
)
async def authorize(
    request: Request,
    provider: ProviderPath,
    settings: SettingsDep,
    cipher: CipherDep,
    sandbox: SandboxDep,
    engine: EngineDep,
    caller: StarterDep,
    redirect_uri: Annotated[
        str | None,
        Query(
            pattern=r"^https?://\S+$",
            max_length=2000,
            description="Where to go after (required with an API key; a connect session's "
            "own redirect wins).",
        ),
    ] = None,
    sync_frequency: Annotated[str, Query(description="e.g. `1h`, `15m`, seconds.")] = str(
        DEFAULT_SYNC_FREQUENCY_S
    ),
    connection_id: Annotated[
        str | None,
        Query(max_length=64, description="Re-authorise this connection (same id and records)."),
    ] = None,
    allow_duplicate: Annotated[
        bool,
        Query(description="Make a new connection even if the company is connected already."),
    ] = False,
    connect_session_token: Annotated[
        str | None,
        Query(max_length=200, description="A connect session's token, instead of a key."),
    ] = None,
) -> Response:
    try:
        frequency = sync_frequency_seconds(sync_frequency)
    except ValueError as exc:
        raise ApiError(400, "invalid_query_params", f"sync_frequency: {exc}") from None
    _oauth(provider)  # no flow for this provider: a 404 before a connect session is spent
    if caller is None:
        assert connect_session_token is not None  # the dependency let no key through only so
        flow = await in_thread(
            _flow_from_session, engine, connect_session_token, provider, redirect_uri
        )
        if isinstance(flow, Response):
            return flow
    else:
        if redirect_uri is None:
            raise ApiError(
                400,
                "invalid_query_params",
                "redirect_uri is required when the flow is started with an API key.",
                [{"field": "redirect_uri", "message": "required"}],
            )
        flow = await in_thread(
            flow_from_caller, engine, caller, provider, connection_id, allow_duplicate
        )
        flow["redirect_uri"] = redirect_uri
    return await consent_redirect(request, settings, sandbox, cipher, provider, flow, frequency)


async def consent_redirect(
    request: Request,
    settings: Settings,
    sandbox: SandboxContext,
    cipher: CredentialCipher,
    provider: str,
    flow: dict[str, Any],
    sync_frequency_s: int,
) -> Response:
    """The redirect to the platform's consent page for `flow` (its environment, redirect
    and target); the API's authorize route and the dashboard's re-authorise button both
    answer it."""
    oauth = _oauth(provider)
    base = public_base(request, settings)
    app = await in_thread(oauth.app, settings, sandbox, base)
    state = cipher.encrypt(
        {**flow, "sync_frequency_s": sync_frequency_s, "n": secrets.token_hex(8)}
    )
    query = urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": oauth.scope,
            "redirect_uri": _callback_url(base, provider),
            "state": state,
        }
    )
    return RedirectResponse(f"{app.authorize_url}?{query}", status_code=307)


def _page(status: int, title: str, message: str, code: str) -> Response:
    """What a browser with no app to return to is shown."""
    body = (
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f'<p>{html.escape(message)}</p><p><code id="code">{html.escape(code)}</code></p>'
    )
    return HTMLResponse(body, status_code=status)


def _back(redirect_uri: str, **params: str) -> Response:
    if not redirect_uri:  # a connect session without a redirect: the browser stays here
        if "connection_id" in params:
            return _page(200, "Connected", "You can close this window.", params["connection_id"])
        return _page(200, "Not connected", params.get("error_description", ""), params["error"])
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=303)


@router.get(
    "/connections/{provider}/callback",
    status_code=303,
    summary="Where the platform sends the browser back (stores the connection)",
    responses={
        200: {
            "description": "The outcome, for a connect session with no redirect (a page).",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
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
        flow = cipher.decrypt(state, ttl=STATE_TTL_S)
    except (ConfigurationError, ValueError):
        raise ApiError(
            400, "invalid_state", "The authorisation request is unknown or older than 10 minutes."
        ) from None
    redirect_uri = str(flow["redirect_uri"])
    if error or not code or not tenant:
        return _back(redirect_uri, error=error or f"missing code or {oauth.tenant_param}")
    base = public_base(request, settings)
    app = await in_thread(oauth.app, settings, sandbox, base)
    try:
        answer = await sync.env.http.post(
            app.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": _callback_url(base, provider),
            },
            auth=(app.client_id, app.client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.TransportError as exc:
        return _back(redirect_uri, error=f"token endpoint unreachable: {exc}")
    if answer.status_code != 200:
        return _back(redirect_uri, error=f"token exchange refused: {answer.text[:200]}")
    credentials = oauth.credentials(app, tenant, answer.json(), utcnow())
    grant = Grant(
        environment=str(flow["environment"]),
        provider=provider,
        base_url=app.api_url,
        credentials=credentials,
        remote_account_id=get_platform(provider).remote_account_id(credentials),
        sync_frequency_s=int(flow["sync_frequency_s"]),
        target_id=flow.get("connection_id"),
        allow_duplicate=bool(flow.get("allow_duplicate", False)),
        end_user_id=flow.get("end_user_id"),
        metadata=flow.get("metadata") or {},
    )

    def store() -> str:
        with write_transaction(engine) as conn:
            return store_grant(conn, cipher, grant, now=utcnow()).id

    try:
        connection_id = await in_thread(store)
    except ConnectRefusal as exc:
        return _back(redirect_uri, error=exc.code, error_description=str(exc))
    sync.scheduler.wake()
    return _back(redirect_uri, connection_id=connection_id)
