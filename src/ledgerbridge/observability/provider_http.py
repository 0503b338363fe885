"""Provider requests, logged and counted where the shared HTTP client is built: a transport
wrapper around httpx's own, so no connector has to remember to report.

Each request is logged at debug with the platform's own request id, which is what the
platform's support asks for:
- QuickBooks Online answers every request with an `intuit_tid` header (Intuit's
  "Troubleshooting with intuit_tid" guide; python-quickbooks reads the same header).
- Conductor answers with a `Conductor-Request-Id` header, and repeats it as
  `error.requestId` in error bodies (its published OpenAPI, `shared/reference/data/`).
- Intacct's REST API has no request-id header in its published OpenAPI; its error
  bodies carry `ia::error.supportId`, read from the body of answers >= 400.

The provider is the one bound in the current context (`structlog.contextvars`), which
the sync engine and write-back bind when they open a connector; requests outside such a
scope count as `unknown`.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import structlog

from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import REDACTED, SECRET_QUERY_PARAMS, get_logger

log = get_logger("ledgerbridge.provider_http")

_REQUEST_ID_HEADERS = ("intuit_tid", "conductor-request-id", "x-request-id")
_REQUEST_ID_FIELDS = ("supportId", "requestId")


def current_provider() -> str:
    provider = structlog.contextvars.get_contextvars().get("provider")
    return str(provider) if provider else "unknown"


def loggable_url(url: httpx.URL) -> str:
    """The URL without secrets: values of query parameters named like one are blanked."""
    if not url.query:
        return str(url)
    pairs = parse_qsl(url.query.decode(), keep_blank_values=True)
    clean = [(k, REDACTED if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs]
    return str(url.copy_with(query=urlencode(clean).encode()))


def _find_request_id(body: Any, depth: int = 0) -> str | None:
    if depth > 4:
        return None
    if isinstance(body, dict):
        for name in _REQUEST_ID_FIELDS:
            if isinstance(body.get(name), str):
                return str(body[name])
        for value in body.values():
            if (found := _find_request_id(value, depth + 1)) is not None:
                return found
    return None


async def request_id_of(response: httpx.Response) -> str | None:
    """The platform's id for this request, from a header or (on errors) the body."""
    for header in _REQUEST_ID_HEADERS:
        if value := response.headers.get(header):
            return str(value)
    if response.status_code < 400:
        return None
    await response.aread()  # an error body is small; the client reads it next anyway
    try:
        return _find_request_id(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        return None


class ReportingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: every request to a platform is logged (debug) and counted."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        provider = current_provider()
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            metrics.PROVIDER_REQUESTS.labels(provider, request.method, "error").inc()
            log.debug(
                "provider request failed",
                provider=provider,
                method=request.method,
                url=loggable_url(request.url),
                error=f"{type(exc).__name__}: {exc}",
            )
            raise
        elapsed = time.perf_counter() - started
        status = response.status_code
        metrics.PROVIDER_REQUESTS.labels(provider, request.method, str(status)).inc()
        metrics.PROVIDER_REQUEST_DURATION.labels(provider).observe(elapsed)
        if status == 429:
            metrics.PROVIDER_THROTTLES.labels(provider).inc()
        if not log.is_enabled_for(logging.DEBUG):
            return response
        log.debug(
            "provider request",
            provider=provider,
            method=request.method,
            url=loggable_url(request.url),
            status=status,
            duration_ms=round(elapsed * 1000, 1),
            provider_request_id=await request_id_of(response),
        )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
