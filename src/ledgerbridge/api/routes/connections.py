"""`/connections`: the accounts ledgerbridge syncs, in the caller's environment: create,
list (filtered, cursor-paged), read, change (`PATCH`: frequency, pause, tags, credentials)
and delete. Credentials go in and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.responses import Response

from ledgerbridge.api.deps import (
    WRITE,
    CallerDep,
    CipherDep,
    EngineDep,
    PathConnectionDep,
)
from ledgerbridge.api.errors import ApiError
from ledgerbridge.connection_search import (
    ConnectionQuery,
    decode_cursor,
    encode_cursor,
    search_connections,
)
from ledgerbridge.connections import (
    DEFAULT_SYNC_FREQUENCY_S,
    ConnectionChanges,
    ConnectionInfo,
    ConnectionStatus,
    EndUserTakenError,
    check_metadata,
    create_connection,
    delete_connection,
    sync_frequency_seconds,
    update_connection,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.json import dumps
from ledgerbridge.parsing import check_json
from ledgerbridge.providers.registry import PLATFORMS, get_platform

router = APIRouter(tags=["connections"])

MAX_CREDENTIALS_BYTES = 16_384
"""Credentials are a few tokens and ids; 16 KB leaves room for any platform's JWTs."""


def check_credentials(provider: str, credentials: dict[str, Any]) -> None:
    """`ValueError` unless `credentials` has every field the platform needs."""
    needed = PLATFORMS[provider].credential_fields
    missing = [
        name
        for name in needed
        if not isinstance(credentials.get(name), str) or not credentials[name]
    ]
    if missing:
        raise ValueError(
            f"credentials of a {provider} connection need {', '.join(needed)} "
            f"(non-empty strings); missing: {', '.join(missing)}"
        )


def _bounded(cls: type[BaseModel], value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        check_json(value, max_depth=8, what="credentials")
        if len(dumps(value)) > MAX_CREDENTIALS_BYTES:
            raise ValueError(f"credentials take at most {MAX_CREDENTIALS_BYTES} bytes of JSON")
    return value


def _seconds(cls: type[BaseModel], value: int | str | None) -> int | None:
    return None if value is None else sync_frequency_seconds(value)


def metadata_tags(cls: type[BaseModel], value: dict[str, str] | None) -> dict[str, str] | None:
    return None if value is None else check_metadata(value)


EndUserId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f]+$",
        description="Your own reference to whoever owns the account (unique per environment "
        "and platform).",
    ),
]
Metadata = Annotated[
    dict[str, str],
    Field(description="Free-form string tags (at most 50), filterable with `metadata[name]=`."),
]


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        description="The platform.",
        # Read when the OpenAPI document is built, so it lists every registered platform.
        json_schema_extra=lambda schema: schema.update(enum=list(PLATFORMS)),
    )
    base_url: str | None = Field(
        default=None,
        description="The provider's API root; default its production host. Point it at a "
        "sandbox, e.g. http://127.0.0.1:8000/sandbox/qbo.",
        pattern=r"^https?://[^\s]+$",
        max_length=500,
    )
    credentials: dict[str, Any] = Field(
        description="Provider credentials (tokens, keys, realm or company ids); stored encrypted."
    )
    sync_frequency: int | str = Field(
        default=DEFAULT_SYNC_FREQUENCY_S, description="Seconds, or a duration like '1h'."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider-specific sync options, e.g. Intacct's `reconcile_every` (every "
        "Nth incremental run looks for hard deletes; default 10).",
    )

    @field_validator("provider")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"unknown provider {value!r}; use one of {', '.join(PLATFORMS)}")
        return value

    end_user_id: EndUserId | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _credentials_complete(self) -> ConnectionCreate:
        check_credentials(self.provider, self.credentials)
        return self

    @model_validator(mode="after")
    def _settings_known(self) -> ConnectionCreate:
        model = get_platform(self.provider).settings
        try:
            checked = model.model_validate(self.settings)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"settings of a {self.provider} connection: {problems}") from None
        self.settings = checked.model_dump(exclude_none=True)
        return self

    _bounded_credentials = field_validator("credentials")(_bounded)
    _frequency = field_validator("sync_frequency")(_seconds)
    _tags = field_validator("metadata")(metadata_tags)


