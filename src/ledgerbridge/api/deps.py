"""Dependencies shared by the routes: the database, the credential cipher, the sync
service, the sandbox context, API-key auth and the `Connection-Id` header. Routes reach
process state only through these."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from ledgerbridge.api.errors import ApiError
from ledgerbridge.config import Settings
from ledgerbridge.connections import ConnectionInfo, get_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction
from ledgerbridge.environments import DEFAULT_ENVIRONMENT
from ledgerbridge.errors import NotFoundError
from ledgerbridge.keys import is_valid_api_key
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.worker import SyncService


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.databases.main
    return engine


def get_cipher(request: Request) -> CredentialCipher:
    cipher: CredentialCipher = request.app.state.cipher
    return cipher


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_sync_service(request: Request) -> SyncService:
    """The process's sync service (its HTTP client, environment and scheduler)."""
    service: SyncService = request.app.state.sync
    return service


def get_sandbox_context(request: Request) -> SandboxContext:
    context: SandboxContext = request.app.state.sandbox
    return context


EngineDep = Annotated[Engine, Depends(get_engine)]
SyncDep = Annotated[SyncService, Depends(get_sync_service)]
SandboxDep = Annotated[SandboxContext, Depends(get_sandbox_context)]
CipherDep = Annotated[CredentialCipher, Depends(get_cipher)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key: `ledgerbridge keys create`, or LEDGERBRIDGE_API_KEY.",
)


def require_api_key(
    engine: EngineDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """Every unified endpoint needs `Authorization: Bearer <api key>` (declared as the
    OpenAPI `bearer` security scheme; a missing key is our 401, not FastAPI's)."""
    key = bearer.credentials.strip() if bearer is not None else ""
    if not key:
        raise ApiError(
            401,
            "unauthorized",
            "Send your API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if settings.api_key and secrets.compare_digest(key.encode(), settings.api_key.encode()):
        return
    with read_transaction(engine) as conn:
        if is_valid_api_key(conn, key):
            return
    raise ApiError(
        401,
        "unauthorized",
        "The API key is not valid. Create one with `ledgerbridge keys create`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_connection(
    engine: EngineDep,
    connection_id: Annotated[
        str | None,
        Header(alias="Connection-Id", description="The connection whose records to use."),
    ] = None,
) -> ConnectionInfo:
    if not connection_id:
        raise ApiError(
            400,
            "missing_connection_id",
            "Send the `Connection-Id` header with a connection id.",
            [{"field": "Connection-Id", "message": "required header"}],
        )
    with read_transaction(engine) as conn:
        try:
            return get_connection(conn, connection_id)
        except NotFoundError:
            raise ApiError(
                404,
                "unknown_connection",
                f"No connection {connection_id!r}. List them with `GET /connections`.",
            ) from None


ConnectionDep = Annotated[ConnectionInfo, Depends(require_connection)]


def caller_environment() -> str:
    """The environment the caller's requests act in. API keys carry no environment yet,
    so every caller is in the default one; this is the one place that will read it from
    the key."""
    return DEFAULT_ENVIRONMENT


CallerEnvironment = Annotated[str, Depends(caller_environment)]
