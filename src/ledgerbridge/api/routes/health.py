"""`GET /health`: open, for load balancers and the demo's readiness check. It answers 200
only when the main database answers too: a replica that cannot reach its database cannot
serve a request, and the load balancer should stop sending it any."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from ledgerbridge import __version__
from ledgerbridge.api.deps import EngineDep
from ledgerbridge.db import read_transaction
from ledgerbridge.observability.logs import get_logger

router = APIRouter(tags=["health"])
log = get_logger(__name__)


class DatabaseHealth(BaseModel):
    status: str = Field(description="`ok`, or `unavailable` when the database did not answer.")
    latency_ms: float | None = Field(description="How long `SELECT 1` took.")
    error: str | None = Field(default=None, description="What went wrong, when it did.")


class Health(BaseModel):
    status: str = Field(description="`ok`, or `unavailable` (with status code 503).")
    version: str
    database: DatabaseHealth


def _check_database(engine: EngineDep) -> DatabaseHealth:
    began = time.perf_counter()
    try:
        with read_transaction(engine) as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        log.error("health check: the database did not answer", error=reason)
        return DatabaseHealth(status="unavailable", latency_ms=None, error=reason)
    return DatabaseHealth(status="ok", latency_ms=round((time.perf_counter() - began) * 1e3, 2))


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database did not answer."}},
)
def health(engine: EngineDep) -> Health | JSONResponse:
    database = _check_database(engine)
    if database.status != "ok":
        body = Health(status="unavailable", version=__version__, database=database)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", version=__version__, database=database)
