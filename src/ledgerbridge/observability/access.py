"""Access logs and request metrics of this server, as one ASGI middleware.

One line a request (method, path, route, status, duration, client); `/health` and
`/metrics` are logged at debug, so probes and scrapes do not drown the log. Metrics use
the route template (`/customers/{customer_id}`), never the raw path, so their label
values stay few. Query strings are logged with secret-named values blanked (the OAuth
callback carries a `code` and a `state`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import REDACTED, SECRET_QUERY_PARAMS, get_logger

log = get_logger("ledgerbridge.access")

_QUIET_PATHS = frozenset({"/health", "/metrics"})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}"


def _query(scope: Scope) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    if not raw:
        return None
    pairs = parse_qsl(raw, keep_blank_values=True)
    return urlencode([(k, REDACTED if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs])


class AccessLogMiddleware:
    """Logs and counts every HTTP request that reaches the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id="req_" + secrets.token_hex(6))
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._report(scope, status, time.perf_counter() - started)
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _report(scope: Scope, status: int, elapsed: float) -> None:
        method, path = scope["method"], scope["path"]
        route = _route_template(scope)
        metrics.API_REQUESTS.labels(method, route, str(status)).inc()
        metrics.API_REQUEST_DURATION.labels(method, route).observe(elapsed)
        client: Any = scope.get("client")
        fields = {
            "method": method,
            "path": path,
            "query": _query(scope),
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
            "client": client[0] if client else None,
        }
        if path in _QUIET_PATHS:
            log.debug("request", **fields)
        else:
            log.info("request", **fields)
