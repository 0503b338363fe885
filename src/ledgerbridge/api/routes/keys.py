"""`/keys`: the API keys of the caller's environment: create, list (never the secret),
revoke (the next request with a revoked key is a 401). Managing keys takes a `full` key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ledgerbridge.api.deps import EngineDep, WriterDep
from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.errors import NotFoundError
from ledgerbridge.keys import ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key

router = APIRouter(tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f]*$")
    scope: Literal["read", "full"] = Field(
        default="full", description="`read`: connections, records and runs; `full`: writes too."
    )


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by.")
    environment: str
    scope: str = Field(description="`read` or `full`.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute.")

    @classmethod
    def of(cls, info: ApiKeyInfo) -> KeyPublic:
        return cls(**info.__dict__)


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once, never again.")


class KeyList(BaseModel):
    keys: list[KeyPublic]


@router.post("/keys", status_code=201, response_model=KeyCreated, summary="Create an API key")
def post_key(body: KeyCreate, engine: EngineDep, caller: WriterDep) -> KeyCreated:
    with write_transaction(engine) as conn:
        info, secret = create_api_key(
            conn, name=body.name, now=utcnow(), environment=caller.environment, scope=body.scope
        )
    return KeyCreated(**info.__dict__, key=secret)


@router.get("/keys", response_model=KeyList, summary="The environment's API keys")
def get_keys(engine: EngineDep, caller: WriterDep) -> KeyList:
    with read_transaction(engine) as conn:
        keys = list_api_keys(conn, environment=caller.environment)
    return KeyList(keys=[KeyPublic.of(key) for key in keys])


@router.delete(
    "/keys/{key_id}", status_code=204, summary="Revoke an API key (at once)", response_model=None
)
def delete_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], engine: EngineDep, caller: WriterDep
) -> Response:
    try:
        with write_transaction(engine) as conn:
            revoke_api_key(conn, key_id, environment=caller.environment)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"{exc}.") from None
    return Response(status_code=204)
