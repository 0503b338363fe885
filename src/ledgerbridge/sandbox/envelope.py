"""Every answer under a sandbox's prefix is in that platform's own envelope.

A sandbox gives one function, `render(status, message)`, that shapes an error as
its platform does (QuickBooks' `Fault`, Conductor's `error`, Intacct's `ia::result`);
`install_envelope` routes through it what the framework would otherwise answer itself:
unknown paths (404), wrong methods (405, with the `Allow` header kept), malformed
parameters, bodies over the size limit or of a media type the endpoint does not take, and
any unexpected failure (500). A fuzzer found each of those answering FastAPI's
`{"detail": ...}` or a plain-text 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

Render = Callable[[int, str], Response]
"""`(status, message) -> Response` in the platform's envelope."""

MAX_BODY_BYTES = 1_000_000
"""A request body larger than this is refused with 413. QuickBooks Online documents no
figure for a JSON entity; Intacct's and Conductor's customers are a few kilobytes; a
megabyte is far above any customer and far below what exhausts the server."""


def install_envelope(app: FastAPI, render: Render, *, max_body: int = MAX_BODY_BYTES) -> None:
    """Answer framework errors and surprises through `render`, and cap request bodies."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            response = render(404, "The requested resource was not found.")
        elif exc.status_code == 405:
            response = render(405, "The method is not allowed for the requested URL.")
            return _with_headers(response, {"Allow": _allowed(app, request)})
        else:
            detail = exc.detail if isinstance(exc.detail, str) else "The request is not valid."
            response = render(exc.status_code, detail)
        return _with_headers(response, exc.headers)  # `Allow` of a 405 among them

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return render(400, f"The request is not valid: {where}: {first.get('msg', '')}")

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> Response:
        log.exception("sandbox request failed", exc_info=exc)
        return render(500, "An internal error occurred; the request may be retried.")

    app.add_middleware(BodyLimit, max_body=max_body, render=render)


def _allowed(app: FastAPI, request: Request) -> str:
    """Every method some route serves at this path: Starlette's own `Allow` names only the
    first route that matched the path, so a path with GET and POST routes said GET."""
    methods: set[str] = set()
    for route in app.router.routes:
        served = getattr(route, "methods", None)
        if served and route.matches(request.scope)[0] != Match.NONE:
            methods.update(served)
    return ", ".join(sorted(methods))


def _with_headers(response: Response, headers: Mapping[str, str] | None) -> Response:
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class BodyLimit:
    """Refuse a body over `max_body` bytes (by `Content-Length`, or counted as it streams)
    before any route reads it; the body is buffered, so routes read it as usual."""

    def __init__(self, app: ASGIApp, *, max_body: int, render: Render) -> None:
        self.app = app
        self.max_body = max_body
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.render(413, f"The request body is larger than {self.max_body} bytes.")
        await _with_headers(response, {"Connection": "close"})(scope, receive, send)


def media_type(request: Request) -> str:
    """The request's media type, lower-cased, without parameters (`application/json`)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def mount_any_path(app: FastAPI, path: str, sandbox: ASGIApp) -> None:
    """Mount `sandbox` at `path` so that every path under it reaches it, `%0A` included:
    Starlette's pattern (`.*`) stops at a newline, which sent such paths to the parent
    app's 404 in the unified API's envelope."""
    mount = Mount(path, app=sandbox)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    app.router.routes.append(mount)
