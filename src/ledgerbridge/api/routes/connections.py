"""`POST/GET/DELETE /connections`: the accounts ledgerbridge syncs. Credentials go in and
never come out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.responses import Response

from ledgerbridge.api.deps import CipherDep, EngineDep, require_api_key
from ledgerbridge.connections import (
    DEFAULT_SYNC_FREQUENCY_S,
    ConnectionInfo,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.catalog import PROVIDERS

router = APIRouter(tags=["connections"], dependencies=[Depends(require_api_key)])

_DURATION = re.compile(
    r"^\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\s*$"
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_SYNC_FREQUENCY_S = 60


def parse_duration(value: int | str) -> int:
    """Seconds in `value`: an integer of seconds, or `90s`, `30m`, `1h`, `1d`."""
    if isinstance(value, int):
        return value
    if value.strip().isdigit():
        return int(value)
    match = _DURATION.match(value.lower())
    if match is None:
        raise ValueError("use seconds or a duration such as '15m', '1h', '1d'")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def sync_frequency_seconds(value: int | str) -> int:
    """Seconds between scheduled syncs, from seconds or a duration; at least a minute."""
    seconds = parse_duration(value)
    if seconds < MIN_SYNC_FREQUENCY_S:
        raise ValueError(f"at least {MIN_SYNC_FREQUENCY_S} seconds")
    return seconds


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["qbo", "qbd", "intacct"]
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

    @model_validator(mode="after")
    def _credentials_complete(self) -> ConnectionCreate:
        needed = PROVIDERS[self.provider].credential_fields
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
    consecutive_failures: int = Field(description="Syncs failed in a row (0 after a success).")
    last_error: str | None = Field(description="Why the latest failed sync failed.")
    last_error_at: datetime | None = Field(description="When the latest failed sync ended.")

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
            consecutive_failures=info.consecutive_failures,
            last_error=info.last_error,
            last_error_at=info.last_error_at,
        )


class ConnectionList(BaseModel):
    connections: list[ConnectionPublic]


@router.post("/connections", status_code=201, response_model=ConnectionPublic)
def post_connection(
    body: ConnectionCreate, engine: EngineDep, cipher: CipherDep
) -> ConnectionPublic:
    assert isinstance(body.sync_frequency, int)  # normalised by the validator
    with write_transaction(engine) as conn:
        info = create_connection(
            conn,
            cipher,
            provider=body.provider,
            base_url=body.base_url or PROVIDERS[body.provider].production_url,
            credentials=body.credentials,
            sync_frequency_s=body.sync_frequency,
            now=utcnow(),
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
