"""`POST/GET/DELETE /connections`: the accounts ledgerbridge syncs. Credentials go in and
never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.responses import Response

from ledgerbridge.api.deps import CipherDep, EngineDep, require_api_key
from ledgerbridge.connections import (
    DEFAULT_SYNC_FREQUENCY_S,
    ConnectionInfo,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
    sync_frequency_seconds,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.json import dumps
from ledgerbridge.parsing import check_json
from ledgerbridge.providers.registry import PLATFORMS, get_platform

router = APIRouter(tags=["connections"], dependencies=[Depends(require_api_key)])

MAX_CREDENTIALS_BYTES = 16_384
"""Credentials are a few tokens and ids; 16 KB leaves room for any platform's JWTs."""


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

    @model_validator(mode="after")
    def _credentials_complete(self) -> ConnectionCreate:
        needed = PLATFORMS[self.provider].credential_fields
        missing = [
            name
            for name in needed
            if not isinstance(self.credentials.get(name), str) or not self.credentials[name]
        ]
        if missing:
            raise ValueError(
                f"credentials of a {self.provider} connection need {', '.join(needed)} "
                f"(non-empty strings); missing: {', '.join(missing)}"
            )
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

    @field_validator("credentials")
    @classmethod
    def _bounded_credentials(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json(value, max_depth=8, what="credentials")
        if len(dumps(value)) > MAX_CREDENTIALS_BYTES:
            raise ValueError(f"credentials take at most {MAX_CREDENTIALS_BYTES} bytes of JSON")
        return value

    @field_validator("sync_frequency")
    @classmethod
    def _frequency(cls, value: int | str) -> int:
        return sync_frequency_seconds(value)


class ConnectionPublic(BaseModel):
    id: str
    provider: str
    base_url: str
    sync_frequency: int = Field(description="Seconds between scheduled syncs.")
    status: str = Field(
        description="`active`; `error` after several failed syncs in a row (they go on, "
        "backing off); `needs_reauth` when the platform refused the credentials."
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
        )


class ConnectionList(BaseModel):
    connections: list[ConnectionPublic]


@router.post("/connections", status_code=201, response_model=ConnectionPublic)
def post_connection(
    body: ConnectionCreate, engine: EngineDep, cipher: CipherDep
) -> ConnectionPublic:
    assert isinstance(body.sync_frequency, int)  # normalised by the validator
    platform = get_platform(body.provider)
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
        )
    return ConnectionPublic.of(info)


@router.get("/connections", response_model=ConnectionList)
def get_connections(engine: EngineDep) -> ConnectionList:
    with read_transaction(engine) as conn:
        return ConnectionList(connections=[ConnectionPublic.of(c) for c in list_connections(conn)])


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
def get_one_connection(connection_id: str, engine: EngineDep) -> ConnectionPublic:
    with read_transaction(engine) as conn:
        return ConnectionPublic.of(get_connection(conn, connection_id))


@router.delete("/connections/{connection_id}", status_code=204)
def remove_connection(
    connection_id: Annotated[str, "the connection to delete with its records"], engine: EngineDep
) -> Response:
    with write_transaction(engine) as conn:
        delete_connection(conn, connection_id)
    return Response(status_code=204)
