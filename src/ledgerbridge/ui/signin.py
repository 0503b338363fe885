"""Signing in and out, the operator key's choice of environment, and the dashboard's own
assets."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction
from ledgerbridge.environments import require_environment
from ledgerbridge.ui.render import PageRoute, main_engine, page
from ledgerbridge.ui.session import (
    ReadOnlyKey,
    Session,
    checked_form,
    end_session,
    read_form,
    read_session,
    require_session,
    session_caller,
    start_session,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SIGN_IN_COOKIE = "lb_sign_in"
"""The sign-in form's CSRF token (double submit): a site cannot sign a browser in with its
own key, as no other site can read or set this cookie."""
STATIC = Path(__file__).parent / "static"
PUBLIC_ASSETS = {"app.css": "text/css"}
"""The sign-in page's own look; every other asset needs a session."""
ASSETS = {**PUBLIC_ASSETS, "live.js": "text/javascript"}


def _sign_in_form(request: Request, status: int = 200, message: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "sign_in.html", status=status, sign_in_token=token, message=message)
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, path="/ui", httponly=True, samesite="strict"
    )
    return response


@router.get("/ui/sign-in")
def sign_in_form(request: Request) -> Response:
    if read_session(request) is not None:
        return RedirectResponse("/ui", status_code=303)
    return _sign_in_form(request)


@router.post("/ui/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        return _sign_in_form(request, 403, "The form expired: sign in again.")
    key = form.get("api_key", "").strip()
    try:
        caller = session_caller(request, key)
    except ReadOnlyKey:
        return _sign_in_form(
            request,
            403,
            "That key is read-only (scope read): the dashboard changes things, so it takes a "
            "key of scope full or the operator key (LEDGERBRIDGE_API_KEY).",
        )
    if caller is None:
        return _sign_in_form(request, 401, "That API key is not valid.")
    response = RedirectResponse("/ui", status_code=303)
    start_session(request, response, key)
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui")
    return response


@router.post("/ui/sign-out")
async def sign_out(
    request: Request, session: Annotated[Session, Depends(require_session)]
) -> Response:
    await checked_form(request, session)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    end_session(request, response)
    return response


@router.post("/ui/environment")
async def choose_environment(
    request: Request, session: Annotated[Session, Depends(require_session)]
) -> Response:
    """The operator key's environment for the pages that follow (other keys have one)."""
    form = await checked_form(request, session)
    if not session.is_operator:
        raise ApiError(
            403, "forbidden", "Only the operator key chooses its environment; this key has one."
        )
    name = form.get("environment", "")
    with read_transaction(main_engine(request)) as conn:
        require_environment(conn, name)  # an unknown one is a 404 page
    response = RedirectResponse("/ui", status_code=303)
    start_session(request, response, session.key, environment=name)
    return response


@router.get("/ui/static/{name}")
def asset(request: Request, name: str) -> Response:
    if name not in ASSETS:
        return page(request, "error.html", status=404, status_code=404, message="No such file.")
    if name not in PUBLIC_ASSETS:
        require_session(request)
    return FileResponse(STATIC / name, media_type=ASSETS[name])
