"""The sandbox's `POST /oauth2/token`: client credentials (a web services user of one
company, `user@company[|entity]`) and rotating refresh tokens. Access tokens are JWTs."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy.engine import Connection

from ledgerbridge.providers.intacct.sandbox import entities
from ledgerbridge.providers.intacct.wire import INVALID_REQUEST, UNAUTHORIZED, IntacctError
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.oauth import AccessGrant, OAuthError, TokenIssuer, TokenPair

PROVIDER = "intacct"
ISSUER = "https://api.intacct.com/ia/api/v1"
# Tokens are checked by their stored hash, so the signing key only has to make them
# well-formed JWTs; a key per process is enough.
_SIGNING_KEY = OctKey.generate_key(256)


def _new_access_token(tenant_id: str, issued_at: datetime, expires_at: datetime) -> str:
    claims = {
        "iss": ISSUER,
        "cnyId": tenant_id,
        "iat": int(issued_at.timestamp()),  # RFC 7519: the time the token was issued
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(16),
    }
    return jwt.encode({"alg": "HS256"}, claims, _SIGNING_KEY)


issuer = TokenIssuer(PROVIDER, new_access_token=_new_access_token)


def split_username(username: str) -> tuple[str, str, str | None]:
    """`user@company|entity` -> (user, company, entity)."""
    user, at, rest = username.partition("@")
    company, _, entity = rest.partition("|")
    if not at or not user or not company:
        raise IntacctError(
            400,
            "username must look like user@companyId or user@companyId|entityId",
            error_id="REST-1501",
            message_id="IA.INVALID_USERNAME",
        )
    return user, company, entity or None


def signed_in_entity(subject: str) -> str | None:
    """The entity of a token's user (`user@company|entity`); None for the top level."""
    _, _, entity = subject.partition("|")
    return entity or None


def _unauthorized(message: str) -> IntacctError:
    return IntacctError(
        401, message, code=UNAUTHORIZED, error_id="REST-1502", message_id="IA.UNAUTHORIZED"
    )


def token_response(pair: TokenPair) -> dict[str, Any]:
    # sageintacctrestsdk reads exactly these three names and fails without any of them.
    return {
        "token_type": "Bearer",
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
    }


def grant_token(connection: Connection, form: dict[str, str], now: datetime) -> TokenPair:
    """Answer one token request; an envelope error for anything refused."""
    grant_type = form.get("grant_type", "")
    if grant_type not in ("client_credentials", "refresh_token"):
        raise IntacctError(
            400,
            f"grant_type {grant_type!r} is not supported; use client_credentials or refresh_token",
            code=INVALID_REQUEST,
            error_id="REST-1500",
            message_id="IA.UNSUPPORTED_GRANT_TYPE",
        )
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    try:
        issuer.authenticate_client(connection, client_id, secret)
    except OAuthError as exc:
        raise _unauthorized("Invalid client_id or client_secret") from exc

    def lifetime(tenant_id: str) -> int:
        settings = tenants.get_tenant(connection, PROVIDER, tenant_id)
        return settings.token_lifetime_s if settings else 3600

    if grant_type == "refresh_token":
        try:
            return issuer.refresh(
                connection,
                refresh_token=form.get("refresh_token", ""),
                client_id=client_id,
                lifetime_s=lifetime,
                now=now,
            )
        except OAuthError as exc:
            raise _unauthorized("Invalid token: the refresh token is invalid or expired") from exc
    username = form.get("username", "")
    _, company, entity = split_username(username)
    if tenants.get_tenant(connection, PROVIDER, company) is None:
        raise _unauthorized(f"Sign-in failed: company {company!r} or its user is not valid")
    # `user@company|entity` signs in at that entity: its requests run there by default.
    # A single-entity company has no entities to check it against and ignores it.
    if entity is not None and entities.is_multi_entity(connection, company):
        try:
            entities.resolve_scope(connection, company, entity)
        except IntacctError as exc:
            message = f"Sign-in failed: company {company!r} has no entity {entity!r}"
            raise _unauthorized(message) from exc
    return issuer.issue_pair(
        connection,
        tenant_id=company,
        client_id=client_id,
        lifetime_s=lifetime(company),
        now=now,
        subject=username,
    )


def authenticate(connection: Connection, authorization: str | None, now: datetime) -> AccessGrant:
    """The grant of a request's bearer token; 401 envelope when it is missing or dead."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Invalid token: a bearer access token is required")
    try:
        return issuer.verify_access(connection, token.strip(), now)
    except OAuthError as exc:
        raise _unauthorized(f"Invalid token: {exc.description}") from exc
