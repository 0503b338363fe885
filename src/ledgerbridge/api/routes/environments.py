"""`/environments`: the operator's (`LEDGERBRIDGE_API_KEY`) list and creation of
environments; keys of an environment cannot see or make others."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import EngineDep, OperatorDep
from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.environments import (
    NAME_PATTERN,
    EnvironmentExistsError,
    EnvironmentInfo,
    create_environment,
    list_environments,
)

router = APIRouter(tags=["environments"])


class EnvironmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="e.g. `staging`.")


class EnvironmentPublic(BaseModel):
    name: str
    created_at: datetime

    @classmethod
    def of(cls, info: EnvironmentInfo) -> EnvironmentPublic:
        return cls(name=info.name, created_at=info.created_at)


class EnvironmentList(BaseModel):
    environments: list[EnvironmentPublic]


@router.post(
    "/environments",
    status_code=201,
    response_model=EnvironmentPublic,
    summary="Create an environment (operator key)",
)
def post_environment(
    body: EnvironmentCreate, engine: EngineDep, _caller: OperatorDep
) -> EnvironmentPublic:
    try:
        with write_transaction(engine) as conn:
            info = create_environment(conn, body.name, now=utcnow())
    except EnvironmentExistsError as exc:
        raise ApiError(409, "environment_exists", f"{exc}.") from None
    return EnvironmentPublic.of(info)


@router.get(
    "/environments", response_model=EnvironmentList, summary="Every environment (operator key)"
)
def get_environments(engine: EngineDep, _caller: OperatorDep) -> EnvironmentList:
    with read_transaction(engine) as conn:
        return EnvironmentList(
            environments=[EnvironmentPublic.of(e) for e in list_environments(conn)]
        )
