"""The keys page: the API keys of the session's environment (never their secrets), a form
to create one (its secret shown once, on the page that answers the form) and revoking one,
through the same functions as `/keys` and `ledgerbridge keys`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.keys import Scope, create_api_key, list_api_keys, revoke_api_key
from ledgerbridge.parsing import parse_int
from ledgerbridge.ui.render import PageRoute, main_engine, page
from ledgerbridge.ui.session import Session, SessionDep, checked_form, require_session

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)

SCOPES = (Scope.FULL.value, Scope.READ.value)
MAX_NAME = 200
"""As `POST /keys`."""


def _keys_page(request: Request, session: Session, status: int = 200, **extra: object) -> Response:
    with read_transaction(main_engine(request)) as conn:
        found = list_api_keys(conn, environment=session.caller.environment)
    return page(
        request,
        "keys.html",
        status=status,
        keys=found,
        scopes=SCOPES,
        own_key_id=session.caller.key_id,
        **extra,
    )


@router.get("/ui/keys")
def keys_page(request: Request, session: SessionDep) -> Response:
    return _keys_page(request, session)


@router.post("/ui/keys")
async def create_key(request: Request, session: SessionDep) -> Response:
    """Answers with the page itself (no redirect): the secret is in this answer only."""
    form = await checked_form(request, session)
    name = form.get("name", "").strip()
    scope = form.get("scope", "")
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise ApiError(400, "invalid_body", f"A name of at most {MAX_NAME} printable characters.")
    if scope not in SCOPES:
        raise ApiError(400, "invalid_body", f"Scope {scope!r}: use {' or '.join(SCOPES)}.")
    with write_transaction(main_engine(request)) as conn:
        created, secret = create_api_key(
            conn, name=name, now=utcnow(), environment=session.caller.environment, scope=scope
        )
    response = _keys_page(request, session, status=201, created=created, secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/ui/keys/{key_id}/revoke")
async def revoke_key(request: Request, session: SessionDep, key_id: str) -> Response:
    form = await checked_form(request, session)
    number = parse_int(key_id, minimum=1, maximum=2**31 - 1, what="key id")
    if form.get("confirm") != "yes":
        raise ApiError(400, "not_confirmed", "Tick the box to confirm revoking the key.")
    with write_transaction(main_engine(request)) as conn:
        revoke_api_key(conn, number, environment=session.caller.environment)
    if number == session.caller.key_id:  # the session's own key: signed out with it
        return RedirectResponse("/ui/sign-in", status_code=303)
    return RedirectResponse(
        request.url_for("keys_page").include_query_params(done=f"Key {number} revoked."),
        status_code=303,
    )
