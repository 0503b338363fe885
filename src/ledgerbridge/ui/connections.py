"""The connections list, a connection's page (runs, chart, last error, actions) and the
live progress of its runs as server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine
from starlette.responses import RedirectResponse, Response, StreamingResponse

from ledgerbridge.api.errors import ApiError
from ledgerbridge.connection_search import (
    ConnectionQuery,
    decode_cursor,
    encode_cursor,
    search_connections,
)
from ledgerbridge.connections import ConnectionStatus, delete_connection, get_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.registry import PLATFORMS, get_platform
from ledgerbridge.sync.overview import connection_overview, connection_overviews
from ledgerbridge.sync.runs import RunStatus, SyncRunInfo, list_runs, request_run
from ledgerbridge.threads import in_thread
from ledgerbridge.ui.chart import runs_chart
from ledgerbridge.ui.render import PageRoute, back_to_connection, main_engine, page, when
from ledgerbridge.ui.session import SessionDep, checked_form, require_session

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)

RUNS_SHOWN = 20
LIVE_POLL_S = 0.5
LIVE_MAX_S = 15 * 60
"""A live stream ends after this long (the browser's EventSource then reconnects)."""
_ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def _choice(value: str | None, allowed: list[str], what: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ApiError(
            400, "invalid_filter", f"Unknown {what} {value!r}; use {', '.join(allowed)}."
        )
    return value


PAGE_SIZE = 100


@router.get("/ui")
def connections_page(
    request: Request,
    session: SessionDep,
    provider: str | None = None,
    status: str | None = None,
    end_user_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The session's environment's connections, filtered like `GET /connections` (the same
    search and cursor), a page at a time."""
    providers, statuses = list(PLATFORMS), [s.value for s in ConnectionStatus]
    environment = session.caller.environment
    query = ConnectionQuery(
        provider=_choice(provider, providers, "provider"),
        status=_choice(status, statuses, "status"),
        end_user_id=(end_user_id or "").strip()[:255] or None,
    )
    try:
        after = decode_cursor(cursor, environment) if cursor else None
    except ValueError as exc:
        raise ApiError(400, "invalid_query_params", f"cursor: {exc}") from None
    with read_transaction(main_engine(request)) as conn:
        found, more = search_connections(
            conn, environment=environment, query=query, after=after, limit=PAGE_SIZE
        )
        overviews = connection_overviews(conn, found)
    next_params = None
    if more:
        next_params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        next_params.append(("cursor", encode_cursor(environment, found[-1])))
    return page(
        request,
        "connections.html",
        overviews=overviews,
        providers=providers,
        statuses=statuses,
        query=query,
        next_params=next_params,
    )


def run_progress(run: SyncRunInfo) -> dict[str, Any]:
    """A run as the live view shows it: its counts, and its rate in records a second."""
    records = run.added + run.updated + run.deleted + run.unchanged
    end = run.finished_at or utcnow()
    elapsed = (end - run.started_at).total_seconds() if run.started_at is not None else 0.0
    return {
        "id": run.id,
        "kind": run.kind.value,
        "trigger": run.trigger,
        "status": run.status.value,
        "queued_at": when(run.queued_at),
        "pages": run.pages,
        "added": run.added,
        "updated": run.updated,
        "deleted": run.deleted,
        "records": records,
        "total": run.total,
        "rate": round(records / elapsed) if elapsed > 0 else 0,
        "error": run.error,
    }


@router.get("/ui/connections/{connection_id}")
def connection_page(request: Request, session: SessionDep, connection_id: str) -> Response:
    with read_transaction(main_engine(request)) as conn:
        overview = connection_overview(conn, connection_id, environment=session.caller.environment)
        found = list_runs(conn, connection_id, limit=RUNS_SHOWN)
    info = overview.connection
    return page(
        request,
        "connection.html",
        overview=overview,
        info=info,
        runs=[run_progress(run) for run in found],
        live=any(run.status in _ACTIVE for run in found),
        chart=runs_chart(list(reversed(found))),
        reauthorisable=get_platform(info.provider).oauth is not None,
        paused=info.status == ConnectionStatus.PAUSED,
    )


@router.post("/ui/connections/{connection_id}/sync")
async def sync_now(request: Request, session: SessionDep, connection_id: str) -> Response:
    form = await checked_form(request, session)
    full = form.get("full") == "true"
    with write_transaction(main_engine(request)) as conn:
        get_connection(conn, connection_id, environment=session.caller.environment)
        run = request_run(conn, connection_id, full=full, trigger="api", now=utcnow())
    request.app.state.sync.scheduler.wake()
    done = f"{'Full' if full else 'Incremental'} sync run {run.id} queued."
    return back_to_connection(request, connection_id, done)


@router.post("/ui/connections/{connection_id}/delete")
async def delete(request: Request, session: SessionDep, connection_id: str) -> Response:
    form = await checked_form(request, session)
    if form.get("confirm") != connection_id:
        raise ApiError(
            400, "not_confirmed", f"Type the connection id {connection_id} to confirm the delete."
        )
    with write_transaction(main_engine(request)) as conn:
        delete_connection(conn, connection_id, environment=session.caller.environment)
    return RedirectResponse(
        request.url_for("connections_page").include_query_params(
            done=f"Connection {connection_id} deleted with its records."
        ),
        status_code=303,
    )


def _snapshot(engine: Engine, environment: str, connection_id: str) -> dict[str, Any]:
    with read_transaction(engine) as conn:
        info = get_connection(conn, connection_id, environment=environment)
        found = list_runs(conn, connection_id, limit=RUNS_SHOWN)
    return {
        "status": info.status.value,
        "status_message": info.status_message,
        "last_error": info.last_error,
        "last_error_at": when(info.last_error_at),
        "runs": [run_progress(run) for run in found],
        "active": any(run.status in _ACTIVE for run in found),
    }


@router.get("/ui/connections/{connection_id}/live")
def live(request: Request, session: SessionDep, connection_id: str) -> Response:
    """Server-sent events: a `runs` event each time the connection's runs change (pages,
    counts, status), then `idle` once none is queued or running, and the stream ends."""
    engine = main_engine(request)
    environment = session.caller.environment
    first = _snapshot(engine, environment, connection_id)  # an unknown connection is a 404 page

    async def events() -> AsyncIterator[bytes]:
        last: dict[str, Any] | None = None
        snapshot, started = first, time.monotonic()
        while time.monotonic() - started < LIVE_MAX_S:
            if snapshot != last:
                yield b"event: runs\ndata: " + orjson.dumps(snapshot) + b"\n\n"
                last = snapshot
            if not snapshot["active"]:
                yield b"event: idle\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(LIVE_POLL_S)
            snapshot = await in_thread(_snapshot, engine, environment, connection_id)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
