"""Intuit-style OAuth 2.0 for the sandbox: discovery document, approval page, token
endpoint (authorization_code and refresh_token grants, client authentication by HTTP Basic
or in the form body, rotating refresh tokens), revocation and userinfo."""

from __future__ import annotations

import asyncio
import base64
import html
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.json import json_response
from ledgerbridge.providers.qbo.sandbox.realms import (
    PROVIDER,
    default_settings,
    realm_settings,
)
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.oauth import STRICT, OAuthError, RefreshRotation, TokenIssuer, TokenPair
from ledgerbridge.threads import in_thread


def token_body(pair: TokenPair) -> dict[str, Any]:
    """The bearer-token response Intuit sends."""
    return {
        "token_type": "bearer",
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "x_refresh_token_expires_in": pair.refresh_expires_in,
    }


def _lifetime(context: SandboxContext) -> Any:
    def lifetime(realm_id: str) -> int:
        with read_transaction(context.engine) as connection:
            settings = tenants.get_tenant(connection, PROVIDER, realm_id)
        return (settings or default_settings()).token_lifetime_s

    return lifetime


def _latency_ms(context: SandboxContext, realm_id: str) -> int:
    with read_transaction(context.engine) as connection:
        settings = tenants.get_tenant(connection, PROVIDER, realm_id)
    return (settings or default_settings()).latency_ms


def rotation_of(settings: tenants.TenantSettings) -> RefreshRotation:
    """The realm's refresh-token rotation: Intuit's documented one (the same refresh token
    for 24 hours, a replaced one valid 24 hours more; see sandbox/oauth.py for the
    evidence), or strictly single-use when the realm's knob says so."""
    if settings.refresh_token_single_use:
        return STRICT
    return RefreshRotation(
        period=timedelta(seconds=settings.refresh_token_rotation_s),
        grace=timedelta(seconds=settings.refresh_token_grace_s),
    )


