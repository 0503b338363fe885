"""`POST /connections/{id}/sync` asks for a run; `GET /connections/{id}/syncs` lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import WRITE, EngineDep, PathConnectionDep, SyncDep
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sync.runs import SyncRunInfo, list_runs, request_run

router = APIRouter(tags=["syncs"])


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    full: bool = Field(
        default=False, description="Read every customer again instead of the changes only."
    )


class SyncRunPublic(BaseModel):
    id: int
    connection_id: str
    kind: str = Field(description="`full` or `incremental`.")
    trigger: str = Field(
        description="`api`, `schedule`, `cli` or `notification` (a platform's change "
        "notification, `POST /notifications/qbo`)."
    )
    status: str = Field(description="`queued`, `running`, `succeeded` or `failed`.")
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pages: int
    added: int
    updated: int
    deleted: int
    unchanged: int
    total: int | None = Field(description="Customers the run reads, when the platform says.")
    error: str | None

    @classmethod
    def of(cls, run: SyncRunInfo) -> SyncRunPublic:
        return cls(**run.__dict__)


class SyncRunList(BaseModel):
    syncs: list[SyncRunPublic]


@router.post(
    "/connections/{connection_id}/sync",
    status_code=202,
    response_model=SyncRunPublic,
    summary="Ask for a sync run now (reuses a run already waiting)",
    dependencies=[WRITE],
)
def request_sync(
    connection: PathConnectionDep,
    engine: EngineDep,
    sync: SyncDep,
    body: Annotated[SyncRequest | None, Body()] = None,
) -> SyncRunPublic:
    full = body.full if body is not None else False
    with write_transaction(engine) as conn:
        run = request_run(conn, connection.id, full=full, trigger="api", now=utcnow())
    sync.scheduler.wake()
    return SyncRunPublic.of(run)


@router.get(
    "/connections/{connection_id}/syncs",
    response_model=SyncRunList,
    summary="The connection's sync runs, newest first",
)
def get_syncs(
    connection: PathConnectionDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> SyncRunList:
    with read_transaction(engine) as conn:
        return SyncRunList(
            syncs=[SyncRunPublic.of(r) for r in list_runs(conn, connection.id, limit=limit)]
        )