class ConnectionPublic(BaseModel):
    id: str
    provider: str
    base_url: str
    sync_frequency: int = Field(description="Seconds between scheduled syncs.")
    status: str = Field(
        description="`active`; `error` after several failed syncs in a row (they go on, "
        "backing off); `needs_reauth` when the platform refused the credentials; `paused`."
    )
    status_message: str | None
    created_at: datetime
    settings: dict[str, Any] = Field(description="Provider-specific sync options.")
    consecutive_failures: int = Field(description="Syncs failed in a row (0 after a success).")
    last_error: str | None = Field(description="Why the latest failed sync failed.")
    last_error_at: datetime | None = Field(description="When the latest failed sync ended.")
    remote_account_id: str | None = Field(
        description="The account at the platform, where it names one: the QuickBooks Online "
        "realm id, the Conductor end-user id."
    )
    environment: str
    end_user_id: str | None = Field(description="Your own reference, if you gave one.")
    metadata: dict[str, str] = Field(description="Your tags.")

    @classmethod
    def of(cls, info: ConnectionInfo) -> ConnectionPublic:
        return cls(
            id=info.id,
            provider=info.provider,
            base_url=info.base_url,
            sync_frequency=info.sync_frequency_s,
            status=info.status,
            status_message=info.status_message,
            created_at=info.created_at,
            settings=info.settings,
            consecutive_failures=info.consecutive_failures,
            last_error=info.last_error,
            last_error_at=info.last_error_at,
            remote_account_id=info.remote_account_id,
            environment=info.environment,
            end_user_id=info.end_user_id,
            metadata=info.metadata,
        )


class ConnectionList(BaseModel):
    connections: list[ConnectionPublic]
    next_cursor: str | None = Field(description="The next page's cursor; null on the last.")


class ConnectionUpdate(BaseModel):
    """What `PATCH /connections/{id}` changes; fields not sent stay as they are."""

    model_config = ConfigDict(extra="forbid")

    sync_frequency: int | str | None = Field(
        default=None, description="Seconds, or a duration like '1h'."
    )
    paused: bool | None = Field(
        default=None,
        strict=True,
        description="`true` pauses (never due; asked-for syncs refused with 409), `false` resumes.",
    )
    metadata: Metadata | None = Field(default=None, description="Replaces every tag.")
    end_user_id: EndUserId | None = None
    credentials: dict[str, Any] | None = Field(
        default=None,
        description="New credentials, checked as on create; a connection that needs "
        "re-authorisation is active again.",
    )

    _bounded_credentials = field_validator("credentials")(_bounded)
    _frequency = field_validator("sync_frequency")(_seconds)
    _tags = field_validator("metadata")(metadata_tags)


def _conflict(exc: EndUserTakenError) -> ApiError:
    return ApiError(
        409, "end_user_taken", f"{exc}.", [{"field": "end_user_id", "message": str(exc)}]
    )


@router.post("/connections", status_code=201, response_model=ConnectionPublic, dependencies=[WRITE])
def post_connection(
    body: ConnectionCreate, engine: EngineDep, cipher: CipherDep, caller: CallerDep
) -> ConnectionPublic:
    assert isinstance(body.sync_frequency, int)  # normalised by the validator
    platform = get_platform(body.provider)
    try:
        with write_transaction(engine) as conn:
            info = create_connection(
                conn,
                cipher,
                provider=body.provider,
                base_url=body.base_url or platform.production_url,
                credentials=body.credentials,
                sync_frequency_s=body.sync_frequency,
                now=utcnow(),
                settings=body.settings,
                remote_account_id=platform.remote_account_id(body.credentials),
                environment=caller.environment,
                end_user_id=body.end_user_id,
                metadata=body.metadata,
            )
    except EndUserTakenError as exc:
        raise _conflict(exc) from None
    return ConnectionPublic.of(info)


