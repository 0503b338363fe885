"""The dashboard at `/ui`: server-rendered pages (Jinja2) over the same service functions
the API's routes call, signed in with an API key. `/` redirects to it. Its routes stay
out of the OpenAPI document: they are pages, not API."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse

from ledgerbridge.ui import (
    connection_actions,
    connections,
    keys,
    records,
    sandboxes,
    signin,
    webhooks,
)

home = APIRouter(include_in_schema=False)


@home.get("/")
def home_page() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=303)


ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    connections.router,
    connection_actions.router,
    records.router,
    keys.router,
    webhooks.router,
    sandboxes.router,
    home,
)
"""The dashboard's routes, in the order an app includes them."""
