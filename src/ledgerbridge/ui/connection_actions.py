"""A connection's changes from its page: pause and resume, the sync frequency (both
through `update_connection`, the service function behind `PATCH /connections/{id}`), and
re-authorisation through the platform's OAuth flow (the flow of
`GET /connections/{provider}/authorize?connection_id=`), back to the connection page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.api.routes.authorize import consent_redirect, flow_from_caller
from ledgerbridge.connections import (
    ConnectionChanges,
    ConnectionInfo,
    get_connection,
    sync_frequency_seconds,
    update_connection,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.threads import in_thread
from ledgerbridge.ui.render import PageRoute, back_to_connection, main_engine
from ledgerbridge.ui.session import Session, SessionDep, checked_form, require_session

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)


def _change(
    request: Request, session: Session, connection_id: str, changes: ConnectionChanges
) -> ConnectionInfo:
    """`changes` applied by the service function behind `PATCH /connections/{id}`."""
    with write_transaction(main_engine(request)) as conn:
        info = get_connection(conn, connection_id, environment=session.caller.environment)
        return update_connection(conn, request.app.state.cipher, info, changes, now=utcnow())


@router.post("/ui/connections/{connection_id}/pause")
async def pause(request: Request, session: SessionDep, connection_id: str) -> Response:
    """Pause (`paused=true`) or resume (`paused=false`)."""
    form = await checked_form(request, session)
    paused = form.get("paused") == "true"
    _change(request, session, connection_id, ConnectionChanges(paused=paused))
    return back_to_connection(request, connection_id, "Paused." if paused else "Resumed.")


@router.post("/ui/connections/{connection_id}/frequency")
async def change_frequency(request: Request, session: SessionDep, connection_id: str) -> Response:
    form = await checked_form(request, session)
    try:
        seconds = sync_frequency_seconds(form.get("sync_frequency", ""))
    except ValueError as exc:
        raise ApiError(400, "invalid_body", f"Sync frequency: {exc}.") from None
    _change(request, session, connection_id, ConnectionChanges(sync_frequency_s=seconds))
    return back_to_connection(request, connection_id, f"Syncs every {seconds:,} s from now on.")


@router.post("/ui/connections/{connection_id}/reauthorize")
async def reauthorize(request: Request, session: SessionDep, connection_id: str) -> Response:
    """Start the platform's OAuth flow for this connection (the flow of
    `GET /connections/{provider}/authorize?connection_id=`): after consent the callback
    stores the new grant on this connection and sends the browser back here."""
    await checked_form(request, session)
    engine = main_engine(request)
    with read_transaction(engine) as conn:
        info = get_connection(conn, connection_id, environment=session.caller.environment)
    if get_platform(info.provider).oauth is None:
        raise ApiError(
            400,
            "not_oauth",
            f"{info.provider} connections are not authorised through OAuth: replace their "
            "credentials with `PATCH /connections/{id}` instead.",
        )
    flow = await in_thread(
        flow_from_caller, engine, session.caller, info.provider, connection_id, False
    )
    flow["redirect_uri"] = str(request.url_for("reauthorized", connection_id=connection_id))
    response = await consent_redirect(
        request,
        request.app.state.settings,
        request.app.state.sandbox,
        request.app.state.cipher,
        info.provider,
        flow,
        info.sync_frequency_s,
    )
    response.status_code = 303  # a form post's answer: the browser follows with a GET
    return response


@router.get("/ui/connections/{connection_id}/reauthorized")
def reauthorized(
    request: Request,
    session: SessionDep,
    connection_id: str,
    error: str = "",
    error_description: str = "",
) -> Response:
    """Where the OAuth callback sends the browser back: the connection page, or what went
    wrong."""
    if error:
        raise ApiError(409, error, f"Not re-authorised: {error_description or error}.")
    return back_to_connection(request, connection_id, "Re-authorised: the connection is active.")
