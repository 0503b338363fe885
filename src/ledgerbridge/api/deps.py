"""Dependencies shared by the routes: the database, the credential cipher, the sync
service, the sandbox context, the caller (API key, environment, scopes) and the connection
a request names (`Connection-Id` header or path), in the caller's environment. Routes
reach process state only through these.

A dependency that only reads process state or the request is `async def`: FastAPI runs a
plain `def` dependency in its thread pool, one hop between threads for each (GET /customers
had six a request, four of them for getters like these). Those that read the database stay
plain functions, so their queries never block the event loop."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.engine import Engine

from ledgerbridge.api.errors import ApiError
from ledgerbridge.config import Settings
from ledgerbridge.connections import ConnectionInfo, get_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.environments import DEFAULT_ENVIRONMENT, require_environment
from ledgerbridge.errors import NotFoundError
from ledgerbridge.keys import GRANTS, Scope, find_api_key, touch_api_key
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.worker import SyncService


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.databases.main
    return engine


async def get_cipher(request: Request) -> CredentialCipher:
    cipher: CredentialCipher = request.app.state.cipher
    return cipher


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sync_service(request: Request) -> SyncService:
    """The process's sync service (its HTTP client, environment and scheduler)."""
    service: SyncService = request.app.state.sync
    return service


async def get_sandbox_context(request: Request) -> SandboxContext:
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
    description="An API key of one environment (`ledgerbridge keys create --environment "
    "NAME --scope read|full`), or the operator key LEDGERBRIDGE_API_KEY. The scopes an "
    "operation lists are those the key needs: `full` for writes, `operator` for environments.",
)

ENVIRONMENT_HEADER = "Ledgerbridge-Environment"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key (None: the operator key), its environment and scopes."""

    key_id: int | None
    environment: str
    scopes: frozenset[Scope]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _operator(engine: Engine, environment: str | None) -> Caller:
    name = environment or DEFAULT_ENVIRONMENT
    with read_transaction(engine) as conn:
        try:
            require_environment(conn, name)
        except NotFoundError as exc:
            raise ApiError(404, "unknown_environment", f"{exc}.") from None
    return Caller(key_id=None, environment=name, scopes=GRANTS[Scope.OPERATOR])


def _authenticate(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    environment: Annotated[
        str | None,
        Header(
            alias=ENVIRONMENT_HEADER,
            description="Operator key only: the environment to act in (default `dev`). "
            "Other keys act in their own environment; naming another is a 400.",
            max_length=64,
        ),
    ] = None,
) -> Caller:
    """The caller of this request, looked up once per request (one indexed read by the
    key's hash; `last_used_at` written at most once a minute, see `keys.py`)."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    key = bearer.credentials.strip() if bearer is not None else ""
    if not key:
        raise _unauthorized("Send your API key as `Authorization: Bearer <key>`.")
    caller = caller_of_key(engine, settings, key, environment)
    if caller is None:
        raise _unauthorized(
            "The API key is not valid (or was revoked). Create one with `ledgerbridge keys create`."
        )
    request.state.caller = caller
    return caller


def caller_of_key(
    engine: Engine, settings: Settings, key: str, environment: str | None
) -> Caller | None:
    """Who `key` is (None: no such key): the operator key in `environment` (default
    `dev`; an unknown one is a 404), or a stored key in its own environment (naming
    another is a 400). The API's bearer check and the dashboard's session both ask this."""
    if settings.api_key and secrets.compare_digest(key.encode(), settings.api_key.encode()):
        return _operator(engine, environment)
    now = utcnow()
    with read_transaction(engine) as conn:
        grant = find_api_key(conn, key, now=now)
    if grant is None:
        return None
    if environment is not None and environment != grant.environment:
        raise ApiError(
            400,
            "invalid_headers",
            f"This key belongs to environment {grant.environment!r}; only the operator "
            f"key chooses its environment with `{ENVIRONMENT_HEADER}`.",
            [{"field": ENVIRONMENT_HEADER, "message": "not this key's environment"}],
        )
    if grant.last_used_stale:
        with write_transaction(engine) as conn:
            touch_api_key(conn, grant.key_id, now=now)
    return Caller(grant.key_id, grant.environment, GRANTS[grant.scope])


async def require_caller(
    security_scopes: SecurityScopes, caller: Annotated[Caller, Depends(_authenticate)]
) -> Caller:
    """Every unified endpoint needs `Authorization: Bearer <api key>` (declared as the
    OpenAPI `bearer` security scheme, with the scopes the operation needs; a missing key
    is our 401, a missing scope our 403)."""
    return _with_scopes(security_scopes, caller)


def _with_scopes(security_scopes: SecurityScopes, caller: Caller) -> Caller:
    """The caller, if its key has every scope the operation needs (else our 403)."""
    missing = [scope for scope in security_scopes.scopes if scope not in caller.scopes]
    if missing:
        raise ApiError(
            403,
            "forbidden",
            f"This key's scope does not allow this: it needs {', '.join(missing)}"
            + (" (the operator key, LEDGERBRIDGE_API_KEY)." if Scope.OPERATOR in missing else "."),
        )
    return caller


def caller_or_connect_session(
    security_scopes: SecurityScopes,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller | None:
    """The caller, or None when the request carries no key but a `connect_session_token`
    (an end user's browser starting a connect flow; the route checks the token)."""
    if bearer is None and request.query_params.get("connect_session_token"):
        return None
    environment = request.headers.get(ENVIRONMENT_HEADER)
    caller = _authenticate(request, engine, settings, bearer, environment)
    return _with_scopes(security_scopes, caller)


CallerDep = Annotated[Caller, Depends(require_caller)]
WriterDep = Annotated[Caller, Security(require_caller, scopes=[Scope.FULL])]
OperatorDep = Annotated[Caller, Security(require_caller, scopes=[Scope.OPERATOR])]
WRITE = Security(require_caller, scopes=[Scope.FULL])
"""For `dependencies=[WRITE]` of routes that change something."""


def _unknown_connection(connection_id: str) -> ApiError:
    return ApiError(
        404,
        "unknown_connection",
        f"No connection {connection_id!r}. List them with `GET /connections`.",
    )


def _own_connection(engine: Engine, caller: Caller, connection_id: str) -> ConnectionInfo:
    """The connection if it is in the caller's environment; another environment's is a
    404 exactly like a missing one."""
    with read_transaction(engine) as conn:
        try:
            return get_connection(conn, connection_id, environment=caller.environment)
        except NotFoundError:
            raise _unknown_connection(connection_id) from None


def require_connection(
    engine: EngineDep,
    caller: CallerDep,
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
    return _own_connection(engine, caller, connection_id)


def require_path_connection(
    engine: EngineDep,
    caller: CallerDep,
    connection_id: Annotated[str, Path(description="A connection id (`conn_...`).")],
) -> ConnectionInfo:
    return _own_connection(engine, caller, connection_id)


ConnectionDep = Annotated[ConnectionInfo, Depends(require_connection)]
PathConnectionDep = Annotated[ConnectionInfo, Depends(require_path_connection)]
"""The connection named by the path, in the caller's environment."""


async def caller_environment(caller: CallerDep) -> str:
    """The environment the caller's requests act in (its key's; the operator's header)."""
    return caller.environment


CallerEnvironment = Annotated[str, Depends(caller_environment)]