def _rotation(context: SandboxContext) -> Callable[[str], RefreshRotation]:
    def rotation(realm_id: str) -> RefreshRotation:
        with read_transaction(context.engine) as connection:
            settings = tenants.get_tenant(connection, PROVIDER, realm_id)
        return rotation_of(settings or default_settings())

    return rotation


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    """The client's id and secret by either method Intuit's discovery document lists
    (`token_endpoint_auth_methods_supported: ["client_secret_post",
    "client_secret_basic"]`): HTTP Basic first, else `client_id` and `client_secret` in the
    form body, as widely used open-source connectors send them."""
    basic = _basic(request)
    if basic is not None:
        return basic
    if form.get("client_id") and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (parsed here: python-multipart is not a dependency)."""
    pairs = parse_qsl((await request.body()).decode("utf-8", errors="replace"))
    return dict(pairs)


def _oauth_error(error: OAuthError) -> Response:
    status = 401 if error.error == "invalid_client" else 400
    return json_response({"error": error.error, "error_description": error.description}, status)


def oauth_router(context: SandboxContext, issuer: TokenIssuer) -> APIRouter:
    router = APIRouter()

    @router.get("/.well-known/openid_configuration")
    def discovery(request: Request) -> Response:
        """Built from the request's own base URL, so it is right on any host and port."""
        # The document's own URL minus its path: right behind any mount, host and port.
        base = str(request.url.replace(query="")).rsplit("/.well-known/", 1)[0]
        return json_response(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/oauth2/v1/authorize",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
                "jwks_uri": f"{base}/oauth2/v1/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": [
                    "openid",
                    "email",
                    "profile",
                    "com.intuit.quickbooks.accounting",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )

    @router.get("/oauth2/v1/keys")
    def keys() -> Response:
        return json_response({"keys": []})

    @router.get("/oauth2/v1/authorize")
    def authorize_page(request: Request) -> Response:
        """The approval page: shows the app and the realm being connected, posts back to
        approve (Connect) or deny (Deny)."""
        params = request.query_params
        realm_id = params.get("realmId") or str(secrets.randbelow(9 * 10**15) + 10**15)
        fields = {
            "client_id": params.get("client_id", ""),
            "redirect_uri": params.get("redirect_uri", ""),
            "state": params.get("state", ""),
            "scope": params.get("scope", ""),
        }
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        page = (
            "<!doctype html><title>Connect to QuickBooks (sandbox)</title>"
            "<h1>Connect your app to QuickBooks Online (ledgerbridge sandbox)</h1>"
            f"<p>App <code>{html.escape(fields['client_id'])}</code> asks for "
            f"<code>{html.escape(fields['scope'])}</code>.</p>"
            f'<p>Company being connected: <strong id="realm">{html.escape(realm_id)}</strong>'
            "</p>"
            '<form method="post">'
            f'{hidden}<label>Company (realm id) <input name="realmId" '
            f'value="{html.escape(realm_id)}"></label> '
            '<button type="submit" value="approve" name="decision">Connect</button> '
            '<button type="submit" value="deny" name="decision">Deny</button>'
            "</form>"
        )
        return HTMLResponse(page)

    @router.post("/oauth2/v1/authorize")
    async def approve(request: Request) -> Response:
        form = await _form(request)
        client_id = str(form.get("client_id", ""))
        redirect_uri = str(form.get("redirect_uri", ""))
        realm_id = str(form.get("realmId", ""))
        if redirect_uri and form.get("decision") == "deny":
            # RFC 6749 section 4.1.2.1, as Intuit does: the browser goes back to the app
            # with `error=access_denied` and the app's `state`, no code and no realm.
            return _redirect_back(
                redirect_uri, {"error": "access_denied", "state": str(form.get("state", ""))}
            )
        if not redirect_uri or not realm_id.isdigit():
            return json_response(
                {
                    "error": "invalid_request",
                    "error_description": "redirect_uri and a numeric realmId are required",
                },
                400,
            )

        def issue() -> str:
            if realm_settings(context, realm_id) is None:
                # Intuit's consent page only offers companies the user has; a sandbox
                # company is made by `ledgerbridge sandbox create` or `seed` first.
                raise OAuthError(
                    "invalid_request",
                    f"No QuickBooks company {realm_id} in this sandbox; create it first "
                    f"(ledgerbridge sandbox create --provider qbo --tenant {realm_id}).",
                )
            with write_transaction(context.engine) as connection:
                known = issuer.ensure_client(connection, context.clock())
                if client_id != known[0]:
                    raise OAuthError("invalid_client", "Unknown client_id.")
                return issuer.issue_code(
                    connection,
                    tenant_id=realm_id,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    now=context.clock(),
                )

        try:
            code = await in_thread(issue)
        except OAuthError as exc:
            return _oauth_error(exc)
        return _redirect_back(
            redirect_uri, {"code": code, "state": str(form.get("state", "")), "realmId": realm_id}
        )

    @router.post("/oauth2/v1/tokens/bearer")
    async def token(request: Request) -> Response:
        form = await _form(request)
        credentials = _client_credentials(request, form)
        if credentials is None:
            return _oauth_error(
                OAuthError(
                    "invalid_client",
                    "Client authentication required: HTTP Basic, or client_id and "
                    "client_secret in the form body.",
                )
            )
        client_id, secret = credentials
        grant = str(form.get("grant_type", ""))

        def exchange() -> TokenPair:
            with write_transaction(context.engine) as connection:
                issuer.authenticate_client(connection, client_id, secret)
                if grant == "authorization_code":
                    return issuer.exchange_code(
                        connection,
                        code=str(form.get("code", "")),
                        client_id=client_id,
                        redirect_uri=str(form["redirect_uri"]) if "redirect_uri" in form else None,
                        lifetime_s=_lifetime(context),
                        now=context.clock(),
                    )
                if grant == "refresh_token":
                    return issuer.refresh(
                        connection,
                        refresh_token=str(form.get("refresh_token", "")),
                        client_id=client_id,
                        lifetime_s=_lifetime(context),
                        now=context.clock(),
                        rotation=_rotation(context),
                    )
                raise OAuthError(
                    "unsupported_grant_type", f"grant_type {grant!r} is not supported."
                )

        try:
            pair = await in_thread(exchange)
        except OAuthError as exc:
            return _oauth_error(exc)
        # The realm's latency knob slows the token answer too, after the rotation is done:
        # the window in which a client holds nothing yet and the old token may be spent.
        latency_ms = await in_thread(_latency_ms, context, pair.tenant_id)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        return json_response(token_body(pair))

    @router.post("/oauth2/v1/tokens/revoke")
    async def revoke(request: Request) -> Response:
        raw = await request.body()
        token_value = ""
        try:
            token_value = str(orjson.loads(raw).get("token", ""))
        except (orjson.JSONDecodeError, AttributeError):
            token_value = (await _form(request)).get("token", "")

        def forget() -> None:
            with write_transaction(context.engine) as connection:
                issuer.revoke(connection, token_value, context.clock())

        await in_thread(forget)
        return Response(status_code=200)

    @router.get("/v1/openid_connect/userinfo")
    def userinfo() -> Response:
        return json_response({"sub": "sandbox-user", "email": "sandbox@example.com"})

    return router


def _redirect_back(redirect_uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)