def _metadata_filters(request: Request) -> dict[str, str]:
    """`metadata[name]=value` query parameters (deepObject style)."""
    filters = {}
    for name, value in request.query_params.multi_items():
        if name.startswith("metadata[") and name.endswith("]"):
            filters[name[len("metadata[") : -1]] = value
        elif name.startswith("metadata"):
            raise ApiError(400, "invalid_query_params", "Filter on tags as `metadata[name]=value`.")
    return filters


_METADATA_PARAMETER = {
    "name": "metadata",
    "in": "query",
    "style": "deepObject",
    "explode": True,
    "required": False,
    "description": "Tags every listed connection has: `metadata[region]=eu`.",
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
}


@router.get(
    "/connections",
    response_model=ConnectionList,
    summary="The environment's connections, filtered, oldest first, a page at a time",
    openapi_extra={"parameters": [_METADATA_PARAMETER]},
)
def get_connections(
    request: Request,
    engine: EngineDep,
    caller: CallerDep,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[ConnectionStatus | None, Query()] = None,
    end_user_id: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="`next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConnectionList:
    query = ConnectionQuery(
        provider=provider,
        status=status,
        end_user_id=end_user_id,
        metadata=_metadata_filters(request),
    )
    try:
        after = None if cursor is None else decode_cursor(cursor, caller.environment)
    except ValueError as exc:
        raise ApiError(
            400,
            "invalid_query_params",
            f"The request is invalid: cursor: {exc}",
            [{"field": "cursor", "message": str(exc)}],
        ) from None
    with read_transaction(engine) as conn:
        page, more = search_connections(
            conn, environment=caller.environment, query=query, after=after, limit=limit
        )
    return ConnectionList(
        connections=[ConnectionPublic.of(c) for c in page],
        next_cursor=encode_cursor(caller.environment, page[-1]) if more else None,
    )


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
def get_one_connection(connection: PathConnectionDep) -> ConnectionPublic:
    return ConnectionPublic.of(connection)


@router.patch(
    "/connections/{connection_id}",
    response_model=ConnectionPublic,
    dependencies=[WRITE],
    summary="Change the frequency, pause or resume, edit tags, replace credentials",
)
def patch_connection(
    connection: PathConnectionDep, body: ConnectionUpdate, engine: EngineDep, cipher: CipherDep
) -> ConnectionPublic:
    if body.credentials is not None:
        try:
            check_credentials(connection.provider, body.credentials)
        except ValueError as exc:
            raise ApiError(
                400, "invalid_body", f"{exc}.", [{"field": "credentials", "message": str(exc)}]
            ) from None
    assert body.sync_frequency is None or isinstance(body.sync_frequency, int)
    platform = get_platform(connection.provider)
    changes = ConnectionChanges(
        sync_frequency_s=body.sync_frequency,
        paused=body.paused,
        metadata=body.metadata,
        end_user_id=body.end_user_id,
        credentials=body.credentials,
        remote_account_id=None
        if body.credentials is None
        else platform.remote_account_id(body.credentials),
    )
    try:
        with write_transaction(engine) as conn:
            info = update_connection(conn, cipher, connection, changes, now=utcnow())
    except EndUserTakenError as exc:
        raise _conflict(exc) from None
    return ConnectionPublic.of(info)


@router.delete(
    "/connections/{connection_id}",
    status_code=204,
    dependencies=[WRITE],
    summary="Delete a connection with its records, runs, checkpoint and credentials",
)
def remove_connection(connection: PathConnectionDep, engine: EngineDep) -> Response:
    with write_transaction(engine) as conn:
        delete_connection(conn, connection.id)
    return Response(status_code=204)
