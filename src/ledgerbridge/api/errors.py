"""The unified API's one error envelope: `{"error": {"code", "message", "errors": [...]}}`.

Every failure, ours or the framework's, leaves through here, so no client ever sees a bare
500 page or FastAPI's own `{"detail": ...}` shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ledgerbridge.errors import ConnectionPausedError, NeedsReauthorisationError, NotFoundError
from ledgerbridge.json import json_response
from ledgerbridge.providers.base import (
    AuthError,
    ConflictError,
    FatalError,
    ProviderError,
    ProviderValidationError,
    ThrottledError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered to the client as is."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "errors": errors or []}}
    return json_response(body, status=status, headers=headers)


LOCATION_CODES = {
    "query": "invalid_query_params",
    "path": "invalid_path_params",
    "body": "invalid_body",
    "header": "invalid_headers",
}
"""The error code of invalid input, by where in the request it was."""


def _validation_errors(exc: RequestValidationError) -> tuple[str, str, list[dict[str, Any]]]:
    errors = []
    where = LOCATION_CODES["query"]
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in ("body", "header", "path"):
            where = LOCATION_CODES[location[0]]
        errors.append(
            {
                "field": ".".join(location[1:]) or location[0] if location else "",
                "message": str(item.get("msg", "invalid")),
            }
        )
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return where, f"The request is invalid: {message}", errors


def provider_error_response(exc: ProviderError) -> Response:
    """A provider's refusal, with its own code and message kept for the caller."""
    detail = {
        "provider": exc.provider,
        "http_status": exc.http_status,
        "code": exc.code,
        "message": exc.message,
        "request_id": exc.request_id,
    }
    name = exc.provider
    if isinstance(exc, ProviderValidationError):
        status, code, message = 422, "provider_validation", f"{name} refused the data"
    elif isinstance(exc, ConflictError):
        status, code = 409, "stale_record"
        message = f"the customer changed in {name} since it was synced; sync, then retry"
    elif isinstance(exc, AuthError):
        status, code = 409, "needs_reauth"
        message = f"{name} refused the connection's credentials; re-authorise it"
    elif isinstance(exc, ThrottledError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return error_response(
            429, "provider_throttled", f"{name} is throttling requests", [detail], headers
        )
    elif isinstance(exc, FatalError) and exc.http_status == 404:
        status, code, message = 404, "not_found", f"{name} has no such customer"
    else:
        status, code, message = 502, "provider_error", f"{name} failed the request"
    return error_response(status, code, f"{message}: {exc.message}", [detail])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.errors, exc.headers)

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(NeedsReauthorisationError)
    async def _needs_reauth(_request: Request, exc: NeedsReauthorisationError) -> Response:
        return error_response(409, "needs_reauth", str(exc))

    @app.exception_handler(ConnectionPausedError)
    async def _paused(_request: Request, exc: ConnectionPausedError) -> Response:
        return error_response(409, "paused", str(exc))

    @app.exception_handler(ProviderError)
    async def _provider(_request: Request, exc: ProviderError) -> Response:
        return provider_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> Response:
        code, message, errors = _validation_errors(exc)
        return error_response(400, code, message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(
            exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "An unexpected error occurred.")
