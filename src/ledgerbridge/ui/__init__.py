"""The dashboard at `/ui`: server-rendered pages (Jinja2) over the same service functions
the API's routes call, signed in with an API key. `/` redirects to it. Its routes stay
out of the OpenAPI document: they are pages, not API."""

from __future__ import annotations

from fastapi import FastAPI
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


def install_ui(app: FastAPI) -> None:
    for module in (signin, connections, connection_actions, records, keys, webhooks, sandboxes):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=303)
