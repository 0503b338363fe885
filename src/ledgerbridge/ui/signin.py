"""Signing in and out, and the dashboard's own assets."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ledgerbridge.ui.render import PageRoute, page
from ledgerbridge.ui.session import (
    Session,
    checked_form,
    end_session,
    key_accepted,
    read_form,
    read_session,
    require_session,
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
    if not key_accepted(request, key):
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


@router.get("/ui/static/{name}")
def asset(request: Request, name: str) -> Response:
    if name not in ASSETS:
        return page(request, "error.html", status=404, status_code=404, message="No such file.")
    if name not in PUBLIC_ASSETS:
        require_session(request)
    return FileResponse(STATIC / name, media_type=ASSETS[name])
